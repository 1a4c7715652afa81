#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Next;
using jobq::Status;
using namespace std::chrono_literals;

TEST(Middleware, RunsInTheOrderAddedAroundEveryHandler) {
  jobq::Manager queues(jobq::Config{});
  std::mutex mutex;
  std::vector<std::string> trace;
  auto note = [&](std::string text) {
    const std::lock_guard lock(mutex);
    trace.push_back(std::move(text));
  };
  queues.use([&](Context& context, const Message& message, const Next& next) {
    note("outer before " + std::string(context.type()));
    Status status = next(context, message);
    note("outer after " + std::string(status.ok() ? "ok" : status.message()));
    return status;
  });
  queues.use([&](Context& context, const Message& message, const Next& next) {
    note("inner before");
    Status status = next(context, message);
    note("inner after");
    return status;
  });
  queues.register_handler("a:ok", [&](Context&, const Message&) {
    note("handler a:ok");
    return Status::success();
  });
  queues.register_handler("a:fail", [&](Context&, const Message&) {
    note("handler a:fail");
    return Status::skip_retry("nope");
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("a:ok")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  ASSERT_TRUE(queues.dispatch(jobq::Job("a:fail")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(report.dead_lettered, 1u);
  const std::lock_guard lock(mutex);
  EXPECT_EQ(trace, (std::vector<std::string>{"outer before a:ok", "inner before", "handler a:ok", "inner after",
                                             "outer after ok", "outer before a:fail", "inner before",
                                             "handler a:fail", "inner after", "outer after nope"}));
}

TEST(Middleware, CanShortCircuitRewriteOrThrow) {
  jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 1}});
  std::atomic<int> handled{0};
  queues.use([](Context& context, const Message& message, const Next& next) -> Status {
    if (message.payload() == R"({"block":true})") return Status::revoke("blocked by middleware");
    if (message.payload() == R"({"boom":true})") throw std::runtime_error("middleware failed");
    Status status = next(context, message);
    return status.ok() ? status : Status::skip_retry("rewritten: " + status.message());
  });
  queues.register_handler("a:b", [&](Context&, const Message& message) {
    handled.fetch_add(1);
    return message.payload() == R"({"fail":true})" ? Status::error("raw") : Status::success();
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("a:b").payload(R"({"block":true})")).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("a:b").payload(R"({"boom":true})")).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("a:b").payload(R"({"fail":true})")).ok());
  ASSERT_TRUE(queues.dispatch(jobq::Job("a:b")).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(handled.load(), 2);
  const jobq::ShutdownReport report = queues.shutdown(1s);
  EXPECT_EQ(report.revoked, 1u);
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(report.dead_lettered, 2u);
  std::set<std::string> errors;
  for (const jobq::DeadLetter& letter : queues.dead_letters().letters) errors.insert(letter.last_error);
  EXPECT_EQ(errors, (std::set<std::string>{"unhandled exception: middleware failed", "rewritten: raw"}));
}

TEST(Middleware, IsRefusedAfterStartAndWhenEmpty) {
  jobq::Manager queues(jobq::Config{});
  EXPECT_THROW(queues.use(jobq::Middleware{}), jobq::ConfigError);
  queues.start();
  EXPECT_THROW(queues.use([](Context& c, const Message& m, const Next& next) { return next(c, m); }),
               jobq::ConfigError);
}

}  // namespace
