// End-to-end throughput, P producer threads → W consumer threads, jobq beside the usual ways of
// running background work in-process. Every implementation does the same work per job, except
// the bare ring (the ceiling):
//
//   producer  hands over job n's Order {n, "SKU-12345-BLUE"}: as the struct itself (typed jobq,
//             and the `_struct` baselines: a lambda that captures the struct by value, the way a
//             pool's users write it), or as its JSON text {"id":<n>,"sku":"SKU-12345-BLUE"} (31 to
//             36 bytes) built per job (the `_json` baselines and jobq's bulk run);
//   consumer  gets an `Order` (a copy of the struct, or parsed with simdjson On-Demand, a parser
//             reused per thread), adds the id to its own sum and counts the job.
//
//   BM_throughput_jobq_dispatch_typed       `dispatch(Job, order)`: copies the struct into the
//                                           envelope (after its UTF-8 and size check); the handler
//                                           binds it back with `message.bind(order)` (a copy).
//                                           Workers busy-spin.
//   BM_throughput_jobq_dispatch_typed_parking
//                                           the same with IdleStrategy::spin_then_park, the
//                                           strategy to pick where threads outnumber cores.
//   BM_throughput_jobq_dispatch_bulk64_trusted
//                                           `dispatch_bulk` of 64 raw jobs whose payloads were
//                                           serialized once, before timing, and are marked
//                                           `.trusted()` (no validation). It measures the engine's
//                                           transport and binding with the producer's
//                                           per-job serialization taken out, and route, capacity
//                                           reservation and ring enqueue paid once per 64 jobs:
//                                           the best case for a producer that has its payloads
//                                           ready. Ids repeat 1..64 in every batch.
//   BM_throughput_condvar_pool_struct       the classic pool below, posting a lambda that captures
//                                           the Order by value.
//   BM_throughput_asio_thread_pool_struct   asio::post of a lambda that captures the Order.
//   BM_throughput_tbb_arena_struct          oneTBB arena.enqueue of a lambda that captures the Order.
//   BM_throughput_condvar_pool_json a classic pool (bench/baselines/condvar_pool.hpp):
//                                           std::mutex + std::condition_variable +
//                                           std::deque<std::function<void()>>; the task carries a
//                                           simdjson::padded_string.
//   BM_throughput_asio_thread_pool_json     asio::thread_pool with asio::post of a lambda that
//                                           carries a simdjson::padded_string.
//   BM_throughput_tbb_arena_json         oneTBB: tbb::task_arena of W worker slots (none
//                                           reserved for the calling thread), arena.enqueue of a
//                                           lambda that carries a simdjson::padded_string.
//   BM_throughput_moodycamel_bare_8byte     the bare moodycamel::ConcurrentQueue jobq is built on,
//                                           moving the 8-byte id with producer and consumer
//                                           tokens, dequeued in bulks of 8 (jobq's default
//                                           dequeue_batch): no payload, no handler, the ceiling.
//
// Arguments: {producers, workers} over {1,1} {1,2} {2,1} {2,2}, plus {4,4} {8,8} where
// std::thread::hardware_concurrency() >= 8.
//
// One benchmark iteration is one round: every producer dispatches `jobs_per_producer` jobs as fast
// as it can, and the round ends when the consumers have run all P × jobs_per_producer of them.
// The time of a round is measured here (UseManualTime) from the release of the producers to the
// last time stamp a consumer took: each consumer stamps the time at every 64th job it counts, so
// the figure misses at most its last 63 jobs (microseconds, next to a round of tens of ms). The
// coordinating thread looks at the counts once a millisecond: when it woke every 20 µs it took
// the CPUs that busy-spinning workers and producers need on a small machine, and the figure
// measured that contention rather than the implementation. One untimed warm-up round runs
// first on the same engine and the same threads, so that ring blocks, tokens, thread-local
// parsers and allocator caches exist. At the end every implementation is torn down and its
// consumers' counts and id sums are checked against what was sent; any mismatch fails the
// benchmark with SkipWithError.
//
// CPUs: the producers, then the workers, are pinned round-robin over the CPUs this process may
// use (jobq's workers through QueueConfig::cpus, the baselines' workers from inside the worker
// thread). With more threads than CPUs, threads share CPUs. The coordinating (benchmark) thread is
// not pinned and sleeps while a round runs.
//
// Idle strategy: jobq runs with IdleStrategy::busy_spin here (its lowest-latency mode, a core
// burned per worker), and so do the bare ring's consumers. The baselines block or spin as they
// naturally do: the condvar pool and asio's pool sleep on their condition variable, oneTBB's
// workers spin for a while and then sleep. On a machine with fewer CPUs than threads, spinning
// consumers take CPU time from the producers they share a CPU with.
//
// Backpressure: jobq's queue is bounded (QueueConfig::capacity, 65 536 by default) and a producer
// that meets Errc::queue_full backs off and retries (counted in `full_retries`). The baselines are
// unbounded.
//
// Allocator: jobq links libmimalloc.so (unless JOBQ_SYSTEM_ALLOCATOR), which replaces malloc and
// operator new for the whole process, so the baselines' per-job allocations (the padded_string,
// std::function's and asio's task storage) go through mimalloc too.
//
// Counters: items_per_second is jobs per second end to end; ns_per_job is its inverse;
// threads_used is the number of distinct consumer threads that ran jobs (oneTBB may move work
// between its threads).
#include <benchmark/benchmark.h>
#include <concurrentqueue.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <jobq/internal/cpu.hpp>
#include <jobq/jobq.hpp>

