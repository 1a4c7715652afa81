// What a handler knows about the job it runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <stop_token>
#include <string_view>

#include "jobq/headers.hpp"
#include "jobq/ids.hpp"

namespace jobq {

namespace internal {
struct ContextAccess;
struct JobExtras;
}

/// The running job's identity, its deadline and its stop token. A worker reuses one Context for
/// every job it runs: keep no reference to it past handle_task.
class Context {
 public:
  Context() = default;
  Context(JobId job_id, std::string_view type, std::string_view queue, std::uint32_t attempt,
          std::stop_token stop = {}) noexcept
      : job_id_(job_id), type_(type), queue_(queue), attempt_(attempt), stop_(std::move(stop)) {}

  JobId job_id() const noexcept { return job_id_; }
  /// The job type name, "category:action".
  std::string_view type() const noexcept { return type_; }
  std::string_view queue() const noexcept { return queue_; }
  /// 1 on the first run.
  std::uint32_t attempt() const noexcept { return attempt_; }
  /// Fires when the job's timeout passes, or shutdown's deadline, while this job runs. Long
  /// handlers should poll it (or register a std::stop_callback).
  const std::stop_token& stop_token() const noexcept { return stop_; }
  bool stop_requested() const noexcept { return stop_.stop_requested(); }
  /// When the job's timeout passes (on the Manager's clock); time_point::max() without one.
  std::chrono::steady_clock::time_point deadline() const noexcept { return deadline_; }
  /// The headers the job was dispatched with (Job::headers(), or added by a dispatch
  /// middleware); empty when it has none.
  const Headers& headers() const noexcept;
  /// One header's value, if the job carries it.
  std::optional<std::string_view> header(std::string_view name) const noexcept { return headers().get(name); }

  /// Results at most this long are kept.
  static constexpr std::size_t max_result_bytes = 64 * 1024;
  /// Sets this run's result: JSON text, at most max_result_bytes. Kept if the run succeeds, for
  /// Config::result_ttl (Manager::result()), and handed to the next step of its chain
  /// (previous_result()). False, and nothing set, for text that is not JSON or too long.
  bool set_result(std::string_view json);
  /// The result set so far in this run; empty when none.
  const std::string& result() const noexcept { return result_; }
  /// In a chain (Manager::chain()), the result of the step before this one, if it set one.
  std::optional<std::string> previous_result() const;

 private:
  friend struct internal::ContextAccess;

  JobId job_id_ = 0;
  std::string_view type_;
  std::string_view queue_;
  std::uint32_t attempt_ = 0;
  std::stop_token stop_;
  // The job's per-job options (headers, its place in a chain), or null: one pointer to set per job.
  const internal::JobExtras* extras_ = nullptr;
  std::string result_;  // cleared by the worker once the run's outcome is settled
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace jobq
