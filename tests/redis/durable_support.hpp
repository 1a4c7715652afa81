// What the durable-queue tests share: a Manager configuration with one durable queue beside the
// in-memory "default", lane options with short leases and polls, and a handler that counts.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"

namespace jobq::testing {

/// "default" in memory and `queue` on `lane`, with `workers` threads; retries 5 ms apart.
inline jobq::Config durable_config(std::shared_ptr<jobq::redis::Lane> lane, std::string queue, unsigned workers = 2) {
  jobq::Config config;
  config.queues = {jobq::QueueConfig{.name = "default"},
                   jobq::QueueConfig{.name = std::move(queue), .workers = workers, .lane = std::move(lane)}};
  config.retry.backoff = [](std::uint32_t, const jobq::Status&, const jobq::Message&) -> std::chrono::nanoseconds {
    return std::chrono::milliseconds(5);
  };
  return config;
}

/// `options` with a short lease and 10 ms polls, so that recovery and promotion show within a test.
inline jobq::redis::Options fast(jobq::redis::Options options,
                                 std::chrono::milliseconds lease = std::chrono::milliseconds(300)) {
  options.lease = lease;
  options.poll_every = std::chrono::milliseconds(10);
  return options;
}

/// A handler that counts its runs in `runs` and succeeds.
inline auto counting(std::atomic<int>& runs) {
  return [&runs](jobq::Context&, const jobq::Message&) {
    runs.fetch_add(1);
    return jobq::Status::success();
  };
}

/// A handler whose downstream is offline ("bank offline", retryable) until `healthy` is set; then
/// it counts its successes in `successes`.
inline auto offline_until(std::atomic<bool>& healthy, std::atomic<int>& successes) {
  return [&healthy, &successes](jobq::Context&, const jobq::Message&) {
    if (!healthy.load()) return jobq::Status::error("bank offline");
    successes.fetch_add(1);
    return jobq::Status::success();
  };
}

}  // namespace jobq::testing
