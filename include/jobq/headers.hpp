// Headers: string metadata a job carries from its dispatch to its handler (trace context, tenant,
// request id), apart from its payload.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jobq/error.hpp"

namespace jobq {

struct Header {
  std::string name;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

/// An ordered set of headers, at most one per name. A dispatch copies them (Job::headers()), and
/// they reach Context::headers() on every run of the job: its retries, after a delay or a
/// snooze, in its dead letter and after a requeue, in a job shutdown returns, and through a
/// durable queue's store.
///
/// Checked at dispatch (Errc::invalid_header): names are 1 to 128 bytes of lower-case ASCII
/// letters, digits, '-', '_' and '.' (as HTTP/2 and W3C Trace Context write them); values are
/// UTF-8 of at most 8 KiB without control characters (they end up in logs and consoles); at
/// most 64 headers.
class Headers {
 public:
  static constexpr std::size_t max_count = 64;
  static constexpr std::size_t max_name_bytes = 128;
  static constexpr std::size_t max_value_bytes = 8192;

  Headers() = default;
  Headers(std::initializer_list<std::pair<std::string_view, std::string_view>> headers);

  /// Sets `name` to `value`, replacing a value it had (in place: the order is that of first set).
  Headers& set(std::string_view name, std::string_view value);
  /// The value of `name`, if set.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
  /// Removes `name`; false if it was not set.
  bool erase(std::string_view name) noexcept;
  void clear() noexcept { items_.clear(); }
  void swap(Headers& other) noexcept { items_.swap(other.items_); }

  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  std::vector<Header>::const_iterator begin() const noexcept { return items_.begin(); }
  std::vector<Header>::const_iterator end() const noexcept { return items_.end(); }

  /// Empty when every name and value is allowed, else what is wrong ("header 'X': ...").
  std::string problem() const;
  /// A JSON object of strings, in order: {"traceparent":"00-…"}.
  std::string to_json() const;
  /// Headers from a JSON object of strings (to_json()'s form), checked as a dispatch checks them;
  /// Errc::invalid_header otherwise.
  static Result<Headers> from_json(std::string_view json);

  friend bool operator==(const Headers&, const Headers&) = default;

 private:
  std::vector<Header> items_;
};

namespace internal {
/// The headers of a job that carries none.
const Headers& no_headers() noexcept;
}  // namespace internal

}  // namespace jobq
