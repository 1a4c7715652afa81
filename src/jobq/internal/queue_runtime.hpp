// The per-queue state shared by its producers and workers, laid out so that producers and
// workers do not write the same cache lines except where the protocol needs it.
#pragma once

#include <concurrentqueue.h>
#include <simdjson.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "jobq/config.hpp"
#include "jobq/lane.hpp"
#include "jobq/internal/allocator.hpp"
#include "jobq/internal/counter.hpp"
#include "jobq/internal/envelope.hpp"
#include "jobq/internal/kept_memory.hpp"
#include "jobq/internal/limiter.hpp"
#include "jobq/internal/notifier.hpp"
#include "jobq/internal/run_deadline.hpp"
#include "jobq/latency.hpp"

namespace jobq::internal {

/// What a ring allocates (its producers, their block indexes, blocks of 32 envelopes: 12 KiB)
/// outlives the producing thread that made it, so it comes from kept memory. Blocks are recycled
/// by the ring itself, so steady-state dispatch allocates nothing.
struct RingTraits : moodycamel::ConcurrentQueueDefaultTraits {
  static void* malloc(std::size_t size) { return keep_allocate(size); }
  static void free(void* block) { keep_release(block); }
};

using Ring = moodycamel::ConcurrentQueue<Envelope, RingTraits>;

/// One worker's counters and latencies for one job type, written by that worker only and
/// merged on read: per queue over its workers, per type over every worker.
struct alignas(cache_line) TypeCell {
  SingleWriterCounter succeeded;
  SingleWriterCounter failed;
  SingleWriterCounter retried;
  SingleWriterCounter dead_lettered;
  SingleWriterCounter revoked;
  SingleWriterCounter snoozed;
  LatencyRecorder wait;  // dispatch (or due time) → start, in ticks
  LatencyRecorder run;   // start → the handler returned

  /// Adds this cell's outcomes to `out`: any struct with these six counters (QueueStats,
  /// JobCounters).
  template <class Counts>
  void add_outcomes_to(Counts& out) const noexcept {
    out.succeeded += succeeded.read();
    out.failed += failed.read();
    out.retried += retried.read();
    out.dead_lettered += dead_lettered.read();
    out.revoked += revoked.read();
    out.snoozed += snoozed.read();
  }
};

/// One worker thread's private state. Counters are written by this worker only.
struct alignas(cache_line) Worker {
  unsigned index = 0;
  int cpu = -1;  // pinned CPU, or -1
  std::unique_ptr<TypeCell[]> cells;  // one per registered type, made by start()
  SingleWriterCounter taken;          // jobs taken off the ring
  SingleWriterCounter returned;    // jobs taken and returned unstarted at shutdown
  std::stop_source stop;  // fires at shutdown's deadline
  std::thread thread;

  /// The job running now, for the inspector, under a sequence lock: `running_seq` is odd while
  /// the fields change. `running_id` is 0 between jobs.
  alignas(cache_line) std::atomic<std::uint64_t> running_seq{0};
  std::atomic<JobId> running_id{0};
  std::atomic<TypeId> running_type{0};
  std::atomic<std::uint32_t> running_attempt{0};
  std::atomic<std::uint64_t> running_since{0};  // ticks; 0 when metrics are off

  /// The stop source handlers see. Shutdown's `stop` forwards to it; the timer fires it when a
  /// timed run passes its deadline, and the worker then makes a fresh one (the only allocation a
  /// timeout costs). Written by the worker only, except the request_stop() calls.
  struct ForwardStop {
    std::stop_source* target;
    void operator()() const noexcept { target->request_stop(); }
  };
  std::stop_source job_stop;
  std::optional<std::stop_callback<ForwardStop>> forward_stop;
  std::uint64_t timed_runs = 0;  // worker only

  /// The running handler's deadline, read by the timer thread.
  alignas(cache_line) RunDeadline deadline;
};

struct QueueRuntime {
  explicit QueueRuntime(QueueConfig queue_config, QueueId queue_index)
      : config(std::move(queue_config)),
        index(queue_index),
        parks(config.idle == IdleStrategy::spin_then_park),
        capacity(static_cast<std::int64_t>(config.capacity)),
        lane(config.lane.get()),
        limits(config.limits.any() ? std::make_unique<LimitScope>("queue", config.limits) : nullptr),
        limit_store(lane != nullptr && lane->keeps_limits() ? lane : nullptr),
        ring(Ring::BLOCK_SIZE * 4) {}

