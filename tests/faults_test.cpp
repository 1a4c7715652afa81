#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <memory>
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
using namespace std::chrono_literals;

struct Item {
  std::uint64_t index;
};
JOBQ_PAYLOAD(Item, index);

/// A std::exception that is neither a runtime_error nor a logic_error.
struct CustomError : std::exception {
  const char* what() const noexcept override { return "custom failure"; }
};
/// A type that does not derive from std::exception.
struct NotAnException {
  int code;
};

/// The fault planned for an index, decided by the index alone: 1 % throw a std::exception of
/// one of three kinds, 0.1 % throw something else (an int, a C string or a plain struct).
enum class Fault : std::uint8_t { none, runtime, logic, custom, integer, c_string, plain };

Fault fault_for(std::uint64_t index) {
  if (index % 100 == 7) {
    switch ((index / 100) % 3) {
      case 0: return Fault::runtime;
      case 1: return Fault::logic;
      default: return Fault::custom;
    }
  }
  if (index % 1000 == 503) {  // 503 % 100 == 3: never also a std fault
    switch ((index / 1000) % 3) {
      case 0: return Fault::integer;
      case 1: return Fault::c_string;
      default: return Fault::plain;
    }
  }
  return Fault::none;
}

/// The last_error a dead letter carries for a planned fault.
std::string expected_message(std::uint64_t index) {
  switch (fault_for(index)) {
    case Fault::runtime: return "unhandled exception: runtime " + std::to_string(index);
    case Fault::logic: return "unhandled exception: logic " + std::to_string(index);
    case Fault::custom: return "unhandled exception: custom failure";
    case Fault::none: return "";
    default: return "unhandled exception of a type not derived from std::exception";
  }
}

Status handle(std::uint64_t index) {
  switch (fault_for(index)) {
    case Fault::none: return Status::success();
    case Fault::runtime: throw std::runtime_error("runtime " + std::to_string(index));
    case Fault::logic: throw std::invalid_argument("logic " + std::to_string(index));
    case Fault::custom: throw CustomError();
    case Fault::integer: throw static_cast<int>(index);
    case Fault::c_string: throw "a C string";
    case Fault::plain: throw NotAnException{42};
  }
  return Status::success();
}

