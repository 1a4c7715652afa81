// The round harness of the throughput sweep (throughput.cpp, throughput_baselines.cpp): the
// shape of a run (P pinned producers, W pinned workers), the consumers' accounting with its time
// stamps, the producer threads, timed rounds and the final check that every job ran once. Every
// implementation runs through the same harness; the payload they carry is order.hpp's.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "affinity.hpp"
#include "sink.hpp"

namespace jobq_bench::sweep {

/// Jobs each producer sends per round; a multiple of the bulk batch.
inline constexpr std::uint64_t jobs_per_producer = 200'000;
inline constexpr std::size_t bulk_batch = 64;
static_assert(jobs_per_producer % bulk_batch == 0);
/// Timed rounds per benchmark (one untimed warm-up round runs before them).
inline constexpr benchmark::IterationCount timed_rounds = 5;
/// How long a round may take before the benchmark gives up with an error.
inline constexpr auto round_timeout = std::chrono::seconds(60);

using jobq_bench::pin_this_thread;

// ------------------------------------------------------------------------------------------------
// CPUs and pinning

/// Producers first, then workers, round-robin over the allowed CPUs; -1 (not pinned) if the
/// allowed set cannot be read.
struct Shape {
  unsigned producers = 0;
  unsigned workers = 0;
  std::vector<int> producer_cpus;
  std::vector<int> worker_cpus;

  std::uint64_t jobs_per_round() const noexcept { return std::uint64_t{producers} * jobs_per_producer; }
};

inline Shape shape_of(const benchmark::State& state) {
  Shape shape;
  shape.producers = static_cast<unsigned>(state.range(0));
  shape.workers = static_cast<unsigned>(state.range(1));
  const std::vector<int> cpus = jobq_bench::allowed_cpus();
  auto cpu_at = [&cpus](std::size_t slot) { return cpus.empty() ? -1 : cpus[slot % cpus.size()]; };
  for (unsigned index = 0; index < shape.producers; ++index) shape.producer_cpus.push_back(cpu_at(index));
  for (unsigned index = 0; index < shape.workers; ++index) {
    shape.worker_cpus.push_back(cpu_at(shape.producers + index));
  }
  return shape;
}

// ------------------------------------------------------------------------------------------------
// Consumer-side accounting

using jobq_bench::Sink;

/// When a consumer counted its latest 64th job (steady clock, ns); 0: not in this round.
struct alignas(64) Stamp {
  std::atomic<std::int64_t> ns{0};
};

/// The Sink (and Stamp) the calling thread claimed from the Sinks of generation `generation`.
struct SinkClaim {
  std::uint64_t generation = 0;
  Sink* sink = nullptr;
  Stamp* stamp = nullptr;
};
inline thread_local SinkClaim sink_claim;

/// One Sink per consumer thread, claimed by the thread on its first job: the same lookup (one
/// thread-local compare) for every implementation, including pools whose threads we do not
/// create ourselves.
class Sinks {
 public:
  Sinks() : generation_(next_generation.fetch_add(1, std::memory_order_relaxed)) {}
  Sinks(const Sinks&) = delete;
  Sinks& operator=(const Sinks&) = delete;

  Sink& mine() noexcept { return *claim().sink; }

  /// Counts one job (record_job) and, every 64th job of this consumer, stamps the time: the round
  /// ends at the latest stamp, so the coordinator can sleep 1 ms between looks instead of waking
  /// every 20 µs on CPUs the consumers and producers need. A stamp misses at most the consumer's
  /// last 63 jobs: microseconds of a round that lasts tens of milliseconds.
  void record(bool bound, std::uint64_t id) noexcept { counted(jobq_bench::record_job, bound, id); }
  /// record() for `items` items at once.
  void record_items(std::uint64_t id_sum, std::uint64_t items) noexcept {
    counted(jobq_bench::record_items, id_sum, items);
  }

  /// Forgets the stamps: called between rounds, while no consumer runs.
  void clear_stamps() noexcept {
    for (Stamp& stamp : stamps_) stamp.ns.store(0, std::memory_order_relaxed);
    overflow_stamp_.ns.store(0, std::memory_order_relaxed);
  }
  /// The latest stamp of the round, or the time now if there is none.
  std::chrono::steady_clock::time_point last_stamp() const noexcept {
    std::int64_t latest = overflow_stamp_.ns.load(std::memory_order_acquire);
    for (const Stamp& stamp : stamps_) latest = std::max(latest, stamp.ns.load(std::memory_order_acquire));
    if (latest == 0) return std::chrono::steady_clock::now();
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(latest));
  }

