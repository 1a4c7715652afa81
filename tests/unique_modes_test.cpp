// The unique-job modes beside the idempotency key held until done: a key held until the job
// starts (KeyHold::until_started), and debounce (Job::debounce), on in-memory queues.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Errc;
using jobq::KeyHold;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using jobq::testing::ManualClock;
using namespace std::chrono_literals;

TEST(UntilStarted, TheKeyIsRefusedWhileTheJobWaitsAndFreeOnceItRuns) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> started{0};
  std::atomic<bool> release{false};
  queues.register_handler("sync:account", [&](Context& context, const Message&) {
    started.fetch_add(1);
    while (!release.load() && !context.stop_requested()) std::this_thread::sleep_for(100us);
    return Status::success();
  });
  queues.start();
  queues.pause("default");
  const auto first = queues.dispatch(jobq::Job("sync:account").idempotency_key("acct:7", KeyHold::until_started));
  ASSERT_TRUE(first.ok());
  // Waiting: refused, naming the waiting job.
  const auto waiting = queues.dispatch(jobq::Job("sync:account").idempotency_key("acct:7", KeyHold::until_started));
  ASSERT_FALSE(waiting.ok());
  EXPECT_EQ(waiting.code(), Errc::duplicate);
  EXPECT_EQ(waiting.error().job_id(), *first);
  queues.resume("default");
  ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
  // Running: the key is free, so the next change is queued behind it; that one holds it now.
  const auto second = queues.dispatch(jobq::Job("sync:account").idempotency_key("acct:7", KeyHold::until_started));
  ASSERT_TRUE(second.ok()) << second.error().message();
  const auto third = queues.dispatch(jobq::Job("sync:account").idempotency_key("acct:7", KeyHold::until_started));
  EXPECT_EQ(third.code(), Errc::duplicate);
  EXPECT_EQ(third.error().job_id(), *second);
  release.store(true);
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(started.load(), 2);
  // Done: free at once (no TTL after success, unlike until_done).
  EXPECT_TRUE(queues.dispatch(jobq::Job("sync:account").idempotency_key("acct:7", KeyHold::until_started)).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, 3u);
  EXPECT_EQ(report.queues[0].rejected, 2u);
  EXPECT_TRUE(report.balanced());
}

TEST(UntilStarted, ARetryDoesNotTakeTheKeyBackFromAJobDispatchedSince) {
  jobq::Config config;
  config.retry.backoff = jobq::testing::no_wait;
  jobq::Manager queues(std::move(config));
  std::atomic<int> runs{0};
  std::atomic<bool> second_dispatched{false};
  queues.register_handler("sync:account", [&](Context& context, const Message&) {
    runs.fetch_add(1);
    if (context.attempt() == 1 && !second_dispatched.load()) {
      while (!second_dispatched.load()) std::this_thread::sleep_for(100us);
      return Status::error("upstream busy");
    }
    return Status::success();
  });
  queues.start();
  const auto first = queues.dispatch(jobq::Job("sync:account").idempotency_key("acct:9", KeyHold::until_started));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(eventually([&] { return runs.load() == 1; }));
  const auto second = queues.dispatch(jobq::Job("sync:account").idempotency_key("acct:9", KeyHold::until_started));
  ASSERT_TRUE(second.ok());
  second_dispatched.store(true);
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 3);  // the first twice (a retry), the second once
  EXPECT_TRUE(queues.dispatch(jobq::Job("sync:account").idempotency_key("acct:9", KeyHold::until_started)).ok());
}

/// A manual clock and a handler that records the payloads it ran.
struct DebounceFixture {
  DebounceFixture() {
    jobq::Config config;
    config.clock = clock;
    queues = std::make_unique<jobq::Manager>(std::move(config));
    for (const char* type : {"search:reindex", "search:warm"}) {
      queues->register_handler(type, [this, type](Context&, const Message& message) {
        const std::lock_guard lock(mutex);
        ran.push_back(std::string(type) + " " + std::string(message.payload()));
        return Status::success();
      });
    }
    queues->start();
  }
  std::vector<std::string> runs() {
    const std::lock_guard lock(mutex);
    return ran;
  }
  jobq::Result<jobq::JobId> dispatch(std::string_view payload, std::string_view key = "doc:1",
                                     std::string_view type = "search:reindex") {
    return queues->dispatch(jobq::Job(type).payload(payload).debounce(key, 1s));
  }

  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::unique_ptr<jobq::Manager> queues;
  std::mutex mutex;
  std::vector<std::string> ran;
};

