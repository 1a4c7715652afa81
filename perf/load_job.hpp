// The job every perf run dispatches, and what its handler records.
//
// The payload carries the job's sequence number and its intended dispatch time (steady clock, ns),
// plus padding to reach the configured payload size. The handler binds it (simdjson On-Demand,
// exactly as a real handler would), busy-spins for the job's service time, and records two
// latencies measured from the intended time: to handler start and to handler end.
//
// Each worker thread records into its own Recorder, found through a thread_local, so the hot path
// takes no lock and writes no shared cache line; the recorders are merged after the run.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <jobq/jobq.hpp>

#include "clock.hpp"
#include "histogram.hpp"
#include "service_time.hpp"

namespace jobq_perf {

struct LoadPayload {
  std::uint64_t seq = 0;
  /// When the job should have been dispatched (steady clock, ns). 0 marks a warm-up job, which is
  /// run but not recorded.
  std::int64_t intended_ns = 0;
  std::string pad;
};
JOBQ_PAYLOAD(LoadPayload, seq, intended_ns, pad);

inline constexpr std::string_view load_job_type = "perf:load";

/// A LoadPayload whose JSON is about `bytes` long (never shorter than the fields need, ~45 bytes).
inline LoadPayload sized_payload(std::size_t bytes) {
  LoadPayload payload{.seq = 1'000'000, .intended_ns = now_ns(), .pad = {}};
  const std::size_t bare = jobq::to_json(payload).value().size();
  payload.pad.assign(bytes > bare ? bytes - bare : 0, 'x');
  return payload;
}

/// One worker thread's results. Only its own thread writes it; `completed` and `last_end_ns` are
/// atomics so that the producer may watch the run drain.
struct alignas(64) Recorder {
  LatencyHistogram to_start;
  LatencyHistogram to_end;
  std::uint64_t bind_failures = 0;
  std::uint64_t warmup = 0;
  std::uint64_t skipped = 0;  ///< run after the run was abandoned: not recorded
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::int64_t> last_end_ns{0};

  void count_completed() noexcept {
    completed.store(completed.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
};

/// The calling thread's recorder in the run it recorded for last. Generations are never reused,
/// so a thread from an earlier run (or a new thread) claims a fresh slot.
struct RecorderCache {
  std::uint64_t generation = 0;
  Recorder* recorder = nullptr;
};
inline thread_local RecorderCache recorder_cache;

/// The recorders of one run: one per worker thread, claimed on a thread's first job.
class Recorders {
 public:
  explicit Recorders(std::size_t threads) : generation_(next_generation().fetch_add(1) + 1) {
    for (std::size_t i = 0; i < threads; ++i) slots_.push_back(std::make_unique<Recorder>());
  }

  /// The calling thread's recorder.
  Recorder& mine() {
    RecorderCache& cache = recorder_cache;
    if (cache.generation == generation_) [[likely]] return *cache.recorder;
    const std::size_t index = claimed_.fetch_add(1, std::memory_order_relaxed);
    if (index >= slots_.size()) {
      std::fprintf(stderr, "jobq perf: more recording threads than the %zu expected\n", slots_.size());
      std::abort();
    }
    cache = RecorderCache{generation_, slots_[index].get()};
    return *cache.recorder;
  }

  std::uint64_t completed() const noexcept {
    std::uint64_t total = 0;
    for (const auto& slot : slots_) total += slot->completed.load(std::memory_order_acquire);
    return total;
  }
  std::int64_t last_end_ns() const noexcept {
    std::int64_t last = 0;
    for (const auto& slot : slots_) last = std::max(last, slot->last_end_ns.load(std::memory_order_acquire));
    return last;
  }
  /// Handlers that see this skip their work (but still count), so that a hopeless run drains fast.
  void abandon() noexcept { abandoned_.store(true, std::memory_order_relaxed); }
  bool abandoned() const noexcept { return abandoned_.load(std::memory_order_relaxed); }

  const std::vector<std::unique_ptr<Recorder>>& slots() const noexcept { return slots_; }

 private:
  static std::atomic<std::uint64_t>& next_generation() {
    static std::atomic<std::uint64_t> generation{0};
    return generation;
  }

  const std::uint64_t generation_;
  std::vector<std::unique_ptr<Recorder>> slots_;
  std::atomic<std::size_t> claimed_{0};
  std::atomic<bool> abandoned_{false};
};

/// The handler body, shared by every implementation.
inline void run_load_job(const jobq::Message& message, const ServiceTime& service, Recorders& recorders) {
  const std::int64_t start = now_ns();
  Recorder& recorder = recorders.mine();
  thread_local LoadPayload payload;  // reused, so the pad string keeps its capacity
  if (!message.bind(payload)) [[unlikely]] {
    ++recorder.bind_failures;
    recorder.count_completed();
    return;
  }
  if (payload.intended_ns == 0 || recorders.abandoned()) [[unlikely]] {
    ++(payload.intended_ns == 0 ? recorder.warmup : recorder.skipped);
    recorder.count_completed();
    return;
  }
  service.spend(service.sample(payload.seq));
  const std::int64_t end = now_ns();
  recorder.to_start.record(start - payload.intended_ns);
  recorder.to_end.record(end - payload.intended_ns);
  recorder.last_end_ns.store(end, std::memory_order_relaxed);
  recorder.count_completed();
}

}  // namespace jobq_perf
