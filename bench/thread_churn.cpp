// 1 producer → 1 worker throughput before and after a burst of short-lived producer threads, in
// the same process and on the same Manager: the burst leaves its producer states retired (kept
// for the next threads), and the workers' ring then holds one producer per thread of the burst.
//
//   BM_churn_1to1/0     before the burst
//   BM_churn_1to1/512   after 512 threads dispatched at once and exited
//
// The ratio of the two is the figure: the ring's consumer skips the retired producers' empty
// sub-queues only when the active one runs dry.
#include <benchmark/benchmark.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <jobq/jobq.hpp>

namespace {

using namespace std::chrono_literals;

struct Fixture {
  std::atomic<std::uint64_t> handled{0};
  std::unique_ptr<jobq::Manager> queues;
  Fixture() {
    queues = std::make_unique<jobq::Manager>(jobq::Config{
        .queues = {{.name = "default", .workers = 1, .capacity = 1 << 16, .idle = jobq::IdleStrategy::busy_spin}}});
    queues->register_handler("bench:count", [this](jobq::Context&, const jobq::Message&) {
      handled.fetch_add(1, std::memory_order_relaxed);
      return jobq::Status::success();
    });
    queues->start();
  }
  void burst(unsigned threads) {
    std::barrier all_alive(static_cast<std::ptrdiff_t>(threads));
    std::vector<std::thread> producers;
    for (unsigned index = 0; index < threads; ++index) {
      producers.emplace_back([&] {
        all_alive.arrive_and_wait();
        while (!queues->dispatch(jobq::Job("bench:count").payload("{}").trusted())) std::this_thread::yield();
        all_alive.arrive_and_wait();
      });
    }
    for (std::thread& producer : producers) producer.join();
    (void)queues->wait_idle(60s);
  }
};

Fixture& fixture() {
  static Fixture shared;
  return shared;
}

void BM_churn_1to1(benchmark::State& state) {
  Fixture& f = fixture();
  if (state.range(0) > 0 && f.queues->metrics().producers_retired == 0) f.burst(static_cast<unsigned>(state.range(0)));
  const jobq::Job job = jobq::Job("bench:count").payload("{}").trusted();
  std::uint64_t sent = 0;
  const std::uint64_t start = f.handled.load();
  for (auto _ : state) {
    while (!f.queues->dispatch(job)) {
    }
    ++sent;
  }
  while (f.handled.load(std::memory_order_relaxed) - start < sent) {
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(sent));
  state.counters["producer_states"] = static_cast<double>(f.queues->metrics().producers_retired + f.queues->metrics().producers_live);
}
BENCHMARK(BM_churn_1to1)->Arg(0)->Arg(512)->Iterations(2'000'000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
