// Job results (Context::set_result) kept for Manager::result(): by id, for a time, bounded by a
// count and a byte budget, oldest out first.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "jobq/ids.hpp"

namespace jobq::internal {

class ResultStore {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  ResultStore(std::chrono::nanoseconds ttl, std::size_t max_count, std::size_t max_bytes)
      : ttl_(ttl), max_count_(max_count), max_bytes_(max_bytes) {}

  /// Keeps `result` for job `id` until now + TTL (or until the bounds push it out).
  void keep(JobId id, std::string result, time_point now);
  std::optional<std::string> find(JobId id, time_point now) const;
  std::size_t size() const;

 private:
  struct Kept {
    std::string result;
    time_point expires;
  };
  /// Drops expired results, then the oldest until both bounds hold. Lock held.
  void trim_locked(time_point now);

  const std::chrono::nanoseconds ttl_;
  const std::size_t max_count_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::unordered_map<JobId, Kept> kept_;
  std::deque<JobId> order_;  // oldest first: every result gets the same TTL
  std::size_t bytes_ = 0;
};

}  // namespace jobq::internal
