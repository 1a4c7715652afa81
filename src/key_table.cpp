// Idempotency keys.
#include "jobq/internal/key_table.hpp"

#include <functional>

#include "jobq/internal/deadline.hpp"

namespace jobq::internal {

KeyTable::Shard& KeyTable::shard_of(std::string_view key) noexcept {
  return shards_[std::hash<std::string_view>{}(key) % shard_count];
}

void KeyTable::reclaim_locked(Shard& shard, time_point now) {
  while (!shard.expiries.empty() && shard.expiries.front().when <= now) {
    const Expiry& expiry = shard.expiries.front();
    // The key may have been claimed again after it expired: forget it only if this entry is
    // still the one that set the expiry.
    if (auto found = shard.holders.find(expiry.key);
        found != shard.holders.end() && found->second.id == expiry.id && found->second.expires == expiry.when) {
      shard.holders.erase(found);
      count_.fetch_sub(1, std::memory_order_relaxed);
    }
    shard.expiries.pop_front();
  }
}

void KeyTable::reclaim_all(time_point now) {
  for (Shard& shard : shards_) {
    const std::lock_guard lock(shard.mutex);
    reclaim_locked(shard, now);
  }
}

KeyTable::Claim KeyTable::claim(std::string_view key, JobId id, time_point now) {
  if (count_.load(std::memory_order_relaxed) >= max_keys_) reclaim_all(now);
  Shard& shard = shard_of(key);
  const std::lock_guard lock(shard.mutex);
  reclaim_locked(shard, now);
  auto found = shard.holders.find(std::string(key));
  if (found != shard.holders.end()) {
    if (found->second.expires > now) return {Outcome::duplicate, found->second.id};
    found->second = Holder{id, held};  // expired but not yet reclaimed: take it over
    return {Outcome::claimed, 0};
  }
  if (count_.fetch_add(1, std::memory_order_relaxed) >= max_keys_) {
    count_.fetch_sub(1, std::memory_order_relaxed);
    return {Outcome::full, 0};
  }
  shard.holders.emplace(std::string(key), Holder{id, held});
  return {Outcome::claimed, 0};
}

void KeyTable::keep(std::string_view key, JobId id, time_point now) {
  Shard& shard = shard_of(key);
  const std::lock_guard lock(shard.mutex);
  auto found = shard.holders.find(std::string(key));
  if (found == shard.holders.end() || found->second.id != id) return;
  const time_point expires = later(now, ttl_);
  found->second.expires = expires;
  shard.expiries.push_back(Expiry{expires, id, found->first});
  reclaim_locked(shard, now);
}

void KeyTable::release(std::string_view key, JobId id) {
  Shard& shard = shard_of(key);
  const std::lock_guard lock(shard.mutex);
  auto found = shard.holders.find(std::string(key));
  if (found == shard.holders.end() || found->second.id != id) return;
  shard.holders.erase(found);
  count_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace jobq::internal
