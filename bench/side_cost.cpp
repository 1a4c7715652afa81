// Each side of a job alone, against the bare moodycamel ring moving the same Order struct: the
// producer's dispatch while its worker is held, and the worker's share while no producer runs.
//
//   BM_side_cost_producer_jobq        `dispatch(Job, order)` of K jobs into a paused queue (its
//                                     pinned worker waits); timed on the producer.
//   BM_side_cost_producer_moodycamel  K enqueues of the Order with a producer token, the
//                                     consumer waiting.
//   BM_side_cost_worker_jobq          the worker takes, runs and binds K jobs dispatched while it
//                                     was paused: timed from the end of its first job to the end
//                                     of its last (K - 1 jobs), by the handler itself.
//   BM_side_cost_worker_moodycamel    the pinned consumer takes the K Orders (bulks of 8, jobq's
//                                     default dequeue_batch) that the producer enqueued from the
//                                     other CPU, timed as jobq's worker is.
//
// Why each side alone: these are the CPU costs of the two paths, reading ring memory that the
// other core wrote, and they move little from run to run. In the concurrent runs (throughput.cpp,
// end_to_end_1to1.cpp) a job's time also depends on how the two threads meet on shared cache
// lines: a worker that keeps up with its producer takes jobs one at a time and touches the
// ring's index line on every job, while one that falls behind takes full batches. Interleaved in
// one process, 1 → 1 with scalar payloads, a job of 8 bytes took a median 172 ns and one of 88
// bytes 68 ns, most likely because the worker of the larger payload fell behind and took full
// batches. Read those figures as ratios of interleaved runs, and these as the engine's own cost
// per side.
//
// K = 4096 jobs per iteration: their envelopes (1.5 MiB) stay within one core's L2. The jobq
// handler and the bare consumer do the same work per job (copy the Order out, add its id).
// CPUs: the producer on the first CPU this process may use, the worker (consumer) on the second.
#include <benchmark/benchmark.h>
#include <concurrentqueue.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <thread>

#include <jobq/jobq.hpp>

#include "baselines/spinning_consumer.hpp"
#include "common/affinity.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t batch_jobs = 4096;
constexpr benchmark::IterationCount iterations = 100;

struct Order {
  std::uint64_t id;
  std::string sku;
};
JOBQ_PAYLOAD(Order, id, sku);

constexpr const char* order_sku = "SKU-12345-BLUE";  // fits std::string's inline buffer

/// What the consumer side saw in one iteration: the end of its first and of its last job. Written
/// by the consumer thread only; `count` is released after the stamps.
struct alignas(64) Stamps {
  std::uint64_t sum = 0;
  Clock::time_point first{};
  Clock::time_point last{};
  std::atomic<std::uint64_t> count{0};

  void record(const Order& order) noexcept {
    sum += order.id;
    const std::uint64_t seen = count.load(std::memory_order_relaxed) + 1;
    if (seen % batch_jobs == 1) first = Clock::now();
    if (seen % batch_jobs == 0) last = Clock::now();
    count.store(seen, std::memory_order_release);
  }
  /// Waits until `target` jobs were recorded; false after 60 s. It sleeps between looks: a
  /// waiter that spun on `count` would pull its line away from the consumer on every job, and
  /// the consumer's time would measure that.
  bool wait(std::uint64_t target) const {
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(60);
    while (count.load(std::memory_order_acquire) < target) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
  }
  double consumer_seconds() const { return std::chrono::duration<double>(last - first).count(); }
};

/// Items per second over every job of an iteration, and ns_per_job over the jobs that were timed.
void report(benchmark::State& state, double seconds, std::uint64_t jobs_timed_per_iteration) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch_jobs));
  const double jobs = static_cast<double>(state.iterations()) * static_cast<double>(jobs_timed_per_iteration);
  state.counters["ns_per_job"] = benchmark::Counter(seconds * 1e9 / jobs);
}

/// Ends a round: waits until the consumer side has taken all `sent` jobs, then adds the measured
/// side's time (the consumer's first-to-last, or the producer's `start` to `end`). False after
/// SkipWithError.
bool end_round(benchmark::State& state, const Stamps& stamps, std::uint64_t sent, bool consumer_side,
               Clock::time_point start, Clock::time_point end, double& seconds) {
  if (!stamps.wait(sent)) {
    state.SkipWithError("the consumer side did not take every job");
    return false;
  }
  const double timed = consumer_side ? stamps.consumer_seconds() : std::chrono::duration<double>(end - start).count();
  state.SetIterationTime(timed);
  seconds += timed;
  return true;
}

