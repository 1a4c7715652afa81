// Each side of a job alone, against the bare moodycamel ring moving the same Order struct: the
// producer's dispatch while its worker is held, and the worker's share while no producer runs.
//
//   BM_side_cost_producer_jobq        `dispatch(Job, order)` of a round's jobs into a paused
//                                     queue (its pinned worker sleeps); timed on the producer.
//   BM_side_cost_producer_moodycamel  the round's enqueues of the Order with a producer token
//                                     (the consumer sleeps).
//   BM_side_cost_worker_jobq          the worker takes, runs and binds the round's jobs,
//                                     dispatched while it was paused: timed from the end of its
//                                     first job to the end of its last, by the handler itself.
//   BM_side_cost_worker_moodycamel    the pinned consumer takes the round's Orders (bulks of 8,
//                                     jobq's default dequeue_batch), enqueued from the other CPU,
//                                     timed as jobq's worker is.
//
// Why each side alone: these are the CPU costs of the two paths, reading ring memory that the
// other core wrote. In the concurrent runs (throughput.cpp, end_to_end_1to1.cpp) a job's time
// also depends on how the two threads meet on shared cache lines: a worker that keeps up with its
// producer takes jobs one at a time, one that falls behind takes full batches. That makes those
// figures swing between runs in ways that say little about either path.
//
// Both consumers sleep while their producer works (jobq's on its pause word, the bare one on an
// atomic wait), and each round's jobs are released only once all of them are in the ring, so that
// neither consumer starts early. One untimed round first gives both rings their blocks. The jobq
// handler and the bare consumer do the same work per job: copy the Order out and add its id.
// CPUs: the producer on the first CPU this process may use, the consumer on the second.
#include <benchmark/benchmark.h>
#include <concurrentqueue.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>

#include <jobq/jobq.hpp>

#include "baselines/spinning_consumer.hpp"
#include "common/affinity.hpp"
#include "common/order.hpp"
#include "common/start.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using jobq_bench::sweep::job_type;
using jobq_bench::sweep::Order;
using jobq_bench::sweep::order_sku;

/// Jobs per round: one round is one benchmark iteration.
constexpr std::uint64_t jobs_per_round = 4096;
constexpr benchmark::IterationCount rounds = 100;

/// The consumer side's record: the end of its first and of its last job of each round, and the
/// id sum. Written by the consumer thread only; `count` is released after the stamps.
struct alignas(64) Stamps {
  std::uint64_t sum = 0;
  Clock::time_point first{};
  Clock::time_point last{};
  std::atomic<std::uint64_t> count{0};

