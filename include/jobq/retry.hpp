// Retry policy: how many attempts a job gets and how long to wait before each retry.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "jobq/message.hpp"
#include "jobq/status.hpp"

namespace jobq {

/// The delay before the next attempt, given the attempt that just failed (1 for the first run),
/// its error and the job. Called on the worker thread that ran the job.
using Backoff = std::function<std::chrono::nanoseconds(std::uint32_t attempt, const Status& error,
                                                        const Message& message)>;

/// The default backoff: exponential with jitter and a cap. For attempt n the ceiling is
/// d = min(cap, base · factor^(n-1)) and the delay is drawn uniformly from [d · (1 - jitter), d].
/// With the defaults: 100 ms, 200 ms, 400 ms, … reaching the 10 min cap at the 14th retry, each
/// shortened by up to half at random so that jobs that failed together do not retry together.
struct ExponentialBackoff {
  std::chrono::nanoseconds base = std::chrono::milliseconds(100);
  double factor = 2.0;
  std::chrono::nanoseconds cap = std::chrono::minutes(10);
  double jitter = 0.5;  ///< fraction of the delay drawn at random, 0..1

  /// The ceiling d for `attempt`, before jitter.
  std::chrono::nanoseconds ceiling(std::uint32_t attempt) const noexcept;
  std::chrono::nanoseconds operator()(std::uint32_t attempt, const Status& error, const Message& message) const;
};

struct RetryPolicy {
  /// Runs a job may have, the first included: 1 means never retried.
  std::uint32_t max_attempts = 25;
  /// Empty: ExponentialBackoff{} with its defaults.
  Backoff backoff = {};
};

}  // namespace jobq
