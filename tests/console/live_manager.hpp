// A Manager with a known history for the console's tests: two queues, a type that always
// succeeds and one that dies on its first attempt, and a handler that can be held running.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "jobq/jobq.hpp"

namespace console_test {

inline constexpr int reports_succeeded = 40;
inline constexpr int emails_dead = 7;

class LiveManager {
 public:
  LiveManager()
      : queues(jobq::Config{.queues = {jobq::QueueConfig{.name = "emails", .workers = 2},
                                       jobq::QueueConfig{.name = "reports", .workers = 1}},
                            .retry = {.max_attempts = 1},
                            .log_level = jobq::LogLevel::error}) {
    queues.register_handler(
        "reports:daily", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); }, {.queue = "reports"});
    queues.register_handler("emails:welcome", [this](jobq::Context&, const jobq::Message& message) {
      if (message.payload().find("\"hold\"") != std::string_view::npos) {
        std::unique_lock lock(mutex_);
        ++held_;
        changed_.notify_all();
        changed_.wait(lock, [this] { return released_; });
        return jobq::Status::success();
      }
      if (message.payload().find("\"fail\"") != std::string_view::npos) {
        return jobq::Status::skip_retry("mailbox <b>full</b> for " + std::string(message.payload()));
      }
      welcomed.fetch_add(1);
      return jobq::Status::success();
    }, {.queue = "emails"});
    // A schedule that will not fire during a test (midnight, New Year's Day, in Auckland).
    queues.schedule("new-year-report", "0 0 1 1 *", jobq::Job("reports:daily").payload(R"({"day":-1})"),
                    {.time_zone = "Pacific/Auckland"});
    queues.start();
  }
  ~LiveManager() { release(); }

  /// The known history: reports_succeeded reports, emails_dead dead emails.
  bool run_history() {
    for (int i = 0; i < reports_succeeded; ++i) {
      if (!queues.dispatch(jobq::Job("reports:daily").payload("{\"day\":" + std::to_string(i) + "}")).ok()) return false;
    }
    for (int i = 0; i < emails_dead; ++i) {
      const std::string payload = "{\"user\":\"u" + std::to_string(i) + "\",\"mode\":\"fail\"}";
      const jobq::Headers headers{{"tenant", "t" + std::to_string(i)}};
      if (!queues.dispatch(jobq::Job("emails:welcome").payload(payload).headers(headers)).ok()) return false;
    }
    return queues.wait_idle(std::chrono::seconds(30));
  }

  /// Starts a job that stays running until release().
  bool hold_one() {
    if (!queues.dispatch(jobq::Job("emails:welcome").payload(R"({"mode":"hold"})")).ok()) return false;
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(30), [this] { return held_ > 0; });
  }
  void release() {
    {
      const std::lock_guard lock(mutex_);
      released_ = true;
    }
    changed_.notify_all();
  }

  jobq::Manager queues;
  std::atomic<int> welcomed{0};

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int held_ = 0;
  bool released_ = false;
};

}  // namespace console_test