#include "baselines/condvar_pool.hpp"
#include "common/affinity.hpp"
#include "common/sink.hpp"

namespace {

/// Jobs each producer sends per round; a multiple of the bulk batch.
constexpr std::uint64_t jobs_per_producer = 200'000;
constexpr std::size_t bulk_batch = 64;
static_assert(jobs_per_producer % bulk_batch == 0);
/// Timed rounds per benchmark (one untimed warm-up round runs before them).
constexpr benchmark::IterationCount timed_rounds = 5;
/// How long a round may take before the benchmark gives up with an error.
constexpr auto round_timeout = std::chrono::seconds(60);

struct Order {
  std::uint64_t id;
  std::string sku;
};
JOBQ_PAYLOAD(Order, id, sku);

constexpr std::string_view order_sku = "SKU-12345-BLUE";  // fits std::string's inline buffer
constexpr const char* job_type = "orders:process";

using jobq::internal::cpu_relax;
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

Shape shape_of(const benchmark::State& state) {
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
thread_local SinkClaim sink_claim;

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
// The payload every baseline carries, and its consumer

/// `{"id":<id>,"sku":"SKU-12345-BLUE"}`, byte for byte what jobq serializes for Order (checked in
/// main), built by the baseline producer for every job.
simdjson::padded_string order_json(std::uint64_t id) {
  constexpr std::string_view head = R"({"id":)";
  constexpr std::string_view tail = R"(,"sku":"SKU-12345-BLUE"})";
  std::array<char, 64> text;
  char* out = std::copy(head.begin(), head.end(), text.data());
  out = std::to_chars(out, out + 20, id).ptr;  // 20: the digits of the largest uint64_t
  out = std::copy(tail.begin(), tail.end(), out);
  return simdjson::padded_string(text.data(), static_cast<std::size_t>(out - text.data()));
}

/// What every baseline consumer does per job: parse with this thread's reused On-Demand parser,
/// read both fields into an Order, and account for it.
void consume_order(Sinks& sinks, const simdjson::padded_string& json) {
  thread_local simdjson::ondemand::parser parser;
  Order order{};
  bool bound = false;
  simdjson::ondemand::document document;
  if (parser.iterate(json).get(document) == simdjson::SUCCESS) {
    std::uint64_t id = 0;
    std::string_view sku;
    if (document["id"].get_uint64().get(id) == simdjson::SUCCESS &&
        document["sku"].get_string().get(sku) == simdjson::SUCCESS) {
      order.id = id;
      order.sku.assign(sku);
      bound = true;
    }
  }
  sinks.record(bound, bound ? order.id : 0);
}

/// simdjson::padded_string is move-only, and std::function needs a copyable callable. The pool
/// only ever moves its tasks (post, deque, pop); this copy constructor exists to satisfy the type
/// and is never called.
struct CopyablePayload {
  simdjson::padded_string json;

  explicit CopyablePayload(simdjson::padded_string&& text) noexcept : json(std::move(text)) {}
  CopyablePayload(CopyablePayload&&) noexcept = default;
  CopyablePayload(const CopyablePayload& other) : json(other.json.data(), other.json.size()) {}
  CopyablePayload& operator=(const CopyablePayload&) = delete;
  CopyablePayload& operator=(CopyablePayload&&) = delete;
  ~CopyablePayload() = default;
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
std::string wait_consumed(const Sinks& sinks, const ProducerGang& gang, std::uint64_t target) {
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
std::uint64_t run_rounds(benchmark::State& state, ProducerGang& gang, Sinks& sinks, std::uint64_t jobs_per_round) {
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
void verify(benchmark::State& state, const Sinks& sinks, std::uint64_t expected_jobs, std::uint64_t expected_sum) {
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
constexpr std::uint64_t sequence_sum_per_producer = jobs_per_producer * (jobs_per_producer + 1) / 2;

// ------------------------------------------------------------------------------------------------
// jobq

/// A started Manager with one queue, "orders", of `worker_cpus.size()` busy-spinning pinned
/// workers, and the handler that binds Order; null after SkipWithError.
std::unique_ptr<jobq::Manager> start_jobq(benchmark::State& state, const Shape& shape, Sinks& sinks,
                                          jobq::IdleStrategy idle = jobq::IdleStrategy::busy_spin) {
  jobq::QueueConfig orders{.name = "orders", .workers = shape.workers};
  for (int cpu : shape.worker_cpus) {
    if (cpu >= 0) orders.cpus.push_back(static_cast<unsigned>(cpu));
  }
  // busy_spin: the throughput runs measure the engine, not futex wake-ups (see the file comment).
  orders.idle = idle;
  jobq::Config config;
  config.queues = {orders};
  try {
    auto manager = std::make_unique<jobq::Manager>(std::move(config));
    manager->register_handler(
        job_type,
        [&sinks](jobq::Context&, const jobq::Message& message) {
          Order order{};
          jobq::Status status = message.bind(order);
          sinks.record(status.ok(), status.ok() ? order.id : 0);
          return status;
        },
        jobq::RegisterOptions{.queue = "orders"});
    manager->start();
    return manager;
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
    return nullptr;
  }
}

/// A producer's answer to Errc::queue_full: spin a little, then give the CPU away (a worker may
/// share this CPU).
inline void back_off(std::uint64_t& retries) {
  if (++retries % 64 == 0) {
    std::this_thread::yield();
  } else {
    cpu_relax();
  }
}

/// Shuts down, checks the report and the sinks, and sets the jobq counters.
void finish_jobq(benchmark::State& state, jobq::Manager& manager, const Sinks& sinks, std::uint64_t rounds,
                 std::uint64_t jobs_per_round, std::uint64_t expected_sum, std::uint64_t full_retries) {
  const jobq::ShutdownReport report = manager.shutdown(std::chrono::seconds(10));
  if (state.error_occurred()) return;
  state.counters["full_retries"] = benchmark::Counter(static_cast<double>(full_retries));
  const std::uint64_t expected_jobs = rounds * jobs_per_round;
  if (!report.balanced() || report.accepted != expected_jobs || report.succeeded != expected_jobs ||
      report.failed != 0) {
    state.SkipWithError(("the shutdown report does not account for every job: accepted " +
                         std::to_string(report.accepted) + ", succeeded " + std::to_string(report.succeeded) +
                         ", failed " + std::to_string(report.failed) + ", not run " +
                         std::to_string(report.not_run.size()) + ", expected " + std::to_string(expected_jobs))
                            .c_str());
    return;
  }
  verify(state, sinks, expected_jobs, expected_sum);
}

void jobq_dispatch_typed(benchmark::State& state, jobq::IdleStrategy idle) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  std::unique_ptr<jobq::Manager> manager = start_jobq(state, shape, sinks, idle);
  if (!manager) return;
  std::atomic<std::uint64_t> full_retries{0};
  const jobq::Job job(job_type);
  ProducerGang gang(shape.producer_cpus, [&](unsigned) -> std::string {
    Order order{0, std::string(order_sku)};
    std::uint64_t retries = 0;
    for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
      order.id = id;
      jobq::Result<jobq::JobId> result = manager->dispatch(job, order);
      while (!result && result.code() == jobq::Errc::queue_full) [[unlikely]] {
        back_off(retries);
        result = manager->dispatch(job, order);
      }
      if (!result) [[unlikely]] return result.error().message();
    }
    full_retries.fetch_add(retries, std::memory_order_relaxed);
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  finish_jobq(state, *manager, sinks, rounds, shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer,
              full_retries.load());
}

void BM_throughput_jobq_dispatch_typed(benchmark::State& state) {
  jobq_dispatch_typed(state, jobq::IdleStrategy::busy_spin);
}
void BM_throughput_jobq_dispatch_typed_parking(benchmark::State& state) {
  jobq_dispatch_typed(state, jobq::IdleStrategy::spin_then_park);
}

void BM_throughput_jobq_dispatch_bulk64_trusted(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  std::unique_ptr<jobq::Manager> manager = start_jobq(state, shape, sinks);
  if (!manager) return;
  // Serialized once, before timing; shared read-only by every producer. Ids 1..64.
  std::vector<std::string> payloads;
  std::vector<jobq::Job> batch;
  payloads.reserve(bulk_batch);
  batch.reserve(bulk_batch);
  for (std::uint64_t id = 1; id <= bulk_batch; ++id) {
    jobq::Result<std::string> json = jobq::to_json(Order{id, std::string(order_sku)});
    if (!json) {
      state.SkipWithError(json.error().message().c_str());
      return;
    }
    payloads.push_back(*json);
  }
  for (const std::string& payload : payloads) batch.push_back(jobq::Job(job_type).payload(payload).trusted());
  std::atomic<std::uint64_t> full_retries{0};
  ProducerGang gang(shape.producer_cpus, [&](unsigned) -> std::string {
    const std::span<const jobq::Job> jobs(batch);
    std::uint64_t retries = 0;
    for (std::uint64_t sent = 0; sent < jobs_per_producer; sent += bulk_batch) {
      jobq::Result<jobq::JobId> result = manager->dispatch_bulk(jobs);
      while (!result && result.code() == jobq::Errc::queue_full) [[unlikely]] {
        back_off(retries);
        result = manager->dispatch_bulk(jobs);
      }
      if (!result) [[unlikely]] return result.error().message();
    }
    full_retries.fetch_add(retries, std::memory_order_relaxed);
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  constexpr std::uint64_t batch_sum = bulk_batch * (bulk_batch + 1) / 2;
  finish_jobq(state, *manager, sinks, rounds, shape.jobs_per_round(),
              rounds * shape.producers * (jobs_per_producer / bulk_batch) * batch_sum, full_retries.load());
}

// ------------------------------------------------------------------------------------------------
// Baselines

/// What every `_struct` baseline's task does: hand the captured Order to the handler.
void consume_struct(Sinks& sinks, const Order& order) {
  sinks.record(!order.sku.empty(), order.id);
}

void BM_throughput_condvar_pool_struct(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  std::atomic<bool> pin_failed{false};
  jobq_bench::CondvarPool pool(shape.workers, [&](unsigned index) {
    if (!pin_this_thread(shape.worker_cpus[index])) pin_failed.store(true);
  });
  if (pin_failed.load()) {
    state.SkipWithError("cannot pin a pool worker");
    return;
  }
  ProducerGang gang(shape.producer_cpus, [&](unsigned) -> std::string {
    Order order{0, std::string(order_sku)};
    for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
      order.id = id;
      pool.post([order, &sinks] { consume_struct(sinks, order); });
    }
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  pool.join();
  verify(state, sinks, rounds * shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer);
}

void BM_throughput_condvar_pool_json(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  std::atomic<bool> pin_failed{false};
  jobq_bench::CondvarPool pool(shape.workers, [&](unsigned index) {
    if (!pin_this_thread(shape.worker_cpus[index])) pin_failed.store(true);
  });
  if (pin_failed.load()) {
    state.SkipWithError("cannot pin a pool worker");
    return;
  }
  ProducerGang gang(shape.producer_cpus, [&](unsigned) -> std::string {
    for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
      pool.post([payload = CopyablePayload(order_json(id)), &sinks] { consume_order(sinks, payload.json); });
    }
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  pool.join();
  verify(state, sinks, rounds * shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer);
}

/// Starts an asio pool of W threads, each pinned; false after SkipWithError.
/// One blocking task per pool thread pins it: each of the W tasks waits for all W, so each runs on
/// its own thread. The tasks share ownership of their latch: a pool thread may still be inside it
/// after this thread has passed it.
bool pin_asio_pool(benchmark::State& state, asio::thread_pool& pool, const Shape& shape) {
  auto pinned = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(shape.workers) + 1);
  auto next = std::make_shared<std::atomic<unsigned>>(0);
  auto pin_failed = std::make_shared<std::atomic<bool>>(false);
  for (unsigned index = 0; index < shape.workers; ++index) {
    asio::post(pool, [pinned, next, pin_failed, cpus = shape.worker_cpus] {
      if (!pin_this_thread(cpus[next->fetch_add(1)])) pin_failed->store(true);
      pinned->arrive_and_wait();
    });
  }
  pinned->arrive_and_wait();
  if (pin_failed->load()) state.SkipWithError("cannot pin an asio pool thread");
  return !pin_failed->load();
}

void BM_throughput_asio_thread_pool_struct(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  asio::thread_pool pool(shape.workers);
  if (!pin_asio_pool(state, pool, shape)) return;
  ProducerGang gang(shape.producer_cpus, [&](unsigned) -> std::string {
    Order order{0, std::string(order_sku)};
    for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
      order.id = id;
      asio::post(pool, [order, &sinks] { consume_struct(sinks, order); });
    }
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  pool.join();
  verify(state, sinks, rounds * shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer);
}

void BM_throughput_asio_thread_pool_json(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  asio::thread_pool pool(shape.workers);
  if (!pin_asio_pool(state, pool, shape)) return;
  ProducerGang gang(shape.producer_cpus, [&](unsigned) -> std::string {
    for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
      asio::post(pool, [payload = order_json(id), &sinks] { consume_order(sinks, payload); });
    }
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  pool.join();
  verify(state, sinks, rounds * shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer);
}

/// Pins each thread that enters the arena to the worker CPU of its arena slot. oneTBB threads
/// come and go between arenas; they are pinned again on every entry.
class ArenaPinner : public tbb::task_scheduler_observer {
 public:
  ArenaPinner(tbb::task_arena& arena, std::vector<int> cpus)
      : tbb::task_scheduler_observer(arena), cpus_(std::move(cpus)) {
    observe(true);
  }
  ~ArenaPinner() override { observe(false); }
  ArenaPinner(const ArenaPinner&) = delete;
  ArenaPinner& operator=(const ArenaPinner&) = delete;

  void on_scheduler_entry(bool) override {
    const int slot = tbb::this_task_arena::current_thread_index();
    if (slot < 0 || cpus_.empty()) return;
    if (!pin_this_thread(cpus_[static_cast<std::size_t>(slot) % cpus_.size()])) failed_.store(true);
  }
  bool failed() const noexcept { return failed_.load(); }

 private:
  std::vector<int> cpus_;
  std::atomic<bool> failed_{false};
};

void BM_throughput_tbb_arena_struct(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, shape.workers + 1);
  tbb::task_arena arena(static_cast<int>(shape.workers), 0);
  arena.initialize();
  ArenaPinner pinner(arena, shape.worker_cpus);
  ProducerGang gang(shape.producer_cpus, [&](unsigned) -> std::string {
    Order order{0, std::string(order_sku)};
    for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
      order.id = id;
      arena.enqueue([order, &sinks] { consume_struct(sinks, order); });
    }
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  if (!state.error_occurred() && pinner.failed()) state.SkipWithError("cannot pin a oneTBB worker");
  verify(state, sinks, rounds * shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer);
}

void BM_throughput_tbb_arena_json(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  // oneTBB's global pool holds hardware_concurrency - 1 workers by default; W workers need W + 1
  // (the limit counts a calling thread too).
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, shape.workers + 1);
  tbb::task_arena arena(static_cast<int>(shape.workers), 0);  // W slots, none reserved for callers
  arena.initialize();
  ArenaPinner pinner(arena, shape.worker_cpus);
  ProducerGang gang(shape.producer_cpus, [&](unsigned) -> std::string {
    for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
      arena.enqueue([payload = order_json(id), &sinks] { consume_order(sinks, payload); });
    }
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  if (!state.error_occurred() && pinner.failed()) state.SkipWithError("cannot pin a oneTBB worker");
  verify(state, sinks, rounds * shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer);
}

void BM_throughput_moodycamel_bare_8byte(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  moodycamel::ConcurrentQueue<std::uint64_t> queue;
  std::atomic<bool> stop{false};
  std::atomic<bool> pin_failed{false};
  std::vector<std::thread> consumers;
  std::latch started(static_cast<std::ptrdiff_t>(shape.workers));
  for (unsigned index = 0; index < shape.workers; ++index) {
    consumers.emplace_back([&, cpu = shape.worker_cpus[index]] {
      if (!pin_this_thread(cpu)) pin_failed.store(true);
      moodycamel::ConsumerToken token(queue);
      sinks.mine();  // claimed before the rounds, as the others claim theirs on the warm-up
      started.count_down();
      std::array<std::uint64_t, 8> items;
      for (;;) {
        const std::size_t taken = queue.try_dequeue_bulk(token, items.begin(), items.size());
        if (taken != 0) {
          std::uint64_t sum = 0;
          for (std::size_t item = 0; item < taken; ++item) sum += items[item];
          sinks.record_items(sum, taken);
          continue;
        }
        if (stop.load(std::memory_order_acquire)) break;
        cpu_relax();
      }
    });
  }
  started.wait();
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop.store(true, std::memory_order_release);
      for (std::thread& thread : threads) thread.join();
    }
  } joiner{stop, consumers};
  if (pin_failed.load()) {
    state.SkipWithError("cannot pin a consumer thread");
    return;
  }
  std::vector<moodycamel::ProducerToken> tokens;
  tokens.reserve(shape.producers);
  for (unsigned index = 0; index < shape.producers; ++index) tokens.emplace_back(queue);
  ProducerGang gang(shape.producer_cpus, [&](unsigned index) -> std::string {
    moodycamel::ProducerToken& token = tokens[index];
    for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
      if (!queue.enqueue(token, id)) [[unlikely]] return "enqueue could not allocate a block";
    }
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  if (state.error_occurred()) return;
  // The consumers spin until stopped; every item is counted once the round has been waited for.
  verify(state, sinks, rounds * shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer);
}

/// {producers, workers}: {1,1} {1,2} {2,1} {2,2}, and {4,4} {8,8} on 8 or more hardware threads.
void producer_worker_sweep(benchmark::internal::Benchmark* benchmark) {
  benchmark->ArgNames({"producers", "workers"});
  benchmark->Args({1, 1})->Args({1, 2})->Args({2, 1})->Args({2, 2});
  if (std::thread::hardware_concurrency() >= 8) benchmark->Args({4, 4})->Args({8, 8});
}

/// The baselines build their payload text by hand; it must be the bytes jobq's typed dispatch
/// serializes, or the comparison would not be like for like.
bool same_payload_bytes() {
  for (std::uint64_t id : {std::uint64_t{1}, std::uint64_t{123}, jobs_per_producer}) {
    const jobq::Result<std::string> engine = jobq::to_json(Order{id, std::string(order_sku)});
    const simdjson::padded_string baseline = order_json(id);
    if (!engine || *engine != std::string_view(baseline.data(), baseline.size())) {
      std::fprintf(stderr, "payload mismatch for id %llu: jobq '%s', baseline '%.*s'\n",
                   static_cast<unsigned long long>(id), engine ? engine->c_str() : "(error)",
                   static_cast<int>(baseline.size()), baseline.data());
      return false;
    }
  }
  return true;
}

}  // namespace

#define JOBQ_THROUGHPUT_BENCHMARK(name) \
  BENCHMARK(name)->Apply(producer_worker_sweep)->Iterations(timed_rounds)->UseManualTime()->Unit(benchmark::kMillisecond)

JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_jobq_dispatch_typed);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_jobq_dispatch_typed_parking);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_jobq_dispatch_bulk64_trusted);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_condvar_pool_struct);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_asio_thread_pool_struct);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_tbb_arena_struct);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_condvar_pool_json);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_asio_thread_pool_json);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_tbb_arena_json);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_moodycamel_bare_8byte);

int main(int argc, char** argv) {
  if (!same_payload_bytes()) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
