// A snapshot of the engine's metrics: plain structs, merged from per-worker and per-producer
// counters when taken, and their Prometheus text exposition.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobq/config.hpp"
#include "jobq/ids.hpp"
#include "jobq/lane_stats.hpp"
#include "jobq/latency.hpp"

namespace jobq {

/// What happened to jobs, counted since start(). Read field by field, not as one atomic snapshot.
struct JobCounters {
  std::uint64_t accepted = 0;       ///< dispatches accepted (and dead letters requeued, per queue)
  std::uint64_t rejected = 0;       ///< dispatches refused after routing
  std::uint64_t started = 0;        ///< runs begun (every attempt and snooze counts)
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;         ///< attempts that returned an error or threw
  std::uint64_t retried = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t revoked = 0;
  std::uint64_t snoozed = 0;
  std::uint64_t debounced = 0;      ///< dispatches folded into a waiting debounced job (QueueStats::debounced)
};

struct QueueMetrics {
  std::string name;
  unsigned workers = 0;
  IdleStrategy idle = IdleStrategy::spin_then_park;  ///< busy_spin: each worker holds a CPU
  unsigned busy_workers = 0;    ///< workers running a handler now
  std::int64_t depth = 0;       ///< jobs waiting in the ring
  std::uint64_t scheduled = 0;  ///< jobs waiting in the timer
  std::uint64_t in_flight = 0;  ///< jobs taken off the ring and not finished (running or batched)
  std::uint64_t timed_out = 0;
  std::uint64_t wakeups = 0;  ///< futex wakes issued to its parked workers
  std::int64_t limit_waiting = 0;  ///< jobs held by workers waiting for a limit now (QueueStats::limit_waiting)
  std::uint64_t throttled = 0;     ///< jobs that waited for a limit before they started
  bool paused = false;
  /// A durable queue: its lane's counters and what Redis holds for it (read when the snapshot is
  /// taken: one round trip per durable queue), and the jobs this process put back there.
  bool durable = false;
  LaneStats lane;
  std::uint64_t handed_back = 0;
  JobCounters jobs;
  Latency wait;  ///< dispatch (or due time) → start
  Latency run;   ///< start → handler returned
};

/// One job type over every queue it ran on.
struct TypeMetrics {
  std::string type;
  JobCounters jobs;
  Latency wait;
  Latency run;
};

/// A job a worker is running now.
struct InFlightJob {
  JobId id = 0;
  std::string type;
  std::string queue;
  unsigned worker = 0;
  std::uint32_t attempt = 0;
  /// Since the worker last read its clock before the job began: exact for sampled jobs, else from
  /// the start of the worker's batch (so at most the batch's earlier jobs too long). 0 when
  /// Config::metrics is off.
  double running_seconds = 0;
};

struct MetricsSnapshot {
  std::vector<QueueMetrics> queues;
  std::vector<TypeMetrics> types;
  std::uint64_t unrouted = 0;              ///< dispatches refused for an unknown type or queue
  std::uint64_t dead_letters = 0;          ///< kept now
  std::uint64_t dead_letters_dropped = 0;  ///< dropped because the store was full
  std::uint64_t dead_letter_bytes = 0;     ///< what the kept letters count against dead_letter_bytes
  /// Producer states: one per thread that has dispatched and is alive; a thread's state is
  /// retired when it exits (its buffers freed) and adopted by the next new producing thread.
  std::uint64_t producers_live = 0;
  std::uint64_t producers_retired = 0;
  std::uint64_t idempotency_keys = 0;      ///< held now
  /// Config::latency_sample_every: the wait and run histograms hold about one job in this many
  /// dispatched (and every job coming back from the timer). The counters are exact.
  std::uint32_t latency_sample_every = 1;
  /// Seconds since start() (0 before): with the counters, the mean rates since start.
  double uptime_seconds = 0;
};

/// The Prometheus text exposition format (version 0.0.4) of a snapshot: counters end in _total
/// and are exact; latencies are histograms in seconds named `…_sampled_wait_seconds` and
/// `…_sampled_run_seconds`, whose `_count` counts timed samples, not jobs (rates come from the
/// counters); queues and types are labels.
std::string prometheus_text(const MetricsSnapshot& snapshot);

}  // namespace jobq
