// The per-queue state shared by its producers and workers, laid out so that producers and
// workers do not write the same cache lines except where the protocol needs it.
#pragma once

#include <concurrentqueue.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
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

/// Reads the ring producer a moodycamel::ProducerToken stands for (a protected member, reached
/// through a pointer to it taken in a derived class).
struct ProducerTokenAccess : moodycamel::ProducerToken {
  static const void* producer_of(const moodycamel::ProducerToken& token) noexcept {
    constexpr auto member = &ProducerTokenAccess::producer;
    return token.*member;
  }
};

/// Asks for the first two lines of the ring producer behind `token`: its tail index, which an
/// enqueue reads first, and its current block. The queue's workers write that line with each take
/// (the head index and the dequeue counts share it), so the enqueue's first load misses whenever a
/// worker took a job since this thread's last dispatch: in a request and reply between two workers,
/// on every dispatch, and as the last of a dispatch's work it waits in full. Asked for when the
/// route is known, the line arrives while the payload is checked and copied.
inline void prefetch_ring_producer(const moodycamel::ProducerToken& token) noexcept {
  const auto producer = reinterpret_cast<std::uintptr_t>(ProducerTokenAccess::producer_of(token));
  prefetch_for_write(reinterpret_cast<const void*>(producer));
  prefetch_for_write(reinterpret_cast<const void*>(producer + cache_line));
}

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
        grant_chunk(std::clamp<std::int64_t>(capacity / 2048, 1, 32)),
        lane(config.lane.get()),
        limits(config.limits.any() ? std::make_unique<LimitScope>("queue", config.limits) : nullptr),
        limit_store(lane != nullptr && lane->keeps_limits() ? lane : nullptr),
        ring(Ring::BLOCK_SIZE * 4) {}

  const QueueConfig config;
  const QueueId index;
  const bool parks;
  const std::int64_t capacity;
  /// Slots a producer takes from `granted` at a time: 32 for the default capacity, 1 (every
  /// reservation exact) below 4 096. A producer thread holds at most grant_chunk - 1 unused slots,
  /// under 1/2 048 of the capacity, which the queue's other producers cannot have meanwhile.
  const std::int64_t grant_chunk;
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

  // The queue's depth and its capacity bound are kept by three kinds of counter, each on its own
  // cache line, so that producers on different cores write no line in common per job (one shared
  // counter bounced between two producers' cores on every dispatch):
  //   intake    jobs counted in by producers, one shard per group of producer threads (and one for
  //             readmitted jobs), withdrawn ones subtracted. Shard sums minus `dequeued` are the
  //             depth: the drain condition at shutdown and the parking check read it. Counted in
  //             with a sequentially consistent read-modify-write before the lifecycle is looked at
  //             again (intake-inl.hpp), which is what lets shutdown see every job or the producer
  //             see shutdown.
  //   granted   slots of the capacity handed to producers, in chunks of `grant_chunk`: a producer
  //             keeps what it has not used yet (Credit) and touches this shared line once a chunk.
  //   dequeued  jobs taken out of the ring, written by the workers.
  static constexpr std::uint16_t intake_shards = 8;
  static constexpr std::uint16_t readmit_shard = intake_shards - 1;
  struct alignas(cache_line) IntakeShard {
    std::atomic<std::int64_t> count{0};
  };
  std::array<IntakeShard, intake_shards> intake;
  alignas(cache_line) std::atomic<std::int64_t> granted{0};
  alignas(cache_line) std::atomic<std::int64_t> dequeued{0};

  /// What one producer thread holds of the queue's capacity: slots granted to it and not used yet,
  /// and its cached lower bound of `dequeued`.
  struct Credit {
    std::int64_t slots = 0;
    std::int64_t dequeued_seen = 0;
  };

  /// Reserves `count` slots of the capacity; false (and nothing reserved) if the queue has no room
  /// for them. Takes a chunk of slots from `granted` when the producer's own run out.
  bool reserve(std::int64_t count, Credit& credit) noexcept {
    if (credit.slots >= count) [[likely]] {
      credit.slots -= count;
      return true;
    }
    return reserve_more(count, credit);
  }
  /// reserve() once the producer's own slots run out: once a chunk, kept out of the fast path.
  [[gnu::noinline]] bool reserve_more(std::int64_t count, Credit& credit) noexcept {
    const std::int64_t missing = count - credit.slots;
    std::int64_t ask = std::max(missing, grant_chunk);
    if (!grant(ask, credit.dequeued_seen)) {
      if (ask == missing || !grant(missing, credit.dequeued_seen)) return false;
      ask = missing;
    }
    credit.slots += ask - count;
    return true;
  }
  /// Slots reserved and then not used (intake closed, no ring memory): kept for the next dispatch.
  static void unreserve(std::int64_t count, Credit& credit) noexcept { credit.slots += count; }
  /// A producer's unused slots go back to the queue (its thread exits).
  void return_credit(Credit& credit) noexcept {
    if (credit.slots != 0) granted.fetch_sub(credit.slots, std::memory_order_relaxed);
    credit.slots = 0;
  }
  /// Slots for jobs accepted before (readmit): past the capacity, never refused.
  void grant_past_capacity(std::int64_t count) noexcept { granted.fetch_add(count, std::memory_order_relaxed); }
  void ungrant(std::int64_t count) noexcept { granted.fetch_sub(count, std::memory_order_relaxed); }

  void count_in(std::uint16_t shard, std::int64_t count) noexcept {
    intake[shard].count.fetch_add(count, std::memory_order_seq_cst);
  }
  void count_out(std::uint16_t shard, std::int64_t count) noexcept {
    intake[shard].count.fetch_sub(count, std::memory_order_seq_cst);
  }

  /// A cheap early answer for producers: true if the queue looks as if it holds `capacity` jobs.
  bool looks_full(Credit& credit) const noexcept {
    if (credit.slots > 0) [[likely]] return false;
    return !within_capacity(granted.load(std::memory_order_relaxed) + 1, credit.dequeued_seen);
  }
  /// Takes `ask` slots from `granted` if they fit under the capacity.
  bool grant(std::int64_t ask, std::int64_t& dequeued_seen) noexcept {
    const std::int64_t after = granted.fetch_add(ask, std::memory_order_relaxed) + ask;
    if (within_capacity(after, dequeued_seen)) [[likely]] return true;
    granted.fetch_sub(ask, std::memory_order_relaxed);
    return false;
  }
  /// True if `total` slots granted stay within the capacity. `dequeued_seen` is the caller's
  /// cached lower bound of `dequeued`, read again only when it says no.
  bool within_capacity(std::int64_t total, std::int64_t& dequeued_seen) const noexcept {
    if (total - dequeued_seen <= capacity) [[likely]] return true;
    dequeued_seen = dequeued.load(std::memory_order_relaxed);
    return total - dequeued_seen <= capacity;
  }
  /// Jobs counted in and not yet taken. `dequeued` is read first: it never passes the intake
  /// count, so a zero here means that at the moment `dequeued` was read nothing was outstanding.
  std::int64_t depth() const noexcept {
    const std::int64_t taken = dequeued.load(std::memory_order_seq_cst);
    std::int64_t in = 0;
    for (const IntakeShard& shard : intake) in += shard.count.load(std::memory_order_seq_cst);
    return in - taken;
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
