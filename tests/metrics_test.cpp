#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using namespace std::chrono_literals;

/// A known workload: on "mail", 100 "mail:send" jobs (every 10th fails twice then succeeds);
/// on "work", 50 "work:do" jobs (5 revoked, 5 skipped, 5 snoozed once) and 3 refused payloads.
struct Workload : ::testing::Test {
  jobq::Manager queues{jobq::Config{.queues = {{.name = "mail", .workers = 2}, {.name = "work"}},
                                    .retry = {.max_attempts = 3, .backoff = jobq::testing::no_wait},
                                    .latency_sample_every = 1}};
  std::atomic<int> snoozes{0};

  void SetUp() override {
    queues.register_handler(
        "mail:send",
        [](Context& context, const Message& message) {
          const bool flaky = message.payload().find("\"flaky\":true") != std::string_view::npos;
          return flaky && context.attempt() < 3 ? Status::error("smtp busy") : Status::success();
        },
        {.queue = "mail"});
    queues.register_handler(
        "work:do",
        [this](Context&, const Message& message) {
          const std::string_view kind = message.payload();
          if (kind.find("revoke") != std::string_view::npos) return Status::revoke();
          if (kind.find("skip") != std::string_view::npos) return Status::skip_retry("bad");
          // The five "snooze" jobs snooze on their first run only (one worker: runs are ordered).
          if (kind.find("snooze") != std::string_view::npos && snoozes.fetch_add(1) < 5) return Status::snooze(1ms);
          return Status::success();
        },
        {.queue = "work"});
    queues.start();
    for (int index = 0; index < 100; ++index) {
      const std::string payload = index % 10 == 0 ? R"({"flaky":true})" : R"({"flaky":false})";
      ASSERT_TRUE(queues.dispatch(jobq::Job("mail:send").payload(payload)).ok());
    }
    for (int index = 0; index < 50; ++index) {
      const char* kind = index < 5 ? R"({"k":"revoke"})" : index < 10 ? R"({"k":"skip"})"
                                                         : index < 15 ? R"({"k":"snooze"})"
                                                                      : R"({"k":"plain"})";
      ASSERT_TRUE(queues.dispatch(jobq::Job("work:do").payload(kind)).ok());
    }
    for (int index = 0; index < 3; ++index) {
      ASSERT_EQ(queues.dispatch(jobq::Job("work:do").payload("{")).code(), jobq::Errc::invalid_payload);
    }
    ASSERT_EQ(queues.dispatch(jobq::Job("nope:nope")).code(), jobq::Errc::unknown_type);
    ASSERT_TRUE(queues.wait_idle(30s));
  }
};

const jobq::QueueMetrics& queue_of(const jobq::MetricsSnapshot& snapshot, std::string_view name) {
  for (const jobq::QueueMetrics& queue : snapshot.queues) {
    if (queue.name == name) return queue;
  }
  throw std::runtime_error("no queue " + std::string(name));
}
const jobq::TypeMetrics& type_of(const jobq::MetricsSnapshot& snapshot, std::string_view name) {
  for (const jobq::TypeMetrics& type : snapshot.types) {
    if (type.type == name) return type;
  }
  throw std::runtime_error("no type " + std::string(name));
}

