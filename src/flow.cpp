// Chains as jobs carry them: writing steps down and reading them back.
#include "jobq/internal/flow.hpp"

#include <algorithm>

#include "jobq/json.hpp"

namespace jobq::internal {

std::string step_problem(const Job& job) {
  if (job.retry_policy() != nullptr) {
    return "a chain step cannot carry a retry policy object (its backoff is code): set max_attempts, or a policy on "
           "its type";
  }
  if (job.is_debounced()) return "a chain step cannot be debounced";
  if (!job.flow_value().empty()) return "a chain step cannot be part of another chain";
  if (job.at_value() != Job::steady_time{}) return "a chain step takes a delay(), not an at(): it runs after the step before";
  return {};
}

FlowStep step_of(const Job& job) {
  FlowStep step;
  step.type = job.type();
  step.queue = job.queue();
  step.payload = job.payload();
  if (const Headers* headers = job.headers_value()) {
    for (const Header& header : *headers) step.headers.push_back({header.name, header.value});
  }
  step.key = job.key();
  step.until_started = job.key_hold() == KeyHold::until_started;
  step.delay_ns = std::max<std::int64_t>(0, job.delay_value().count());
  step.timeout_ns = std::max<std::int64_t>(0, job.timeout_value().count());
  step.max_attempts = job.max_attempts_value();
  return step;
}

Job job_of(const FlowStep& step, Headers& headers) {
  Job job(step.type);
  job.payload(step.payload).on_queue(step.queue);
  headers.clear();
  for (const FlowHeader& header : step.headers) headers.set(header.name, header.value);
  if (!headers.empty()) job.headers(headers);
  if (!step.key.empty()) job.idempotency_key(step.key, step.until_started ? KeyHold::until_started : KeyHold::until_done);
  if (step.delay_ns > 0) job.delay(std::chrono::nanoseconds(step.delay_ns));
  if (step.timeout_ns > 0) job.timeout(std::chrono::nanoseconds(step.timeout_ns));
  if (step.max_attempts != 0) job.max_attempts(step.max_attempts);
  return job;
}

std::string encode(const FlowState& state) {
  // Steps hold text that passed dispatch's checks: serializing them cannot fail on UTF-8.
  Result<std::string> json = jobq::to_json(state);
  return json ? *json : std::string();
}

Result<FlowState> decode(std::string_view text) {
  FlowState state;
  if (Status bound = jobq::from_json(text, state); !bound.ok()) {
    return Error(Errc::invalid_payload, "a chain's state does not read: " + bound.message());
  }
  return state;
}

std::string encode(const FlowStep& step) {
  Result<std::string> json = jobq::to_json(step);
  return json ? *json : std::string();
}

Result<FlowStep> decode_step(std::string_view text) {
  FlowStep step;
  if (Status bound = jobq::from_json(text, step); !bound.ok()) {
    return Error(Errc::invalid_payload, "a batch callback does not read: " + bound.message());
  }
  return step;
}

std::optional<std::string> batch_of(std::string_view flow) {
  // Most flows are chains: a batch's flow holds its id as a string, a chain's holds null.
  if (flow.find("\"batch\":\"") == std::string_view::npos) return std::nullopt;
  Result<FlowState> state = decode(flow);
  if (!state) return std::nullopt;
  return state->batch;
}

std::vector<std::string> waiting_types(std::string_view flow) {
  std::vector<std::string> types;
  if (flow.empty()) return types;
  if (Result<FlowState> state = decode(flow)) {
    for (const FlowStep& step : state->next) types.push_back(step.type);
  }
  return types;
}

}  // namespace jobq::internal
