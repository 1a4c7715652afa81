// Configuration of a Manager: its named queues and engine-wide limits, with documented defaults.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jobq/clock.hpp"
#include "jobq/limits.hpp"
#include "jobq/log.hpp"
#include "jobq/retry.hpp"

namespace jobq {

class Lane;

/// What an idle worker does when its queue is empty.
enum class IdleStrategy : std::uint8_t {
  /// Poll forever: the lowest handoff latency, one core burned per worker even when idle.
  busy_spin,
  /// Poll for a while, then sleep on a futex until a dispatch wakes it. How long follows the gaps
  /// between jobs the worker has seen (at most `spin_iterations` polls). A dispatch makes no
  /// system call unless a worker of that queue is asleep and none is polling; a paused queue's
  /// workers wait apart, so dispatches to it wake nobody.
  spin_then_park,
};

/// What a dispatch does when its queue holds `capacity` jobs.
enum class WhenFull : std::uint8_t {
  reject,  ///< fail at once with Errc::queue_full
  block,   ///< wait up to QueueConfig::block_timeout for room, then fail with Errc::queue_full
};

struct QueueConfig {
  /// Lower-case letters, digits, '_' and '-'; unique within the Manager.
  std::string name;
  /// Worker threads serving this queue: at least 1, or 0 for a durable queue that this process
  /// only dispatches to (its lane then fetches nothing here; other processes run the jobs).
  unsigned workers = 1;
  /// CPUs to pin the workers to: worker i runs on cpus[i % cpus.size()]. Empty: not pinned.
  /// Every CPU must be one that the process's main thread or the constructing thread may run on
  /// (sched_getaffinity); pinning itself is checked again by start().
  std::vector<unsigned> cpus = {};
  /// Jobs that may wait in the queue. Jobs coming back from the timer (delayed jobs falling due,
  /// retries, snoozes) are let in past it: they were accepted already and must not be lost.
  std::size_t capacity = 65536;
  /// Jobs of this queue that may wait in the timer at once: delayed jobs, retries waiting out
  /// their backoff, snoozes. Past it a delayed dispatch fails with Errc::queue_full, and a retry
  /// or snooze is dead-lettered with DeadReason::no_room (requeue it when the backlog clears).
  /// With `capacity` it bounds the queue's memory: about 450 bytes a job, plus payloads over
  /// 256 bytes.
  std::size_t max_scheduled = 65536;
  /// What a dispatch does when the queue is full.
  WhenFull when_full = WhenFull::reject;
  /// How long a dispatch waits for room with WhenFull::block; nanoseconds::max(): until there is
  /// room or intake closes.
  std::chrono::nanoseconds block_timeout = std::chrono::milliseconds(100);
  IdleStrategy idle = IdleStrategy::spin_then_park;
  /// The most empty polls before parking, with spin_then_park; the budget adapts below it.
  unsigned spin_iterations = 4096;
  /// The most jobs a worker takes from the ring at once (1..64). Larger batches cost fewer atomics
  /// per job; a batch is run by the worker that took it, so keep it small for slow handlers on many
  /// workers. After an empty poll a worker asks for one job, and doubles while takes come back full.
  unsigned dequeue_batch = 8;
  /// Where the queue's jobs live. Null: in this process's memory. A durable lane (for example
  /// jobq::redis::lane()) stores them outside the process: dispatch returns once the store has
  /// the job, and the workers run what the lane fetches. See the README, "Durable queues".
  std::shared_ptr<Lane> lane = nullptr;
  /// How fast and how many of this queue's jobs may start (see Limits); none by default. A
  /// worker holding a job over the limit waits with it.
  Limits limits = {};
};

struct Config {
  /// Named queues. A job goes to the queue it names, else its type's default queue, else "default".
  std::vector<QueueConfig> queues = {QueueConfig{.name = "default"}};
  /// Check that raw payloads are valid JSON (UTF-8, structure, depth) before accepting them.
  /// Turn off only for producers that are trusted to send valid JSON (or use Job::trusted()).
  bool validate_payloads = true;
  /// Largest payload accepted, in bytes.
  std::size_t max_payload_bytes = 1 << 20;
  /// Deepest nesting of arrays and objects accepted by validation.
  std::size_t max_payload_depth = 64;
  /// Deadline the destructor gives shutdown() when the Manager is destroyed while running;
  /// milliseconds::max(): wait for the drain however long it takes.
  std::chrono::milliseconds destructor_shutdown_timeout = std::chrono::seconds(5);
  /// Attempts and backoff for every job type that does not set its own.
  RetryPolicy retry = {};
  /// Dead letters kept for inspection; past it the oldest is dropped (and counted).
  std::size_t dead_letter_capacity = 10000;
  /// Bytes the kept dead letters may take (payloads, errors and names, plus about 200 bytes of
  /// record each); past it the oldest are dropped (and counted), as past dead_letter_capacity.
  std::size_t dead_letter_bytes = std::size_t{64} << 20;
  /// How long a successful job's idempotency key keeps refusing duplicates; nanoseconds::max():
  /// for the Manager's life.
  std::chrono::nanoseconds idempotency_ttl = std::chrono::hours(1);
  /// Idempotency keys held at once (pending, running, or within their TTL). A keyed dispatch past
  /// it fails with Errc::too_many_keys.
  std::size_t max_idempotency_keys = 1 << 20;
  /// How long a job's result (Context::set_result) is kept for Manager::result(); zero: results
  /// are only handed along chains, never kept.
  std::chrono::nanoseconds result_ttl = std::chrono::minutes(10);
  /// Results kept at once, and the bytes they may take; past either the oldest go first.
  std::size_t max_results = 65536;
  std::size_t result_bytes = std::size_t{64} << 20;
  /// Record queue-wait and run-time histograms and date the running job of each worker for the
  /// inspector. Counters are kept either way: the books need them.
  bool metrics = true;
  /// Each producing thread stamps one dispatch in this many for the latency histograms (1: every
  /// job). A stamped job costs three time-stamp counter reads; the others cost none, beyond one
  /// read per batch a worker takes. Jobs coming back from the timer are always stamped.
  std::uint32_t latency_sample_every = 16;
  /// Events below this level are not formatted at all. Nothing on the success path logs; at
  /// debug, every failed attempt and every worker start and stop does.
  LogLevel log_level = LogLevel::warn;
  /// Where log lines go; empty: stderr.
  LogSink log_sink = nullptr;
  /// The time source (with its wall clock, for periodic jobs); null means the standard clocks.
  /// For tests.
  std::shared_ptr<const Clock> clock = nullptr;
  /// CPUs the timer thread ("jq:timer") may run on, and the periodic jobs' thread
  /// ("jq:scheduler"); empty: wherever the OS puts them. The timer wakes only when a delayed job,
  /// retry, snooze or timeout falls due; the scheduler at each slot, and once a second.
  std::vector<unsigned> timer_cpus = {};
};

}  // namespace jobq
