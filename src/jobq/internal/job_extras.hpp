// The per-job options that only some jobs carry, kept off the envelope's hot header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "jobq/headers.hpp"
#include "jobq/job.hpp"
#include "jobq/retry.hpp"

namespace jobq::internal {

/// Allocated only for a job dispatched with an idempotency key, a timeout, a retry override or
/// headers, so that a plain job's envelope carries one null pointer and nothing to free.
struct JobExtras {
  std::string key;                         ///< idempotency or debounce key; empty: none (or released)
  KeyHold hold = KeyHold::until_done;      ///< how long `key` is held
  bool debounced = false;                  ///< `key` is a debounce key (held by the timer)
  std::chrono::nanoseconds timeout{0};     ///< 0: the type's timeout
  std::uint32_t max_attempts = 0;          ///< 0: the type's (or global) policy
  std::shared_ptr<const RetryPolicy> retry;  ///< null: the type's (or global) policy
  /// A job fetched from its queue's durable lane: the lane's handle on it. Its key is then held
  /// by the lane, not by the Manager's key table.
  std::string lane_ref;
  Headers headers;  ///< what Context::headers() shows on every run
  /// The job's place in a chain, as JSON (src/flow.cpp): the steps after it, and the result of
  /// the step before. Empty: not in a chain.
  std::string flow;
};

}  // namespace jobq::internal