  std::uint64_t count() const noexcept { return total(&Sink::count); }
  std::uint64_t sum() const noexcept { return total(&Sink::sum); }
  std::uint64_t bad() const noexcept { return total(&Sink::bad); }
  unsigned threads() const noexcept { return claimed_.load(std::memory_order_relaxed); }

 private:
  static constexpr unsigned slots = 256;
  static inline std::atomic<std::uint64_t> next_generation{1};

  SinkClaim& claim() noexcept {
    SinkClaim& claim = sink_claim;
    if (claim.generation == generation_) [[likely]] return claim;
    const unsigned slot = claimed_.fetch_add(1, std::memory_order_relaxed);
    claim.sink = slot < slots ? &sinks_[slot] : &overflow_;
    claim.stamp = slot < slots ? &stamps_[slot] : &overflow_stamp_;
    claim.generation = generation_;
    return claim;
  }

  template <class Record, class... Args>
  void counted(Record record, Args... args) noexcept {
    SinkClaim& mine = claim();
    const std::uint64_t before = mine.sink->count.load(std::memory_order_relaxed);
    record(*mine.sink, args...);
    if ((before >> 6) != (mine.sink->count.load(std::memory_order_relaxed) >> 6)) [[unlikely]] {
      const auto now = std::chrono::steady_clock::now().time_since_epoch();
      mine.stamp->ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count(), std::memory_order_release);
    }
  }

  std::uint64_t total(std::atomic<std::uint64_t> Sink::*field) const noexcept {
    const unsigned used = std::min(claimed_.load(std::memory_order_acquire), slots);
    std::uint64_t value = (overflow_.*field).load(std::memory_order_acquire);
    for (unsigned slot = 0; slot < used; ++slot) value += (sinks_[slot].*field).load(std::memory_order_acquire);
    return value;
  }

  const std::uint64_t generation_;
  std::atomic<unsigned> claimed_{0};
  std::array<Sink, slots> sinks_;
  Sink overflow_;  // shared by threads past `slots`: still correct, never expected
  std::array<Stamp, slots> stamps_;
  Stamp overflow_stamp_;
};

// ------------------------------------------------------------------------------------------------
// Producers and rounds

/// P pinned producer threads that each run `body(index)` once per round. A body returns an empty
/// string, or why it failed.
class ProducerGang {
 public:
  using Body = std::function<std::string(unsigned producer)>;

  ProducerGang(const std::vector<int>& cpus, Body body)
      : body_(std::move(body)), started_(static_cast<std::ptrdiff_t>(cpus.size())) {
    threads_.reserve(cpus.size());
    for (unsigned index = 0; index < cpus.size(); ++index) {
      threads_.emplace_back([this, index, cpu = cpus[index]] { run(index, cpu); });
    }
    started_.wait();
  }
  ~ProducerGang() { stop(); }
  ProducerGang(const ProducerGang&) = delete;
  ProducerGang& operator=(const ProducerGang&) = delete;

  bool pinned() const noexcept { return !pin_failed_.load(std::memory_order_acquire); }
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  std::string error() const {
    const std::lock_guard lock(error_mutex_);
    return error_;
  }

  void release_round() noexcept {
    round_.fetch_add(1, std::memory_order_release);
    round_.notify_all();
  }