TEST(Faults, ThrowingHandlersNeverKillAWorkerAndEveryFaultIsAccountedFor) {
  const std::uint64_t jobs = jobq::testing::count_from_environment("JOBQ_FAULT_JOBS", 100'000);
  std::uint64_t planned = 0;
  for (std::uint64_t index = 0; index < jobs; ++index) planned += fault_for(index) != Fault::none;

  jobq::Manager queues(jobq::Config{.queues = {{.name = "left", .workers = 2}, {.name = "right", .workers = 2}},
                                    .retry = {.max_attempts = 1},
                                    .dead_letter_capacity = planned + 16,
                                    .log_level = jobq::LogLevel::off});  // a thousand dead letters: no log lines
  std::unique_ptr<std::atomic<std::uint8_t>[]> runs(new std::atomic<std::uint8_t>[jobs]());
  std::atomic<std::uint64_t> unbound{0};
  queues.register_handler("faulty:run", [&](Context&, const Message& message) {
    Item item{};
    if (Status status = message.bind(item); !status) {
      unbound.fetch_add(1);
      return status;
    }
    runs[item.index].fetch_add(1, std::memory_order_relaxed);
    return handle(item.index);
  });
  std::atomic<std::uint64_t> failure_calls{0};
  std::atomic<std::uint64_t> failure_mismatches{0};
  queues.on_failure([&](const jobq::Failure& failure) {
    failure_calls.fetch_add(1);
    const std::uint64_t index = jobq::testing::index_of(failure.payload);
    if (index >= jobs || failure.message != expected_message(index) || !failure.retryable || failure.will_retry ||
        failure.attempt != 1) {
      failure_mismatches.fetch_add(1);
    }
  });
  std::atomic<std::uint64_t> dead_calls{0};
  queues.on_dead([&](const jobq::DeadLetter&) { dead_calls.fetch_add(1); });
  queues.start();

  std::vector<std::thread> producers;
  for (std::uint64_t producer = 0; producer < 2; ++producer) {
    producers.emplace_back([&, producer] {
      for (std::uint64_t index = producer; index < jobs; index += 2) {
        const jobq::Job job = jobq::Job("faulty:run").on_queue(index % 4 < 2 ? "left" : "right");
        for (;;) {
          const jobq::Result<jobq::JobId> result = queues.dispatch(job, Item{index});
          if (result.ok()) break;
          ASSERT_EQ(result.code(), jobq::Errc::queue_full);
          std::this_thread::yield();
        }
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  ASSERT_TRUE(queues.wait_idle(300s)) << "jobs stopped being run: a worker died?";

  // Every worker still runs jobs: more jobs than workers, on both queues, all of them succeed.
  for (std::uint64_t extra = 0; extra < 64; ++extra) {
    // Index 0 plans no fault; the extra jobs count in runs[0].
    ASSERT_TRUE(queues.dispatch(jobq::Job("faulty:run").on_queue(extra % 2 ? "left" : "right"), Item{0}).ok());
  }
  ASSERT_TRUE(queues.wait_idle(60s)) << "the jobs dispatched after the faults did not all run";

  const jobq::ShutdownReport report = queues.shutdown(60s);
  EXPECT_TRUE(report.balanced());
  EXPECT_TRUE(report.drained);
  EXPECT_EQ(report.accepted, jobs + 64);
  EXPECT_EQ(report.succeeded + report.dead_lettered, report.accepted);
  EXPECT_EQ(report.failed, planned) << "every injected fault, and only those, counts as a failure";
  EXPECT_EQ(report.dead_lettered, planned);
  EXPECT_EQ(report.retried, 0u);
  EXPECT_EQ(report.succeeded, jobs - planned + 64);
  EXPECT_EQ(unbound.load(), 0u);
  EXPECT_EQ(failure_calls.load(), planned);
  EXPECT_EQ(failure_mismatches.load(), 0u) << "failure hook calls with a wrong message, attempt or retry flag";
  EXPECT_EQ(dead_calls.load(), planned);

  std::uint64_t wrong_runs = 0;
  for (std::uint64_t index = 1; index < jobs; ++index) wrong_runs += runs[index].load() != 1;
  EXPECT_EQ(wrong_runs, 0u) << "jobs not run exactly once";
  EXPECT_EQ(runs[0].load(), 1 + 64);

  const jobq::DeadLetterPage page = queues.dead_letters(0, planned + 16);
  EXPECT_EQ(page.total, planned);
  EXPECT_EQ(page.dropped, 0u);
  std::vector<bool> lettered(jobs, false);
  std::uint64_t bad_letters = 0;
  for (const jobq::DeadLetter& letter : page.letters) {
    const std::uint64_t index = jobq::testing::index_of(letter.payload);
    if (index >= jobs || fault_for(index) == Fault::none || lettered[index] || letter.attempts != 1 ||
        letter.reason != jobq::DeadReason::attempts_exhausted || letter.type != "faulty:run" ||
        letter.queue != (index % 4 < 2 ? "left" : "right")) {
      ++bad_letters;
      ADD_FAILURE() << "unexpected dead letter: " << letter.payload << " on " << letter.queue << ", attempts "
                    << letter.attempts << ": " << letter.last_error;
      if (bad_letters > 10) break;
      continue;
    }
    lettered[index] = true;
    EXPECT_EQ(letter.last_error, expected_message(index)) << "index " << index;
  }
  EXPECT_EQ(bad_letters, 0u);
}

TEST(Faults, ThrowingHooksNeverKillAWorkerOrTheTimer) {
  // Every hook throws, std and non-std types alike; the engine swallows them and goes on.
  constexpr std::uint64_t jobs = 2000;
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2}},
                                    .retry = {.max_attempts = 2,
                                              .backoff = [](std::uint32_t, const Status&, const Message&) {
                                                return std::chrono::nanoseconds(0);
                                              }},
                                    .dead_letter_capacity = jobs,
                                    .log_level = jobq::LogLevel::off});
  // Odd indexes fail twice and die; every 50th index waits for its 2 ms timeout first.
  queues.register_handler(
      "hooked:run",
      [](Context& context, const Message& message) {
        const std::uint64_t index = jobq::testing::index_of(message.payload());
        if (index % 50 == 0) {
          while (!context.stop_requested()) std::this_thread::sleep_for(50us);
        }
        return index % 2 == 0 ? Status::success() : Status::error("odd " + std::to_string(index));
      },
      {.timeout = 2ms});
  std::atomic<std::uint64_t> failure_calls{0};
  std::atomic<std::uint64_t> dead_calls{0};
  std::atomic<std::uint64_t> timeout_calls{0};
  queues.on_failure([&](const jobq::Failure&) {
    failure_calls.fetch_add(1);
    throw std::runtime_error("failure hook");
  });
  queues.on_dead([&](const jobq::DeadLetter&) {
    dead_calls.fetch_add(1);
    throw 7;
  });
  queues.on_timeout([&](const jobq::Overrun&) {
    timeout_calls.fetch_add(1);
    throw std::string("timeout hook");
  });
  queues.start();
  for (std::uint64_t index = 0; index < jobs; ++index) {
    ASSERT_TRUE(queues.dispatch(jobq::Job("hooked:run"), Item{index}).ok());
  }
  ASSERT_TRUE(queues.wait_idle(120s)) << "jobs stopped being run: a worker or the timer died?";
  const jobq::ShutdownReport report = queues.shutdown(60s);
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.succeeded, jobs / 2);
  EXPECT_EQ(report.dead_lettered, jobs / 2);
  EXPECT_EQ(report.failed, jobs);
  EXPECT_EQ(report.retried, jobs / 2);
  // Index % 50 == 0 is even: one run each, stopped by its timeout. (A preempted fast job may
  // overrun its 2 ms too, under a sanitizer.)
  EXPECT_GE(report.timed_out, jobs / 50);
  EXPECT_EQ(failure_calls.load(), jobs);
  EXPECT_EQ(dead_calls.load(), jobs / 2);
  EXPECT_EQ(timeout_calls.load(), report.timed_out);
  EXPECT_EQ(queues.dead_letters(0, jobs).total, jobs / 2) << "a throwing on_dead hook must not lose the letter";
}

}  // namespace
