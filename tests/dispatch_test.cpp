#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Errc;
using jobq::Message;
using jobq::Status;

struct Welcome {
  std::string user_id;
  int campaign;
};
JOBQ_PAYLOAD(Welcome, user_id, campaign);

/// A Manager with "default" and "emails" queues and an "emails:welcome" handler that records
/// what it bound.
struct Fixture : ::testing::Test {
  jobq::Manager queues{jobq::Config{.queues = {{.name = "default"}, {.name = "emails", .workers = 2}}}};
  std::mutex mutex;
  std::vector<Welcome> seen;
  std::vector<std::string> seen_queues;
  std::atomic<int> bind_failures{0};

  void SetUp() override {
    queues.register_handler("emails:welcome", [this](Context& context, const Message& message) {
      Welcome welcome;
      if (Status status = message.bind(welcome); !status) {
        bind_failures.fetch_add(1);
        return status;
      }
      const std::lock_guard lock(mutex);
      seen.push_back(welcome);
      seen_queues.emplace_back(context.queue());
      return Status::success();
    }, {.queue = "emails"});
    queues.register_handler("noop:run", [](Context&, const Message&) { return Status::success(); });
  }
  std::size_t seen_count() {
    const std::lock_guard lock(mutex);
    return seen.size();
  }
};

TEST_F(Fixture, DispatchBeforeStartIsRefused) {
  const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("noop:run"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.code(), Errc::not_started);
  EXPECT_EQ(result.error().message(), "not started");
}

TEST_F(Fixture, DispatchBeforeStartIsNotStartedEvenForATypeNotYetRegistered) {
  // The lifecycle is checked first: the registry may still be growing, so it is not read.
  EXPECT_EQ(queues.dispatch(jobq::Job("later:registered")).code(), Errc::not_started);
  EXPECT_EQ(queues.dispatch(jobq::Job("later:registered").on_queue("nowhere")).code(), Errc::not_started);
  const std::vector<jobq::Job> batch{jobq::Job("later:registered")};
  EXPECT_EQ(queues.dispatch_bulk(batch).code(), Errc::not_started);
  queues.register_handler("later:registered", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  EXPECT_TRUE(queues.dispatch(jobq::Job("later:registered")).ok());
}

TEST_F(Fixture, UnknownTypeAndQueueAreNamed) {
  queues.start();
  jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("emails:nope"));
  EXPECT_EQ(result.code(), Errc::unknown_type);
  EXPECT_EQ(result.error().message(), "unknown job type: emails:nope");
  result = queues.dispatch(jobq::Job("noop:run").on_queue("sms"));
  EXPECT_EQ(result.code(), Errc::unknown_queue);
  EXPECT_EQ(result.error().message(), "unknown queue: sms");
  const std::vector<jobq::Job> batch{jobq::Job("noop:run"), jobq::Job("nope:nope")};
  EXPECT_EQ(queues.dispatch_bulk(batch).code(), Errc::unknown_type);
  // Refused before they had a queue: counted apart, on no queue.
  EXPECT_EQ(queues.unrouted(), 3u);
  EXPECT_EQ(queues.stats("default").rejected, 1u);  // the routable job of the refused batch
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(5));
  EXPECT_EQ(report.unrouted, 3u);
  EXPECT_EQ(report.accepted, 0u);
}

TEST_F(Fixture, TypedDispatchRunsTheHandlerWithTheBoundPayload) {
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("emails:welcome"), Welcome{"u-\"42\"", 7}).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return seen_count() == 1; }));
  EXPECT_EQ(seen[0].user_id, "u-\"42\"");
  EXPECT_EQ(seen[0].campaign, 7);
  EXPECT_EQ(seen_queues[0], "emails");  // the type's registered queue
}

