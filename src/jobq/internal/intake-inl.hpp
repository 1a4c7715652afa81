// The intake: the one way a job enters a queue's ring, for a new job (commit), a bulk batch
// (commit_staged, in intake.cpp) and a job accepted before that comes back (readmit: due from the
// timer, a requeued dead letter, a job fetched from a durable lane). Each takes the same steps in
// the same order, so that no job is lost or counted twice across a shutdown:
//   1. hold its slot in the queue's depth: reserved against the capacity for a new job, taken
//      unconditionally for one accepted before (it must not be refused now);
//   2. check the lifecycle again (still_open): both are sequentially consistent, so either
//      shutdown sees the slot and waits for the job, or this sees that intake closed and backs out;
//   3. count it accepted, before it can be seen: whoever dequeues it then also sees the count;
//   4. enqueue and wake a parked worker (enter_ring), or undo 1 and 3 when no ring block could
//      be allocated.
#pragma once

#include "jobq/internal/engine.hpp"

namespace jobq::internal {

inline bool Engine::still_open(QueueRuntime& queue, std::int64_t count) {
  if (state_.load(std::memory_order_seq_cst) == running) [[likely]] return true;
  queue.withdraw(count);
  return false;
}

template <class Enqueue, class Uncount>
bool Engine::enter_ring(QueueRuntime& queue, std::int64_t count, Enqueue enqueue, Uncount uncount) {
  if (!enqueue()) [[unlikely]] {
    uncount();
    queue.withdraw(count);
    return false;
  }
  if (queue.parks) queue.notifier.notify();
  return true;
}

inline Result<JobId> Engine::commit(ProducerState& state, Route target, Envelope&& envelope) {
  QueueRuntime& queue = *queues_[target.queue];
  if (!queue.reserve(1, state.counters[target.queue].dequeued_seen)) [[unlikely]] {
    if (const Errc refused = reserve_slow(state, target.queue, 1); refused != Errc{}) {
      count_rejected(state, target);
      return Error(refused);
    }
  }
  if (!still_open(queue, 1)) [[unlikely]] {
    count_rejected(state, target);
    return Error(Errc::shutting_down);
  }
  const JobId id = envelope.id;
  if (config_.metrics && ++state.unsampled >= config_.latency_sample_every) [[unlikely]] {
    state.unsampled = 0;
    envelope.stamped = ticks();
  }
  state.counters[target.queue].accepted.add();
  state.type_counters[target.type].accepted.add();
  const bool entered = enter_ring(
      queue, 1, [&] { return queue.ring.enqueue(state.tokens[target.queue], std::move(envelope)); },
      [&] {
        state.counters[target.queue].accepted.subtract(1);
        state.type_counters[target.type].accepted.subtract(1);
        count_rejected(state, target);
      });
  if (!entered) [[unlikely]] return Error(Errc::queue_full, "could not allocate a ring block");
  return id;
}

template <class Count, class Uncount>
Engine::Readmitted Engine::readmit(QueueRuntime& queue, moodycamel::ProducerToken& token, Envelope& envelope,
                                   Count count, Uncount uncount) {
  queue.enqueued.fetch_add(1, std::memory_order_seq_cst);
  if (!still_open(queue, 1)) return Readmitted::closed;
  count();
  if (!enter_ring(queue, 1, [&] { return queue.ring.enqueue(token, std::move(envelope)); }, uncount)) [[unlikely]] {
    return Readmitted::no_memory;
  }
  return Readmitted::yes;
}

}  // namespace jobq::internal
