// The services the jobs delegate to. They know nothing of HTTP or of jobq's queues: a job class
// binds its payload and calls one of these, and turns the outcome into a jobq::Status.
#pragma once

#include <jobq/jobq.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_set>

namespace webapp {

/// A stand-in for an SMTP relay, with the two failures a real one shows most:
///
/// - Greylisting: the receiving server defers the first delivery to a recipient it has not seen
///   and accepts it when the sender tries again. A retry fixes it.
/// - An unreachable mailbox domain: every attempt fails. Retries cannot fix it; after the last
///   attempt jobq dead-letters the job, so that someone can look at it and requeue it later.
///
/// Which users fall in either group is decided by their id's prefix, so that a test knows the
/// plan exactly: "greylisted-…" fails once, "unreachable-…" fails every time.
class Mailer {
 public:
  static constexpr std::string_view greylisted_prefix = "greylisted-";
  static constexpr std::string_view unreachable_prefix = "unreachable-";

  jobq::Status send_welcome(std::string_view user_id) {
    if (user_id.starts_with(unreachable_prefix)) {
      return jobq::Status::error("mail relay: no route to the mailbox of " + std::string(user_id));
    }
    if (user_id.starts_with(greylisted_prefix) && first_delivery_to(user_id)) {
      return jobq::Status::error("mail relay: 451 greylisted, try again later");
    }
    sent_.fetch_add(1, std::memory_order_relaxed);
    return jobq::Status::success();
  }

  std::uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }

 private:
  /// True the first time a recipient is seen. Two workers deliver at once, hence the lock; it is
  /// taken only for greylisted users.
  bool first_delivery_to(std::string_view user_id) {
    const std::lock_guard lock(seen_mutex_);
    return seen_.emplace(user_id).second;
  }

  std::atomic<std::uint64_t> sent_{0};
  std::mutex seen_mutex_;
  std::unordered_set<std::string> seen_;
};

/// Builds a report in chunks. A report is the kind of job that may still be running when the
/// service is told to stop, so it checks its stop token between chunks.
class ReportBuilder {
 public:
  static constexpr int chunks_per_report = 4;

  jobq::Status build(std::string_view name, std::string_view day, const std::stop_token& stop) {
    for (int chunk = 0; chunk < chunks_per_report; ++chunk) {
      // Shutdown's deadline has passed: give up rather than hold the whole process up. The
      // attempt counts as failed, and the shutdown report says so.
      if (stop.stop_requested()) return jobq::Status::error("interrupted by shutdown");
      build_chunk(name, day, chunk);
    }
    generated_.fetch_add(1, std::memory_order_relaxed);
    return jobq::Status::success();
  }

  std::uint64_t generated() const { return generated_.load(std::memory_order_relaxed); }

 private:
  void build_chunk(std::string_view /*name*/, std::string_view /*day*/, int /*chunk*/) {}

  std::atomic<std::uint64_t> generated_{0};
};

}  // namespace webapp