// A thread's dispatches reuse the route of its last type only when the name is the same: a
// buffer that is rewritten in place for another type, a type of the same length, a queue named
// on the job, and a name that is no type at all each go where their own name says.
TEST(DispatchRouting, EachDispatchGoesWhereItsOwnNameSays) {
  jobq::Manager queues{jobq::Config{.queues = {{.name = "default"}, {.name = "emails"}, {.name = "sms"}}}};
  std::mutex mutex;
  std::vector<std::string> ran;  // "<type> on <queue>"
  auto record = [&](Context& context, const Message& message) {
    const std::lock_guard lock(mutex);
    ran.push_back(std::string(message.type()) + " on " + std::string(context.queue()));
    return Status::success();
  };
  queues.register_handler("emails:aaa", record, {.queue = "emails"});
  queues.register_handler("emails:aab", record, {.queue = "sms"});
  queues.start();
  std::string name = "emails:aaa";
  ASSERT_TRUE(queues.dispatch(jobq::Job(name)));
  name.back() = 'b';  // the same buffer, another type
  ASSERT_TRUE(queues.dispatch(jobq::Job(name)));
  ASSERT_TRUE(queues.dispatch(jobq::Job(name).on_queue("default")));
  ASSERT_TRUE(queues.dispatch(jobq::Job(name)));
  name.back() = 'c';
  EXPECT_EQ(queues.dispatch(jobq::Job(name)).code(), Errc::unknown_type);
  ASSERT_TRUE(queues.dispatch(jobq::Job("emails:aaa")));
  ASSERT_TRUE(queues.wait_idle(std::chrono::seconds(10)));
  std::vector<std::string> sorted = ran;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::string>{"emails:aaa on emails", "emails:aaa on emails", "emails:aab on default",
                                              "emails:aab on sms", "emails:aab on sms"}));
  EXPECT_EQ(queues.unrouted(), 1u);
  EXPECT_TRUE(queues.shutdown(std::chrono::seconds(5)).balanced());
}

TEST_F(Fixture, RawDispatchHonoursTheNamedQueue) {
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("emails:welcome").payload(R"({"user_id":"7","campaign":1})").on_queue("default")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return seen_count() == 1; }));
  EXPECT_EQ(seen_queues[0], "default");
}

TEST_F(Fixture, InvalidRawPayloadsAreRefusedWithTheParserError) {
  queues.start();
  for (std::string_view bad : {std::string_view(R"({"user_id": "7",)"), std::string_view(""), std::string_view("{} []"),
                               std::string_view("{\"user_id\": \"\xFF\"}"), std::string_view("{\"a\":tru}")}) {
    const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("emails:welcome").payload(bad));
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.code(), Errc::invalid_payload) << bad;
    EXPECT_FALSE(result.error().detail().empty());
  }
  EXPECT_EQ(queues.stats("emails").rejected, 5u);
  EXPECT_EQ(queues.stats("emails").accepted, 0u);
}

TEST_F(Fixture, ValidationEnforcesTheDepthLimit) {
  queues.start();
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("noop:run").payload(deep));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message().find("DEPTH_ERROR"), std::string::npos) << result.error().message();
  const std::string shallow = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(queues.dispatch(jobq::Job("noop:run").payload(shallow)).ok());
}

TEST(DispatchLimits, PayloadsPastTheSizeLimitAreRefused) {
  jobq::Manager queues(jobq::Config{.max_payload_bytes = 1000});
  queues.register_handler("noop:run", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  const std::string big = "{\"s\":\"" + std::string(1000, 'x') + "\"}";
  const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("noop:run").payload(big));
  EXPECT_EQ(result.code(), Errc::payload_too_large);
  const std::string fits = "{\"s\":\"" + std::string(900, 'x') + "\"}";
  EXPECT_TRUE(queues.dispatch(jobq::Job("noop:run").payload(fits)).ok());
}

TEST_F(Fixture, TrustedPayloadsSkipValidationAndFailAtBind) {
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("emails:welcome").payload("{not json").trusted()).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("emails").failed == 1; }));
  EXPECT_EQ(bind_failures.load(), 1);
}

