// Batches in the engine: dispatching one, counting each job's end once (in the batch table, or
// in a durable queue's store), dispatching the callbacks when the last one ends, and cancelling.
#include <cstdio>

#include "jobq/internal/engine.hpp"
#include "jobq/internal/flow.hpp"
#include "jobq/internal/random_id.hpp"
#include "jobq/json.hpp"

namespace jobq {
namespace {

/// "<queue>:<16 hex digits>": the queue names where the batch is kept.
std::string fresh_batch_id(std::string_view queue) {
  char digits[17];
  std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(internal::random_name()));
  return std::string(queue) + ":" + digits;
}

std::string_view end_name(internal::BatchEnd end) {
  switch (end) {
    case internal::BatchEnd::succeeded: return "succeeded";
    case internal::BatchEnd::dead: return "dead";
    case internal::BatchEnd::revoked: return "revoked";
  }
  return "revoked";
}

}  // namespace

internal::QueueRuntime* internal::Engine::batch_queue(std::string_view batch) const {
  const std::size_t colon = batch.rfind(':');
  if (colon == std::string_view::npos) return nullptr;
  const QueueId queue = queue_index_.find(batch.substr(0, colon));
  return queue == no_id ? nullptr : queues_[queue].get();
}

Result<std::string> internal::Engine::batch(std::span<const Job> jobs, const BatchOptions& options) {
  if (jobs.empty()) return Error(Errc::unsupported, "a batch needs at least one job");
  if (state_.load(std::memory_order_acquire) != running) return refuse_closed(jobs.front());
  // Every job and callback is checked before anything is dispatched.
  simdjson::dom::parser parser;
  std::vector<Route> routes;
  auto check = [&](const Job& job, const std::string& which) -> std::optional<Error> {
    Result<Route> checked = check_ahead(job, which, parser);
    if (!checked) return checked.error();
    routes.push_back(*checked);
    return std::nullopt;
  };
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    if (std::optional<Error> refused = check(jobs[index], "job " + std::to_string(index) + ": ")) return *refused;
  }
  std::string on_complete, on_success;
  if (options.on_complete) {
    if (std::optional<Error> refused = check(*options.on_complete, "on_complete: ")) return *refused;
    on_complete = internal::encode(internal::step_of(*options.on_complete));
  }
  if (options.on_success) {
    if (std::optional<Error> refused = check(*options.on_success, "on_success: ")) return *refused;
    on_success = internal::encode(internal::step_of(*options.on_success));
  }
  // A batch is kept where its jobs are: in the batch table, or in one durable queue's store.
  Lane* const lane = queues_[routes.front().queue]->lane;
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    if (queues_[routes[index].queue]->lane != lane || (lane != nullptr && routes[index].queue != routes.front().queue)) {
      return Error(Errc::unsupported, "job " + std::to_string(index) +
                                          ": a batch is kept on one durable queue, or in memory: its jobs go to one "
                                          "durable queue, or to in-memory queues only");
    }
  }
  const std::string id = fresh_batch_id(queues_[routes.front().queue]->config.name);
  if (lane != nullptr) {
    if (Result<bool> opened = lane->open_batch(id, jobs.size(), on_complete, on_success); !opened) return opened.error();
  } else {
    batches_.open(id, jobs.size(), std::move(on_complete), std::move(on_success));
  }
  internal::FlowState state;
  state.batch = id;
  const std::string flow = internal::encode(state);
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    Job job = jobs[index];
    job.flow_state(flow);
    Result<JobId> dispatched = dispatch(job);
    if (dispatched) continue;
    // The jobs dispatched so far stay the batch, cancelled: its callbacks still run once.
    std::optional<internal::BatchEnding> ending;
    if (lane != nullptr) {
      if (Result<Lane::BatchEnding> shrunk = lane->shrink_batch(id, index); shrunk && shrunk->outcome.complete) {
        ending = internal::BatchEnding{shrunk->outcome, shrunk->on_complete, shrunk->on_success};
      }
    } else {
      ending = batches_.shrink(id, index);
    }
    if (ending) dispatch_batch_callbacks(*ending);
    return Error(dispatched.code(), "job " + std::to_string(index) + ": " + dispatched.error().message() + "; batch " +
                                        id + " is the " + std::to_string(index) + " jobs before it, cancelled");
  }
  return id;
}

