// The timer's heaps. The thread that serves them is internal::Engine::run_timer (src/timer_thread.cpp).
#include "jobq/internal/timer.hpp"

#include <algorithm>

namespace jobq::internal {

void Timer::add_locked(time_point due, QueueId queue, Envelope&& envelope) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[slot].due = due;
    slots_[slot].queue = queue;
    slots_[slot].envelope = std::move(envelope);
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(Pending{due, queue, std::move(envelope)});
  }
  const bool earliest = heap_.empty() || due < heap_.front().due;
  heap_.push_back(Key{due, sequence_++, slot});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  ++scheduled_per_queue_[queue];
  if (earliest) changed_.notify_all();
}

void Timer::watch(const Watch& entry) {
  const std::lock_guard guard(mutex_);
  const bool earliest = watches_.empty() || entry.due < watches_.front().due;
  watches_.push_back(entry);
  std::push_heap(watches_.begin(), watches_.end(), WatchLater{});
  if (earliest) changed_.notify_all();
}

void Timer::take_due_locked(time_point now, std::vector<Pending>& out, std::size_t limit) {
  while (!heap_.empty() && heap_.front().due <= now && limit-- != 0) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    const std::uint32_t slot = heap_.back().slot;
    heap_.pop_back();
    --scheduled_per_queue_[slots_[slot].queue];
    out.push_back(std::move(slots_[slot]));
    free_slots_.push_back(slot);
  }
}

void Timer::take_due_watches_locked(time_point now, std::vector<Watch>& out) {
  while (!watches_.empty() && watches_.front().due <= now) {
    std::pop_heap(watches_.begin(), watches_.end(), WatchLater{});
    out.push_back(watches_.back());
    watches_.pop_back();
  }
}

Timer::time_point Timer::next_due_locked() const noexcept {
  time_point next = time_point::max();
  if (!heap_.empty()) next = heap_.front().due;
  if (!watches_.empty()) next = std::min(next, watches_.front().due);
  return next;
}

std::vector<Timer::Pending> Timer::take_all_locked() {
  std::vector<Pending> all;
  all.reserve(heap_.size());
  for (const Key& key : heap_) all.push_back(std::move(slots_[key.slot]));
  heap_.clear();
  slots_.clear();
  free_slots_.clear();
  std::fill(scheduled_per_queue_.begin(), scheduled_per_queue_.end(), 0);
  return all;
}

}  // namespace jobq::internal
