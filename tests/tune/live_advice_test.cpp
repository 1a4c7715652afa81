// jobq_tune's advice from a live process: a Manager runs a known synthetic load (Poisson
// arrivals at 500/s, handlers that wait an exponential 4 ms: 2 Erlangs), its console serves
// /metrics, and the advisor reads two scrapes over HTTP. The measured load must be the load that
// ran, and the advice the Erlang C answer worked out for it by hand: 5 workers for a p99 wait of
// 4.5 ms (4 give 5.7 ms, 5 give 2.4 ms; the answer holds for a load 5 % off and a service 10 % off).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "fleet_plan.hpp"
#include "jobq/console.hpp"
#include "jobq/jobq.hpp"
#include "scrape.hpp"
#include "service_time.hpp"

namespace {

using namespace std::chrono_literals;

constexpr double arrival_rate = 500;
constexpr double service_ns = 4e6;
constexpr int jobs = 1000;

TEST(TuneAdvice, ReadsALiveLoadAndRecommendsTheErlangCAnswer) {
  const jobq_perf::ServiceTime service = jobq_perf::ServiceTime::exponential(service_ns).waiting();
  jobq::Manager queues(jobq::Config{.queues = {jobq::QueueConfig{.name = "io", .workers = 8}},
                                    .latency_sample_every = 1});
  queues.register_handler("io:wait", [&](jobq::Context&, const jobq::Message& message) {
    service.spend(service.sample(std::stoull(std::string(message.payload()))));
    return jobq::Status::success();
  }, {.queue = "io"});
  queues.start();
  jobq::console::Console console(queues, {.log = [](jobq::LogLevel, std::string_view) {}});
  const std::string url = "http://127.0.0.1:" + std::to_string(console.listen()) + "/metrics";

  std::string error;
  const std::optional<jobq_perf::Scrape> before = jobq_perf::Scrape::load(url, error);
  ASSERT_TRUE(before) << error;
  // Poisson arrivals: exponential gaps from the same deterministic sampler, on a fixed schedule.
  const jobq_perf::ServiceTime gaps = jobq_perf::ServiceTime::exponential(1e9 / arrival_rate);
  auto due = std::chrono::steady_clock::now();
  double expected_service_s = 0;
  for (int seq = 0; seq < jobs; ++seq) {
    std::this_thread::sleep_until(due);
    ASSERT_TRUE(queues.dispatch(jobq::Job("io:wait").payload(std::to_string(seq))).ok());
    expected_service_s += static_cast<double>(service.sample(static_cast<std::uint64_t>(seq))) / 1e9 / jobs;
    due += std::chrono::nanoseconds(gaps.sample(static_cast<std::uint64_t>(seq) + 1'000'000));
  }
  ASSERT_TRUE(queues.wait_idle(30s));
  const std::optional<jobq_perf::Scrape> after = jobq_perf::Scrape::load(url, error);
  ASSERT_TRUE(after) << error;

  const std::vector<jobq_perf::QueueLoad> loads = jobq_perf::queue_loads(&*before, *after, error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(loads.size(), 1u);
  const jobq_perf::QueueLoad& load = loads[0];
  EXPECT_EQ(load.queue, "io");
  EXPECT_EQ(load.runs, jobs);
  EXPECT_EQ(load.workers, 8u);
  EXPECT_FALSE(load.busy_spin);
  // The window is the load's span plus the last job and a scrape: within 10 % of 500/s.
  EXPECT_NEAR(load.runs_per_second, arrival_rate, arrival_rate * 0.10);
  // Every run is timed (sample every 1); a sleep lasts at least what it was asked for, and the
  // histogram's sum is exact ticks: at least the sampled mean, and at most 10 % over it.
  EXPECT_GE(load.service_mean_s, expected_service_s * 0.999);
  EXPECT_LE(load.service_mean_s, expected_service_s * 1.10);
  std::printf("measured %.1f runs/s (ran at %.0f/s), mean run %.3f ms (sampled mean %.3f ms)\n", load.runs_per_second,
              arrival_rate, load.service_mean_s * 1e3, expected_service_s * 1e3);

  const jobq_perf::FleetPlan plan = jobq_perf::plan_fleet(
      loads, 2, 2, 64, [](const std::string&) { return 0.05; },
      [](const std::string&) { return jobq_perf::Target{.seconds = 4.5e-3, .quantile = 0.99, .on_wait = true}; });
  ASSERT_EQ(plan.queues.size(), 1u);
  EXPECT_EQ(plan.queues[0].recommended, 5u);
  EXPECT_TRUE(plan.queues[0].meets_target);
  EXPECT_FALSE(plan.trimmed);
  EXPECT_TRUE(plan.warnings.empty());
  console.stop();
}

}  // namespace
