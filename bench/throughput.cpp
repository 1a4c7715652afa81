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

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <jobq/internal/cpu.hpp>
#include <jobq/jobq.hpp>

#include "common/order.hpp"
#include "common/rounds.hpp"

namespace {

using namespace jobq_bench::sweep;
using jobq::internal::cpu_relax;

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

}  // namespace


JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_jobq_dispatch_typed);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_jobq_dispatch_typed_parking);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_jobq_dispatch_bulk64_trusted);
// The baselines register themselves in throughput_baselines.cpp.

int main(int argc, char** argv) {
  if (!same_payload_bytes()) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}