// A seeded randomized stress test. Each round builds a Manager with a random configuration; a few
// threads dispatch at random (plain, delayed, keyed, with a per-job retry policy, in bulk) and
// pause and resume queues; handlers answer by a seeded hash of the job (ok, error, skip, revoke,
// snooze, throw); a shutdown lands at a random moment in a random mode. Afterwards every accepted
// job must have ended exactly once or been returned exactly once, and the books must balance.
//
// The seed comes from JOBQ_SEED, else std::random_device, and is printed. A failing round says
// how to rerun it alone: JOBQ_SEED=<seed> JOBQ_RANDOM_ROUND=<round>. By default rounds run for
// about 1.5 s; JOBQ_RANDOM_ROUNDS=N runs exactly N.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
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

std::optional<std::uint64_t> environment_number(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  return std::strtoull(text, nullptr, 10);
}

std::uint64_t splitmix(std::uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

struct Item {
  std::uint64_t index;
};
JOBQ_PAYLOAD(Item, index);

/// "r<n>", appended rather than with operator+ (GCC 12 warns falsely about that under -O3).
std::string queue_name(unsigned queue) {
  std::string name = "r";
  name += std::to_string(queue);
  return name;
}

constexpr std::uint64_t max_jobs_per_round = 1 << 16;
constexpr std::uint32_t snoozes_at_most = 3;  // a job snoozes on its first runs only, so all end

enum class Outcome : std::uint8_t { ok, error, skip, revoke, snooze, throw_std, throw_other };

/// The handler's answer for run `run` of job `index`, from the round's seed alone.
Outcome outcome_for(std::uint64_t seed, std::uint64_t index, std::uint32_t run) {
  const std::uint64_t roll = splitmix(seed ^ splitmix(index * 64 + run)) % 100;
  if (roll < 50) return Outcome::ok;
  if (roll < 66) return Outcome::error;
  if (roll < 71) return Outcome::skip;
  if (roll < 80) return Outcome::revoke;
  if (roll < 94) return run < snoozes_at_most ? Outcome::snooze : Outcome::ok;
  if (roll < 98) return Outcome::throw_std;
  return Outcome::throw_other;
}

/// One round's shared records, indexed by the payload index.
struct Round {
  explicit Round(std::uint64_t seed)
      : seed(seed),
        runs(new std::atomic<std::uint8_t>[max_jobs_per_round]()),
        terminals(new std::atomic<std::uint8_t>[max_jobs_per_round]()),
        accepted_id(new std::atomic<jobq::JobId>[max_jobs_per_round]()),
        queue_of(new std::atomic<std::uint8_t>[max_jobs_per_round]()) {}

  const std::uint64_t seed;
  std::unique_ptr<std::atomic<std::uint8_t>[]> runs;
  std::unique_ptr<std::atomic<std::uint8_t>[]> terminals;
  std::unique_ptr<std::atomic<jobq::JobId>[]> accepted_id;  // 0: refused or never dispatched
  std::unique_ptr<std::atomic<std::uint8_t>[]> queue_of;
  std::atomic<std::uint64_t> next_index{0};

  // Tallies of what handlers and hooks did, to compare with the report.
  std::atomic<std::uint64_t> succeeded{0};
  std::atomic<std::uint64_t> revoked{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> snoozed{0};
  std::atomic<std::uint64_t> dead{0};
  std::atomic<std::uint64_t> will_retry{0};
  std::atomic<std::uint64_t> refused_jobs{0};  // jobs in refused dispatches (a refused batch counts each)
  std::atomic<std::uint64_t> accepted_jobs{0};
  std::atomic<std::uint64_t> surprises{0};     // bad payloads, unexpected error codes
  std::atomic<bool> intake_closed{false};

  Status run(std::uint64_t index) {
    if (index >= max_jobs_per_round) {
      surprises.fetch_add(1);
      return Status::revoke("bad index");
    }
    const std::uint32_t run = runs[index].fetch_add(1, std::memory_order_relaxed);
    switch (outcome_for(seed, index, run)) {
      case Outcome::ok:
        terminals[index].fetch_add(1, std::memory_order_relaxed);
        succeeded.fetch_add(1, std::memory_order_relaxed);
        return Status::success();
      case Outcome::revoke:
        terminals[index].fetch_add(1, std::memory_order_relaxed);
        revoked.fetch_add(1, std::memory_order_relaxed);
        return Status::revoke("random");
      case Outcome::snooze:
        snoozed.fetch_add(1, std::memory_order_relaxed);
        return Status::snooze(std::chrono::microseconds(splitmix(seed + index) % 200));
      case Outcome::error:
        failed.fetch_add(1, std::memory_order_relaxed);
        return Status::error("random error");
      case Outcome::skip:
        failed.fetch_add(1, std::memory_order_relaxed);
        return Status::skip_retry("random skip");
      case Outcome::throw_std:
        failed.fetch_add(1, std::memory_order_relaxed);
        throw std::runtime_error("random throw");
      case Outcome::throw_other:
        failed.fetch_add(1, std::memory_order_relaxed);
        throw 17;
    }
    return Status::success();
  }

  void died(const jobq::DeadLetter& letter) {
    const std::uint64_t index = jobq::testing::index_of(letter.payload);
    if (index >= max_jobs_per_round) {
      surprises.fetch_add(1);
      return;
    }
    terminals[index].fetch_add(1, std::memory_order_relaxed);
    dead.fetch_add(1, std::memory_order_relaxed);
  }
};

const jobq::Backoff tiny_wait = [](std::uint32_t, const Status&, const Message&) {
  return std::chrono::nanoseconds(std::chrono::microseconds(20));
};

/// One operator thread: random dispatches, pauses and resumes until intake closes or its
/// operations run out.
void operate(jobq::Manager& queues, Round& round, std::uint64_t seed, unsigned queue_count) {
  std::mt19937_64 random(seed);
  const std::uint64_t operations = 100 + random() % 1500;
  const jobq::RetryPolicy retry_policies[] = {{.max_attempts = 1, .backoff = jobq::testing::no_wait},
                                              {.max_attempts = 2, .backoff = tiny_wait},
                                              {.max_attempts = 4, .backoff = jobq::testing::no_wait}};
  std::vector<std::string> payloads;
  std::vector<jobq::Job> batch;
  std::vector<std::uint64_t> batch_indexes;
  auto take_indexes = [&](std::uint64_t count) -> std::optional<std::uint64_t> {
    const std::uint64_t first = round.next_index.fetch_add(count);
    if (first + count > max_jobs_per_round) return std::nullopt;
    return first;
  };
  // Records a refusal; false when intake has closed and this operator should stop.
  auto refused = [&](const jobq::Error& error, std::uint64_t jobs) {
    round.refused_jobs.fetch_add(jobs);
    switch (error.code()) {
      case jobq::Errc::shutting_down: return false;
      case jobq::Errc::queue_full:
      case jobq::Errc::duplicate: return true;
      default:
        round.surprises.fetch_add(1);
        ADD_FAILURE() << "dispatch refused unexpectedly: " << error.message();
        return true;
    }
  };
  for (std::uint64_t operation = 0; operation < operations; ++operation) {
    const unsigned queue = static_cast<unsigned>(random() % queue_count);
    const std::string name = queue_name(queue);
    const std::uint64_t roll = random() % 100;
    if (roll < 5) {
      queues.pause(name);
      continue;
    }
    if (roll < 12) {
      queues.resume(name);
      continue;
    }
    if (roll < 18) {  // a bulk dispatch: all or nothing, consecutive ids
      const std::uint64_t count = 1 + random() % 8;
      const std::optional<std::uint64_t> first = take_indexes(count);
      if (!first) return;
      payloads.clear();
      batch.clear();
      for (std::uint64_t offset = 0; offset < count; ++offset) {
        const std::uint64_t index = *first + offset;
        round.queue_of[index].store(static_cast<std::uint8_t>(queue));
        payloads.push_back("{\"index\":" + std::to_string(index) + "}");
      }
      for (const std::string& payload : payloads) batch.push_back(jobq::Job("rnd:run").payload(payload).on_queue(name));
      const jobq::Result<jobq::JobId> result = queues.dispatch_bulk(batch);
      if (result.ok()) {
        for (std::uint64_t offset = 0; offset < count; ++offset) round.accepted_id[*first + offset].store(*result + offset);
        round.accepted_jobs.fetch_add(count);
      } else if (!refused(result.error(), count)) {
        return;
      }
      continue;
    }
    const std::optional<std::uint64_t> index = take_indexes(1);
    if (!index) return;
    round.queue_of[*index].store(static_cast<std::uint8_t>(queue));
    jobq::Job job = jobq::Job("rnd:run").on_queue(name);
    std::string key;
    if (roll < 30) {
      job.delay(std::chrono::microseconds(random() % 2000));
    } else if (roll < 40) {
      key = "key-" + std::to_string(random() % 32);
      job.idempotency_key(key);
    } else if (roll < 50) {
      job.retry(retry_policies[random() % 3]);
    } else if (roll < 55) {
      job.max_attempts(static_cast<std::uint32_t>(1 + random() % 3));
    }
    const jobq::Result<jobq::JobId> result = queues.dispatch(job, Item{*index});
    if (result.ok()) {
      round.accepted_id[*index].store(*result);
      round.accepted_jobs.fetch_add(1);
    } else if (!refused(result.error(), 1)) {
      return;
    }
  }
}

/// Runs one round and checks its books; failures name the round through the caller's trace.
void run_round(std::uint64_t round_seed) {
  std::mt19937_64 random(round_seed);
  Round round(round_seed);
  const unsigned queue_count = 1 + static_cast<unsigned>(random() % 3);
  jobq::Config config;
  config.queues.clear();
  for (unsigned queue = 0; queue < queue_count; ++queue) {
    const std::size_t capacities[] = {16, 256, 65536};
    config.queues.push_back({.name = queue_name(queue),
                             .workers = 1 + static_cast<unsigned>(random() % 2),
                             .capacity = capacities[random() % 3],
                             .idle = random() % 4 == 0 ? jobq::IdleStrategy::busy_spin : jobq::IdleStrategy::spin_then_park,
                             .spin_iterations = static_cast<unsigned>(random() % 4096),
                             .dequeue_batch = 1 + static_cast<unsigned>(random() % 16)});
  }
  config.retry = {.max_attempts = 1 + static_cast<std::uint32_t>(random() % 4),
                  .backoff = random() % 2 ? jobq::testing::no_wait : tiny_wait};
  config.dead_letter_capacity = random() % 2 ? 4 : 100000;
  config.validate_payloads = random() % 2 == 0;
  config.log_level = jobq::LogLevel::off;
  const unsigned operators = 2 + static_cast<unsigned>(random() % 3);
  const auto shutdown_after = std::chrono::microseconds(random() % 8000);
  const std::chrono::nanoseconds deadlines[] = {0ns, 100us, 1ms, 20ms, 2s};
  const std::chrono::nanoseconds deadline = deadlines[random() % 5];
  const jobq::ShutdownMode mode = random() % 2 ? jobq::ShutdownMode::drain : jobq::ShutdownMode::return_pending;
  const bool resume_first = random() % 2 == 0;
  SCOPED_TRACE("round config: " + std::to_string(queue_count) + " queues, " + std::to_string(operators) +
               " operators, max_attempts " + std::to_string(config.retry.max_attempts) + ", shutdown after " +
               std::to_string(shutdown_after.count()) + " us, deadline " + std::to_string(deadline.count()) + " ns, " +
               (mode == jobq::ShutdownMode::drain ? "drain" : "return_pending"));

  jobq::Manager queues(std::move(config));
  queues.register_handler(
      "rnd:run", [&round](Context&, const Message& message) { return round.run(jobq::testing::index_of(message.payload())); },
      {.queue = "r0"});
  queues.on_dead([&round](const jobq::DeadLetter& letter) { round.died(letter); });
  queues.on_failure([&round](const jobq::Failure& failure) {
    if (failure.will_retry) round.will_retry.fetch_add(1, std::memory_order_relaxed);
  });
  queues.start();
  std::vector<std::thread> threads;
  for (unsigned op = 0; op < operators; ++op) {
    threads.emplace_back([&, op] { operate(queues, round, splitmix(round_seed + 1 + op), queue_count); });
  }
  std::this_thread::sleep_for(shutdown_after);
  if (resume_first) {
    for (unsigned queue = 0; queue < queue_count; ++queue) queues.resume(queue_name(queue));
  }
  const jobq::ShutdownReport report = queues.shutdown(deadline, mode);
  for (std::thread& thread : threads) thread.join();

  const std::uint64_t used = std::min(round.next_index.load(), max_jobs_per_round);
  std::vector<std::uint8_t> returned(used, 0);
  std::uint64_t bad_returns = 0;
  for (const jobq::ReturnedJob& job : report.not_run) {
    const std::uint64_t index = jobq::testing::index_of(job.payload);
    if (index >= used || round.accepted_id[index].load() != job.id ||
        job.queue != queue_name(round.queue_of[index].load()) || job.type != "rnd:run") {
      if (bad_returns++ < 5) ADD_FAILURE() << "a returned job that was not accepted as such: id " << job.id << " " << job.payload;
      continue;
    }
    ++returned[index];
  }
  std::uint64_t accepted = 0;
  std::uint64_t wrong = 0;
  for (std::uint64_t index = 0; index < used; ++index) {
    const bool was_accepted = round.accepted_id[index].load() != 0;
    accepted += was_accepted;
    const unsigned ends = round.terminals[index].load() + returned[index];
    const bool ok = was_accepted ? ends == 1 : ends == 0 && round.runs[index].load() == 0;
    if (!ok && wrong++ < 5) {
      ADD_FAILURE() << "index " << index << " (id " << round.accepted_id[index].load() << ", "
                    << (was_accepted ? "accepted" : "refused") << "): " << int(round.terminals[index].load())
                    << " terminal events, returned " << int(returned[index]) << " times, "
                    << int(round.runs[index].load()) << " runs";
    }
  }
  EXPECT_EQ(wrong, 0u) << "jobs that did not end (or come back) exactly once";
  EXPECT_EQ(bad_returns, 0u);
  EXPECT_EQ(round.surprises.load(), 0u);
  EXPECT_EQ(accepted, round.accepted_jobs.load());
  std::uint64_t accepted_after = 0;
  for (const jobq::QueueStats& queue : queues.stats()) accepted_after += queue.accepted;
  EXPECT_EQ(report.accepted, accepted)
      << "the counters read after the operators stopped say " << accepted_after
      << (accepted_after == accepted && report.accepted > accepted
              ? ": the report counted a dispatch that was being refused (accepted, then taken back) as accepted"
              : "");
  EXPECT_TRUE(report.balanced()) << "accepted " << report.accepted << " != succeeded " << report.succeeded << " + dead "
                                 << report.dead_lettered << " + revoked " << report.revoked << " + not run "
                                 << report.not_run.size();
  EXPECT_EQ(report.succeeded, round.succeeded.load());
  EXPECT_EQ(report.revoked, round.revoked.load());
  EXPECT_EQ(report.dead_lettered, round.dead.load());
  EXPECT_EQ(report.failed, round.failed.load());
  EXPECT_EQ(report.snoozed, round.snoozed.load());
  EXPECT_EQ(report.retried, round.will_retry.load());
  // Operators may be refused after the report was taken: count refusals once they have stopped.
  std::uint64_t rejected = 0;
  for (const jobq::QueueStats& queue : queues.stats()) rejected += queue.rejected;
  EXPECT_EQ(rejected, round.refused_jobs.load()) << "refused dispatches counted on their queues";
  EXPECT_EQ(report.unrouted, 0u);
}

TEST(RandomStress, EveryAcceptedJobEndsOrComesBackExactlyOnce) {
  const std::uint64_t seed = environment_number("JOBQ_SEED").value_or(
      (static_cast<std::uint64_t>(std::random_device{}()) << 32) | std::random_device{}());
  std::printf("random_stress: JOBQ_SEED=%llu\n", static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  RecordProperty("seed", std::to_string(seed));
  const std::optional<std::uint64_t> only_round = environment_number("JOBQ_RANDOM_ROUND");
  const std::optional<std::uint64_t> rounds = environment_number("JOBQ_RANDOM_ROUNDS");
  const auto budget = std::chrono::milliseconds(environment_number("JOBQ_RANDOM_MS").value_or(1500));
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t ran = 0;
  for (std::uint64_t round = only_round.value_or(0);; ++round) {
    if (only_round && round != *only_round) break;
    if (!only_round) {
      if (rounds ? ran >= *rounds : ran > 0 && std::chrono::steady_clock::now() - started > budget) break;
    }
    SCOPED_TRACE("rerun with JOBQ_SEED=" + std::to_string(seed) + " JOBQ_RANDOM_ROUND=" + std::to_string(round));
    run_round(splitmix(seed ^ splitmix(round)));
    ++ran;
    if (::testing::Test::HasFailure()) break;
  }
  RecordProperty("rounds", std::to_string(ran));
  std::printf("random_stress: %llu rounds\n", static_cast<unsigned long long>(ran));
}

}  // namespace
