// The dispatch builder for raw jobs.
#pragma once

#include <string_view>

namespace jobq {

/// A job to dispatch: a view of its type name, payload JSON and queue. Dispatch copies what it
/// needs, so the viewed strings only have to live through the dispatch call.
///
///     queues.dispatch(jobq::Job("emails:welcome").payload(R"({"user_id":"42"})").on_queue("emails"));
class Job {
 public:
  constexpr explicit Job(std::string_view type) noexcept : type_(type) {}

  /// The payload, a JSON document. Default: "{}".
  constexpr Job& payload(std::string_view json) noexcept {
    payload_ = json;
    return *this;
  }
  /// The queue to run on. Default: the type's registered queue, else "default".
  constexpr Job& on_queue(std::string_view queue) noexcept {
    queue_ = queue;
    return *this;
  }
  /// Skip JSON validation of this payload: for producers that build it from trusted code.
  /// A payload that is then not valid JSON fails when its handler binds it.
  constexpr Job& trusted() noexcept {
    trusted_ = true;
    return *this;
  }

  constexpr std::string_view type() const noexcept { return type_; }
  constexpr std::string_view payload() const noexcept { return payload_; }
  constexpr std::string_view queue() const noexcept { return queue_; }
  constexpr bool is_trusted() const noexcept { return trusted_; }

 private:
  std::string_view type_;
  std::string_view payload_ = "{}";
  std::string_view queue_;
  bool trusted_ = false;
};

}  // namespace jobq
