#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;

struct Charge {
  std::string card;
  std::int64_t cents;
};
JOBQ_PAYLOAD(Charge, card, cents);

struct RecordedFailure {
  jobq::JobId id;
  std::string type;
  std::string queue;
  std::uint32_t attempt;
  std::string payload;
  std::string message;
  bool retryable;
};

/// A Manager whose failure hook records every failure.
struct Fixture : ::testing::Test {
  jobq::Manager queues{jobq::Config{.queues = {{.name = "default"}, {.name = "payments"}}}};
  std::mutex mutex;
  std::vector<RecordedFailure> failures;
  std::atomic<int> ran{0};

  void SetUp() override {
    queues.on_failure([this](const jobq::Failure& failure) {
      const std::lock_guard lock(mutex);
      failures.push_back({failure.id, std::string(failure.type), std::string(failure.queue), failure.attempt,
                          std::string(failure.payload), std::string(failure.message), failure.retryable});
    });
  }
  std::size_t failure_count() {
    const std::lock_guard lock(mutex);
    return failures.size();
  }
};

TEST_F(Fixture, ReturnedErrorsReachTheFailureHookWithTheJob) {
  queues.register_handler("payments:charge", [](Context&, const Message&) { return Status::error("card declined"); },
                          {.queue = "payments"});
  queues.start();
  const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("payments:charge"), Charge{"4242", 100});
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return failure_count() == 1; }));
  const RecordedFailure& failure = failures[0];
  EXPECT_EQ(failure.id, *id);
  EXPECT_EQ(failure.type, "payments:charge");
  EXPECT_EQ(failure.queue, "payments");
  EXPECT_EQ(failure.attempt, 1u);
  EXPECT_EQ(failure.payload, R"({"card":"4242","cents":100})");
  EXPECT_EQ(failure.message, "card declined");
  EXPECT_TRUE(failure.retryable);
  EXPECT_EQ(queues.stats("payments").failed, 1u);
  EXPECT_EQ(queues.stats("payments").succeeded, 0u);
}

TEST_F(Fixture, BindFailuresAreNotRetryableAndNameTheField) {
  queues.register_handler("payments:charge", [](Context&, const Message& message) {
    Charge charge;
    return message.bind(charge);
  });
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("payments:charge").payload(R"({"card":"4242","cents":"100"})")).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return failure_count() == 1; }));
  EXPECT_FALSE(failures[0].retryable);
  EXPECT_NE(failures[0].message.find("field 'cents': INCORRECT_TYPE"), std::string::npos) << failures[0].message;
}

TEST_F(Fixture, ExceptionsAreCaughtCountedAndTheWorkerGoesOn) {
  // Each failure schedules a retry an hour away: the run counts first attempts only, however
  // long this machine takes to dispatch them (a retry that came due would run and fail again).
  const jobq::RegisterOptions retry_later{
      .retry = jobq::RetryPolicy{.backoff = [](std::uint32_t, const Status&, const Message&) -> std::chrono::nanoseconds {
        return std::chrono::hours(1);
      }}};
  queues.register_handler("faults:std", [](Context&, const Message&) -> Status { throw std::runtime_error("disk on fire"); },
                          retry_later);
  queues.register_handler("faults:other", [](Context&, const Message&) -> Status { throw 42; }, retry_later);
  queues.register_handler("faults:ok", [this](Context&, const Message&) {
    ran.fetch_add(1);
    return Status::success();
  });
  queues.start();
  for (int round = 0; round < 50; ++round) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("faults:std")).ok());
    ASSERT_TRUE(queues.dispatch(jobq::Job("faults:other")).ok());
    ASSERT_TRUE(queues.dispatch(jobq::Job("faults:ok")).ok());
  }
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(30));
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(ran.load(), 50);
  EXPECT_EQ(report.failed, 100u);
  EXPECT_EQ(report.succeeded, 50u);
  ASSERT_EQ(failures.size(), 100u);
  int std_faults = 0;
  int other_faults = 0;
  for (const RecordedFailure& failure : failures) {
    EXPECT_TRUE(failure.retryable);
    if (failure.message == "unhandled exception: disk on fire") ++std_faults;
    if (failure.message.find("not derived from std::exception") != std::string::npos) ++other_faults;
  }
  EXPECT_EQ(std_faults, 50);
  EXPECT_EQ(other_faults, 50);
}

TEST(FailureHook, AThrowingHookDoesNotStopTheWorker) {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> hook_calls{0};
  queues.on_failure([&](const jobq::Failure&) {
    hook_calls.fetch_add(1);
    throw std::logic_error("hook bug");
  });
  queues.register_handler("always:fail", [](Context&, const Message&) { return Status::skip_retry("no"); });
  queues.start();
  for (int index = 0; index < 20; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("always:fail")).ok());
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(30));
  EXPECT_EQ(hook_calls.load(), 20);
  EXPECT_EQ(report.failed, 20u);
  EXPECT_TRUE(report.balanced());
}

