// What the reliability tests share: jobs whose outcome is planned by their payload index alone,
// a ledger of what each index did, and four queues fed by eight producers.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

namespace jobq::testing::reliability {

struct Item {
  std::uint64_t index;
};
JOBQ_PAYLOAD(Item, index);

inline constexpr std::uint32_t max_attempts = 3;
inline constexpr auto snooze_for = std::chrono::microseconds(20);

/// What a job does, decided by its payload index alone.
enum class Plan : std::uint8_t {
  ok,              ///< succeeds on its first run
  fail_then_ok,    ///< fails 1 or 2 times (retried), then succeeds
  always_fail,     ///< fails every attempt: dead-lettered after max_attempts
  skip,            ///< skip_retry: dead-lettered at once
  revoke,          ///< revokes itself on its first run
  snooze_then_ok,  ///< snoozes once (same attempt), then succeeds
  fail_snooze_ok,  ///< fails once, snoozes on attempt 2, then succeeds on attempt 2
};

inline Plan plan_for(std::uint64_t index) {
  const std::uint64_t bucket = index % 100;
  if (bucket < 60) return Plan::ok;
  if (bucket < 75) return Plan::fail_then_ok;
  if (bucket < 80) return Plan::always_fail;
  if (bucket < 85) return Plan::skip;
  if (bucket < 90) return Plan::revoke;
  if (bucket < 95) return Plan::snooze_then_ok;
  return Plan::fail_snooze_ok;
}

inline std::uint32_t failures_before_success(std::uint64_t index) { return 1 + static_cast<std::uint32_t>((index / 100) % 2); }

enum class Terminal : std::uint8_t { none, succeeded, revoked, dead };

/// Per plan: runs, failed attempts, retries, snoozes, and the terminal state.
struct Expected {
  std::uint32_t runs;
  std::uint32_t failed;
  std::uint32_t retried;
  std::uint32_t snoozed;
  Terminal terminal;
};

inline Expected expected_for(std::uint64_t index) {
  switch (plan_for(index)) {
    case Plan::ok: return {1, 0, 0, 0, Terminal::succeeded};
    case Plan::fail_then_ok: {
      const std::uint32_t k = failures_before_success(index);
      return {k + 1, k, k, 0, Terminal::succeeded};
    }
    case Plan::always_fail: return {max_attempts, max_attempts, max_attempts - 1, 0, Terminal::dead};
    case Plan::skip: return {1, 1, 0, 0, Terminal::dead};
    case Plan::revoke: return {1, 0, 0, 0, Terminal::revoked};
    case Plan::snooze_then_ok: return {2, 0, 0, 1, Terminal::succeeded};
    case Plan::fail_snooze_ok: return {3, 1, 1, 1, Terminal::succeeded};
  }
  return {};
}

/// The attempt that run `run` (0-based) of a job must see.
inline std::uint32_t expected_attempt(std::uint64_t index, std::uint32_t run) {
  switch (plan_for(index)) {
    case Plan::fail_then_ok:
    case Plan::always_fail: return run + 1;
    case Plan::fail_snooze_ok: return run == 0 ? 1 : 2;
    default: return 1;
  }
}

/// The status for run `run` (0-based) of a job.
inline Status status_for(std::uint64_t index, std::uint32_t run) {
  switch (plan_for(index)) {
    case Plan::ok: return Status::success();
    case Plan::fail_then_ok:
      return run < failures_before_success(index) ? Status::error("planned failure " + std::to_string(run + 1))
                                                  : Status::success();
    case Plan::always_fail: return Status::error("always fails, run " + std::to_string(run + 1));
    case Plan::skip: return Status::skip_retry("skipped");
    case Plan::revoke: return Status::revoke("revoked");
    case Plan::snooze_then_ok: return run == 0 ? Status::snooze(snooze_for) : Status::success();
    case Plan::fail_snooze_ok:
      if (run == 0) return Status::error("fails once");
      return run == 1 ? Status::snooze(snooze_for) : Status::success();
  }
  return Status::success();
}

/// Per-index records, written by handlers and hooks, read after shutdown.
struct Ledger {
  explicit Ledger(std::uint64_t size)
      : size(size),
        runs(new std::atomic<std::uint8_t>[size]()),
        terminals(new std::atomic<std::uint8_t>[size]()),
        terminal(new std::atomic<std::uint8_t>[size]()),
        seen_id(new std::atomic<jobq::JobId>[size]()),
        accepted_id(new jobq::JobId[size]()) {}

  /// Clears the first `used` entries for another round.
  void reset(std::uint64_t used) {
    for (std::uint64_t index = 0; index < used; ++index) {
      runs[index].store(0, std::memory_order_relaxed);
      terminals[index].store(0, std::memory_order_relaxed);
      terminal[index].store(0, std::memory_order_relaxed);
      seen_id[index].store(0, std::memory_order_relaxed);
      accepted_id[index] = 0;
    }
    bad_attempts.store(0);
    bad_ids.store(0);
    extra_runs.store(0);
    bad_payloads.store(0);
    bad_letters.store(0);
  }

