// Typed payloads travel as objects: moved or copied in at dispatch, copied out by bind, read in
// place by get(), destroyed exactly once whatever happens to the job, and turned into JSON only
// where bytes are needed (payload(), another struct's bind, dead letters, jobs handed back).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;

using jobq::testing::Lifetime;

struct Nested {
  std::string city;
  std::vector<int> codes;
};
JOBQ_PAYLOAD(Nested, city, codes);

/// Members beyond the declared fields travel with the object (the tracker), and are not JSON.
struct Tracked {
  std::uint64_t index = 0;
  std::string name;
  std::optional<double> weight;
  Nested where;
  Lifetime tracker;
};
JOBQ_PAYLOAD(Tracked, index, name, weight, where);

/// The same JSON shape, another C++ type: binding it from a Tracked job goes through JSON.
struct TrackedView {
  std::uint64_t index = 0;
  std::string name;
};
JOBQ_PAYLOAD(TrackedView, index, name);

/// Four integers: `{"a":1,"b":2,"c":3,"d":4}` is 25 bytes, but each may take up to 20 digits.
struct Counts {
  std::int64_t a = 0;
  std::int64_t b = 0;
  std::int64_t c = 0;
  std::int64_t d = 0;
};
JOBQ_PAYLOAD(Counts, a, b, c, d);

/// Larger than the envelope's 256 inline bytes: it spills to one heap block.
struct Large {
  std::array<std::string, 12> unused;  // 384 bytes of strings that are not JSON fields
  std::string name;
  Lifetime tracker;
};
JOBQ_PAYLOAD(Large, name);

class TypedPayload : public ::testing::Test {
 protected:
  void SetUp() override { Lifetime::reset(); }
  void TearDown() override { EXPECT_EQ(Lifetime::live.load(), 0) << "a payload object leaked or was destroyed twice"; }

  static jobq::Config config() {
    jobq::Config config;
    config.queues = {{.name = "default", .workers = 1}};
    config.log_level = jobq::LogLevel::off;
    return config;
  }
};

Tracked make_tracked(std::uint64_t index) {
  Tracked tracked;
  tracked.index = index;
  tracked.name = "a name long enough to live on the heap, not in the string's own buffer";
  tracked.weight = 1.5;
  tracked.where = Nested{"Lisbon", {1, 2, 3}};
  return tracked;
}

TEST_F(TypedPayload, TheHandlerGetsTheObjectWithNoJson) {
  std::atomic<int> seen{0};
  std::atomic<bool> same_object{false};
  {
    jobq::Manager queues(config());
    queues.register_handler("orders:typed", [&](jobq::Context&, const jobq::Message& message) {
      const Tracked* in_place = message.get<Tracked>();
      Tracked bound;
      if (jobq::Status status = message.bind(bound); !status) return status;
      same_object = in_place != nullptr && in_place->index == 7 && bound.index == 7 &&
                    bound.name == in_place->name && bound.where.codes == std::vector<int>{1, 2, 3} &&
                    bound.weight == 1.5 && message.get<TrackedView>() == nullptr;
      ++seen;
      return jobq::Status::success();
    });
    queues.start();
    ASSERT_TRUE(queues.dispatch(jobq::Job("orders:typed"), make_tracked(7)));
    ASSERT_TRUE(queues.wait_idle(5s));
    EXPECT_TRUE(queues.shutdown(1s).balanced());
  }
  EXPECT_EQ(seen.load(), 1);
  EXPECT_TRUE(same_object.load());
}