/// jobq's producer (`worker` false) or worker side, as described above.
void jobq_side(benchmark::State& state, bool worker) {
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();
  jobq::QueueConfig orders{.name = "orders", .workers = 1, .capacity = 2 * batch_jobs};
  if (cpus.consumer >= 0) orders.cpus = {static_cast<unsigned>(cpus.consumer)};
  orders.idle = jobq::IdleStrategy::busy_spin;
  jobq::Manager manager(jobq::Config{.queues = {orders}});
  Stamps stamps;
  manager.register_handler(
      "orders:process",
      [&stamps](jobq::Context&, const jobq::Message& message) {
        Order order;
        if (jobq::Status status = message.bind(order); !status) return status;
        stamps.record(order);
        return jobq::Status::success();
      },
      jobq::RegisterOptions{.queue = "orders"});
  try {
    manager.start();
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
    return;
  }
  const jobq_bench::ScopedPin pin(cpus.producer);
  if (!pin.ok()) {
    state.SkipWithError("cannot pin the producer thread");
    return;
  }
  const jobq::Job job("orders:process");
  Order order{0, order_sku};
  std::uint64_t sent = 0;
  double seconds = 0;
  for (auto _ : state) {
    manager.pause("orders");
    const Clock::time_point start = Clock::now();
    for (std::uint64_t index = 0; index < batch_jobs; ++index) {
      order.id = ++sent;
      if (jobq::Result<jobq::JobId> result = manager.dispatch(job, order); !result) [[unlikely]] {
        state.SkipWithError(result.error().message().c_str());
        return;
      }
    }
    const Clock::time_point end = Clock::now();
    manager.resume("orders");
    if (!end_round(state, stamps, sent, worker, start, end, seconds)) return;
  }
  report(state, seconds, worker ? batch_jobs - 1 : batch_jobs);
  const jobq::ShutdownReport shut = manager.shutdown(std::chrono::seconds(10));
  if (!shut.balanced() || shut.succeeded != sent || stamps.sum != sent * (sent + 1) / 2) {
    state.SkipWithError("the jobs do not add up");
  }
}

/// The bare ring's producer (`consumer` false) or consumer side.
void moodycamel_side(benchmark::State& state, bool consumer) {
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();
  moodycamel::ConcurrentQueue<Order> queue(2 * batch_jobs);
  Stamps stamps;
  std::atomic<bool> open{false};
  moodycamel::ConsumerToken consumer_token(queue);
  std::array<Order, 8> taken;
  jobq_bench::SpinningConsumer thread(cpus.consumer, [&] {
    if (!open.load(std::memory_order_acquire)) return false;
    const std::size_t count = queue.try_dequeue_bulk(consumer_token, taken.begin(), taken.size());
    for (std::size_t index = 0; index < count; ++index) stamps.record(taken[index]);
    return count != 0;
  });
  if (!thread.pinned()) {
    state.SkipWithError("cannot pin the consumer thread");
    return;
  }
  const jobq_bench::ScopedPin pin(cpus.producer);
  if (!pin.ok()) {
    state.SkipWithError("cannot pin the producer thread");
    return;
  }
  moodycamel::ProducerToken token(queue);
  Order order{0, order_sku};
  std::uint64_t sent = 0;
  double seconds = 0;
  for (auto _ : state) {
    open.store(false, std::memory_order_release);
    const Clock::time_point start = Clock::now();
    for (std::uint64_t index = 0; index < batch_jobs; ++index) {
      order.id = ++sent;
      if (!queue.enqueue(token, order)) [[unlikely]] {
        state.SkipWithError("enqueue could not allocate a block");
        return;
      }
    }
    const Clock::time_point end = Clock::now();
    open.store(true, std::memory_order_release);
    if (!end_round(state, stamps, sent, consumer, start, end, seconds)) return;
  }
  report(state, seconds, consumer ? batch_jobs - 1 : batch_jobs);
  if (stamps.sum != sent * (sent + 1) / 2) state.SkipWithError("the items do not add up");
}

void BM_side_cost_producer_jobq(benchmark::State& state) { jobq_side(state, false); }
void BM_side_cost_worker_jobq(benchmark::State& state) { jobq_side(state, true); }
void BM_side_cost_producer_moodycamel(benchmark::State& state) { moodycamel_side(state, false); }
void BM_side_cost_worker_moodycamel(benchmark::State& state) { moodycamel_side(state, true); }

}  // namespace

BENCHMARK(BM_side_cost_producer_jobq)->UseManualTime()->Iterations(iterations);
BENCHMARK(BM_side_cost_worker_jobq)->UseManualTime()->Iterations(iterations);
BENCHMARK(BM_side_cost_producer_moodycamel)->UseManualTime()->Iterations(iterations);
BENCHMARK(BM_side_cost_worker_moodycamel)->UseManualTime()->Iterations(iterations);

BENCHMARK_MAIN();
