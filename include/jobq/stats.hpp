// Counters, the shutdown report, and what the hooks receive.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobq/batch.hpp"
#include "jobq/headers.hpp"
#include "jobq/ids.hpp"
#include "jobq/job.hpp"

namespace jobq {

/// One queue's counters, merged from per-thread counters when read. While jobs are moving the
/// fields are read one after another, not as one atomic snapshot.
///
/// Every accepted job ends in exactly one terminal state: succeeded, dead_lettered, revoked, or
/// returned by shutdown(). Until then it is waiting (depth), scheduled (delayed, retry or snooze
/// pending) or running. failed, retried, snoozed and timed_out count events on the way.
struct QueueStats {
  std::string name;
  unsigned workers = 0;
  bool paused = false;
  std::uint64_t accepted = 0;   ///< dispatches that entered the queue, plus dead letters requeued
  /// Dispatches routed to this queue and refused (queue full, invalid or oversized payload,
  /// duplicate key, not started, shutting down). A dispatch whose type or queue is unknown has
  /// no queue to count on: Manager::unrouted() counts those.
  std::uint64_t rejected = 0;
  /// Debounced dispatches folded into the job already waiting under their key (Job::debounce):
  /// not new jobs, so not in `accepted`. In-memory queues; a durable queue's are LaneStats'.
  std::uint64_t debounced = 0;
  std::uint64_t succeeded = 0;      ///< terminal: the handler returned success
  std::uint64_t dead_lettered = 0;  ///< terminal: attempts used up, skip_retry, or a bind failure
  std::uint64_t revoked = 0;        ///< terminal: the handler returned revoke
  std::uint64_t failed = 0;         ///< attempts that returned an error or threw
  std::uint64_t retried = 0;        ///< failed attempts scheduled to run again
  std::uint64_t snoozed = 0;        ///< runs that asked to run again later
  std::uint64_t timed_out = 0;      ///< runs still going when their timeout fired
  std::int64_t depth = 0;           ///< jobs waiting in the ring now
  std::uint64_t scheduled = 0;      ///< jobs waiting in the timer now
  /// Durable queues: jobs this process put back in the store, where any process may run them
  /// (a retry or snooze waits there; shutdown returns its fetched jobs there). Terminal here.
  /// On a durable queue `accepted` counts the jobs this process fetched, not those it stored.
  std::uint64_t handed_back = 0;
  /// Futex wakes issued to this queue's parked workers (by dispatch, the timer, and workers
  /// handing work on): a spin_then_park queue with a worker awake needs none.
  std::uint64_t wakeups = 0;
  /// Limits (QueueConfig::limits, RegisterOptions::limits): jobs taken by a worker that wait now
  /// for a running slot or a start time, and jobs so far that had to wait before they started.
  std::int64_t limit_waiting = 0;
  std::uint64_t throttled = 0;
};

/// How shutdown() treats jobs that have not started.
enum class ShutdownMode : std::uint8_t {
  /// Run what is on the queues until the deadline, then return the rest.
  drain,
  /// Start nothing more: let running handlers finish (until the deadline) and return the rest.
  return_pending,
};

/// An accepted job that did not run to a terminal state, returned by shutdown(): waiting in a
/// queue, or in the timer (delayed, retry or snooze pending). Plain data, so that the caller can
/// persist it and dispatch it again (to_job()) on the next start.
struct ReturnedJob {
  JobId id = 0;
  std::string type;
  std::string queue;
  std::string payload;
  std::uint32_t attempt = 1;  ///< the attempt it would have run as
  std::string idempotency_key;
  /// When it was due (wall clock); the epoch for a job that was ready to run; max() for a job
  /// that was to wait forever (a delay, snooze or backoff of max()).
  std::chrono::system_clock::time_point due{};
  Headers headers;
  std::string flow;  ///< its place in a chain (Job::flow_state()); empty: none

  /// A Job viewing this record, to dispatch again: same type, queue, payload, key, headers, and
  /// the time left until `due` as its delay. It starts again from attempt 1 under a new id.
  Job to_job() const;
};

struct ShutdownReport {
  /// True when every job on the queues ran before the deadline and none was returned.
  bool drained = false;
  std::uint64_t accepted = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t revoked = 0;
  std::uint64_t failed = 0;
  std::uint64_t retried = 0;
  std::uint64_t snoozed = 0;
  std::uint64_t timed_out = 0;
  /// Durable queues' jobs put back in their store (QueueStats::handed_back).
  std::uint64_t handed_back = 0;
  /// Accepted jobs that did not reach a terminal state, in no particular order.
  std::vector<ReturnedJob> not_run;
  /// Next steps of chains (Manager::chain()) whose step before succeeded while intake was
  /// closing: never accepted (so outside the books, with id 0), to dispatch again on the next
  /// start (to_job() keeps their chain).
  std::vector<ReturnedJob> chain_steps;
  /// In-memory batches that had not ended: Manager::restore_batch() carries them over to the
  /// next start, where their returned jobs (not_run) count into them again.
  std::vector<PendingBatch> batches;
  std::vector<QueueStats> queues;
  /// Dispatches refused for an unknown job type or queue (never accepted, so outside the books).
  std::uint64_t unrouted = 0;

  /// accepted == succeeded + dead_lettered + revoked + handed_back + returned: no job was lost. (Only the first
  /// shutdown() report carries the returned jobs; a later one balances only if the first
  /// returned none.)
  bool balanced() const noexcept {
    return accepted == succeeded + dead_lettered + revoked + handed_back + not_run.size();
  }
};

/// What the failure hook receives; valid only during the call.
struct Failure {
  JobId id;
  std::string_view type;
  std::string_view queue;
  std::uint32_t attempt;
  std::string_view payload;
  std::string_view message;
  bool retryable;   ///< Status::Kind::error (true) or skip_retry (false)
  bool will_retry;  ///< a retry is scheduled; false: the job is dead-lettered next
  std::chrono::nanoseconds retry_in;  ///< the backoff chosen, when will_retry
  const Headers* headers = nullptr;   ///< the job's headers (empty when it has none); set by the engine
};

/// What the timeout hook receives: a handler still running when its timeout fired.
struct Overrun {
  JobId id;
  std::string_view type;
  std::string_view queue;
  std::uint32_t attempt;
  std::chrono::nanoseconds timeout;
};

}  // namespace jobq
