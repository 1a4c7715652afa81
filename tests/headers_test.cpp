// Headers from dispatch to Context, through every path a job can take in memory, and the
// dispatch-side middleware that adds them or refuses jobs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Headers;
using jobq::Message;
using jobq::Status;
using jobq::testing::eventually;
using namespace std::chrono_literals;

struct Greeting {
  std::string name;
};
JOBQ_PAYLOAD(Greeting, name);

/// What a handler saw of one run: its attempt and one header's value ("-" when absent).
struct Seen {
  std::mutex mutex;
  std::vector<std::string> values;
  void add(const Context& context, std::string_view header) {
    const std::lock_guard lock(mutex);
    values.push_back(std::to_string(context.attempt()) + ":" + std::string(context.header(header).value_or("-")));
  }
  std::vector<std::string> snapshot() {
    const std::lock_guard lock(mutex);
    return values;
  }
};

/// What a dispatch would say about one header.
std::string problem_of(std::string_view name, std::string_view value) { return Headers{{name, value}}.problem(); }

TEST(Headers, SetReplacesInPlaceGetAndEraseFindByName) {
  Headers headers{{"tenant", "acme"}, {"request-id", "r-1"}};
  headers.set("tenant", "globex");
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers.begin()->name, "tenant");  // first set keeps its place
  EXPECT_EQ(headers.get("tenant"), "globex");
  EXPECT_FALSE(headers.get("absent").has_value());
  EXPECT_TRUE(headers.erase("tenant"));
  EXPECT_FALSE(headers.erase("tenant"));
  EXPECT_EQ(headers.size(), 1u);
  EXPECT_TRUE(headers.problem().empty());
}

TEST(Headers, JsonRoundTripKeepsOrderEscapesAndUnicode) {
  const Headers headers{{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                        {"note", "say \"hi\" \\ ünïcødé"}};
  const std::string json = headers.to_json();
  EXPECT_EQ(json, R"({"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",)"
                  R"("note":"say \"hi\" \\ ünïcødé"})");
  const jobq::Result<Headers> back = Headers::from_json(json);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, headers);
  EXPECT_EQ(Headers().to_json(), "{}");
}

TEST(Headers, BadNamesValuesAndDocumentsAreRefusedWithTheReason) {
  EXPECT_NE(problem_of("Tenant", "x").find("lower case"), std::string::npos);
  EXPECT_NE(problem_of("", "x").find("empty"), std::string::npos);
  EXPECT_NE(problem_of("a b", "x").find("'a b'"), std::string::npos);
  EXPECT_NE(problem_of("tenant", "line\nbreak").find("control character"), std::string::npos);
  EXPECT_NE(problem_of("tenant", "\xC3\x28").find("UTF-8"), std::string::npos);
  EXPECT_NE(problem_of("tenant", std::string(Headers::max_value_bytes + 1, 'v')).find("8193 bytes"),
            std::string::npos);
  EXPECT_NE(problem_of(std::string(Headers::max_name_bytes + 1, 'n'), "x").find("longer than"),
            std::string::npos);
  Headers many;
  for (std::size_t index = 0; index <= Headers::max_count; ++index) many.set(std::to_string(index), "v");
  EXPECT_NE(many.problem().find("65 headers"), std::string::npos);
  for (const char* text : {"", "[]", R"({"a":1})", R"({"A":"x"})", "{\"a\":\"x\"} trailing", "{"}) {
    const jobq::Result<Headers> parsed = Headers::from_json(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.code(), jobq::Errc::invalid_header) << text;
  }
}

TEST(JobHeaders, EveryRunSeesThemRetriesIncluded) {
  jobq::Config config;
  config.retry.backoff = jobq::testing::no_wait;
  jobq::Manager queues(std::move(config));
  Seen seen;
  std::vector<std::string> failures;
  queues.on_failure([&](const jobq::Failure& failure) {
    failures.push_back(std::string(failure.headers->get("tenant").value_or("-")));
  });
  queues.register_handler("orders:ship", [&](Context& context, const Message&) {
    seen.add(context, "tenant");
    return context.attempt() < 3 ? Status::error("carrier down") : Status::success();
  });
  queues.start();
  const Headers headers{{"tenant", "acme"}};
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:ship").headers(headers)).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(seen.snapshot(), (std::vector<std::string>{"1:acme", "2:acme", "3:acme"}));
  EXPECT_EQ(failures, (std::vector<std::string>{"acme", "acme"}));
}