  /// Joins the producers (idle between rounds). Idempotent.
  void stop() {
    if (threads_.empty()) return;
    stopping_.store(true, std::memory_order_release);
    release_round();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  void run(unsigned index, int cpu) {
    if (!pin_this_thread(cpu)) pin_failed_.store(true, std::memory_order_release);
    started_.count_down();
    unsigned seen = 0;
    for (;;) {
      round_.wait(seen, std::memory_order_acquire);
      seen = round_.load(std::memory_order_acquire);
      if (stopping_.load(std::memory_order_acquire)) return;
      std::string problem = body_(index);
      if (!problem.empty()) [[unlikely]] {
        const std::lock_guard lock(error_mutex_);
        if (error_.empty()) error_ = "producer " + std::to_string(index) + ": " + problem;
        failed_.store(true, std::memory_order_release);
      }
    }
  }

  Body body_;
  std::latch started_;
  std::atomic<unsigned> round_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> pin_failed_{false};
  std::atomic<bool> failed_{false};
  mutable std::mutex error_mutex_;
  std::string error_;
  std::vector<std::thread> threads_;
};

/// Empty once the consumers have run `target` jobs in all, else why they did not.
inline std::string wait_consumed(const Sinks& sinks, const ProducerGang& gang, std::uint64_t target) {
  const auto deadline = std::chrono::steady_clock::now() + round_timeout;
  for (;;) {
    if (sinks.count() >= target) return {};
    if (gang.failed()) return gang.error();
    if (std::chrono::steady_clock::now() > deadline) {
      return "timed out: the consumers ran " + std::to_string(sinks.count()) + " of " + std::to_string(target) +
             " jobs";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// The warm-up round, then one timed round per benchmark iteration. Returns the number of rounds
/// run (warm-up included), or 0 after SkipWithError.
inline std::uint64_t run_rounds(benchmark::State& state, ProducerGang& gang, Sinks& sinks, std::uint64_t jobs_per_round) {
  if (!gang.pinned()) {
    state.SkipWithError("cannot pin a producer thread");
    return 0;
  }
  std::uint64_t target = jobs_per_round;
  gang.release_round();
  if (std::string problem = wait_consumed(sinks, gang, target); !problem.empty()) {
    state.SkipWithError(("warm-up round: " + problem).c_str());
    return 0;
  }
  std::uint64_t rounds = 1;
  double seconds = 0;
  for (auto _ : state) {
    target += jobs_per_round;
    sinks.clear_stamps();
    const auto start = std::chrono::steady_clock::now();
    gang.release_round();
    std::string problem = wait_consumed(sinks, gang, target);
    const auto stop = sinks.last_stamp();
    if (!problem.empty()) {
      state.SkipWithError(problem.c_str());
      break;
    }
    const double elapsed = std::chrono::duration<double>(stop - start).count();
    state.SetIterationTime(elapsed);
    seconds += elapsed;
    ++rounds;
  }
  if (state.error_occurred()) return 0;
  const auto timed_jobs = static_cast<double>(state.iterations()) * static_cast<double>(jobs_per_round);
  state.SetItemsProcessed(state.iterations() * static_cast<benchmark::IterationCount>(jobs_per_round));
  state.counters["ns_per_job"] = benchmark::Counter(seconds * 1e9 / timed_jobs);
  return rounds;
}

/// After teardown: every job sent was run exactly once and bound to the right id.
inline void verify(benchmark::State& state, const Sinks& sinks, std::uint64_t expected_jobs, std::uint64_t expected_sum) {
  if (state.error_occurred()) return;
  state.counters["threads_used"] = benchmark::Counter(static_cast<double>(sinks.threads()));
  if (sinks.bad() != 0) {
    state.SkipWithError((std::to_string(sinks.bad()) + " payloads did not parse or bind").c_str());
  } else if (sinks.count() != expected_jobs) {
    state.SkipWithError(("the consumers ran " + std::to_string(sinks.count()) + " jobs, " +
                         std::to_string(expected_jobs) + " were sent")
                            .c_str());
  } else if (sinks.sum() != expected_sum) {
    state.SkipWithError(("the consumers summed ids to " + std::to_string(sinks.sum()) + ", expected " +
                         std::to_string(expected_sum))
                            .c_str());
  }
}

/// Ids 1..jobs_per_producer from each producer, each round.
inline constexpr std::uint64_t sequence_sum_per_producer = jobs_per_producer * (jobs_per_producer + 1) / 2;

/// {producers, workers}: {1,1} {1,2} {2,1} {2,2}, and {4,4} {8,8} on 8 or more hardware threads.
inline void producer_worker_sweep(benchmark::internal::Benchmark* benchmark) {
  benchmark->ArgNames({"producers", "workers"});
  benchmark->Args({1, 1})->Args({1, 2})->Args({2, 1})->Args({2, 2});
  if (std::thread::hardware_concurrency() >= 8) benchmark->Args({4, 4})->Args({8, 8});
}

}  // namespace jobq_bench::sweep

/// Registers a benchmark of the sweep: every shape, `timed_rounds` rounds, timed by the harness.
#define JOBQ_THROUGHPUT_BENCHMARK(name)                                                                 \
  BENCHMARK(name)->Apply(jobq_bench::sweep::producer_worker_sweep)->Iterations(jobq_bench::sweep::timed_rounds) \
      ->UseManualTime()->Unit(benchmark::kMillisecond)