  void record(const Order& order) noexcept {
    sum += order.id;
    const std::uint64_t seen = count.load(std::memory_order_relaxed) + 1;
    if (seen % jobs_per_round == 1) first = Clock::now();
    if (seen % jobs_per_round == 0) last = Clock::now();
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

/// One round: `fill()` puts the round's jobs in the ring (false: it failed, after SkipWithError),
/// `release()` lets the consumer at them. Returns the measured side's seconds (the consumer's
/// first-to-last, or the fill), or a negative number after SkipWithError.
template <class Fill, class Release>
double run_round(benchmark::State& state, const Stamps& stamps, std::uint64_t sent_after, bool consumer_side,
                 Fill fill, Release release) {
  const Clock::time_point start = Clock::now();
  if (!fill()) return -1;
  const Clock::time_point end = Clock::now();
  release();
  if (!stamps.wait(sent_after)) {
    state.SkipWithError("the consumer side did not take every job");
    return -1;
  }
  return consumer_side ? stamps.consumer_seconds() : std::chrono::duration<double>(end - start).count();
}

/// One untimed round, then the timed ones; sets ns_per_job over the jobs that were timed (a
/// round's jobs, or one fewer on the consumer side, timed from its first job's end).
template <class Round>
void run_rounds(benchmark::State& state, bool consumer_side, Round round) {
  if (round() < 0) return;
  double seconds = 0;
  for (auto _ : state) {
    const double timed = round();
    if (timed < 0) return;
    state.SetIterationTime(timed);
    seconds += timed;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(jobs_per_round));
  const std::uint64_t timed_jobs = consumer_side ? jobs_per_round - 1 : jobs_per_round;
  state.counters["ns_per_job"] =
      benchmark::Counter(seconds * 1e9 / (static_cast<double>(state.iterations()) * static_cast<double>(timed_jobs)));
}

/// jobq's producer (`worker` false) or worker side, as described above.
void jobq_side(benchmark::State& state, bool worker) {
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();
  jobq::QueueConfig orders{.name = "orders", .workers = 1, .capacity = 2 * jobs_per_round};
  if (cpus.consumer >= 0) orders.cpus = {static_cast<unsigned>(cpus.consumer)};
  orders.idle = jobq::IdleStrategy::busy_spin;
  jobq::Manager manager(jobq::Config{.queues = {orders}});
  Stamps stamps;
  manager.register_handler(
      job_type,
      [&stamps](jobq::Context&, const jobq::Message& message) {
        Order order;
        if (jobq::Status status = message.bind(order); !status) return status;
        stamps.record(order);
        return jobq::Status::success();
      },
      jobq::RegisterOptions{.queue = "orders"});
  if (!jobq_bench::start_or_skip(state, manager)) return;
  const jobq_bench::ScopedPin pin(cpus.producer);
  if (!pin.ok()) {
    state.SkipWithError("cannot pin the producer thread");
    return;
  }
  const jobq::Job job(job_type);
  Order order{0, std::string(order_sku)};
  std::uint64_t sent = 0;
  run_rounds(state, worker, [&] {
    manager.pause("orders");
    auto fill = [&] {
      for (std::uint64_t index = 0; index < jobs_per_round; ++index) {
        order.id = ++sent;
        if (jobq::Result<jobq::JobId> result = manager.dispatch(job, order); !result) [[unlikely]] {
          state.SkipWithError(result.error().message().c_str());
          return false;
        }
      }
      return true;
    };
    return run_round(state, stamps, sent + jobs_per_round, worker, fill, [&] { manager.resume("orders"); });
  });
  const jobq::ShutdownReport report = manager.shutdown(std::chrono::seconds(10));
  if (!state.error_occurred() &&
      (!report.balanced() || report.succeeded != sent || stamps.sum != sent * (sent + 1) / 2)) {
    state.SkipWithError("the jobs do not add up");
  }
}

/// What the bare consumer may take: items up to `released`, which the producer raises once a
/// round is in the ring. On its own cache line, away from the producer's locals.
struct alignas(64) Gate {
  std::atomic<std::uint64_t> released{0};
};

/// The bare ring's producer (`consumer` false) or consumer side.
void moodycamel_side(benchmark::State& state, bool consumer) {
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();
  moodycamel::ConcurrentQueue<Order> queue(2 * jobs_per_round);
  Stamps stamps;
  Gate gate;
  moodycamel::ConsumerToken consumer_token(queue);
  alignas(64) std::array<Order, 8> taken;
  jobq_bench::SpinningConsumer thread(cpus.consumer, [&] {
    const std::uint64_t seen = stamps.count.load(std::memory_order_relaxed);
    const std::uint64_t released = gate.released.load(std::memory_order_acquire);
    if (seen >= released) {
      gate.released.wait(released, std::memory_order_acquire);  // sleeps, as jobq's paused worker does
      return false;
    }
    const std::size_t most = static_cast<std::size_t>(std::min<std::uint64_t>(taken.size(), released - seen));
    const std::size_t count = queue.try_dequeue_bulk(consumer_token, taken.begin(), most);
    for (std::size_t index = 0; index < count; ++index) stamps.record(taken[index]);
    return count != 0;
  });
  // Ends the consumer's last wait: past every count, so it takes nothing more and stops.
  auto open_for_good = [&] {
    gate.released.store(std::numeric_limits<std::uint64_t>::max(), std::memory_order_release);
    gate.released.notify_all();
  };
  if (!thread.pinned()) {
    state.SkipWithError("cannot pin the consumer thread");
    return;
  }
  const jobq_bench::ScopedPin pin(cpus.producer);
  if (!pin.ok()) {
    open_for_good();
    state.SkipWithError("cannot pin the producer thread");
    return;
  }
  moodycamel::ProducerToken token(queue);
  Order order{0, std::string(order_sku)};
  std::uint64_t sent = 0;
  run_rounds(state, consumer, [&] {
    auto fill = [&] {
      for (std::uint64_t index = 0; index < jobs_per_round; ++index) {
        order.id = ++sent;
        if (!queue.enqueue(token, order)) [[unlikely]] {
          state.SkipWithError("enqueue could not allocate a block");
          return false;
        }
      }
      return true;
    };
    auto release = [&] {
      gate.released.store(sent, std::memory_order_release);
      gate.released.notify_all();
    };
    return run_round(state, stamps, sent + jobs_per_round, consumer, fill, release);
  });
  open_for_good();
  if (!state.error_occurred() && stamps.sum != sent * (sent + 1) / 2) state.SkipWithError("the items do not add up");
}

void BM_side_cost_producer_jobq(benchmark::State& state) { jobq_side(state, false); }
void BM_side_cost_worker_jobq(benchmark::State& state) { jobq_side(state, true); }
void BM_side_cost_producer_moodycamel(benchmark::State& state) { moodycamel_side(state, false); }
void BM_side_cost_worker_moodycamel(benchmark::State& state) { moodycamel_side(state, true); }

}  // namespace

BENCHMARK(BM_side_cost_producer_jobq)->UseManualTime()->Iterations(rounds);
BENCHMARK(BM_side_cost_producer_moodycamel)->UseManualTime()->Iterations(rounds);
BENCHMARK(BM_side_cost_worker_jobq)->UseManualTime()->Iterations(rounds);
BENCHMARK(BM_side_cost_worker_moodycamel)->UseManualTime()->Iterations(rounds);

BENCHMARK_MAIN();
