// The producer states of one engine: one per thread that dispatches, made on its first dispatch
// and retired when the thread exits. A retired state keeps its counters (the books need them) and
// its ring producers, and gives back its buffers; the next new thread adopts it instead of making
// another, so the states (and the ring producers that workers poll) follow the most threads that
// dispatched at once, and their memory follows the threads alive.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "jobq/internal/queue_runtime.hpp"

namespace jobq::internal {

/// Per producing thread, per Manager: ring tokens, counters and scratch space. Created on a
/// thread's first dispatch and owned by the Manager.
struct ProducerState {
  struct QueueCounters {
    SingleWriterCounter accepted;
    SingleWriterCounter rejected;
    SingleWriterCounter debounced;  // folded into a waiting job of the same debounce key
    QueueRuntime::Credit credit;  // this thread's share of the queue's capacity
    /// The queue has a lane: a copy of QueueRuntime::lane's test on the line dispatch touches anyway.
    bool durable = false;
  };
  struct TypeCounters {
    SingleWriterCounter accepted;
    SingleWriterCounter rejected;
    SingleWriterCounter debounced;  // folded into a waiting job of the same debounce key
  };

  // A state outlives its thread (kept_memory.hpp): it and what it keeps come from kept memory.
  static void* operator new(std::size_t size) {
    if (void* block = keep_allocate(size)) return block;
    throw std::bad_alloc();
  }
  static void operator delete(void* block) noexcept { keep_release(block); }

  std::vector<moodycamel::ProducerToken, KeptAllocator<moodycamel::ProducerToken>> tokens;  // one per queue
  KeptArray<QueueCounters> counters;                   // one per queue
  KeptArray<TypeCounters> type_counters;               // one per registered type, sized by start()
  std::size_t type_count = 0;
  SingleWriterCounter unrouted;                        // refused: unknown type or queue
  std::vector<std::vector<Envelope>> staging;          // bulk dispatch, one per queue
  std::vector<Route> routes;                           // bulk dispatch, one per job
  std::vector<std::size_t> bulk_counts;                // bulk dispatch, jobs per queue
  std::thread::id owner;                               // the thread this state belongs to
  bool retired = false;                                // its thread exited; the next new one adopts it
  std::uint16_t shard = 0;                             // its QueueRuntime::intake shard
  std::uint32_t unsampled = 0;                         // dispatches since the last latency sample
  TypeId last_type = no_id;                            // the type of its last dispatch without a queue of its own
  JobId next_id = 0;                                   // ids [next_id, id_end) are this thread's
  JobId id_end = 0;
  simdjson::dom::parser validator;                     // raw payload validation
};

struct ProducerCacheEntry {
  std::uint64_t table_uid = 0;
  ProducerState* state = nullptr;
};
/// The calling thread's producer state for the table it used last. Uids are never reused, so an
/// entry of a destroyed table can never match.
inline thread_local ProducerCacheEntry last_producer;

class ProducerTable {
 public:
  /// A state gets a ring producer and counters for each of `queues` (the engine's, filled before
  /// the first dispatch); its validator parses to `max_depth`.
  ProducerTable(const std::vector<std::unique_ptr<QueueRuntime>>& queues, std::size_t max_depth);
  ~ProducerTable();
  ProducerTable(const ProducerTable&) = delete;
  ProducerTable& operator=(const ProducerTable&) = delete;

  /// The calling thread's state: made on its first dispatch, or adopted from an exited thread.
  ProducerState& mine() {
    if (ProducerState* made = mine_if_made()) [[likely]] return *made;
    return mine_slow();
  }
  /// The calling thread's state if it has dispatched through this table last; null otherwise
  /// (nothing is made).
  ProducerState* mine_if_made() const noexcept {
    const ProducerCacheEntry& cached = last_producer;
    return cached.table_uid == uid_ ? cached.state : nullptr;
  }
  /// Job types are frozen at `types`: sizes the per-type counters of every state (and of every
  /// state made later), then runs `then` under the same lock, so that a state made meanwhile
  /// cannot miss its sizing.
  template <class Then>
  void freeze_types(std::size_t types, Then then) {
    const std::lock_guard lock(mutex_);
    frozen_ = true;
    frozen_types_ = types;
    for (auto& state : states_) size_type_counters(*state);
    then();
  }
  /// The job types are final without a start (a start() that failed, a shutdown() before
  /// start()): the states made from here on size their own per-type counters, the ones that
  /// exist keep none.
  void types_final(std::size_t types) noexcept {
    const std::lock_guard lock(mutex_);
    frozen_ = true;
    frozen_types_ = types;
  }
  /// Calls `visit(const ProducerState&)` for every state, live or retired, under the table's lock.
  template <class Visit>
  void for_each(Visit visit) const {
    const std::lock_guard lock(mutex_);
    for (const auto& state : states_) visit(static_cast<const ProducerState&>(*state));
  }
  /// `count` consecutive job ids for `state`'s thread: one shared atomic per block of ids rather
  /// than one per job.
  JobId take_ids(ProducerState& state, std::size_t count) {
    if (state.id_end - state.next_id < count) [[unlikely]] {
      const JobId block = std::max<JobId>(4096, count);
      state.next_id = next_id_block_.fetch_add(block, std::memory_order_relaxed);
      state.id_end = state.next_id + block;
    }
    const JobId first = state.next_id;
    state.next_id += count;
    return first;
  }
  /// What a state's validator is sized for at first; it grows with the payloads it parses and is
  /// made small again past `validator_keep_bytes`.
  static constexpr std::size_t validator_bytes = 4096;
  static constexpr std::size_t validator_keep_bytes = 256 * 1024;
  /// Replaces a state's validator with one sized for validator_bytes (a grown one is freed).
  void fresh_validator(ProducerState& state) const;
  /// Called as a producing thread exits: the state keeps its counters and ring producers for the
  /// next thread, and gives back its buffers.
  void retire(ProducerState& state) noexcept;

 private:
  ProducerState& mine_slow();
  /// Sizes a state's buffers for dispatch (a new one, or one adopted from an exited thread).
  void ready_for_dispatch(ProducerState& state) const;
  /// Under mutex_, once types are frozen.
  void size_type_counters(ProducerState& state) const;

  const std::uint64_t uid_;
  const std::vector<std::unique_ptr<QueueRuntime>>& queues_;
  const std::size_t max_depth_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<ProducerState>> states_;
  bool frozen_ = false;  // the job types are final: a new state sizes its per-type counters
  std::size_t frozen_types_ = 0;
  alignas(cache_line) std::atomic<JobId> next_id_block_{1};
};

}  // namespace jobq::internal