TEST(Debounce, TheLastOfABurstRunsOnceAfterTheWindowPassesQuietly) {
  DebounceFixture f;
  const auto first = f.dispatch(R"({"v":1})");
  ASSERT_TRUE(first.ok());
  for (int v = 2; v <= 5; ++v) {
    f.clock->advance(900ms);  // inside the window each time: the burst goes on
    const auto again = f.dispatch("{\"v\":" + std::to_string(v) + "}");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *first);  // the waiting job's id
  }
  std::this_thread::sleep_for(20ms);  // the timer looks every millisecond: nothing is due
  EXPECT_TRUE(f.runs().empty());
  EXPECT_EQ(f.queues->stats("default").scheduled, 1u);
  f.clock->advance(1s);
  ASSERT_TRUE(f.queues->wait_idle(30s));
  EXPECT_EQ(f.runs(), (std::vector<std::string>{R"(search:reindex {"v":5})"}));
  const jobq::QueueStats stats = f.queues->stats("default");
  EXPECT_EQ(stats.accepted, 1u);
  EXPECT_EQ(stats.debounced, 4u);
  EXPECT_EQ(stats.succeeded, 1u);
  const std::string scrape = jobq::prometheus_text(f.queues->metrics());
  EXPECT_NE(scrape.find("jobq_queue_debounced_total{queue=\"default\"} 4"), std::string::npos) << scrape;
  // After it ran, the key starts a new burst: a new job.
  const auto next = f.dispatch(R"({"v":6})");
  ASSERT_TRUE(next.ok());
  EXPECT_NE(*next, *first);
  f.clock->advance(1s);
  ASSERT_TRUE(f.queues->wait_idle(30s));
  EXPECT_EQ(f.runs().size(), 2u);
}

TEST(Debounce, KeysArePerTypeAndAreNotIdempotencyKeys) {
  DebounceFixture f;
  ASSERT_TRUE(f.dispatch("1", "doc:1", "search:reindex").ok());
  ASSERT_TRUE(f.dispatch("2", "doc:1", "search:warm").ok());
  ASSERT_TRUE(f.dispatch("3", "doc:2", "search:reindex").ok());
  // The same string as an idempotency key is another namespace.
  ASSERT_TRUE(f.queues->dispatch(jobq::Job("search:reindex").payload("4").idempotency_key("doc:1")).ok());
  f.clock->advance(1s);
  ASSERT_TRUE(f.queues->wait_idle(30s));
  std::vector<std::string> runs = f.runs();
  std::sort(runs.begin(), runs.end());
  EXPECT_EQ(runs, (std::vector<std::string>{"search:reindex 1", "search:reindex 3", "search:reindex 4", "search:warm 2"}));
}

TEST(Debounce, BadWindowsAndCombinationsAreRefusedWithTheReason) {
  DebounceFixture f;
  auto refused = [&](const jobq::Job& job, std::string_view why) {
    const auto result = f.queues->dispatch(job);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.code(), Errc::unsupported);
    EXPECT_NE(result.error().detail().find(why), std::string::npos) << result.error().detail();
  };
  refused(jobq::Job("search:reindex").debounce("", 1s), "needs a key");
  refused(jobq::Job("search:reindex").debounce("k", 0s), "positive and finite");
  refused(jobq::Job("search:reindex").debounce("k", -1s), "positive and finite");
  refused(jobq::Job("search:reindex").debounce("k", std::chrono::nanoseconds::max()), "positive and finite");
  refused(jobq::Job("search:reindex").debounce("k", 1s).delay(1s), "no delay");
  const std::vector<jobq::Job> batch{jobq::Job("search:reindex").debounce("k", 1s)};
  EXPECT_EQ(f.queues->dispatch_bulk(batch).code(), Errc::unsupported);
  EXPECT_EQ(f.queues->stats("default").rejected, 6u);
}

TEST(Debounce, AWaitingJobIsReturnedAtShutdownWithTheLatestPayload) {
  DebounceFixture f;
  ASSERT_TRUE(f.dispatch("1").ok());
  ASSERT_TRUE(f.dispatch("2").ok());
  const jobq::ShutdownReport report = f.queues->shutdown(1s);
  ASSERT_EQ(report.not_run.size(), 1u);
  EXPECT_EQ(report.not_run[0].payload, "2");
  EXPECT_EQ(report.not_run[0].idempotency_key, "");  // the burst does not outlive the Manager
  EXPECT_TRUE(report.balanced());
}

TEST(Debounce, ConcurrentBurstsCountEveryDispatchOnceAsAJobOrAFold) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<std::uint64_t> runs{0};
  queues.register_handler("search:reindex", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::success();
  });
  queues.start();
  constexpr int producers = 4;
  const int per_producer = jobq::testing::sanitized ? 2'000 : 20'000;
  std::atomic<std::uint64_t> ok{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        const std::string key = "doc:" + std::to_string((i + p) % 16);
        if (queues.dispatch(jobq::Job("search:reindex").debounce(key, 200us)).ok()) ok.fetch_add(1);
        // Now and then a pause past the window, so that bursts end while others fold into them.
        if (i % 500 == 499) std::this_thread::sleep_for(1ms);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::QueueStats stats = queues.stats("default");
  EXPECT_EQ(ok.load(), static_cast<std::uint64_t>(producers * per_producer));
  EXPECT_EQ(stats.accepted + stats.debounced, ok.load());
  EXPECT_EQ(stats.succeeded, stats.accepted);
  EXPECT_EQ(runs.load(), stats.accepted);
  EXPECT_GE(stats.accepted, 16u);  // at least one job per key
  EXPECT_GT(stats.debounced, 0u);
  std::printf("%llu debounced dispatches ran as %llu jobs\n", static_cast<unsigned long long>(ok.load()),
              static_cast<unsigned long long>(stats.accepted));
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

}  // namespace
