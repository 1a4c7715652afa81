// The timer: how late delayed jobs run, and what scheduling costs with many jobs waiting.
//
// Lateness: 2,000 jobs are dispatched with delays spread over 0.2–1.2 s; each handler records
// how long after its due time it started. The baseline is the floor the operating system sets:
// one thread per due time doing nothing but std::this_thread::sleep_until and measuring the same
// thing. Counters lateness_p50_us / lateness_p99_us; compare them across the two rows.
//
// Scheduling, "hold" model: with N jobs waiting, take the earliest and schedule it again a random
// time later; the engine's binary heap (internal::Timer: 24-byte keys move, envelopes stay in
// their slots) against an ordered std::multimap, the structure one would write first. A timing
// wheel was not built: only jobs that wait pass through the timer, and the heap's cost per job
// is a fraction of one dispatch even with 100k waiting.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobq/internal/timer.hpp"
#include "jobq/jobq.hpp"

namespace {

using steady = std::chrono::steady_clock;
constexpr int delayed_jobs = 2000;

std::chrono::nanoseconds delay_of(int index) {
  return std::chrono::milliseconds(200) + std::chrono::microseconds(500) * index;
}

void report_lateness(benchmark::State& state, std::vector<double>& lateness_us) {
  std::sort(lateness_us.begin(), lateness_us.end());
  auto at = [&](double q) { return lateness_us[static_cast<std::size_t>(q * (lateness_us.size() - 1))]; };
  state.counters["lateness_p50_us"] = at(0.50);
  state.counters["lateness_p99_us"] = at(0.99);
  state.counters["early"] = static_cast<double>(std::count_if(lateness_us.begin(), lateness_us.end(),
                                                              [](double late) { return late < 0; }));
}

void BM_timer_lateness_jobq(benchmark::State& state) {
  std::vector<double> lateness_us;
  for (auto _ : state) {
    jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .idle = jobq::IdleStrategy::spin_then_park}}});
    std::mutex mutex;
    std::vector<double> late;
    late.reserve(delayed_jobs);
    queues.register_handler("timer:due", [&](jobq::Context&, const jobq::Message& message) {
      const auto now = steady::now().time_since_epoch().count();
      const auto due = std::stoll(std::string(message.payload()));
      const std::lock_guard lock(mutex);
      late.push_back(static_cast<double>(now - due) / 1000.0);
      return jobq::Status::success();
    });
    queues.start();
    const auto base = steady::now();
    for (int index = 0; index < delayed_jobs; ++index) {
      const auto due = base + delay_of(index);
      const std::string payload = std::to_string(due.time_since_epoch().count());
      if (!queues.dispatch(jobq::Job("timer:due").payload(payload).at(due))) {
        state.SkipWithError("dispatch failed");
        return;
      }
    }
    if (!queues.wait_idle(std::chrono::seconds(30))) state.SkipWithError("jobs did not run");
    (void)queues.shutdown(std::chrono::seconds(1));
    lateness_us.insert(lateness_us.end(), late.begin(), late.end());
  }
  report_lateness(state, lateness_us);
}

void BM_timer_lateness_sleep_until(benchmark::State& state) {
  std::vector<double> lateness_us;
  for (auto _ : state) {
    const auto base = steady::now();
    std::vector<double> late(delayed_jobs);
    // One sleeper per 100 due times, each sleeping until its next one: the OS's own lateness.
    std::vector<std::thread> sleepers;
    for (int first = 0; first < delayed_jobs; first += 100) {
      sleepers.emplace_back([&, first] {
        for (int index = first; index < first + 100; ++index) {
          const auto due = base + delay_of(index);
          std::this_thread::sleep_until(due);
          late[index] = static_cast<double>((steady::now() - due).count()) / 1000.0;
        }
      });
    }
    for (std::thread& sleeper : sleepers) sleeper.join();
    lateness_us.insert(lateness_us.end(), late.begin(), late.end());
  }
  report_lateness(state, lateness_us);
}

/// Random increments for the "hold" model: take the earliest job, schedule one again a random
/// time after it, N jobs always waiting (the classic priority-queue benchmark).
std::chrono::nanoseconds next_gap(std::uint64_t& seed) {
  seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  return std::chrono::nanoseconds((seed >> 33) % 1'000'000);
}

void BM_timer_schedule_heap(benchmark::State& state) {
  // As the engine does it: a job leaves the timer in its node, which is freed once the job is on
  // its ring, and a retry comes back in a new node (as std::multimap allocates one per emplace).
  jobq::internal::Timer timer({static_cast<std::size_t>(state.range(0))});
  auto lock = timer.lock();
  std::uint64_t seed = 1;
  const auto base = steady::now();
  for (std::int64_t index = 0; index < state.range(0); ++index) {
    jobq::internal::Timer::Node node = jobq::internal::Timer::make(base + next_gap(seed), 0, jobq::internal::Envelope{});
    timer.add_locked(node);
  }
  std::vector<jobq::internal::Timer::Node> due;
  for (auto _ : state) {
    timer.take_due_locked(steady::time_point::max(), due, 1);
    jobq::internal::Timer::Node again =
        jobq::internal::Timer::make(due.back()->due + next_gap(seed), 0, std::move(due.back()->envelope));
    due.clear();
    timer.add_locked(again);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_timer_schedule_multimap(benchmark::State& state) {
  std::multimap<steady::time_point, jobq::internal::Envelope> timer;
  std::uint64_t seed = 1;
  const auto base = steady::now();
  for (std::int64_t index = 0; index < state.range(0); ++index) {
    timer.emplace(base + next_gap(seed), jobq::internal::Envelope{});
  }
  for (auto _ : state) {
    auto first = timer.begin();
    const steady::time_point when = first->first;
    jobq::internal::Envelope taken = std::move(first->second);
    timer.erase(first);
    timer.emplace(when + next_gap(seed), std::move(taken));
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_timer_lateness_jobq)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_timer_lateness_sleep_until)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_timer_schedule_heap)->Arg(1000)->Arg(100000);
BENCHMARK(BM_timer_schedule_multimap)->Arg(1000)->Arg(100000);

BENCHMARK_MAIN();