TEST(JobHeaders, TypedDelayedSnoozedAndBulkJobsCarryThem) {
  jobq::Manager queues(jobq::Config{});
  Seen seen;
  std::atomic<bool> snoozed_once{false};
  queues.register_handler("greet:hello", [&](Context& context, const Message& message) {
    Greeting greeting;
    if (!message.bind(greeting)) return Status::skip_retry("bind");
    seen.add(context, "request-id");
    if (greeting.name == "snooze" && !snoozed_once.exchange(true)) return Status::snooze(1ms);
    return Status::success();
  });
  queues.start();
  const Headers typed{{"request-id", "typed"}};
  const Headers delayed{{"request-id", "delayed"}};
  const Headers snoozed{{"request-id", "snoozed"}};
  ASSERT_TRUE(queues.dispatch(jobq::Job("greet:hello").headers(typed), Greeting{"typed"}).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("greet:hello").headers(delayed).delay(2ms), Greeting{"delayed"}).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("greet:hello").headers(snoozed), Greeting{"snooze"}).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const Headers first{{"request-id", "bulk-1"}};
  const std::vector<jobq::Job> batch{jobq::Job("greet:hello").payload(R"({"name":"a"})").headers(first),
                                     jobq::Job("greet:hello").payload(R"({"name":"b"})")};
  ASSERT_TRUE(queues.dispatch_bulk(batch).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  std::vector<std::string> values = seen.snapshot();
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<std::string>{"1:-", "1:bulk-1", "1:delayed", "1:snoozed", "1:snoozed", "1:typed"}));
  EXPECT_TRUE(queues.shutdown(1s).balanced());
}

TEST(JobHeaders, ADeadLetterKeepsThemAndARequeueRunsWithThem) {
  jobq::Config config;
  config.retry.max_attempts = 1;
  jobq::Manager queues(std::move(config));
  std::atomic<bool> healthy{false};
  Seen seen;
  std::string hooked;
  queues.on_dead([&](const jobq::DeadLetter& letter) { hooked = letter.headers.to_json(); });
  queues.register_handler("orders:refund", [&](Context& context, const Message&) {
    seen.add(context, "tenant");
    return healthy.load() ? Status::success() : Status::error("bank offline");
  });
  queues.start();
  const Headers headers{{"tenant", "acme"}, {"request-id", "r-9"}};
  const auto id = queues.dispatch(jobq::Job("orders:refund").headers(headers));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(hooked, R"({"tenant":"acme","request-id":"r-9"})");
  const std::optional<jobq::DeadLetter> letter = queues.dead_letter(*id);
  ASSERT_TRUE(letter.has_value());
  EXPECT_EQ(letter->headers, headers);
  EXPECT_EQ(queues.dead_letters().letters.at(0).headers, headers);
  healthy.store(true);
  ASSERT_TRUE(queues.requeue_dead(*id).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(seen.snapshot(), (std::vector<std::string>{"1:acme", "1:acme"}));
}

TEST(JobHeaders, JobsReturnedAtShutdownKeepThemForTheNextDispatch) {
  jobq::Manager queues(jobq::Config{});
  queues.register_handler("orders:ship", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  queues.pause("default");
  const Headers ready{{"tenant", "ready"}};
  const Headers later{{"tenant", "later"}};
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:ship").headers(ready)).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:ship").headers(later).delay(1h)).ok());
  const jobq::ShutdownReport report = queues.shutdown(1s, jobq::ShutdownMode::return_pending);
  ASSERT_EQ(report.not_run.size(), 2u);
  std::vector<std::string> tenants;
  for (const jobq::ReturnedJob& job : report.not_run) {
    tenants.emplace_back(job.headers.get("tenant").value_or("-"));
    const jobq::Job again = job.to_job();
    ASSERT_NE(again.headers_value(), nullptr);
    EXPECT_EQ(*again.headers_value(), job.headers);
  }
  std::sort(tenants.begin(), tenants.end());
  EXPECT_EQ(tenants, (std::vector<std::string>{"later", "ready"}));
}

