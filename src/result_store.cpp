// Job results kept for a time.
#include "jobq/internal/result_store.hpp"

#include "jobq/internal/deadline.hpp"

namespace jobq::internal {

void ResultStore::keep(JobId id, std::string result, time_point now) {
  if (ttl_.count() <= 0 || max_count_ == 0 || result.size() > max_bytes_) return;
  const std::lock_guard lock(mutex_);
  const std::size_t size = result.size();
  auto [slot, fresh] = kept_.try_emplace(id);
  if (!fresh) {
    bytes_ -= slot->second.result.size();  // a requeued job's second success replaces the first
  } else {
    order_.push_back(id);
  }
  slot->second = Kept{std::move(result), later(now, ttl_)};
  bytes_ += size;
  trim_locked(now);
}

std::optional<std::string> ResultStore::find(JobId id, time_point now) const {
  const std::lock_guard lock(mutex_);
  const auto found = kept_.find(id);
  if (found == kept_.end() || found->second.expires <= now) return std::nullopt;
  return found->second.result;
}

std::size_t ResultStore::size() const {
  const std::lock_guard lock(mutex_);
  return kept_.size();
}

void ResultStore::trim_locked(time_point now) {
  while (!order_.empty()) {
    const auto oldest = kept_.find(order_.front());
    const bool gone = oldest == kept_.end();
    if (!gone && oldest->second.expires > now && kept_.size() <= max_count_ && bytes_ <= max_bytes_) return;
    if (!gone) {
      bytes_ -= oldest->second.result.size();
      kept_.erase(oldest);
    }
    order_.pop_front();
  }
}

}  // namespace jobq::internal
