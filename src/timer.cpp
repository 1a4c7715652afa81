// The timer's heap. The thread that serves it is internal::TimerService's (src/timer_service.cpp).
#include "jobq/internal/timer.hpp"

#include <algorithm>

namespace jobq::internal {

Timer::Timer(std::vector<std::size_t> limits) : limits_(std::move(limits)), scheduled_(limits_.size(), 0) {}

Timer::~Timer() {
  for (const Key& key : heap_) delete key.node;
}

Timer::Node Timer::make(time_point due, QueueId queue, Envelope&& envelope) {
  Node node(new Pending{due, queue, {}});
  node->envelope = std::move(envelope);
  return node;
}

namespace {
const JobExtras* debounced(const Timer::Pending& pending) noexcept {
  const JobExtras* extras = pending.envelope.extras.get();
  return extras != nullptr && extras->debounced ? extras : nullptr;
}
}  // namespace

bool Timer::add_locked(Node& node) {
  if (scheduled_[node->queue] >= limits_[node->queue]) return false;
  heap_.reserve(heap_.size() + 1);  // the steps that may throw, before anything changes
  if (const JobExtras* extras = debounced(*node)) debounced_.insert_or_assign(extras->key, node.get());
  const bool earliest = heap_.empty() || node->due < heap_.front().due;
  ++scheduled_[node->queue];
  heap_.push_back(Key{node->due, sequence_++, node.release()});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  if (earliest) changed_.notify_all();
  return true;
}

void Timer::take_due_locked(time_point now, std::vector<Node>& out, std::size_t limit) {
  out.reserve(out.size() + std::min(limit, heap_.size()));
  while (!heap_.empty() && heap_.front().due <= now && limit != 0) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    if (heap_.back().node->due > heap_.back().due) {
      // Postponed while it waited: back in at its new time (no allocation: the slot is there).
      heap_.back() = Key{heap_.back().node->due, sequence_++, heap_.back().node};
      std::push_heap(heap_.begin(), heap_.end(), Later{});
      continue;
    }
    --limit;
    Node node(heap_.back().node);
    heap_.pop_back();
    --scheduled_[node->queue];
    if (debounced(*node) != nullptr) {
      // Leaving to run: a dispatch with its key from now on starts a new burst, and a retry of
      // this job waits as a plain job.
      if (auto found = debounced_.find(node->envelope.extras->key); found != debounced_.end() && found->second == node.get()) {
        debounced_.erase(found);
      }
      node->envelope.extras->debounced = false;
      node->envelope.extras->key.clear();
    }
    out.push_back(std::move(node));
  }
  // A backlog that drained gives its memory back: keep at most four times what is held.
  if (heap_.capacity() > 4096 && heap_.size() < heap_.capacity() / 4) heap_.shrink_to_fit();
}

Timer::Pending* Timer::debounced_locked(const std::string& key) const {
  const auto found = debounced_.find(key);
  return found == debounced_.end() ? nullptr : found->second;
}

std::vector<Timer::Node> Timer::take_all_locked() {
  std::vector<Node> all;
  all.reserve(heap_.size());
  debounced_.clear();
  std::sort(heap_.begin(), heap_.end(), [](const Key& a, const Key& b) { return Later{}(b, a); });
  for (const Key& key : heap_) all.emplace_back(key.node);
  heap_.clear();
  heap_.shrink_to_fit();
  std::fill(scheduled_.begin(), scheduled_.end(), 0);
  return all;
}

}  // namespace jobq::internal