TEST_F(Workload, CountersAddUpPerQueueAndPerType) {
  const jobq::MetricsSnapshot snapshot = queues.metrics();
  for (const auto& jobs : {queue_of(snapshot, "mail").jobs, type_of(snapshot, "mail:send").jobs}) {
    EXPECT_EQ(jobs.accepted, 100u);
    EXPECT_EQ(jobs.rejected, 0u);
    EXPECT_EQ(jobs.succeeded, 100u);
    EXPECT_EQ(jobs.failed, 20u);  // 10 flaky jobs × 2 failed attempts
    EXPECT_EQ(jobs.retried, 20u);
    EXPECT_EQ(jobs.dead_lettered, 0u);
    EXPECT_EQ(jobs.started, 120u);
  }
  for (const auto& jobs : {queue_of(snapshot, "work").jobs, type_of(snapshot, "work:do").jobs}) {
    EXPECT_EQ(jobs.accepted, 50u);
    EXPECT_EQ(jobs.rejected, 3u);
    EXPECT_EQ(jobs.succeeded, 40u);  // 35 plain + 5 snoozed that ran again
    EXPECT_EQ(jobs.revoked, 5u);
    EXPECT_EQ(jobs.failed, 5u);
    EXPECT_EQ(jobs.retried, 0u);
    EXPECT_EQ(jobs.dead_lettered, 5u);
    EXPECT_EQ(jobs.snoozed, 5u);
    EXPECT_EQ(jobs.started, 55u);
  }
  EXPECT_EQ(snapshot.unrouted, 1u);
  EXPECT_EQ(snapshot.dead_letters, 5u);
  const jobq::QueueMetrics& mail = queue_of(snapshot, "mail");
  EXPECT_EQ(mail.workers, 2u);
  EXPECT_EQ(mail.depth, 0);
  EXPECT_EQ(mail.scheduled, 0u);
  EXPECT_EQ(mail.in_flight, 0u);
  EXPECT_EQ(mail.busy_workers, 0u);
  // Every job sampled (latency_sample_every = 1): one wait and one run per started run.
  EXPECT_EQ(mail.run.count(), 120u);
  EXPECT_EQ(mail.wait.count(), 120u);
  EXPECT_GT(mail.run.p50(), 0.0);
  EXPECT_LE(mail.run.p50(), mail.run.p99());
  EXPECT_LE(mail.run.p99(), mail.run.p999());
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

/// Parses the exposition back: every sample line "name{labels} value" into a map, checking the
/// HELP and TYPE lines precede each family's samples.
std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream fields(line.substr(7));
      std::string name;
      std::string type;
      fields >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      EXPECT_FALSE(types.contains(name)) << "family declared twice: " << name;
      types[name] = type;
      if (type == "counter") {
        EXPECT_TRUE(name.ends_with("_total")) << name;
      }
      continue;
    }
    const std::size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    const std::string key = line.substr(0, space);
    const std::string name = key.substr(0, key.find('{'));
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!types.contains(family) && family.ends_with(suffix)) family.resize(family.size() - std::string(suffix).size());
    }
    EXPECT_TRUE(types.contains(family)) << "sample before its TYPE line: " << line;
    EXPECT_FALSE(samples.contains(key)) << "sample twice: " << key;
    samples[key] = std::stod(line.substr(space + 1));
  }
  return samples;
}

TEST_F(Workload, PrometheusTextParsesBackToTheSnapshot) {
  const jobq::MetricsSnapshot snapshot = queues.metrics();
  const std::map<std::string, double> samples = parse_prometheus(jobq::prometheus_text(snapshot));
  EXPECT_EQ(samples.at(R"(jobq_queue_accepted_total{queue="mail"})"), 100);
  EXPECT_EQ(samples.at(R"(jobq_queue_failed_total{queue="mail"})"), 20);
  EXPECT_EQ(samples.at(R"(jobq_queue_rejected_total{queue="work"})"), 3);
  EXPECT_EQ(samples.at(R"(jobq_type_dead_lettered_total{type="work:do"})"), 5);
  EXPECT_EQ(samples.at(R"(jobq_type_revoked_total{type="work:do"})"), 5);
  EXPECT_EQ(samples.at(R"(jobq_queue_workers{queue="mail"})"), 2);
  EXPECT_EQ(samples.at(R"(jobq_queue_depth{queue="work"})"), 0);
  EXPECT_EQ(samples.at("jobq_unrouted_total"), 1);
  EXPECT_EQ(samples.at("jobq_dead_letters"), 5);
  // Histogram buckets are cumulative and end at +Inf == _count.
  double previous = 0;
  for (const char* le : {"1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1", "10"}) {
    const double bucket = samples.at(std::string(R"(jobq_queue_sampled_run_seconds_bucket{queue="mail",le=")") + le + "\"}");
    EXPECT_GE(bucket, previous) << le;
    previous = bucket;
  }
  EXPECT_EQ(samples.at(R"(jobq_queue_sampled_run_seconds_bucket{queue="mail",le="+Inf"})"), 120);
  EXPECT_EQ(samples.at(R"(jobq_queue_sampled_run_seconds_count{queue="mail"})"), 120);
  EXPECT_GE(samples.at(R"(jobq_queue_sampled_run_seconds_bucket{queue="mail",le="+Inf"})"), previous);
  EXPECT_GT(samples.at(R"(jobq_queue_sampled_run_seconds_sum{queue="mail"})"), 0);
  (void)queues.shutdown(1s);
}

TEST(Metrics, PrometheusSaysWhichFamiliesAreSampledAndNamesNoSampledCountAsAJobCount) {
  jobq::Manager queues(jobq::Config{.latency_sample_every = 16});
  queues.register_handler("a:b", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  constexpr int jobs = 1600;
  for (int index = 0; index < jobs; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("a:b")));
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::MetricsSnapshot snapshot = queues.metrics();
  const std::string text = jobq::prometheus_text(snapshot);
  const std::map<std::string, double> samples = parse_prometheus(text);
  // The exact count is a counter; the histogram's _count is the samples, and says so.
  EXPECT_EQ(samples.at(R"(jobq_queue_started_total{queue="default"})"), jobs);
  const double timed = samples.at(R"(jobq_queue_sampled_run_seconds_count{queue="default"})");
  EXPECT_GT(timed, 0);
  EXPECT_LT(timed, jobs / 2);
  EXPECT_EQ(text.find("jobq_queue_run_seconds"), std::string::npos);
  EXPECT_NE(text.find("# HELP jobq_queue_sampled_run_seconds Time a handler ran. Sampled (about 1 in 16 jobs"),
            std::string::npos);
  EXPECT_NE(text.find("for rates use jobq_type_started_total"), std::string::npos);
  (void)queues.shutdown(1s);
}

