// A job's place in a chain (Manager::chain()), as the job carries it: the steps after it and the
// result of the step before. Kept as JSON text in JobExtras::flow, in a durable queue's store, in
// dead letters and in jobs returned at shutdown, so that a chain survives whatever its current
// step goes through.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobq/error.hpp"
#include "jobq/headers.hpp"
#include "jobq/job.hpp"
#include "jobq/payload.hpp"

namespace jobq::internal {

struct FlowHeader {
  std::string name;
  std::string value;
};
JOBQ_PAYLOAD(FlowHeader, name, value);

/// One step still to come, with the options a dispatch takes that can be written down.
struct FlowStep {
  std::string type;
  std::string queue;
  std::string payload;  ///< JSON text
  std::vector<FlowHeader> headers;
  std::string key;
  bool until_started = false;
  std::int64_t delay_ns = 0;
  std::int64_t timeout_ns = 0;
  std::uint32_t max_attempts = 0;
};
JOBQ_PAYLOAD(FlowStep, type, queue, payload, headers, key, until_started, delay_ns, timeout_ns, max_attempts);

struct FlowState {
  std::uint64_t chain = 0;   ///< the id of the chain's first step: names the chain
  std::uint32_t step = 0;    ///< this job's index in it
  std::optional<std::string> previous;  ///< the step before's result (JSON text)
  std::vector<FlowStep> next;
  std::optional<std::string> batch;  ///< the batch the job belongs to (Manager::batch())
};
JOBQ_PAYLOAD(FlowState, chain, step, previous, next, batch);

/// Why `job` cannot be a step of a chain (a RetryPolicy object, debounce, a flow of its own), or
/// empty.
std::string step_problem(const Job& job);
/// A step as the chain writes it down.
FlowStep step_of(const Job& job);
/// The Job to dispatch for `step`: it views `step` and `headers` (filled here).
Job job_of(const FlowStep& step, Headers& headers);
std::string encode(const FlowState& state);
Result<FlowState> decode(std::string_view text);
std::string encode(const FlowStep& step);
Result<FlowStep> decode_step(std::string_view text);
/// The batch a job's flow names, read without a full parse when it names none.
std::optional<std::string> batch_of(std::string_view flow);
/// The types of the steps still to come, in order (for a dead letter); empty if `flow` is empty
/// or unreadable.
std::vector<std::string> waiting_types(std::string_view flow);

}  // namespace jobq::internal