TEST_F(TypedPayload, AnRvalueIsMovedInAndAnLvalueCopied) {
  jobq::Manager queues(config());
  std::atomic<int> ran{0};
  queues.register_handler("orders:typed", [&](jobq::Context&, const jobq::Message& message) {
    ran += message.get<Tracked>() != nullptr ? 1 : 0;
    return jobq::Status::success();
  });
  queues.start();
  queues.pause("default");  // keep both jobs in the ring while the counts are read
  Tracked moved = make_tracked(1);
  const long copies_before = Lifetime::copies;
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:typed"), std::move(moved)));
  EXPECT_EQ(Lifetime::copies.load(), copies_before) << "an rvalue payload was copied";
  EXPECT_TRUE(moved.name.empty()) << "an rvalue payload was not moved from";  // NOLINT(bugprone-use-after-move)
  Tracked kept = make_tracked(2);
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:typed"), kept));
  EXPECT_EQ(Lifetime::copies.load(), copies_before + 1);
  EXPECT_FALSE(kept.name.empty());
  queues.resume("default");
  ASSERT_TRUE(queues.wait_idle(5s));
  EXPECT_EQ(ran.load(), 2);
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

TEST_F(TypedPayload, AnotherStructBindsThroughJsonAndPayloadIsJson) {
  jobq::Manager queues(config());
  std::string json;
  TrackedView view;
  queues.register_handler("orders:typed", [&](jobq::Context&, const jobq::Message& message) {
    json = std::string(message.payload());
    return message.bind(view);
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:typed"), make_tracked(9)));
  ASSERT_TRUE(queues.wait_idle(5s));
  EXPECT_TRUE(queues.shutdown(1s).balanced());
  EXPECT_EQ(json, R"({"index":9,"name":"a name long enough to live on the heap, not in the string's own buffer",)"
                  R"("weight":1.5,"where":{"city":"Lisbon","codes":[1,2,3]}})");
  EXPECT_EQ(view.index, 9u);
  EXPECT_EQ(view.name, make_tracked(9).name);
}

TEST_F(TypedPayload, RetriesKeepThePayloadAndDeadLettersGetItsJson) {
  jobq::Manager queues(config());
  std::atomic<int> intact{0};
  queues.register_handler(
      "orders:typed",
      [&](jobq::Context& context, const jobq::Message& message) {
        Tracked bound;
        if (jobq::Status status = message.bind(bound); !status) return status;
        if (bound.index == 3 && bound.name == make_tracked(3).name) ++intact;
        // Job 3 succeeds on its third attempt; job 4 fails for good.
        if (bound.index == 3 && context.attempt() == 3) return jobq::Status::success();
        return jobq::Status::error("attempt " + std::to_string(context.attempt()));
      },
      jobq::RegisterOptions{.retry = jobq::RetryPolicy{.max_attempts = 3, .backoff = jobq::testing::no_wait}});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:typed"), make_tracked(3)));
  const jobq::Result<jobq::JobId> doomed = queues.dispatch(jobq::Job("orders:typed"), make_tracked(4));
  ASSERT_TRUE(doomed);
  ASSERT_TRUE(queues.wait_idle(5s));
  EXPECT_EQ(intact.load(), 3);
  const std::optional<jobq::DeadLetter> letter = queues.dead_letter(*doomed);
  ASSERT_TRUE(letter);
  EXPECT_EQ(letter->attempts, 3u);
  TrackedView view;
  ASSERT_TRUE(jobq::from_json(letter->payload, view)) << letter->payload;
  EXPECT_EQ(view.index, 4u);
  // A requeued dead letter runs from its JSON, bound into the same struct.
  ASSERT_TRUE(queues.requeue_dead(*doomed));
  ASSERT_TRUE(queues.wait_idle(5s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(report.dead_lettered, 2u);
}

TEST_F(TypedPayload, DelayedSnoozedAndUnrunJobsComeBackAsJson) {
  jobq::Manager queues(config());
  std::atomic<int> snoozed{0};
  queues.register_handler("orders:typed", [&](jobq::Context&, const jobq::Message& message) {
    if (message.get<Tracked>() == nullptr) return jobq::Status::skip_retry("not an object");
    ++snoozed;
    return jobq::Status::snooze(1h);
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:typed").delay(1h), make_tracked(5)));
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:typed"), make_tracked(6)));
  ASSERT_TRUE(jobq::testing::eventually([&] { return snoozed.load() == 1; }, 5s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_TRUE(report.balanced());
  ASSERT_EQ(report.not_run.size(), 2u);
  for (const jobq::ReturnedJob& job : report.not_run) {
    TrackedView view;
    ASSERT_TRUE(jobq::from_json(job.payload, view)) << job.payload;
    EXPECT_TRUE(view.index == 5 || view.index == 6);
    EXPECT_EQ(view.name, make_tracked(5).name);
  }
}

TEST_F(TypedPayload, LargeObjectsSpillAndAreFreed) {
  jobq::Manager queues(config());
  std::atomic<int> ok{0};
  queues.register_handler("orders:large", [&](jobq::Context&, const jobq::Message& message) {
    const Large* large = message.get<Large>();
    if (large != nullptr && large->name == "big") ++ok;
    return jobq::Status::success();
  });
  queues.start();
  static_assert(sizeof(Large) > 256);
  for (int index = 0; index < 100; ++index) {
    Large large;
    large.name = "big";
    ASSERT_TRUE(queues.dispatch(jobq::Job("orders:large"), std::move(large)));
  }
  ASSERT_TRUE(queues.wait_idle(5s));
  EXPECT_EQ(ok.load(), 100);
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

TEST_F(TypedPayload, BadObjectsAreRefusedAtDispatchUnlessTrusted) {
  jobq::Manager queues(config());
  queues.register_handler("orders:typed", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
  queues.start();
  Tracked bad_text = make_tracked(1);
  bad_text.where.city = "\xff\xfe";
  jobq::Result<jobq::JobId> refused = queues.dispatch(jobq::Job("orders:typed"), bad_text);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), jobq::Errc::invalid_payload);
  EXPECT_NE(refused.error().message().find("where.city"), std::string::npos) << refused.error().message();
  Tracked bad_number = make_tracked(1);
  bad_number.weight = std::numeric_limits<double>::quiet_NaN();
  refused = queues.dispatch(jobq::Job("orders:typed"), bad_number);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), jobq::Errc::invalid_payload);
  EXPECT_NE(refused.error().message().find("weight"), std::string::npos);
  // trusted() skips the walk: the producer vouches for its object.
  EXPECT_TRUE(queues.dispatch(jobq::Job("orders:typed").trusted(), bad_number));
  ASSERT_TRUE(queues.wait_idle(5s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.queues[0].rejected, 2u);
}

TEST_F(TypedPayload, TheJsonSizeLimitAppliesToObjects) {
  jobq::Config limited = config();
  limited.max_payload_bytes = 64;
  jobq::Manager queues(limited);
  queues.register_handler("orders:typed", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
  queues.start();
  Tracked small;
  small.name = "x";
  EXPECT_TRUE(queues.dispatch(jobq::Job("orders:typed"), small));
  const jobq::Result<jobq::JobId> refused = queues.dispatch(jobq::Job("orders:typed"), make_tracked(1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), jobq::Errc::payload_too_large);
  ASSERT_TRUE(queues.wait_idle(5s));
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

// A dispatch first counts numbers at their widest; a bound past the limit is counted again
// exactly, so a payload is refused for its own size, not for the widest one of its type.
TEST_F(TypedPayload, TheSizeLimitCountsNumbersAsWritten) {
  jobq::Config limited = config();
  limited.max_payload_bytes = 40;  // the bound of Counts is 101 bytes
  jobq::Manager queues(limited);
  queues.register_handler("orders:typed", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
  queues.start();
  EXPECT_TRUE(queues.dispatch(jobq::Job("orders:typed"), Counts{1, 2, 3, 4}));  // 25 bytes
  EXPECT_TRUE(queues.dispatch(jobq::Job("orders:typed"), Counts{-100000000, 1000000, 3, 4}));  // 40 bytes
  const jobq::Result<jobq::JobId> refused =
      queues.dispatch(jobq::Job("orders:typed"), Counts{-1000000000, 1000000, 3, 4});  // 41 bytes
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), jobq::Errc::payload_too_large);
  EXPECT_NE(refused.error().message().find("about 41 bytes as JSON, the limit is 40"), std::string::npos)
      << refused.error().message();
  ASSERT_TRUE(queues.wait_idle(5s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.succeeded, 2u);
  EXPECT_EQ(report.queues[0].rejected, 1u);
}

TEST_F(TypedPayload, ObjectsLeftInTheRingAreDestroyedWithTheManager) {
  {
    jobq::Config quick = config();
    quick.destructor_shutdown_timeout = std::chrono::milliseconds(10);
    jobq::Manager queues(quick);
    queues.register_handler("orders:typed", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
    queues.start();
    queues.pause("default");
    for (std::uint64_t index = 0; index < 50; ++index) {
      ASSERT_TRUE(queues.dispatch(jobq::Job("orders:typed"), make_tracked(index)));
    }
    EXPECT_EQ(Lifetime::live.load(), 50);
  }
  // TearDown checks that all 50 were destroyed, once each.
}

}  // namespace
