// Error values for the hot path and the exception type for configuration mistakes.
#pragma once

#include <cassert>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace jobq {

/// Why a call on the hot path did not do what was asked. Each value has a fixed description
/// (`describe`); an `Error` may add a detail such as the parser's message.
enum class Errc : std::uint8_t {
  unknown_type = 1,   ///< no handler is registered under that job type name
  unknown_queue,      ///< no queue has that name (or the job named none and its type has no default)
  invalid_payload,    ///< the payload is not valid JSON, is too deep, or could not be serialized
  payload_too_large,  ///< the payload is larger than Config::max_payload_bytes
  queue_full,         ///< the queue holds QueueConfig::capacity jobs already (or, rarely, producers
                      ///< raced for the last slots, or ring memory could not be allocated)
  not_started,        ///< Manager::start() has not been called yet
  shutting_down,      ///< Manager::shutdown() has begun: intake is closed
  duplicate,          ///< a job with the same idempotency key is pending, running or recently done;
                      ///< Error::job_id() is that job's id
  too_many_keys,      ///< Config::max_idempotency_keys keys are held already
  not_found,          ///< no dead letter has that id
  unsupported,        ///< an option this call does not take (delay or key in dispatch_bulk)
  unavailable,        ///< a durable queue's store cannot be reached (connection refused, lost, timed out)
  store_refused,      ///< a durable queue's store refused the job (out of memory, authentication, an error reply)
  invalid_header,     ///< a header's name or value is not allowed, or there are too many (see Headers)
  refused,            ///< a dispatch middleware refused the job (its detail says why)
};

/// A fixed, human-readable description of an error code.
constexpr std::string_view describe(Errc code) noexcept {
  switch (code) {
    case Errc::unknown_type: return "unknown job type";
    case Errc::unknown_queue: return "unknown queue";
    case Errc::invalid_payload: return "invalid payload";
    case Errc::payload_too_large: return "payload too large";
    case Errc::queue_full: return "queue full";
    case Errc::not_started: return "not started";
    case Errc::shutting_down: return "shutting down";
    case Errc::duplicate: return "duplicate";
    case Errc::too_many_keys: return "too many idempotency keys";
    case Errc::not_found: return "not found";
    case Errc::unsupported: return "unsupported";
    case Errc::unavailable: return "store unavailable";
    case Errc::store_refused: return "store refused";
    case Errc::invalid_header: return "invalid header";
    case Errc::refused: return "refused";
  }
  return "unknown error";
}

/// An error code with an optional detail. The common rejections (queue full, shutting down)
/// carry no detail, so returning them allocates nothing.
class Error {
 public:
  explicit Error(Errc code) noexcept : code_(code) {}
  Error(Errc code, std::string detail) : code_(code), detail_(std::move(detail)) {}
  /// An error about another job: for Errc::duplicate, the job that holds the key.
  Error(Errc code, std::string detail, std::uint64_t job_id)
      : code_(code), detail_(std::move(detail)), job_id_(job_id) {}

  Errc code() const noexcept { return code_; }
  /// The job this error refers to (the first job, for Errc::duplicate); 0 for none.
  std::uint64_t job_id() const noexcept { return job_id_; }
  const std::string& detail() const noexcept { return detail_; }
  /// "queue full", or "invalid payload: <detail>".
  std::string message() const {
    std::string text(describe(code_));
    if (!detail_.empty()) {
      text += ": ";
      text += detail_;
    }
    return text;
  }

 private:
  Errc code_;
  std::string detail_;
  std::uint64_t job_id_ = 0;
};

// GCC cannot follow which member of Result's union is alive from ok_, and at -O2 with some flags
// (ThreadSanitizer's, for one) warns that the dead member "may be used uninitialized" where the
// destructor's other branch is inlined. Silenced for this class only, in GCC only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/// A value or an Error; returned by dispatch. Never throws on access misuse checks: call `ok()`
/// first (accessing the wrong side is a precondition violation, checked by assert in debug builds).
/// A tagged union rather than std::variant, because every public header includes this one and a
/// user's translation unit should not pay for <variant> (bench/compile_time).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(true) {  // NOLINT: implicit by design
    ::new (static_cast<void*>(&value_)) T(std::move(value));
  }
  Result(Error error) noexcept : ok_(false) {  // NOLINT: implicit by design
    ::new (static_cast<void*>(&error_)) Error(std::move(error));
  }
  Result(const Result& other) : ok_(other.ok_) {
    if (ok_) ::new (static_cast<void*>(&value_)) T(other.value_);
    else ::new (static_cast<void*>(&error_)) Error(other.error_);
  }
  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(other.ok_) {
    if (ok_) ::new (static_cast<void*>(&value_)) T(std::move(other.value_));
    else ::new (static_cast<void*>(&error_)) Error(std::move(other.error_));
  }
  Result& operator=(const Result& other) {
    static_assert(std::is_nothrow_move_constructible_v<T>, "jobq::Result assigns values that move without throwing");
    if (this != &other) {
      Result copy(other);  // may throw; *this is untouched until it has not
      destroy();
      ::new (static_cast<void*>(this)) Result(std::move(copy));
    }
    return *this;
  }
  Result& operator=(Result&& other) noexcept {
    static_assert(std::is_nothrow_move_constructible_v<T>, "jobq::Result assigns values that move without throwing");
    if (this != &other) {
      destroy();
      ::new (static_cast<void*>(this)) Result(std::move(other));
    }
    return *this;
  }
  ~Result() { destroy(); }

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const T& value() const& {
    assert(ok_ && "jobq::Result: value() of an error; check ok() first");
    return value_;
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& {
    assert(!ok_ && "jobq::Result: error() of a value; check ok() first");
    return error_;
  }
  /// Errc of the error; only meaningful when !ok().
  Errc code() const noexcept { return ok_ ? Errc{} : error_.code(); }

 private:
  void destroy() noexcept {
    if (ok_) value_.~T();
    else error_.~Error();
  }

  union {
    T value_;
    Error error_;
  };
  bool ok_;
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// Thrown for configuration mistakes at the moment they are made: an invalid job type name, a
/// duplicate registration, registering after start(), an empty handler, an invalid queue
/// configuration or CPU set. Never thrown by dispatch or by workers.
class ConfigError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace jobq