void internal::Engine::finish_in_batch(const internal::Envelope& envelope, internal::BatchEnd end) {
  const std::optional<std::string> batch = internal::batch_of(envelope.extras->flow);
  if (!batch) return;
  internal::QueueRuntime* const owner = batch_queue(*batch);
  if (owner == nullptr) return;  // a batch of another Manager's (a job dispatched again after a restart)
  std::optional<internal::BatchEnding> ending;
  if (owner->lane != nullptr) {
    Result<Lane::BatchEnding> finished = owner->lane->finish_in_batch(*batch, envelope.id, end_name(end));
    if (!finished) {
      hooks_.log(LogLevel::error, "batch " + *batch + ": the end of job " + std::to_string(envelope.id) +
                               " could not be counted: " + finished.error().message());
      return;
    }
    if (finished->outcome.complete) ending = internal::BatchEnding{finished->outcome, finished->on_complete, finished->on_success};
  } else {
    ending = batches_.finish(*batch, envelope.id, end);
  }
  if (ending) dispatch_batch_callbacks(*ending);
}

void internal::Engine::dispatch_batch_callbacks(const internal::BatchEnding& ending) {
  Result<std::string> outcome = to_json(ending.outcome);
  const bool all_succeeded = ending.outcome.succeeded == ending.outcome.total && !ending.outcome.cancelled;
  const std::pair<std::string_view, const std::string*> callbacks[] = {
      {"success", all_succeeded ? &ending.on_success : nullptr}, {"complete", &ending.on_complete}};
  for (const auto& [which, text] : callbacks) {
    if (text == nullptr || text->empty()) continue;
    Result<internal::FlowStep> step = internal::decode_step(*text);
    if (!step) {
      hooks_.log(LogLevel::error, "batch " + ending.outcome.batch + ": " + step.error().message());
      continue;
    }
    internal::FlowState state;
    if (outcome) state.previous = *outcome;
    // Keyed, so that a batch whose last job runs twice (a durable job's process died) calls back once.
    const Result<JobId> dispatched = dispatch_step(*step, state, "batch:" + ending.outcome.batch + ":" + std::string(which));
    if (!dispatched && dispatched.code() != Errc::duplicate) {
      hooks_.log(LogLevel::error, "batch " + ending.outcome.batch + ": its on_" + std::string(which) +
                               " callback could not be dispatched: " + dispatched.error().message());
    }
  }
}

bool internal::Engine::batch_cancelled(const internal::Envelope& envelope) {
  const std::optional<std::string> batch = internal::batch_of(envelope.extras->flow);
  if (!batch) return false;
  internal::QueueRuntime* const owner = batch_queue(*batch);
  if (owner == nullptr) return false;
  if (owner->lane == nullptr) return batches_.cancelled(*batch);
  Result<std::optional<BatchOutcome>> status = owner->lane->batch_status(*batch);
  return status && status->has_value() && (*status)->cancelled;
}

Result<BatchOutcome> internal::Engine::batch_status(std::string_view batch) const {
  internal::QueueRuntime* const owner = batch_queue(batch);
  if (owner == nullptr) return Error(Errc::not_found, "no batch " + std::string(batch));
  std::optional<BatchOutcome> outcome;
  if (owner->lane != nullptr) {
    Result<std::optional<BatchOutcome>> status = owner->lane->batch_status(batch);
    if (!status) return status.error();
    outcome = *status;
  } else {
    outcome = batches_.status(batch);
  }
  if (!outcome) return Error(Errc::not_found, "no batch " + std::string(batch));
  return *outcome;
}

void internal::Engine::restore_batch(const PendingBatch& batch) {
  require_configuring("restore batch '" + batch.outcome.batch + "'");
  internal::QueueRuntime* const owner = batch_queue(batch.outcome.batch);
  if (owner == nullptr || owner->lane != nullptr) {
    throw ConfigError("cannot restore batch '" + batch.outcome.batch +
                      "': it is kept on an in-memory queue of its id's name, and this Manager has none");
  }
  batches_.restore(batch);
}

Result<bool> internal::Engine::cancel_batch(std::string_view batch) {
  internal::QueueRuntime* const owner = batch_queue(batch);
  if (owner == nullptr) return false;
  if (owner->lane != nullptr) return owner->lane->cancel_batch(batch);
  return batches_.cancel(batch);
}

}  // namespace jobq
