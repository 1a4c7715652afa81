// The timer's heap. The thread that serves it is internal::Engine::run_timer (src/timer_thread.cpp).
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

bool Timer::add_locked(Node& node) {
  if (scheduled_[node->queue] >= limits_[node->queue]) return false;
  heap_.reserve(heap_.size() + 1);  // the only step that may throw, before anything changes
  const bool earliest = heap_.empty() || node->due < heap_.front().due;
  ++scheduled_[node->queue];
  heap_.push_back(Key{node->due, sequence_++, node.release()});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  if (earliest) changed_.notify_all();
  return true;
}

void Timer::take_due_locked(time_point now, std::vector<Node>& out, std::size_t limit) {
  out.reserve(out.size() + std::min(limit, heap_.size()));
  while (!heap_.empty() && heap_.front().due <= now && limit-- != 0) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    Node node(heap_.back().node);
    heap_.pop_back();
    --scheduled_[node->queue];
    out.push_back(std::move(node));
  }
  // A backlog that drained gives its memory back: keep at most four times what is held.
  if (heap_.capacity() > 4096 && heap_.size() < heap_.capacity() / 4) heap_.shrink_to_fit();
}

std::vector<Timer::Node> Timer::take_all_locked() {
  std::vector<Node> all;
  all.reserve(heap_.size());
  std::sort(heap_.begin(), heap_.end(), [](const Key& a, const Key& b) { return Later{}(b, a); });
  for (const Key& key : heap_) all.emplace_back(key.node);
  heap_.clear();
  heap_.shrink_to_fit();
  std::fill(scheduled_.begin(), scheduled_.end(), 0);
  return all;
}

}  // namespace jobq::internal
