// The dispatch builder: what to run, where, and with which per-job options.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace jobq {

struct RetryPolicy;
class Headers;

/// How long an idempotency key refuses another job with the same key.
enum class KeyHold : std::uint8_t {
  /// While the job is pending or running, and Config::idempotency_ttl after it succeeded (asynq's
  /// Unique, Sidekiq's until_executed, BullMQ's deduplication id without a TTL).
  until_done,
  /// While the job waits: a worker starting it releases the key, so a job dispatched while the
  /// first runs is taken (Sidekiq Enterprise's until_executing; on a durable queue, released
  /// when the run starts in whichever process took it).
  until_started,
};

/// A job to dispatch: a view of its type name, payload JSON, queue and options. Dispatch copies
/// what it needs, so the viewed strings (and a RetryPolicy passed to retry()) only have to live
/// through the dispatch call.
///
///     queues.dispatch(jobq::Job("emails:welcome").payload(R"({"user_id":"42"})").on_queue("emails"));
///     queues.dispatch(jobq::Job("emails:digest").payload(body).delay(std::chrono::minutes(5))
///                         .idempotency_key("digest:42:2026-11-27"));
class Job {
 public:
  using steady_time = std::chrono::steady_clock::time_point;

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
  /// Run no earlier than `delay` from now (by the Manager's clock). Zero or less: run now;
  /// nanoseconds::max(): never (the job waits until shutdown returns it).
  constexpr Job& delay(std::chrono::nanoseconds delay) noexcept {
    delay_ = delay;
    at_ = steady_time{};
    options_ = true;
    return *this;
  }
  /// Run no earlier than `when` (on the Manager's clock). A time in the past: run now;
  /// time_point::max(): never.
  constexpr Job& at(steady_time when) noexcept {
    at_ = when;
    delay_ = {};
    options_ = true;
    return *this;
  }
  /// Refuse this job with Errc::duplicate while another job with the same key is pending or
  /// running, or finished successfully less than Config::idempotency_ttl ago.
  constexpr Job& idempotency_key(std::string_view key, KeyHold hold = KeyHold::until_done) noexcept {
    key_ = key;
    hold_ = hold;
    debounce_ = {};
    debounced_ = false;
    options_ = true;
    return *this;
  }
  /// Debounce: the last job of a burst runs, once. The job waits `window`; another dispatch with
  /// the same key, type and queue while it waits replaces its payload, headers and options and
  /// restarts the window, and returns the waiting job's id (counted as debounced, not accepted).
  /// Once the window passes without one, the job runs. A dispatch after that (the job has started)
  /// begins a new burst. The window must be positive and finite; no delay() or at() with it.
  constexpr Job& debounce(std::string_view key, std::chrono::nanoseconds window) noexcept {
    key_ = key;
    hold_ = KeyHold::until_done;
    debounce_ = window;
    debounced_ = true;
    options_ = true;
    return *this;
  }
  /// The handler's deadline: its stop token fires this long after it starts (overrides the
  /// type's RegisterOptions::timeout). Zero: the type's timeout, if any; nanoseconds::max(): none.
  constexpr Job& timeout(std::chrono::nanoseconds timeout) noexcept {
    timeout_ = timeout;
    options_ = true;
    return *this;
  }
  /// This job's retry policy, overriding the type's and the global one. Copied by dispatch.
  constexpr Job& retry(const RetryPolicy& policy) noexcept {
    retry_ = &policy;
    options_ = true;
    return *this;
  }
  /// This job's attempt budget, with the type's (or global) backoff. Ignored when retry() is set.
  constexpr Job& max_attempts(std::uint32_t attempts) noexcept {
    max_attempts_ = attempts;
    options_ = true;
    return *this;
  }

  /// Headers the job carries to its handler (Context::headers()) on every run: retries, delays,
  /// dead letters, requeues, durable queues. Copied by dispatch; checked there (see Headers).
  /// Unlike the options above, dispatch_bulk() takes them.
  constexpr Job& headers(const Headers& headers) noexcept {
    headers_ = &headers;
    options_ = true;
    return *this;
  }

  /// The job's place in a chain: what ReturnedJob::flow and DeadLetter::flow hold, opaque. to_job()
  /// sets it, so that a job dispatched again goes on with its chain. Manager::chain() sets it
  /// for the steps it dispatches.
  constexpr Job& flow_state(std::string_view flow) noexcept {
    flow_ = flow;
    options_ = true;
    return *this;
  }

  constexpr std::string_view type() const noexcept { return type_; }
  constexpr std::string_view payload() const noexcept { return payload_; }
  constexpr std::string_view queue() const noexcept { return queue_; }
  constexpr bool is_trusted() const noexcept { return trusted_; }
  /// True when any option beyond type, payload, queue and trusted() is set.
  constexpr bool has_options() const noexcept { return options_; }
  constexpr std::chrono::nanoseconds delay_value() const noexcept { return delay_; }
  /// True when delay() (positive) or at() was set: the job may wait in the timer first.
  constexpr bool is_delayed() const noexcept { return delay_.count() > 0 || at_ != steady_time{}; }
  /// The absolute run time set by at(), or the epoch when none was set.
  constexpr steady_time at_value() const noexcept { return at_; }
  constexpr std::string_view key() const noexcept { return key_; }
  constexpr KeyHold key_hold() const noexcept { return hold_; }
  /// True when debounce() was set, with debounce_window() as its window.
  constexpr bool is_debounced() const noexcept { return debounced_; }
  constexpr std::chrono::nanoseconds debounce_window() const noexcept { return debounce_; }
  constexpr std::chrono::nanoseconds timeout_value() const noexcept { return timeout_; }
  constexpr const RetryPolicy* retry_policy() const noexcept { return retry_; }
  constexpr std::uint32_t max_attempts_value() const noexcept { return max_attempts_; }
  constexpr std::string_view flow_value() const noexcept { return flow_; }
  /// The headers set by headers(), or null.
  constexpr const Headers* headers_value() const noexcept { return headers_; }
  /// True when an option that dispatch_bulk() refuses is set: any but headers().
  constexpr bool has_single_options() const noexcept {
    return delay_.count() != 0 || at_ != steady_time{} || !key_.empty() || timeout_.count() != 0 ||
           retry_ != nullptr || max_attempts_ != 0 || debounced_ || !flow_.empty();
  }

 private:
  std::string_view type_;
  std::string_view payload_ = "{}";
  std::string_view queue_;
  std::string_view key_;
  std::string_view flow_;
  std::chrono::nanoseconds delay_{0};
  steady_time at_{};
  std::chrono::nanoseconds timeout_{0};
  std::chrono::nanoseconds debounce_{0};
  const RetryPolicy* retry_ = nullptr;
  const Headers* headers_ = nullptr;
  std::uint32_t max_attempts_ = 0;
  KeyHold hold_ = KeyHold::until_done;
  bool debounced_ = false;
  bool trusted_ = false;
  bool options_ = false;
};

}  // namespace jobq