TEST(JobHeaders, InvalidHeadersAreRefusedAtDispatchAndCounted) {
  jobq::Manager queues(jobq::Config{});
  queues.register_handler("orders:ship", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  const Headers bad{{"Tenant", "acme"}};
  const auto single = queues.dispatch(jobq::Job("orders:ship").headers(bad));
  ASSERT_FALSE(single.ok());
  EXPECT_EQ(single.code(), jobq::Errc::invalid_header);
  EXPECT_NE(single.error().detail().find("'Tenant'"), std::string::npos);
  const auto typed = queues.dispatch(jobq::Job("orders:ship").headers(bad), Greeting{"x"});
  EXPECT_EQ(typed.code(), jobq::Errc::invalid_header);
  const std::vector<jobq::Job> batch{jobq::Job("orders:ship"), jobq::Job("orders:ship").headers(bad)};
  const auto bulk = queues.dispatch_bulk(batch);
  EXPECT_EQ(bulk.code(), jobq::Errc::invalid_header);
  EXPECT_NE(bulk.error().detail().find("job 1"), std::string::npos);
  EXPECT_EQ(queues.stats("default").rejected, 4u);
  EXPECT_EQ(queues.stats("default").accepted, 0u);
}

TEST(DispatchMiddleware, AddsHeadersToEveryKindOfDispatchInOrder) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> calls{0};
  queues.use_dispatch([&](jobq::Outgoing& job) -> std::optional<jobq::Error> {
    calls.fetch_add(1);
    EXPECT_EQ(job.type(), "greet:hello");
    EXPECT_EQ(job.queue(), "default");
    job.headers().set("trace", "first");
    job.headers().set("caller", std::string(job.headers().get("caller").value_or("none")));
    return std::nullopt;
  });
  queues.use_dispatch([](jobq::Outgoing& job) -> std::optional<jobq::Error> {
    job.headers().set("trace", std::string(job.headers().get("trace").value_or("")) + ",second");
    return std::nullopt;
  });
  std::mutex mutex;
  std::vector<std::string> seen;
  queues.register_handler("greet:hello", [&](Context& context, const Message&) {
    const std::lock_guard lock(mutex);
    seen.push_back(std::string(context.header("trace").value_or("-")) + "/" +
                   std::string(context.header("caller").value_or("-")));
    return Status::success();
  });
  queues.start();
  const Headers given{{"caller", "web"}};
  ASSERT_TRUE(queues.dispatch(jobq::Job("greet:hello")).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("greet:hello").headers(given)).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("greet:hello"), Greeting{"typed"}).ok());
  ASSERT_TRUE(queues.dispatch_async(jobq::Job("greet:hello")).get().ok());
  ASSERT_TRUE(queues.dispatch_async(jobq::Job("greet:hello"), Greeting{"async"}).get().ok());
  const std::vector<jobq::Job> batch(3, jobq::Job("greet:hello"));
  ASSERT_TRUE(queues.dispatch_bulk(batch).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(calls.load(), 8);
  const std::lock_guard lock(mutex);
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "first,second/none"), 7);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "first,second/web"), 1);
}

