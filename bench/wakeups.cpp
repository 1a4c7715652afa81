// Futex wakes per dispatch on a spin_then_park queue, counted by the engine (QueueStats::wakeups):
//
//   BM_wakeups_awake_worker     1 producer, 1 worker, a steady stream: the worker is awake
//                               (running or polling) for every dispatch. Goal: 0 per dispatch.
//   BM_wakeups_busy_worker      the one worker runs a long job while the producer dispatches:
//                               nobody to wake. Goal: 0.
//   BM_wakeups_paused_queue     2 workers, the queue paused: its workers wait apart and no
//                               dispatch wakes them. Goal: 0.
//   BM_wakeups_four_workers     1 producer, 4 workers, a steady stream: at most the wakes that
//                               bring parked workers in (each worker that takes jobs and sees more
//                               left wakes the next), far below one per dispatch.
//
// These are counts, not times: the wall-clock figures are incidental.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <jobq/jobq.hpp>

namespace {

using namespace std::chrono_literals;

jobq::Config parked_queue(unsigned workers) {
  return jobq::Config{.queues = {{.name = "default",
                                  .workers = workers,
                                  .capacity = 1 << 20,
                                  .idle = jobq::IdleStrategy::spin_then_park}}};
}

void report(benchmark::State& state, const jobq::Manager& queues, std::uint64_t wakes_before, std::uint64_t dispatched) {
  const std::uint64_t wakes = queues.stats("default").wakeups - wakes_before;
  state.counters["wakes"] = static_cast<double>(wakes);
  state.counters["wakes_per_dispatch"] = dispatched == 0 ? 0.0 : static_cast<double>(wakes) / static_cast<double>(dispatched);
}

void dispatch_until_accepted(jobq::Manager& queues) {
  while (!queues.dispatch(jobq::Job("bench:noop").payload("{}").trusted())) std::this_thread::yield();
}

/// One dispatch per benchmark iteration; returns how many.
std::uint64_t dispatch_each_iteration(benchmark::State& state, jobq::Manager& queues) {
  std::uint64_t dispatched = 0;
  for (auto _ : state) {
    dispatch_until_accepted(queues);
    ++dispatched;
  }
  return dispatched;
}

/// A steady stream from the benchmark thread to `workers` workers, once they have seen a job.
void steady_stream(benchmark::State& state, unsigned workers) {
  jobq::Manager queues(parked_queue(workers));
  queues.register_handler("bench:noop", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
  queues.start();
  dispatch_until_accepted(queues);
  (void)queues.wait_idle(10s);
  const std::uint64_t before = queues.stats("default").wakeups;
  const std::uint64_t dispatched = dispatch_each_iteration(state, queues);
  (void)queues.wait_idle(60s);
  report(state, queues, before, dispatched);
}

void BM_wakeups_awake_worker(benchmark::State& state) { steady_stream(state, 1); }
BENCHMARK(BM_wakeups_awake_worker)->Iterations(1'000'000)->UseRealTime();

void BM_wakeups_busy_worker(benchmark::State& state) {
  jobq::Manager queues(parked_queue(1));
  std::atomic<bool> release{false};
  std::atomic<bool> started{false};
  queues.register_handler("bench:block", [&](jobq::Context&, const jobq::Message&) {
    started = true;
    while (!release.load()) std::this_thread::yield();
    return jobq::Status::success();
  });
  queues.register_handler("bench:noop", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
  queues.start();
  (void)queues.dispatch(jobq::Job("bench:block").payload("{}"));
  while (!started.load()) std::this_thread::yield();
  const std::uint64_t before = queues.stats("default").wakeups;
  const std::uint64_t dispatched = dispatch_each_iteration(state, queues);
  report(state, queues, before, dispatched);
  release = true;
  (void)queues.wait_idle(60s);
}
BENCHMARK(BM_wakeups_busy_worker)->Iterations(200'000)->UseRealTime();

void BM_wakeups_paused_queue(benchmark::State& state) {
  jobq::Manager queues(parked_queue(2));
  queues.register_handler("bench:noop", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
  queues.start();
  queues.pause("default");
  std::this_thread::sleep_for(10ms);  // the workers have moved to the pause word
  const std::uint64_t before = queues.stats("default").wakeups;
  const std::uint64_t dispatched = dispatch_each_iteration(state, queues);
  report(state, queues, before, dispatched);
  queues.resume("default");
  (void)queues.wait_idle(60s);
}
BENCHMARK(BM_wakeups_paused_queue)->Iterations(200'000)->UseRealTime();

void BM_wakeups_four_workers(benchmark::State& state) { steady_stream(state, 4); }
BENCHMARK(BM_wakeups_four_workers)->Iterations(1'000'000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
