// Chains and job results in the engine: dispatching a chain's first step, handing each step's
// result on and dispatching the next when a step succeeds, and keeping results for a time.
#include "jobq/internal/engine.hpp"
#include "jobq/internal/flow.hpp"
#include "jobq/internal/random_id.hpp"

namespace jobq {

Result<JobId> internal::Engine::chain(std::span<const Job> steps) {
  if (steps.empty()) return Error(Errc::unsupported, "a chain needs at least one step");
  if (state_.load(std::memory_order_acquire) != running) return refuse_closed(steps.front());
  // Every step is checked now, so that a later step does not fail once its chain is half done.
  simdjson::dom::parser parser;
  for (std::size_t index = 0; index < steps.size(); ++index) {
    Result<Route> checked = check_ahead(steps[index], "step " + std::to_string(index) + ": ", parser);
    if (!checked) return checked.error();
  }
  if (steps.size() == 1) return dispatch(steps.front());
  internal::FlowState state;
  // Random, so that chains started by different processes on one durable queue never share the
  // keys of their steps.
  state.chain = internal::random_name();
  state.step = 0;
  for (std::size_t index = 1; index < steps.size(); ++index) state.next.push_back(internal::step_of(steps[index]));
  const std::string flow = internal::encode(state);
  Job first = steps.front();
  first.flow_state(flow);
  return dispatch(first);
}

Result<internal::Route> internal::Engine::check_ahead(const Job& job, const std::string& which, simdjson::dom::parser& parser) {
  Result<Route> routed = route(job);
  if (!routed) return refuse_unrouted(Error(routed.error().code(), which + routed.error().detail()));
  auto refuse = [&](Errc code, std::string why) {
    count_rejected(producer(), *routed);
    return Error(code, which + why);
  };
  if (std::string problem = internal::step_problem(job); !problem.empty()) return refuse(Errc::unsupported, problem);
  if (const Headers* headers = job.headers_value()) {
    if (std::string problem = headers->problem(); !problem.empty()) return refuse(Errc::invalid_header, problem);
  }
  if (job.payload().size() > config_.max_payload_bytes) {
    return refuse(Errc::payload_too_large, std::to_string(job.payload().size()) + " bytes");
  }
  if (config_.validate_payloads && !job.is_trusted()) {
    const simdjson::padded_string padded(job.payload());
    simdjson::dom::element root;
    if (const simdjson::error_code error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
      return refuse(Errc::invalid_payload, internal::describe_simdjson_error(error));
    }
  }
  return routed;
}

std::optional<Error> internal::Engine::continue_chain(internal::QueueRuntime& queue, const internal::Envelope& envelope,
                                                      const std::string& result) {
  Result<internal::FlowState> state = internal::decode(envelope.extras->flow);
  if (!state) {
    hooks_.log(LogLevel::error, "job " + std::to_string(envelope.id) + " on queue '" + queue.config.name +
                             "': " + state.error().message() + "; its chain stops here");
    return std::nullopt;
  }
  if (state->next.empty()) return std::nullopt;
  internal::FlowState after;
  after.chain = state->chain;
  after.step = state->step + 1;
  if (!result.empty()) after.previous = result;
  after.next.assign(std::make_move_iterator(state->next.begin() + 1), std::make_move_iterator(state->next.end()));
  // A key naming its place in the chain: a step that runs twice (a durable job whose process
  // died after this) dispatches its next step once.
  ReturnedJob closed;
  Result<JobId> dispatched = dispatch_step(state->next.front(), after,
                                           "chain:" + std::to_string(after.chain) + ":" + std::to_string(after.step),
                                           &closed);
  if (dispatched || dispatched.code() == Errc::duplicate) return std::nullopt;
  if (dispatched.code() == Errc::shutting_down) {
    // Intake closed under it: the step goes into the shutdown report for the next start.
    lifecycle_.keep_chain_step(std::move(closed));
    return std::nullopt;
  }
  return dispatched.error();
}

Result<JobId> internal::Engine::dispatch_step(const internal::FlowStep& step, const internal::FlowState& state,
                                              const std::string& key, ReturnedJob* closed) {
  Headers headers;
  Job job = internal::job_of(step, headers);
  const std::string flow = internal::encode(state);
  job.flow_state(flow);
  if (step.key.empty()) job.idempotency_key(key);
  Result<JobId> dispatched = dispatch(job);
  if (!dispatched && dispatched.code() == Errc::shutting_down && closed != nullptr) {
    closed->type = step.type;
    closed->queue = step.queue;
    closed->payload = step.payload;
    closed->headers = std::move(headers);
    closed->flow = flow;
    closed->idempotency_key = step.key;
  }
  return dispatched;
}

void internal::Engine::keep_result(internal::QueueRuntime& queue, const internal::Envelope& envelope,
                                   const std::string& result) {
  if (config_.result_ttl.count() <= 0) return;
  if (queue.lane != nullptr) {
    queue.lane->store_result(envelope.id, result, config_.result_ttl);
  } else {
    results_.keep(envelope.id, result, now());
  }
}

std::optional<std::string> internal::Engine::result(JobId id) const { return results_.find(id, now()); }

Result<std::optional<std::string>> internal::Engine::result(std::string_view queue, JobId id) const {
  internal::QueueRuntime& runtime = queue_named(queue);
  if (runtime.lane == nullptr) return results_.find(id, now());
  return runtime.lane->result(id);
}

}  // namespace jobq
