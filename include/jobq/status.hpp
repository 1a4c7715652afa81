// The outcome a handler returns.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace jobq {

/// What a handler says about the job it ran. Success carries no message and allocates nothing.
///
/// The kinds are the ones a retry policy needs to tell apart: `error` is a failure worth trying
/// again, `skip_retry` is a failure that no retry can fix (a payload that does not bind, a record
/// that no longer exists). Both are counted as failed and reported to the failure hook.
class [[nodiscard]] Status {
 public:
  enum class Kind : std::uint8_t {
    ok,          ///< the job is done
    error,       ///< the job failed; retrying may help
    skip_retry,  ///< the job failed in a way retrying cannot fix
  };

  Status() noexcept = default;
  static Status success() noexcept { return Status(); }
  static Status error(std::string message) { return Status(Kind::error, std::move(message)); }
  static Status skip_retry(std::string message) {
    return Status(Kind::skip_retry, std::move(message));
  }

  bool ok() const noexcept { return kind_ == Kind::ok; }
  explicit operator bool() const noexcept { return ok(); }
  Kind kind() const noexcept { return kind_; }
  const std::string& message() const noexcept { return message_; }

 private:
  Status(Kind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  Kind kind_ = Kind::ok;
  std::string message_;
};

}  // namespace jobq
