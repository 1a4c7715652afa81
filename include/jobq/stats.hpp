// Counters and the shutdown report.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobq/ids.hpp"

namespace jobq {

/// One queue's counters, merged from per-thread counters when read. While jobs are moving the
/// fields are read one after another, not as one atomic snapshot.
struct QueueStats {
  std::string name;
  unsigned workers = 0;
  std::uint64_t accepted = 0;   ///< dispatches that entered the queue
  /// Dispatches routed to this queue and refused (queue full, invalid or oversized payload, not
  /// started, shutting down). A dispatch whose type or queue is unknown has no queue to count on:
  /// Manager::unrouted() counts those.
  std::uint64_t rejected = 0;
  std::uint64_t succeeded = 0;  ///< handlers that returned success
  std::uint64_t failed = 0;     ///< handlers that returned an error or threw
  std::int64_t depth = 0;       ///< jobs waiting in the queue now
};

/// A job that was accepted but did not run, handed back by shutdown().
struct ReturnedJob {
  JobId id = 0;
  std::string type;
  std::string queue;
  std::string payload;
};

struct ShutdownReport {
  /// True when every queued job ran before the deadline.
  bool drained = false;
  std::uint64_t accepted = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  /// Accepted jobs that never started, in no particular order.
  std::vector<ReturnedJob> not_run;
  std::vector<QueueStats> queues;
  /// Dispatches refused for an unknown job type or queue (never accepted, so outside the books).
  std::uint64_t unrouted = 0;

  /// accepted == succeeded + failed + not_run: no job was lost. (Only the first shutdown() report
  /// carries the returned jobs; a later one balances only if the first returned none.)
  bool balanced() const noexcept { return accepted == succeeded + failed + not_run.size(); }
};

/// What the failure hook receives; valid only during the call.
struct Failure {
  JobId id;
  std::string_view type;
  std::string_view queue;
  std::uint32_t attempt;
  std::string_view payload;
  std::string_view message;
  bool retryable;  ///< Status::Kind::error (true) or skip_retry (false)
};

}  // namespace jobq
