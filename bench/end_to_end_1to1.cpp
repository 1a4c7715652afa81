// End to end, one producer → one consumer: jobq against the bare moodycamel::ConcurrentQueue it is
// built on, on the same two threads and the same two CPUs.
//
//   BM_end_to_end_1to1_jobq        typed dispatch: `dispatch(Job, Order)` copies the struct into
//                                  the envelope (after the dispatch check: UTF-8 strings, size);
//                                  the handler binds it back with `message.bind(order)`, a copy of
//                                  the object (no JSON on either side).
//   BM_end_to_end_1to1_jobq_raw    raw dispatch of a pre-serialized payload: the payload is copied
//                                  and validated (Config::validate_payloads, on by default), then
//                                  bound with simdjson On-Demand.
//   BM_end_to_end_1to1_moodycamel_struct
//                                  the baseline for typed dispatch: the bare queue moving the same
//                                  Order struct (copied in, as jobq's typed dispatch copies it; moved
//                                  out), producer and consumer tokens, dequeued one at a time.
//   BM_end_to_end_1to1_condvar_pool_struct
//                                  the pool a user would write (baselines/condvar_pool.hpp): post
//                                  a lambda that captures the Order by value.
//   BM_end_to_end_1to1_moodycamel  one 8-byte item per iteration through the bare queue with a
//                                  producer and a consumer token, dequeued one at a time: the
//                                  floor of the ring itself.
//
// Names follow BM_<scenario>_<impl> (tools/bench_summary.py): one producer, one queue, one worker.
//
// Each iteration hands over one item; the last iteration also waits until the consumer has run
// every item, so the timed region (real time) covers the whole transfer, not just the enqueues.
//
// CPUs: the producer (the benchmark thread) runs on the first CPU this process may use and the
// consumer (jobq's worker, or the bare consumer thread) on the second, i.e. CPUs 0 and 1 on an
// unrestricted machine. With a single CPU nothing but the producer is pinned.
//
// Idle strategy: the jobq queue uses IdleStrategy::busy_spin, because the bare consumer busy-spins
// too (try_dequeue + pause); with the default spin_then_park a worker that falls asleep would add
// futex wake-ups that the baseline does not pay. Both consumers burn their CPU while idle.
//
// What differs by design (and is what the ratio measures): jobq reserves a slot in a bounded
// queue (one atomic add on the producers' side of the depth per dispatch, Errc::queue_full past
// QueueConfig::capacity; the producer then spins and retries, counted in `full_retries`), moves
// a 384-byte envelope with the payload inline instead of 8 bytes, and runs a handler per job.
// Its worker dequeues in batches of QueueConfig::dequeue_batch (8, the default); the bare
// consumer takes one item at a time. The bare queue is unbounded.
#include <benchmark/benchmark.h>
#include <concurrentqueue.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <jobq/internal/cpu.hpp>
#include <jobq/jobq.hpp>

#include "baselines/condvar_pool.hpp"
#include "baselines/spinning_consumer.hpp"
#include "common/affinity.hpp"
#include "common/shutdown.hpp"
#include "common/sink.hpp"
#include "common/start.hpp"

