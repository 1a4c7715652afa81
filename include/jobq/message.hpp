// The job as a handler receives it: type, id, payload bytes, and binding into a payload struct.
#pragma once

#include <simdjson.h>

#include <string_view>

#include "jobq/ids.hpp"
#include "jobq/internal/json_bind.hpp"
#include "jobq/payload.hpp"
#include "jobq/status.hpp"

namespace jobq {

class Message {
 public:
  /// `capacity` is the number of readable bytes at payload.data(), which must be at least
  /// payload.size() + SIMDJSON_PADDING. `parser` is reused across messages; null means a parser
  /// owned by the calling thread.
  Message(std::string_view type, JobId id, std::string_view payload, std::size_t capacity,
          simdjson::ondemand::parser* parser = nullptr) noexcept
      : type_(type), id_(id), payload_(payload), capacity_(capacity), parser_(parser) {}

  std::string_view type() const noexcept { return type_; }
  JobId id() const noexcept { return id_; }
  /// The payload JSON text, exactly as dispatched.
  std::string_view payload() const noexcept { return payload_; }

  /// Fills `out` from the payload. Required members must be present; unknown keys are ignored.
  /// On failure the status is skip_retry (a payload that does not bind will not bind next time)
  /// and its message names the field and the parser's error.
  template <Payload T>
  Status bind(T& out) const;

 private:
  static simdjson::ondemand::parser& thread_parser();

  std::string_view type_;
  JobId id_;
  std::string_view payload_;
  std::size_t capacity_;
  simdjson::ondemand::parser* parser_;
};

template <Payload T>
Status Message::bind(T& out) const {
  internal::BindFailure failure;
  simdjson::ondemand::parser& parser = parser_ != nullptr ? *parser_ : thread_parser();
  failure.code = internal::bind_document(parser, payload_.data(), payload_.size(), capacity_, out, failure);
  if (failure.code == simdjson::SUCCESS) [[likely]] return Status::success();
  return Status::skip_retry(internal::describe_bind_failure(failure));
}

}  // namespace jobq
