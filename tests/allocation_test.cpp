// Allocations the engine makes through operator new: none per timed run, and a dispatch that
// throws std::bad_alloc leaves nothing behind. This binary replaces the global operator new with
// one that counts every call and fails on demand, per thread.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace {
/// Allocations on this thread that still succeed before one fails (once); negative: all of them.
thread_local long allocations_left = -1;
/// The allocations_left every thread starts with when it first allocates: how the engine's own
/// threads are made to fail as they start.
std::atomic<long> new_thread_budget{-1};
thread_local bool budget_taken = false;
/// Calls of operator new, on every thread.
std::atomic<std::uint64_t> allocations{0};

void spend_one() {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (!budget_taken) {
    budget_taken = true;
    allocations_left = new_thread_budget.load(std::memory_order_relaxed);
  }
  if (allocations_left == 0) {
    allocations_left = -1;
    throw std::bad_alloc();
  }
  if (allocations_left > 0) --allocations_left;
}
}  // namespace

void* operator new(std::size_t size) {
  spend_one();
  if (void* block = std::malloc(size == 0 ? 1 : size)) return block;
  throw std::bad_alloc();
}
// Envelopes are cache-line aligned, so the engine's vectors of them use the aligned form.
void* operator new(std::size_t size, std::align_val_t align) {
  spend_one();
  const auto alignment = static_cast<std::size_t>(align);
  if (void* block = std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)) return block;
  throw std::bad_alloc();
}
// Every other form goes through the two above and free(), so that no block is allocated by one
// allocator and released by another (AddressSanitizer checks that).
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new[](std::size_t size, std::align_val_t align) { return ::operator new(size, align); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(size);
  } catch (...) {
    return nullptr;
  }
}
// GCC sees malloc behind the replaced operator new above and would warn about free() here; the
// pairs are matched by construction.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* block) noexcept { std::free(block); }
void operator delete(void* block, std::size_t) noexcept { std::free(block); }
void operator delete(void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t) noexcept { std::free(block); }
void operator delete[](void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete[](void* block, const std::nothrow_t&) noexcept { std::free(block); }
#pragma GCC diagnostic pop

namespace {

using jobq::Context;
using jobq::Message;
using jobq::Status;
using namespace std::chrono_literals;

TEST(AllocationFailure, ABulkDispatchThatThrowsLeavesNoGhostJobsForTheThreadsNextBatch) {
  const std::vector<jobq::Job> batch(5, jobq::Job("alloc:bulk").payload(R"({"n":1})"));
  {
    // simdjson picks its kernel on first use, in code that cannot report a failed allocation.
    jobq::Manager warm_up(jobq::Config{});
    warm_up.register_handler("alloc:bulk", [](Context&, const Message&) { return Status::success(); });
    warm_up.start();
    ASSERT_TRUE(warm_up.dispatch_bulk(batch));
  }
  std::uint64_t threw = 0;
  for (long budget = 0; budget < 60; ++budget) {
    // A fresh Manager each time: the thread's producer state and staging start empty, so the
    // allocations that fail are the ones a first batch makes.
    jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 1}}});
    std::atomic<std::uint64_t> runs{0};
    queues.register_handler("alloc:bulk", [&](Context&, const Message&) {
      runs.fetch_add(1);
      return Status::success();
    });
    queues.start();
    std::uint64_t accepted = 0;
    allocations_left = budget;
    try {
      if (queues.dispatch_bulk(batch)) accepted += batch.size();
    } catch (const std::bad_alloc&) {
      ++threw;
    }
    allocations_left = -1;
    if (queues.dispatch_bulk(std::span(batch).first(2))) accepted += 2;
    ASSERT_TRUE(queues.wait_idle(30s));
    EXPECT_EQ(runs.load(), accepted) << "with " << budget << " allocations allowed";
    const jobq::ShutdownReport report = queues.shutdown(5s);
    EXPECT_EQ(report.accepted, accepted);
    EXPECT_TRUE(report.balanced());
  }
  EXPECT_GT(threw, 0u) << "no allocation failed: the test no longer reaches the staging";
}

TEST(Allocation, ATimedRunAllocatesNothingHoweverLongItsTimeout) {
  const std::uint64_t jobs = jobq::testing::count_from_environment(
      "JOBQ_TIMED_JOBS", jobq::testing::sanitized ? 50'000 : 500'000);
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2, .capacity = 1024}}});
  std::atomic<std::uint64_t> runs{0};
  std::atomic<std::uint64_t> stopped{0};
  queues.register_handler(
      "timed:quick",
      [&](Context& context, const Message&) {
        if (context.stop_requested()) stopped.fetch_add(1, std::memory_order_relaxed);
        runs.fetch_add(1, std::memory_order_relaxed);
        return Status::success();
      },
      {.timeout = 1h});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("timed:quick").payload("{}")));  // the producer's first dispatch
  ASSERT_TRUE(queues.wait_idle(30s));
  const std::uint64_t before = allocations.load();
  for (std::uint64_t index = 0; index < jobs; ++index) {
    while (!queues.dispatch(jobq::Job("timed:quick").payload("{}").trusted())) std::this_thread::yield();
  }
  ASSERT_TRUE(queues.wait_idle(60s));
  const std::uint64_t made = allocations.load() - before;
  EXPECT_EQ(runs.load(), jobs + 1);
  EXPECT_EQ(stopped.load(), 0u);
  // A watch and a stop source per run would be two allocations each, held for the hour.
  EXPECT_LT(made, 100u) << made << " allocations over " << jobs << " timed runs";
  std::printf("timed runs: %llu with a 1 h timeout made %llu allocations\n", static_cast<unsigned long long>(jobs),
              static_cast<unsigned long long>(made));
  EXPECT_EQ(queues.shutdown(5s).timed_out, 0u);
}