namespace {

// Fixed iteration counts keep the whole binary (3 benchmarks × 3 repetitions in tools/bench)
// well under 30 s on a 2-core machine, and give every repetition the same amount of work.
constexpr benchmark::IterationCount jobq_iterations = 1'000'000;
constexpr benchmark::IterationCount bare_iterations = 4'000'000;

struct Order {
  std::uint64_t id;
  std::string sku;
};
JOBQ_PAYLOAD(Order, id, sku);

constexpr const char* order_sku = "SKU-12345-BLUE";  // fits std::string's inline buffer
constexpr std::uint64_t raw_order_id = 42;

using jobq::internal::cpu_relax;
using jobq_bench::pin_this_thread;
using jobq_bench::ScopedPin;

using jobq_bench::Sink;
using jobq_bench::wait_for;

/// The shared body of the jobq benchmarks. `raw`: dispatch a pre-serialized, validated
/// payload instead of a typed one. `metrics`: Config::metrics (latency histograms and the
/// inspector's view of running jobs), on by default.
template <bool raw, bool metrics = true>
void jobq_end_to_end(benchmark::State& state) {
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();

  jobq::Config config;
  config.metrics = metrics;
  jobq::QueueConfig orders{.name = "orders", .workers = 1};
  if (cpus.consumer >= 0) orders.cpus = {static_cast<unsigned>(cpus.consumer)};
  orders.idle = jobq::IdleStrategy::busy_spin;  // the bare consumer busy-spins too
  config.queues = {orders};

  Sink sink;
  // Constructed and started before the benchmark thread pins itself: workers that start() does
  // not pin inherit the calling thread's affinity.
  jobq::Manager manager(std::move(config));
  manager.register_handler(
      "orders:process",
      [&sink](jobq::Context&, const jobq::Message& message) {
        Order order;
        jobq::Status status = message.bind(order);
        jobq_bench::record_job(sink, status.ok(), order.id);
        return status;
      },
      jobq::RegisterOptions{.queue = "orders"});
  if (!jobq_bench::start_or_skip(state, manager)) return;

  const ScopedPin pin(cpus.producer);
  if (!pin.ok()) {
    state.SkipWithError("cannot pin the producer thread");
    return;
  }

  std::string text;
  if constexpr (raw) {
    jobq::Result<std::string> serialized = jobq::to_json(Order{raw_order_id, order_sku});
    if (!serialized) {
      state.SkipWithError(serialized.error().message().c_str());
      return;
    }
    text = *serialized;
  }
  Order order{0, order_sku};
  auto dispatch_one = [&]() -> jobq::Result<jobq::JobId> {
    if constexpr (raw) {
      return manager.dispatch(jobq::Job("orders:process").payload(text));
    } else {
      return manager.dispatch(jobq::Job("orders:process"), order);
    }
  };

  // Warm-up, untimed: the first dispatch on a thread creates its producer state (ring token,
  // counters, validator).
  if (jobq::Result<jobq::JobId> warm = dispatch_one(); !warm) {
    state.SkipWithError(warm.error().message().c_str());
    return;
  }
  if (!wait_for(sink, 1)) {
    state.SkipWithError("the warm-up job did not run");
    return;
  }

  const auto last = static_cast<std::uint64_t>(state.max_iterations);
  std::uint64_t sent = 0;
  std::uint64_t full_retries = 0;
  for (auto _ : state) {
    order.id = sent + 1;
    jobq::Result<jobq::JobId> result = dispatch_one();
    while (!result && result.code() == jobq::Errc::queue_full) [[unlikely]] {
      ++full_retries;
      cpu_relax();
      result = dispatch_one();
    }
    if (!result) [[unlikely]] {
      state.SkipWithError(result.error().message().c_str());
      break;
    }
    if (++sent == last) [[unlikely]] {
      // Still timed: the throughput is end to end.
      if (!wait_for(sink, sent + 1)) {
        state.SkipWithError("timed out waiting for the worker to run every job");
        break;
      }
    }
  }

  state.SetItemsProcessed(state.iterations());
  state.counters["full_retries"] = benchmark::Counter(static_cast<double>(full_retries));

  const jobq::ShutdownReport report = manager.shutdown(std::chrono::seconds(10));
  if (state.error_occurred()) return;
  const std::uint64_t expected_sum = raw ? raw_order_id * (sent + 1) : sent * (sent + 1) / 2;
  if (sink.bad.load() != 0) {
    state.SkipWithError("the handler could not bind some payloads");
  } else if (sink.sum.load() != expected_sum) {
    state.SkipWithError("the handler saw the wrong sum of order ids");
  } else if (const std::string why = jobq_bench::unaccounted_jobs(report, sent + 1); !why.empty()) {
    state.SkipWithError(why.c_str());
  }
}

void BM_end_to_end_1to1_jobq(benchmark::State& state) { jobq_end_to_end<false>(state); }
void BM_end_to_end_1to1_jobq_raw(benchmark::State& state) { jobq_end_to_end<true>(state); }
void BM_end_to_end_1to1_jobq_metrics_off(benchmark::State& state) { jobq_end_to_end<false, false>(state); }

void BM_end_to_end_1to1_moodycamel_struct(benchmark::State& state) {
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();
  moodycamel::ConcurrentQueue<Order> queue;
  Sink sink;
  moodycamel::ConsumerToken consumer_token(queue);
  jobq_bench::SpinningConsumer consumer(cpus.consumer, [&] {
    Order item;
    if (!queue.try_dequeue(consumer_token, item)) return false;
    jobq_bench::record_job(sink, !item.sku.empty(), item.id);
    return true;
  });
  if (!consumer.pinned()) {
    state.SkipWithError("cannot pin the consumer thread");
    return;
  }
  const ScopedPin pin(cpus.producer);
  if (!pin.ok()) {
    state.SkipWithError("cannot pin the producer thread");
    return;
  }
  moodycamel::ProducerToken token(queue);
  Order order{0, order_sku};
  if (!queue.enqueue(token, order) || !wait_for(sink, 1)) {
    state.SkipWithError("the warm-up item was not consumed");
    return;
  }
  const auto last = static_cast<std::uint64_t>(state.max_iterations);
  std::uint64_t sent = 0;
  for (auto _ : state) {
    order.id = sent + 1;
    if (!queue.enqueue(token, order)) [[unlikely]] {
      state.SkipWithError("enqueue could not allocate a block");
      break;
    }
    if (++sent == last) [[unlikely]] {
      if (!wait_for(sink, sent + 1)) {
        state.SkipWithError("timed out waiting for the consumer to take every item");
        break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (!state.error_occurred() && (sink.sum.load() != sent * (sent + 1) / 2 || sink.bad.load() != 0)) {
    state.SkipWithError("the consumer saw the wrong sum");
  }
}

void BM_end_to_end_1to1_condvar_pool_struct(benchmark::State& state) {
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();
  Sink sink;
  jobq_bench::CondvarPool pool(1, [&cpus](unsigned) { pin_this_thread(cpus.consumer); });
  const ScopedPin pin(cpus.producer);
  if (!pin.ok()) {
    state.SkipWithError("cannot pin the producer thread");
    return;
  }
  auto handle = [&sink](const Order& order) { jobq_bench::record_job(sink, !order.sku.empty(), order.id); };
  Order order{0, order_sku};
  pool.post([order, &handle] { handle(order); });
  if (!wait_for(sink, 1)) {
    state.SkipWithError("the warm-up task did not run");
    return;
  }
  const auto last = static_cast<std::uint64_t>(state.max_iterations);
  std::uint64_t sent = 0;
  for (auto _ : state) {
    order.id = sent + 1;
    pool.post([order, &handle] { handle(order); });
    if (++sent == last) [[unlikely]] {
      if (!wait_for(sink, sent + 1)) {
        state.SkipWithError("timed out waiting for the pool to run every task");
        break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
  pool.join();
  if (!state.error_occurred() && (sink.sum.load() != sent * (sent + 1) / 2 || sink.bad.load() != 0)) {
    state.SkipWithError("the pool's tasks saw the wrong sum");
  }
}

void BM_end_to_end_1to1_moodycamel(benchmark::State& state) {
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();
  moodycamel::ConcurrentQueue<std::uint64_t> queue;
  Sink sink;
  // The consumer token lives on the consumer thread's side: only that thread touches it.
  moodycamel::ConsumerToken consumer_token(queue);
  jobq_bench::SpinningConsumer consumer(cpus.consumer, [&] {
    std::uint64_t item = 0;
    if (!queue.try_dequeue(consumer_token, item)) return false;
    jobq_bench::record_items(sink, item);
    return true;
  });
  if (!consumer.pinned()) {
    state.SkipWithError("cannot pin the consumer thread");
    return;
  }

  const ScopedPin pin(cpus.producer);
  if (!pin.ok()) {
    state.SkipWithError("cannot pin the producer thread");
    return;
  }
  moodycamel::ProducerToken token(queue);

  // Warm-up, untimed, as for jobq.
  if (!queue.enqueue(token, 0) || !wait_for(sink, 1)) {
    state.SkipWithError("the warm-up item was not consumed");
    return;
  }

  const auto last = static_cast<std::uint64_t>(state.max_iterations);
  std::uint64_t sent = 0;
  for (auto _ : state) {
    if (!queue.enqueue(token, sent + 1)) [[unlikely]] {
      state.SkipWithError("enqueue could not allocate a block");
      break;
    }
    if (++sent == last) [[unlikely]] {
      if (!wait_for(sink, sent + 1)) {
        state.SkipWithError("timed out waiting for the consumer to take every item");
        break;
      }
    }
  }

  state.SetItemsProcessed(state.iterations());
  if (!state.error_occurred() && sink.sum.load() != sent * (sent + 1) / 2) {
    state.SkipWithError("the consumer saw the wrong sum");
  }
}

}  // namespace

BENCHMARK(BM_end_to_end_1to1_jobq)->Iterations(jobq_iterations)->UseRealTime();
BENCHMARK(BM_end_to_end_1to1_jobq_raw)->Iterations(jobq_iterations)->UseRealTime();
BENCHMARK(BM_end_to_end_1to1_jobq_metrics_off)->Iterations(jobq_iterations)->UseRealTime();
BENCHMARK(BM_end_to_end_1to1_moodycamel_struct)->Iterations(jobq_iterations)->UseRealTime();
BENCHMARK(BM_end_to_end_1to1_condvar_pool_struct)->Iterations(jobq_iterations)->UseRealTime();
BENCHMARK(BM_end_to_end_1to1_moodycamel)->Iterations(bare_iterations)->UseRealTime();

BENCHMARK_MAIN();