  const QueueConfig config;
  const QueueId index;
  const bool parks;
  const std::int64_t capacity;
  /// The durable store that dispatches go to and the workers' jobs come from; null: in memory.
  Lane* const lane;
  /// The queue's own limits; null without any.
  const std::unique_ptr<LimitScope> limits;
  /// Where the queue's limits (and its job types') are kept for the fleet: its lane, if the lane
  /// keeps limits; null: in this process's gates.
  Lane* const limit_store;
  /// The queue has limits, or some job type has: its workers look at them for each job. Set by
  /// start(), before the workers run.
  bool check_limits = false;
  /// Read by the workers once per poll; written only by pause() and resume().
  std::atomic<bool> paused{false};
  Ring ring;

  /// Reservations made by producers (withdrawn ones subtracted) and jobs taken out of the ring.
  /// Their difference is the queue's depth: the capacity bound, the drain condition at shutdown
  /// and the parking check all read it. They sit on separate cache lines so that producers and
  /// workers each write only their own; a producer reads the workers' line only when its cached
  /// copy says the queue may be full. (One shared counter cost about 190 ns per job, 1→1.)
  alignas(cache_line) std::atomic<std::int64_t> enqueued{0};
  alignas(cache_line) std::atomic<std::int64_t> dequeued{0};

  /// Reserves `count` slots; false (and nothing reserved) if that would pass the capacity.
  /// `dequeued_seen` is the caller's cached lower bound of `dequeued`, refreshed when needed.
  bool reserve(std::int64_t count, std::int64_t& dequeued_seen) noexcept {
    const std::int64_t after = enqueued.fetch_add(count, std::memory_order_seq_cst) + count;
    if (after - dequeued_seen <= capacity) [[likely]] return true;
    dequeued_seen = dequeued.load(std::memory_order_seq_cst);
    if (after - dequeued_seen <= capacity) return true;
    enqueued.fetch_sub(count, std::memory_order_seq_cst);
    return false;
  }
  void withdraw(std::int64_t count) noexcept { enqueued.fetch_sub(count, std::memory_order_seq_cst); }
  /// A cheap early answer for producers: true if the queue holds `capacity` jobs or more.
  bool looks_full(std::int64_t& dequeued_seen) const noexcept {
    if (enqueued.load(std::memory_order_relaxed) - dequeued_seen < capacity) [[likely]] return false;
    dequeued_seen = dequeued.load(std::memory_order_relaxed);
    return enqueued.load(std::memory_order_relaxed) - dequeued_seen >= capacity;
  }
  /// Jobs reserved and not yet taken. `dequeued` is read first: it never passes `enqueued`, so a
  /// zero here means that at the moment `enqueued` was read nothing was outstanding.
  std::int64_t depth() const noexcept {
    const std::int64_t taken = dequeued.load(std::memory_order_seq_cst);
    return enqueued.load(std::memory_order_seq_cst) - taken;
  }

  /// Idle workers of a spin_then_park queue: producers wake one only when one is parked and none
  /// spins, so a busy queue sees no system calls.
  alignas(cache_line) Notifier notifier;
  /// Workers of a paused queue wait on this word, not in the notifier: a dispatch to a paused
  /// queue wakes nobody. Bumped by pause(), resume() and lifecycle changes.
  alignas(cache_line) std::atomic<std::uint32_t> pause_epoch{0};

  alignas(cache_line) std::vector<std::unique_ptr<Worker>> workers;

  /// Wakes every worker wherever it waits, to look at the lifecycle or the pause flag again.
  void wake_everyone() noexcept {
    notifier.wake_everyone();
    pause_epoch.fetch_add(1, std::memory_order_seq_cst);
    pause_epoch.notify_all();
  }

  /// Events off the hot path, from threads other than the workers.
  alignas(cache_line) std::atomic<std::uint64_t> requeued{0};   // dead letters put back
  std::atomic<std::uint64_t> timed_out{0};                      // counted by the timer thread
  std::atomic<std::uint64_t> delivered{0};    // durable: jobs fetched into this process
  std::atomic<std::uint64_t> handed_back{0};  // durable: jobs put back in the store (retry, snooze, shutdown)
  std::atomic<std::uint64_t> async_rejected{0};  // durable: asynchronous dispatches the store refused
  std::atomic<std::uint64_t> throttled{0};       // jobs that waited for a limit before they started
  std::atomic<std::int64_t> limit_waiting{0};    // jobs held by workers waiting for a limit now
};

/// Where a job goes: its interned type and its queue.
struct Route {
  TypeId type;
  QueueId queue;
};

}  // namespace jobq::internal