TEST_F(Fixture, LargePayloadsSpillAndStillBind) {
  queues.start();
  const std::string long_id(5000, 'q');
  ASSERT_TRUE(queues.dispatch(jobq::Job("emails:welcome"), Welcome{long_id, 3}).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return seen_count() == 1; }));
  EXPECT_EQ(seen[0].user_id, long_id);
}

TEST_F(Fixture, JobIdsAreUniqueAndIncreasePerProducer) {
  queues.start();
  std::set<jobq::JobId> ids;
  jobq::JobId last = 0;
  for (int index = 0; index < 10000; ++index) {
    const jobq::Result<jobq::JobId> result = queues.dispatch(jobq::Job("noop:run"));
    ASSERT_TRUE(result.ok());
    EXPECT_GT(*result, last);
    last = *result;
    ids.insert(*result);
  }
  EXPECT_EQ(ids.size(), 10000u);
}

TEST_F(Fixture, BulkDispatchEnqueuesEveryJobWithConsecutiveIds) {
  queues.start();
  std::vector<std::string> payloads;
  for (int index = 0; index < 100; ++index) {
    payloads.push_back(R"({"user_id":")" + std::to_string(index) + R"(","campaign":)" + std::to_string(index) + "}");
  }
  std::vector<jobq::Job> jobs;
  for (const std::string& payload : payloads) jobs.push_back(jobq::Job("emails:welcome").payload(payload));
  jobs.push_back(jobq::Job("noop:run"));
  const jobq::Result<jobq::JobId> first = queues.dispatch_bulk(jobs);
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_TRUE(jobq::testing::eventually([&] { return seen_count() == 100; }));
  std::set<int> campaigns;
  for (const Welcome& welcome : seen) campaigns.insert(welcome.campaign);
  EXPECT_EQ(campaigns.size(), 100u);
  EXPECT_EQ(queues.stats("emails").accepted, 100u);
  EXPECT_EQ(queues.stats("default").accepted, 1u);
  EXPECT_EQ(*queues.dispatch(jobq::Job("noop:run")), *first + 101);  // the batch used 101 ids
}

TEST_F(Fixture, BulkDispatchIsAllOrNothing) {
  queues.start();
  std::vector<jobq::Job> jobs(10, jobq::Job("noop:run"));
  jobs.push_back(jobq::Job("noop:run").payload("{broken"));
  const jobq::Result<jobq::JobId> result = queues.dispatch_bulk(jobs);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.code(), Errc::invalid_payload);
  EXPECT_NE(result.error().message().find("job 10"), std::string::npos) << result.error().message();
  EXPECT_EQ(queues.stats("default").accepted, 0u);
  EXPECT_EQ(queues.stats("default").rejected, 11u);
}

TEST(BulkCapacity, BulkPastCapacityEnqueuesNothing) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .capacity = 5}}});
  std::atomic<bool> release{false};
  queues.register_handler("slow:run", [&](Context& context, const Message&) {
    while (!release.load() && !context.stop_requested()) std::this_thread::yield();
    return Status::success();
  });
  queues.start();
  std::vector<jobq::Job> jobs(6, jobq::Job("slow:run"));
  const jobq::Result<jobq::JobId> result = queues.dispatch_bulk(jobs);
  EXPECT_EQ(result.code(), Errc::queue_full);
  EXPECT_EQ(queues.stats("default").accepted, 0u);
  jobs.resize(5, jobq::Job("slow:run"));
  EXPECT_TRUE(queues.dispatch_bulk(jobs).ok());
  release.store(true);
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(30));
  EXPECT_EQ(report.succeeded, 5u);
  EXPECT_TRUE(report.balanced());
}

TEST_F(Fixture, DispatchAfterShutdownIsRefused) {
  queues.start();
  (void)queues.shutdown(std::chrono::seconds(5));
  EXPECT_EQ(queues.dispatch(jobq::Job("noop:run")).code(), Errc::shutting_down);
  std::vector<jobq::Job> jobs(2, jobq::Job("noop:run"));
  EXPECT_EQ(queues.dispatch_bulk(jobs).code(), Errc::shutting_down);
}

}  // namespace