TEST(Metrics, ARefusalAfterAShutdownWithoutStartCountsOnItsTypeAsOnItsQueue) {
  jobq::Manager queues(jobq::Config{});
  queues.register_handler("a:b", [](Context&, const Message&) { return Status::success(); });
  (void)queues.shutdown(1s);
  // From a thread whose producer state is made after the types became final.
  std::thread late([&] { EXPECT_EQ(queues.dispatch(jobq::Job("a:b")).code(), jobq::Errc::shutting_down); });
  late.join();
  const jobq::MetricsSnapshot snapshot = queues.metrics();
  EXPECT_EQ(snapshot.queues.at(0).jobs.rejected, 1u);
  ASSERT_EQ(snapshot.types.size(), 1u);
  EXPECT_EQ(snapshot.types.at(0).jobs.rejected, 1u);
}

TEST(Metrics, InFlightListsTheRunningJobAndBusyWorkers) {
  // One job per take, so that each worker holds one of the two.
  jobq::Manager queues(jobq::Config{.queues = {{.name = "slow", .workers = 2, .dequeue_batch = 1}}});
  std::atomic<bool> release{false};
  std::atomic<int> running{0};
  queues.register_handler(
      "slow:job",
      [&](Context& context, const Message&) {
        running.fetch_add(1);
        while (!release.load() && !context.stop_requested()) std::this_thread::sleep_for(100us);
        return Status::success();
      },
      {.queue = "slow"});
  queues.start();
  const auto first = queues.dispatch(jobq::Job("slow:job"));
  const auto second = queues.dispatch(jobq::Job("slow:job"));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return running.load() == 2; }));
  std::this_thread::sleep_for(20ms);
  const std::vector<jobq::InFlightJob> jobs = queues.in_flight();
  ASSERT_EQ(jobs.size(), 2u);
  std::set<jobq::JobId> ids;
  for (const jobq::InFlightJob& job : jobs) {
    ids.insert(job.id);
    EXPECT_EQ(job.type, "slow:job");
    EXPECT_EQ(job.queue, "slow");
    EXPECT_EQ(job.attempt, 1u);
    EXPECT_GE(job.running_seconds, 0.015);  // lower bound only: it has run at least 20 ms
  }
  EXPECT_EQ(ids, (std::set<jobq::JobId>{*first, *second}));
  const jobq::MetricsSnapshot snapshot = queues.metrics();
  EXPECT_EQ(snapshot.queues[0].busy_workers, 2u);
  EXPECT_EQ(snapshot.queues[0].in_flight, 2u);
  EXPECT_EQ(snapshot.queues[0].jobs.started, 2u);
  release.store(true);
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_TRUE(queues.in_flight().empty());
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

TEST(Metrics, LatencyQuantilesComeFromTheBuckets) {
  jobq::internal::LatencyRecorder recorder;
  for (std::uint64_t ticks = 1; ticks <= 1000; ++ticks) recorder.record(ticks);
  jobq::Latency latency(1e-9);  // one tick per nanosecond
  latency.add(recorder);
  EXPECT_EQ(latency.count(), 1000u);
  EXPECT_DOUBLE_EQ(latency.sum_seconds(), 500500e-9);
  // Within a quarter (the bucket width) above the true quantile, never below it.
  for (const auto& [q, exact] : {std::pair{0.5, 500.0}, std::pair{0.99, 990.0}, std::pair{0.999, 999.0}}) {
    EXPECT_GE(latency.quantile(q) * 1e9, exact) << q;
    EXPECT_LE(latency.quantile(q) * 1e9, exact * 1.25) << q;
  }
  EXPECT_EQ(latency.count_at_most(3.5e-9), 2u);  // buckets [1,2) and [2,3)
  EXPECT_EQ(jobq::Latency(1e-9).quantile(0.5), 0.0);
}

TEST(Metrics, MetricsOffRecordsNoLatenciesButKeepsCounters) {
  jobq::Manager queues(jobq::Config{.metrics = false});
  queues.register_handler("a:b", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  for (int index = 0; index < 100; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("a:b")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::MetricsSnapshot snapshot = queues.metrics();
  EXPECT_EQ(snapshot.queues[0].jobs.succeeded, 100u);
  EXPECT_EQ(snapshot.queues[0].run.count(), 0u);
  EXPECT_EQ(snapshot.queues[0].wait.count(), 0u);
  (void)queues.shutdown(1s);
}

}  // namespace
