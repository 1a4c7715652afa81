// Idempotency keys: which job holds a key, and until when.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "jobq/ids.hpp"
#include "jobq/internal/counter.hpp"

namespace jobq::internal {

/// A key is held from dispatch until its job ends. Success keeps it for the TTL, so that a
/// duplicate arriving just after the job ran is still refused; dead-lettering, revoking and
/// a dispatch that backs out release it at once. Sharded maps under mutexes: only keyed
/// dispatches (and their jobs' endings) come here, never a plain job.
class KeyTable {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  enum class Outcome : std::uint8_t { claimed, duplicate, full };
  struct Claim {
    Outcome outcome;
    JobId holder;  ///< for duplicate: the job holding the key
  };

  KeyTable(std::size_t max_keys, std::chrono::nanoseconds ttl) : max_keys_(max_keys), ttl_(ttl) {}

  /// Claims `key` for job `id`, unless a live holder has it or the table is full.
  Claim claim(std::string_view key, JobId id, time_point now);
  /// The job ended successfully: keep the key until now + TTL. No-op unless `id` holds it.
  void keep(std::string_view key, JobId id, time_point now);
  /// The job ended otherwise (or never started): forget the key. No-op unless `id` holds it.
  void release(std::string_view key, JobId id);
  /// Keys held now, expired ones not yet reclaimed included.
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t shard_count = 64;
  static constexpr time_point held = time_point::max();

  struct Holder {
    JobId id;
    time_point expires;  // `held` while the job is pending or running
  };
  struct Expiry {
    time_point when;
    JobId id;
    std::string key;
  };
  struct alignas(cache_line) Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Holder> holders;
    std::deque<Expiry> expiries;  // in expiry order: every entry gets the same TTL
  };

  Shard& shard_of(std::string_view key) noexcept;
  /// Forgets the keys of `shard` whose TTL has passed. Shard lock held.
  void reclaim_locked(Shard& shard, time_point now);
  void reclaim_all(time_point now);

  const std::size_t max_keys_;
  const std::chrono::nanoseconds ttl_;
  std::atomic<std::size_t> count_{0};
  std::array<Shard, shard_count> shards_;
};

}  // namespace jobq::internal