TEST(DispatchMiddleware, ARefusalOrAThrowStopsTheJobAndIsCountedOnItsQueue) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default"}, {.name = "tenants"}}});
  queues.use_dispatch([](jobq::Outgoing& job) -> std::optional<jobq::Error> {
    if (job.headers().get("tenant") == "banned") return jobq::Error(jobq::Errc::refused, "tenant banned");
    if (job.headers().get("tenant") == "broken") throw std::runtime_error("lookup failed");
    return std::nullopt;
  });
  std::atomic<int> runs{0};
  queues.register_handler("orders:ship", [&](Context&, const Message&) {
    runs.fetch_add(1);
    return Status::success();
  }, {.queue = "tenants"});
  queues.start();
  const Headers banned{{"tenant", "banned"}};
  const Headers broken{{"tenant", "broken"}};
  const Headers fine{{"tenant", "fine"}};
  const auto refused = queues.dispatch(jobq::Job("orders:ship").headers(banned));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), jobq::Errc::refused);
  EXPECT_EQ(refused.error().detail(), "tenant banned");
  const auto threw = queues.dispatch(jobq::Job("orders:ship").headers(broken));
  EXPECT_EQ(threw.code(), jobq::Errc::refused);
  EXPECT_NE(threw.error().detail().find("lookup failed"), std::string::npos);
  const auto async = queues.dispatch_async(jobq::Job("orders:ship").headers(banned)).get();
  EXPECT_EQ(async.code(), jobq::Errc::refused);
  const std::vector<jobq::Job> batch{jobq::Job("orders:ship").headers(fine), jobq::Job("orders:ship").headers(banned)};
  EXPECT_EQ(queues.dispatch_bulk(batch).code(), jobq::Errc::refused);
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:ship").headers(fine)).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(queues.stats("tenants").rejected, 5u);  // one each, and the batch's two
  EXPECT_EQ(queues.stats("tenants").accepted, 1u);
  EXPECT_EQ(queues.stats("default").rejected, 0u);
}

TEST(DispatchMiddleware, HeadersItAddsAreCheckedAndItCanTakeTheCallersOff) {
  jobq::Manager queues(jobq::Config{});
  queues.use_dispatch([](jobq::Outgoing& job) -> std::optional<jobq::Error> {
    job.headers().erase("secret");
    if (job.type() == "orders:bad") job.headers().set("Bad Name", "x");
    return std::nullopt;
  });
  std::atomic<bool> saw_secret{false};
  std::atomic<int> runs{0};
  auto handler = [&](Context& context, const Message&) {
    if (context.header("secret")) saw_secret.store(true);
    runs.fetch_add(1);
    return Status::success();
  };
  queues.register_handler("orders:ship", handler);
  queues.register_handler("orders:bad", handler);
  queues.start();
  const Headers secret{{"secret", "s3cr3t"}};
  ASSERT_TRUE(queues.dispatch(jobq::Job("orders:ship").headers(secret)).ok());
  EXPECT_EQ(queues.dispatch(jobq::Job("orders:bad")).code(), jobq::Errc::invalid_header);
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 1);
  EXPECT_FALSE(saw_secret.load());
}

TEST(DispatchMiddleware, IsAddedBeforeStartAndNeverEmpty) {
  jobq::Manager queues(jobq::Config{});
  EXPECT_THROW(queues.use_dispatch(nullptr), jobq::ConfigError);
  queues.register_handler("orders:ship", [](Context&, const Message&) { return Status::success(); });
  queues.start();
  EXPECT_THROW(queues.use_dispatch([](jobq::Outgoing&) { return std::optional<jobq::Error>{}; }), jobq::ConfigError);
}

TEST(DispatchMiddleware, RunsForPeriodicJobsToo) {
  auto clock = std::make_shared<jobq::testing::ManualClock>();
  jobq::Config config;
  config.clock = clock;
  jobq::Manager queues(std::move(config));
  queues.use_dispatch([](jobq::Outgoing& job) -> std::optional<jobq::Error> {
    job.headers().set("origin", "scheduler");
    return std::nullopt;
  });
  Seen seen;
  queues.register_handler("reports:daily", [&](Context& context, const Message&) {
    seen.add(context, "origin");
    return Status::success();
  });
  queues.schedule("every-second", "@every 1s", jobq::Job("reports:daily"));
  queues.start();
  clock->advance(1500ms);
  ASSERT_TRUE(eventually([&] { return !seen.snapshot().empty(); }));
  EXPECT_EQ(seen.snapshot().front(), "1:scheduler");
}

}  // namespace
