// The job as a handler receives it: type, id, payload, and binding into a payload struct.
#pragma once

#include <string_view>

#include "jobq/ids.hpp"
#include "jobq/payload.hpp"
#include "jobq/status.hpp"

namespace jobq {

namespace internal {
class PayloadScratch;
struct MessageAccess;
}  // namespace internal

/// A job's payload, as its handler sees it. A job dispatched as a typed object carries that
/// object; a job dispatched as JSON text carries the text. Both bind into any JOBQ_PAYLOAD struct.
/// A Message is read by one thread at a time: its handler's.
class Message {
 public:
  /// A message over JSON text, as a worker would hand it to a handler: for tests of handlers and
  /// for tools. `json` must outlive the message.
  Message(std::string_view type, JobId id, std::string_view json) noexcept : type_(type), id_(id), json_(json) {}
  /// As above, where `capacity` bytes are readable at json.data(): with at least json.size() + 64
  /// (simdjson's padding) binding parses the text in place; with less it copies it first.
  Message(std::string_view type, JobId id, std::string_view json, std::size_t capacity) noexcept
      : type_(type), id_(id), json_(json), json_capacity_(capacity) {}

  std::string_view type() const noexcept { return type_; }
  JobId id() const noexcept { return id_; }

  /// The payload as JSON text: as dispatched for a raw job; for a typed job, serialized on the
  /// first call and kept for the message's life (a payload that cannot be serialized, a string
  /// that is not UTF-8 in a trusted() dispatch, reads as an empty view).
  std::string_view payload() const;

  /// Fills `out` from the payload. For a job dispatched as an object of type T, `out` is a copy of
  /// that object: no JSON is involved. Otherwise the JSON is bound field by field: required
  /// members must be present; unknown keys are ignored. On failure the status is skip_retry (a
  /// payload that does not bind will not bind next time) and its message names the field and the
  /// parser's error.
  ///
  /// The object is copied, not moved: a job that fails is retried (or dead-lettered) with the
  /// payload it was dispatched with. Use get() to read it in place.
  template <Payload T>
  Status bind(T& out) const;

  /// The dispatched object itself when this job was dispatched as a T, else null: zero-copy
  /// access for handlers that only read their payload.
  template <Payload T>
  const T* get() const noexcept {
    return object_type_ == internal::payload_type_of<T> ? static_cast<const T*>(object_) : nullptr;
  }

 private:
  friend struct internal::MessageAccess;
  Message() noexcept = default;

  /// Binds from JSON (serializing an object of another type first); in the library.
  Status bind_json(const internal::ObjectType& type, void* out) const;

  std::string_view type_;
  JobId id_ = 0;
  mutable std::string_view json_;  ///< the JSON text; for an object, once serialized
  std::size_t json_capacity_ = 0;  ///< readable bytes at json_.data(); 0 when not known to be padded
  const internal::ObjectType* object_type_ = nullptr;
  const void* object_ = nullptr;
  internal::PayloadScratch* scratch_ = nullptr;  ///< the worker's parser and buffer; null: the thread's
};

template <Payload T>
Status Message::bind(T& out) const {
  if (object_type_ == internal::payload_type_of<T>) [[likely]] {
    out = *static_cast<const T*>(object_);
    return Status::success();
  }
  return bind_json(*internal::payload_type_of<T>, &out);
}

}  // namespace jobq
