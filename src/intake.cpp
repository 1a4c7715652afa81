// The intake's bulk path: a producer's staged batch onto its queues' rings, every queue's slots
// or none. The steps are those of intake-inl.hpp, taken for all the batch's queues at once.
#include <iterator>
#include <string>
#include <vector>

#include "jobq/internal/engine.hpp"

namespace jobq {

Result<JobId> internal::Engine::commit_staged(internal::ProducerState& state, JobId first) {
  // A refusal of the whole batch counts every staged job; the caller clears the staging.
  auto refuse = [&](Error error) -> Result<JobId> {
    for (QueueId queue = 0; queue < queues_.size(); ++queue) {
      for (const internal::Envelope& envelope : state.staging[queue]) count_rejected(state, Route{envelope.type, queue});
    }
    return error;
  };
  auto release = [&](QueueId upto) {
    for (QueueId queue = 0; queue < upto; ++queue) {
      const auto count = static_cast<std::int64_t>(state.staging[queue].size());
      if (count != 0) queues_[queue]->withdraw(count);
    }
  };
  // 1. Every queue's slots.
  for (QueueId queue = 0; queue < queues_.size(); ++queue) {
    const auto count = static_cast<std::int64_t>(state.staging[queue].size());
    if (count == 0) continue;
    internal::QueueRuntime& runtime = *queues_[queue];
    if (!runtime.reserve(count, state.counters[queue].dequeued_seen) && reserve_slow(state, queue, count) != Errc{}) {
      release(queue);
      return refuse(Error(Errc::queue_full, "queue '" + runtime.config.name + "' has room for fewer than " +
                                                std::to_string(count) + " jobs"));
    }
  }
  // 2. One lifecycle check for all of them.
  if (state_.load(std::memory_order_seq_cst) != running) {
    release(static_cast<QueueId>(queues_.size()));
    return refuse(Error(Errc::shutting_down));
  }
  for (QueueId queue = 0; queue < queues_.size(); ++queue) {
    std::vector<internal::Envelope>& staged = state.staging[queue];
    if (staged.empty()) continue;
    internal::QueueRuntime& runtime = *queues_[queue];
    // 3. Counted before the enqueue.
    const std::uint64_t stamp = config_.metrics ? internal::ticks() : 0;
    for (internal::Envelope& envelope : staged) {
      envelope.stamped = stamp;
      state.type_counters[envelope.type].accepted.add();
    }
    state.counters[queue].accepted.add(staged.size());
    // 4. One bulk enqueue and at most one wake: a worker that takes jobs and sees more left wakes
    // the next (Notifier).
    const bool entered = enter_ring(
        runtime, static_cast<std::int64_t>(staged.size()),
        [&] { return runtime.ring.enqueue_bulk(state.tokens[queue], std::make_move_iterator(staged.begin()), staged.size()); },
        [&] {
          state.counters[queue].accepted.subtract(staged.size());
          for (const internal::Envelope& envelope : staged) state.type_counters[envelope.type].accepted.subtract(1);
        });
    if (!entered) {
      // Only an allocation failure gets here, and earlier queues of the batch are already on their
      // rings: this queue's jobs (their slots given back above) and every later queue's are refused.
      for (QueueId rest = queue; rest < queues_.size(); ++rest) {
        const std::size_t count = state.staging[rest].size();
        if (count == 0) continue;
        if (rest != queue) queues_[rest]->withdraw(static_cast<std::int64_t>(count));
        state.counters[rest].rejected.add(count);
        for (const internal::Envelope& envelope : state.staging[rest]) state.type_counters[envelope.type].rejected.add();
        state.staging[rest].clear();
      }
      return Error(Errc::queue_full, "could not allocate ring blocks");
    }
    staged.clear();
  }
  return first;
}

}  // namespace jobq