  /// Runs the job with payload index `index` per its plan; counts every surprise.
  Status run(Context& context, std::uint64_t index) {
    if (index >= size) {
      bad_payloads.fetch_add(1, std::memory_order_relaxed);
      return Status::skip_retry("index out of range");
    }
    const std::uint32_t run = runs[index].fetch_add(1, std::memory_order_relaxed);
    if (run >= expected_for(index).runs) {
      extra_runs.fetch_add(1, std::memory_order_relaxed);
      return Status::revoke("ran more often than planned");
    }
    if (context.attempt() != expected_attempt(index, run)) bad_attempts.fetch_add(1, std::memory_order_relaxed);
    jobq::JobId first = 0;
    if (!seen_id[index].compare_exchange_strong(first, context.job_id(), std::memory_order_relaxed) &&
        first != context.job_id()) {
      bad_ids.fetch_add(1, std::memory_order_relaxed);  // a retry or snooze came back under another id
    }
    Status status = status_for(index, run);
    if (status.kind() == Status::Kind::ok) end(index, Terminal::succeeded);
    if (status.kind() == Status::Kind::revoke) end(index, Terminal::revoked);
    return status;
  }

  /// The on_dead hook.
  void dead(const jobq::DeadLetter& letter) {
    const std::uint64_t index = jobq::testing::index_of(letter.payload);
    if (index >= size) {
      bad_payloads.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const Expected expected = expected_for(index);
    if (expected.terminal != Terminal::dead || letter.attempts != expected.runs ||
        letter.reason != (plan_for(index) == Plan::skip ? jobq::DeadReason::skipped
                                                        : jobq::DeadReason::attempts_exhausted)) {
      bad_letters.fetch_add(1, std::memory_order_relaxed);
    }
    end(index, Terminal::dead);
  }

  void end(std::uint64_t index, Terminal how) {
    terminals[index].fetch_add(1, std::memory_order_relaxed);
    terminal[index].store(static_cast<std::uint8_t>(how), std::memory_order_relaxed);
  }

  const std::uint64_t size;
  std::unique_ptr<std::atomic<std::uint8_t>[]> runs;
  std::unique_ptr<std::atomic<std::uint8_t>[]> terminals;  // terminal events seen, must end at 1
  std::unique_ptr<std::atomic<std::uint8_t>[]> terminal;   // the last one, a Terminal
  std::unique_ptr<std::atomic<jobq::JobId>[]> seen_id;     // the id the handler saw first
  std::unique_ptr<jobq::JobId[]> accepted_id;              // the id dispatch returned; 0 if refused
  std::atomic<std::uint64_t> bad_attempts{0};
  std::atomic<std::uint64_t> bad_ids{0};
  std::atomic<std::uint64_t> extra_runs{0};
  std::atomic<std::uint64_t> bad_payloads{0};
  std::atomic<std::uint64_t> bad_letters{0};
};

inline void expect_no_surprises(const Ledger& ledger, const std::string& where) {
  EXPECT_EQ(ledger.bad_attempts.load(), 0u) << where << ": runs that saw the wrong attempt number";
  EXPECT_EQ(ledger.bad_ids.load(), 0u) << where << ": runs that saw another id than the job's first run";
  EXPECT_EQ(ledger.extra_runs.load(), 0u) << where << ": runs beyond a job's plan (a job run twice?)";
  EXPECT_EQ(ledger.bad_payloads.load(), 0u) << where << ": payloads without a valid index";
  EXPECT_EQ(ledger.bad_letters.load(), 0u) << where << ": dead letters with wrong attempts or reason";
}

inline constexpr unsigned producer_count = 8;
inline const std::vector<std::string> queue_names = {"q0", "q1", "q2", "q3"};

inline jobq::Config four_queues(jobq::RetryPolicy retry, std::size_t capacity = 65536) {
  jobq::Config config;
  config.queues.clear();
  for (const std::string& name : queue_names) {
    config.queues.push_back(
        {.name = name, .workers = 2, .capacity = capacity, .idle = jobq::IdleStrategy::spin_then_park});
  }
  config.retry = std::move(retry);
  config.log_level = jobq::LogLevel::off;  // a tenth of a million dead letters: no log line for each
  return config;
}

inline const std::string& queue_for(std::uint64_t index) { return queue_names[(index / producer_count) % queue_names.size()]; }

inline void register_planned(jobq::Manager& queues, Ledger& ledger) {
  queues.register_handler("plan:run", [&ledger](Context& context, const Message& message) {
    return ledger.run(context, jobq::testing::index_of(message.payload()));
  });
  queues.on_dead([&ledger](const jobq::DeadLetter& letter) { ledger.dead(letter); });
}

}  // namespace jobq::testing::reliability
