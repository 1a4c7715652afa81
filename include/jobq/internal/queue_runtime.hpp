// The per-queue state shared by its producers and workers, laid out so that producers and
// workers do not write the same cache lines except where the protocol needs it.
#pragma once

#include <concurrentqueue.h>
#include <simdjson.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "jobq/config.hpp"
#include "jobq/internal/allocator.hpp"
#include "jobq/internal/counter.hpp"
#include "jobq/internal/envelope.hpp"

namespace jobq::internal {

/// Ring blocks come from the engine's allocator. Blocks of 32 envelopes (about 11 KiB) are
/// recycled by the ring itself, so steady-state dispatch allocates nothing.
struct RingTraits : moodycamel::ConcurrentQueueDefaultTraits {
  static void* malloc(std::size_t size) { return allocate(size); }
  static void free(void* block) { deallocate(block); }
};

using Ring = moodycamel::ConcurrentQueue<Envelope, RingTraits>;

/// One worker thread's private state. Counters are written by this worker only.
struct alignas(cache_line) Worker {
  unsigned index = 0;
  int cpu = -1;  // pinned CPU, or -1
  SingleWriterCounter succeeded;
  SingleWriterCounter failed;
  std::stop_source stop;
  std::thread thread;
};

struct QueueRuntime {
  explicit QueueRuntime(QueueConfig queue_config, QueueId queue_index)
      : config(std::move(queue_config)),
        index(queue_index),
        parks(config.idle == IdleStrategy::spin_then_park),
        ring(Ring::BLOCK_SIZE * 4) {}

  const QueueConfig config;
  const QueueId index;
  const bool parks;
  Ring ring;

  /// Jobs reserved by producers and not yet taken by a worker: the capacity bound, the drain
  /// condition at shutdown, and the parking check all read this one counter.
  alignas(cache_line) std::atomic<std::int64_t> pending{0};

  /// Workers asleep (or about to sleep) on wake_epoch. Producers read it after each enqueue and
  /// bump the epoch only when it is non-zero, so a busy queue sees no system calls.
  alignas(cache_line) std::atomic<std::uint32_t> sleepers{0};
  std::atomic<std::uint32_t> wake_epoch{0};

  alignas(cache_line) std::vector<std::unique_ptr<Worker>> workers;

  void wake_one() noexcept {
    wake_epoch.fetch_add(1, std::memory_order_seq_cst);
    wake_epoch.notify_one();
  }
  void wake_all() noexcept {
    wake_epoch.fetch_add(1, std::memory_order_seq_cst);
    wake_epoch.notify_all();
  }
};

/// Per producing thread, per Manager: ring tokens, counters and scratch space. Created on a
/// thread's first dispatch and owned by the Manager.
struct ProducerState {
  struct QueueCounters {
    SingleWriterCounter accepted;
    SingleWriterCounter rejected;
  };

  std::vector<moodycamel::ProducerToken> tokens;       // one per queue
  std::unique_ptr<QueueCounters[]> counters;           // one per queue
  std::vector<std::vector<Envelope>> staging;          // bulk dispatch, one per queue
  JobId next_id = 0;                                   // ids [next_id, id_end) are this thread's
  JobId id_end = 0;
  std::string scratch;                                 // typed payload serialization
  simdjson::dom::parser validator;                     // raw payload validation
};

}  // namespace jobq::internal