struct Tiny {
  std::int64_t id = 0;
};
JOBQ_PAYLOAD(Tiny, id);

/// Allocations made by `jobs` plain and typed dispatches (and their runs) on `queues`, after a
/// first dispatch has set up the producer.
std::uint64_t allocations_of_dispatches(jobq::Manager& queues, std::uint64_t jobs) {
  EXPECT_TRUE(queues.dispatch(jobq::Job("plain:run")).ok());
  EXPECT_TRUE(queues.wait_idle(30s));
  const std::uint64_t before = allocations.load();
  for (std::uint64_t index = 0; index < jobs; ++index) {
    while (!queues.dispatch(jobq::Job("plain:run").payload("{}"))) std::this_thread::yield();
    while (!queues.dispatch(jobq::Job("plain:run"), Tiny{static_cast<std::int64_t>(index)})) std::this_thread::yield();
  }
  EXPECT_TRUE(queues.wait_idle(60s));
  return allocations.load() - before;
}

TEST(Allocation, DispatchAllocatesNothingWithoutDispatchMiddlewareOrWithOneThatAddsNoHeader) {
  const std::uint64_t jobs = jobq::testing::sanitized ? 20'000 : 200'000;
  for (const bool with_middleware : {false, true}) {
    jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 1, .capacity = 1024}}});
    std::atomic<std::uint64_t> looked{0};
    if (with_middleware) {
      queues.use_dispatch([&](jobq::Outgoing& job) -> std::optional<jobq::Error> {
        if (job.headers().contains("never")) return jobq::Error(jobq::Errc::refused);
        looked.fetch_add(1, std::memory_order_relaxed);
        return std::nullopt;
      });
    }
    std::atomic<std::uint64_t> runs{0};
    queues.register_handler("plain:run", [&](Context&, const Message&) {
      runs.fetch_add(1, std::memory_order_relaxed);
      return Status::success();
    });
    queues.start();
    const std::uint64_t made = allocations_of_dispatches(queues, jobs);
    EXPECT_EQ(runs.load(), 2 * jobs + 1);
    // Every dispatch call passes the middleware, those a full queue refused (and retried) too.
    if (with_middleware) {
      EXPECT_GE(looked.load(), 2 * jobs + 1);
    } else {
      EXPECT_EQ(looked.load(), 0u);
    }
    // The ring recycles its blocks; a few allocations may still come from its first laps.
    EXPECT_LT(made, 100u) << made << " allocations over " << 2 * jobs << " dispatches, middleware " << with_middleware;
    std::printf("%s: %llu dispatches made %llu allocations\n",
                with_middleware ? "with a dispatch middleware" : "without dispatch middleware",
                static_cast<unsigned long long>(2 * jobs), static_cast<unsigned long long>(made));
  }
}

