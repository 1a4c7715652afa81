// The outcome a handler returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

namespace jobq {

/// What a handler says about the job it ran. Success carries no message and allocates nothing.
///
/// - `error`: the job failed and trying again may help. The retry policy decides when, until the
///   job has used its attempts; then it is dead-lettered. Exceptions escaping a handler count as
///   errors carrying their message.
/// - `skip_retry`: the job failed in a way no retry can fix (a payload that does not bind, a
///   record that no longer exists). It is dead-lettered at once.
/// - `revoke`: drop the job. It is counted as revoked, never retried and never dead-lettered.
/// - `snooze(d)`: run the job again after `d`, without using an attempt (`d` = max(): never; the
///   job waits until shutdown returns it).
class [[nodiscard]] Status {
 public:
  enum class Kind : std::uint8_t { ok, error, skip_retry, revoke, snooze };

  Status() noexcept = default;
  static Status success() noexcept { return Status(); }
  static Status error(std::string message) { return Status(Kind::error, std::move(message)); }
  static Status skip_retry(std::string message) { return Status(Kind::skip_retry, std::move(message)); }
  static Status revoke(std::string reason = {}) { return Status(Kind::revoke, std::move(reason)); }
  static Status snooze(std::chrono::nanoseconds delay) {
    Status status(Kind::snooze, {});
    status.delay_ = delay < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero() : delay;
    return status;
  }

  bool ok() const noexcept { return kind_ == Kind::ok; }
  explicit operator bool() const noexcept { return ok(); }
  Kind kind() const noexcept { return kind_; }
  /// True for error and skip_retry: the outcomes that count as a failed attempt.
  bool failed() const noexcept { return kind_ == Kind::error || kind_ == Kind::skip_retry; }
  const std::string& message() const noexcept { return message_; }
  /// The snooze delay; zero for the other kinds.
  std::chrono::nanoseconds delay() const noexcept { return delay_; }

 private:
  Status(Kind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  Kind kind_ = Kind::ok;
  std::string message_;
  std::chrono::nanoseconds delay_{0};
};

}  // namespace jobq
