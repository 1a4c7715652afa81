// Debounced dispatch on an in-memory queue: the job waits in the timer under its key, and a later
// dispatch with the key takes its place until the window passes quietly.
#include "jobq/internal/deadline.hpp"
#include "jobq/internal/engine.hpp"

namespace jobq {

std::optional<Error> internal::Engine::debounce_refusal(internal::ProducerState& state, Route target, const Job& job) {
  if (!job.is_debounced()) return std::nullopt;
  const std::chrono::nanoseconds window = job.debounce_window();
  std::string why;
  if (job.key().empty()) {
    why = "a debounced job needs a key";
  } else if (window.count() <= 0 || window == std::chrono::nanoseconds::max()) {
    why = "a debounce window must be positive and finite";
  } else if (job.delay_value().count() != 0 || job.at_value() != Job::steady_time{}) {
    why = "a debounced job waits its window: it takes no delay() or at()";
  } else {
    return std::nullopt;
  }
  count_rejected(state, target);
  return Error(Errc::unsupported, std::move(why));
}

std::string internal::Engine::debounce_slot(Route route, std::string_view key) {
  return std::to_string(route.type) + ':' + std::to_string(route.queue) + ':' + std::string(key);
}

Result<JobId> internal::Engine::debounce(internal::ProducerState& state, Route target, internal::Envelope&& envelope,
                                         const Job& job) {
  // extras exist: the job has a key. Its key becomes the timer's slot for it.
  envelope.extras->key = debounce_slot(target, job.key());
  envelope.extras->debounced = true;
  const Clock::time_point due = internal::later(now(), job.debounce_window());
  // Made before the lock: the allocation is the slow part, and a burst's later dispatches hand
  // their payload to the waiting job and free this node after the lock.
  internal::Timer::Node node = internal::Timer::make(due, target.queue, std::move(envelope));
  enum class Outcome { added, folded, closed, full } outcome;
  JobId id = node->envelope.id;
  {
    std::unique_lock lock = timer_.pending().lock();
    if (state_.load(std::memory_order_seq_cst) != running) {
      outcome = Outcome::closed;
    } else if (internal::Timer::Pending* waiting = timer_.pending().debounced_locked(node->envelope.extras->key)) {
      // The burst goes on: the waiting job keeps its id and its place in the books, and takes
      // this dispatch's payload, headers and options, and its due time.
      std::swap(waiting->envelope.payload, node->envelope.payload);
      std::swap(waiting->envelope.extras, node->envelope.extras);
      internal::Timer::postpone_locked(*waiting, due);
      id = waiting->envelope.id;
      state.counters[target.queue].debounced.add();
      state.type_counters[target.type].debounced.add();
      outcome = Outcome::folded;
    } else if (timer_.pending().add_locked(node)) {
      state.counters[target.queue].accepted.add();
      state.type_counters[target.type].accepted.add();
      outcome = Outcome::added;
    } else {
      outcome = Outcome::full;
    }
  }
  switch (outcome) {
    case Outcome::added:
    case Outcome::folded:
      return id;
    case Outcome::closed:
      count_rejected(state, target);
      return Error(Errc::shutting_down);
    case Outcome::full:
      break;
  }
  count_rejected(state, target);
  return Error(Errc::queue_full, "queue '" + queues_[target.queue]->config.name + "' has " +
                                     std::to_string(timer_.pending().limit(target.queue)) +
                                     " jobs waiting in the timer already (QueueConfig::max_scheduled)");
}

}  // namespace jobq