TEST(HandlerContext, CarriesTheJobsIdentity) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default"}, {.name = "reports"}}});
  std::mutex mutex;
  std::vector<std::tuple<jobq::JobId, std::string, std::string, std::uint32_t, bool>> seen;
  queues.register_handler("reports:generate", [&](Context& context, const Message& message) {
    const std::lock_guard lock(mutex);
    EXPECT_EQ(context.job_id(), message.id());
    EXPECT_EQ(context.type(), message.type());
    seen.emplace_back(context.job_id(), std::string(context.type()), std::string(context.queue()), context.attempt(),
                      context.stop_requested());
    return Status::success();
  });
  queues.start();
  const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job("reports:generate").on_queue("reports"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(queues.shutdown(std::chrono::seconds(10)).balanced());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(std::get<0>(seen[0]), *id);
  EXPECT_EQ(std::get<1>(seen[0]), "reports:generate");
  EXPECT_EQ(std::get<2>(seen[0]), "reports");
  EXPECT_EQ(std::get<3>(seen[0]), 1u);
  EXPECT_FALSE(std::get<4>(seen[0]));
}

struct Mailer {
  std::mutex mutex;
  std::vector<std::string> sent;
  Status send(const std::string& user) {
    if (user.empty()) return Status::error("no recipient");
    const std::lock_guard lock(mutex);
    sent.push_back(user);
    return Status::success();
  }
};

struct WelcomePayload {
  std::string user_id;
};
JOBQ_PAYLOAD(WelcomePayload, user_id);

/// The shape of a job class from the README: type name, dispatch helper, handler that binds
/// and delegates.
class SendWelcomeEmail {
 public:
  static constexpr std::string_view type_name = "emails:welcome";
  SendWelcomeEmail(jobq::Manager& queues, Mailer& mailer) : queues_(queues), mailer_(mailer) {}
  jobq::Result<jobq::JobId> queue(std::string_view user_id) {
    return queues_.dispatch(jobq::Job(type_name), WelcomePayload{std::string(user_id)});
  }
  Status handle_task(Context&, const Message& message) {
    WelcomePayload payload;
    if (Status status = message.bind(payload); !status) return status;
    return mailer_.send(payload.user_id);
  }

 private:
  jobq::Manager& queues_;
  Mailer& mailer_;
};

TEST(JobClass, DispatchHelperAndHandleTaskWorkEndToEnd) {
  jobq::Manager queues(jobq::Config{});
  Mailer mailer;
  SendWelcomeEmail welcome(queues, mailer);
  queues.register_job(welcome);
  queues.start();
  ASSERT_TRUE(welcome.queue("42").ok());
  ASSERT_TRUE(welcome.queue("").ok());
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(10));
  EXPECT_EQ(mailer.sent, std::vector<std::string>{"42"});
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(report.failed, 1u);
}

/// A job that notes whether any handler ran on it after its destructor.
class CountedJob {
 public:
  static constexpr std::string_view type_name = "jobs:counted";
  static inline std::atomic<int> alive{0};
  static inline std::atomic<int> ran_dead{0};
  static inline std::atomic<int> runs{0};
  explicit CountedJob(jobq::Manager& queues) : queues_(queues) { alive.fetch_add(1); }
  ~CountedJob() {
    alive_here_ = false;
    alive.fetch_sub(1);
  }
  CountedJob(const CountedJob&) = delete;
  CountedJob& operator=(const CountedJob&) = delete;
  jobq::Result<jobq::JobId> queue() { return queues_.dispatch(jobq::Job(type_name).payload("{}")); }
  Status handle_task(Context&, const Message&) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (!alive_here_.load()) ran_dead.fetch_add(1);
    runs.fetch_add(1);
    return Status::success();
  }

 private:
  jobq::Manager& queues_;
  std::atomic<bool> alive_here_{true};
};

TEST(JobClass, AnEmplacedJobOutlivesTheDrainOfAManagerDestroyedWithJobsQueued) {
  constexpr int jobs = 200;
  {
    jobq::Manager queues(jobq::Config{});
    CountedJob& counted = queues.emplace_job<CountedJob>();
    queues.start();
    for (int index = 0; index < jobs; ++index) ASSERT_TRUE(counted.queue().ok());
    EXPECT_EQ(CountedJob::alive.load(), 1);
  }  // no shutdown(): the destructor drains, and the job object is still there for it
  EXPECT_EQ(CountedJob::runs.load(), jobs);
  EXPECT_EQ(CountedJob::ran_dead.load(), 0);
  EXPECT_EQ(CountedJob::alive.load(), 0);  // and it went with the Manager
}

TEST(JobClass, EmplaceJobTakesServicesAndOptions) {
  Mailer mailer;  // services first: they outlive the Manager and its drain
  jobq::Manager queues(jobq::Config{});
  SendWelcomeEmail& welcome =
      queues.emplace_job<SendWelcomeEmail>(jobq::RegisterOptions{.retry = jobq::RetryPolicy{.max_attempts = 1}}, mailer);
  queues.start();
  ASSERT_TRUE(welcome.queue("7").ok());
  ASSERT_TRUE(welcome.queue("").ok());
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(10));
  EXPECT_EQ(mailer.sent, std::vector<std::string>{"7"});
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(report.dead_lettered, 1u);  // one attempt only: the options reached the type
}

}  // namespace