TEST(AllocationFailure, AFailedAllocationWhileSettlingAJobNeitherKillsTheWorkerNorLosesTheJob) {
  std::uint64_t settled_after_a_failure = 0;
  for (long budget = 0; budget < 60; ++budget) {
    jobq::Manager queues(jobq::Config{.retry = {.max_attempts = 2, .backoff = jobq::testing::no_wait},
                                      .log_level = jobq::LogLevel::off});
    std::atomic<int> attempts{0};
    std::atomic<int> failures_reported{0};
    std::atomic<int> dead_reported{0};
    std::atomic<int> others{0};
    queues.on_failure([&](const jobq::Failure&) { failures_reported.fetch_add(1); });
    queues.on_dead([&](const jobq::DeadLetter&) { dead_reported.fetch_add(1); });
    queues.register_handler("alloc:fails", [&](Context&, const Message&) {
      attempts.fetch_add(1);
      allocations_left = budget;  // the settlement that follows meets a failed allocation
      return Status::error("downstream unavailable");
    });
    queues.register_handler("alloc:other", [&](Context&, const Message&) {
      if (allocations_left >= 0) ++settled_after_a_failure;  // the budget outlived the settlement
      allocations_left = -1;
      others.fetch_add(1);
      return Status::success();
    });
    queues.start();
    ASSERT_TRUE(queues.dispatch(jobq::Job("alloc:fails").payload(R"({"order":1})").idempotency_key("order-1")));
    ASSERT_TRUE(jobq::testing::eventually([&] { return queues.stats("default").dead_lettered == 1; }, 30s))
        << "with " << budget << " allocations allowed";
    ASSERT_TRUE(queues.dispatch(jobq::Job("alloc:other").payload("{}")));  // the worker is alive
    ASSERT_TRUE(queues.wait_idle(30s));
    EXPECT_EQ(attempts.load(), 2) << budget;
    EXPECT_EQ(failures_reported.load(), 2) << budget;  // hooks run once per attempt, retries or not
    EXPECT_EQ(dead_reported.load(), 1) << budget;
    EXPECT_EQ(others.load(), 1) << budget;
    const std::optional<jobq::DeadLetter> letter = queues.dead_letter(1);
    ASSERT_TRUE(letter.has_value()) << budget;
    EXPECT_EQ(letter->attempts, 2u) << budget;
    EXPECT_EQ(letter->payload, R"({"order":1})") << budget;
    // The key was released with the dead letter: a new job may take it.
    EXPECT_TRUE(queues.dispatch(jobq::Job("alloc:other").payload("{}").idempotency_key("order-1"))) << budget;
    ASSERT_TRUE(queues.wait_idle(30s));
    const jobq::ShutdownReport report = queues.shutdown(5s);
    EXPECT_TRUE(report.balanced()) << budget;
    EXPECT_EQ(report.failed, 2u) << budget;
    EXPECT_EQ(report.retried, 1u) << budget;
  }
  // Past some budget the settlement no longer reaches the failure; below it every step met one.
  EXPECT_GT(settled_after_a_failure, 0u);
}

TEST(AllocationFailure, AnEngineThreadThatCannotGetItsMemoryFailsStartAndTheProcessGoesOn) {
  // Each budget makes every thread the engine starts fail one allocation, a little later each
  // time: from the first thing a worker or the timer makes, to past all of it.
  int failed_starts = 0;
  int started = 0;
  for (long budget = 0; budget < 40; ++budget) {
    jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 2}}});
    std::atomic<int> runs{0};
    std::atomic<int> announced{0};
    queues.on_worker_start([&](const jobq::WorkerInfo&) { announced.fetch_add(1); });
    queues.on_worker_stop([&](const jobq::WorkerInfo&) { announced.fetch_sub(1); });
    queues.register_handler("alloc:run", [&](Context&, const Message&) {
      runs.fetch_add(1);
      return Status::success();
    });
    new_thread_budget = budget;
    bool ran = false;
    try {
      queues.start();
      ran = true;
    } catch (const std::bad_alloc&) {
      ++failed_starts;
    }
    new_thread_budget = -1;
    if (!ran) {
      // Stopped like any failed start: every thread announced was also seen out, and intake is shut.
      EXPECT_EQ(announced.load(), 0) << budget;
      EXPECT_EQ(queues.dispatch(jobq::Job("alloc:run")).code(), jobq::Errc::shutting_down) << budget;
      continue;
    }
    ++started;
    for (int index = 0; index < 20; ++index) ASSERT_TRUE(queues.dispatch(jobq::Job("alloc:run"))) << budget;
    const jobq::ShutdownReport report = queues.shutdown(30s, jobq::ShutdownMode::drain);
    EXPECT_EQ(runs.load(), 20) << budget;
    EXPECT_TRUE(report.balanced()) << budget;
  }
  EXPECT_GT(failed_starts, 0) << "no budget reached an engine thread's start";
  EXPECT_GT(started, 0) << "no budget let the engine start";
}

TEST(AllocationFailure, AWorkerWhoseJobTimedOutGetsAFreshStopSourceOnceMemoryIsBack) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 1}}});
  std::atomic<int> runs{0};
  std::atomic<int> stopped_at_start{0};
  queues.register_handler(
      "alloc:slow",
      [&](Context& context, const Message&) {
        runs.fetch_add(1);
        // A stop before this run's own deadline is the previous run's token, left over.
        if (context.stop_requested() && std::chrono::steady_clock::now() < context.deadline()) {
          stopped_at_start.fetch_add(1);
        }
        if (runs.load() == 1) {
          while (!context.stop_requested()) std::this_thread::sleep_for(1ms);  // until the timeout fires
          allocations_left = 0;  // the worker's next allocation, its fresh stop source, fails
        }
        return Status::success();
      },
      {.timeout = 50ms});
  queues.start();
  ASSERT_TRUE(queues.dispatch(jobq::Job("alloc:slow")));
  ASSERT_TRUE(queues.dispatch(jobq::Job("alloc:slow")));
  ASSERT_TRUE(queues.wait_idle(30s));
  EXPECT_EQ(runs.load(), 2);  // the worker lived
  EXPECT_EQ(stopped_at_start.load(), 0);  // and the second job did not start with a fired token
  const jobq::ShutdownReport report = queues.shutdown(5s);
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.timed_out, 1u);
}

}  // namespace
