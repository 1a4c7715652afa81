// The intake: the one way a job enters a queue's ring, for a new job (commit), a bulk batch
// (commit_staged) and a job accepted before that comes back (readmit: due from the timer, a
// requeued dead letter, a job fetched from a durable lane). Each takes the same steps in
// the same order, so that no job is lost or counted twice across a shutdown:
//   1. hold its slot of the capacity: reserved for a new job, taken unconditionally for one
//      accepted before (it must not be refused now);
//   2. count it in the queue's depth, then check the lifecycle again (still_open): both are
//      sequentially consistent, so either shutdown sees the job in the depth and waits for it, or
//      this sees that intake closed and backs out;
//   3. count it accepted, before it can be seen: whoever dequeues it then also sees the count;
//   4. enqueue and wake a parked worker (enter_ring), or undo 1 to 3 when no ring block could
//      be allocated.
#pragma once

#include <iterator>
#include <string>
#include <vector>

#include "jobq/internal/engine.hpp"

namespace jobq::internal {

inline void Engine::give_back(QueueRuntime& queue, Held held) noexcept {
  queue.count_out(held.shard, held.count);
  if (held.credit != nullptr) {
    QueueRuntime::unreserve(held.count, *held.credit);
  } else {
    queue.ungrant(held.count);
  }
}

inline bool Engine::still_open(QueueRuntime& queue, Held held) {
  queue.count_in(held.shard, held.count);
  if (state_.load(std::memory_order_seq_cst) == running) [[likely]] return true;
  give_back(queue, held);
  return false;
}

template <class Enqueue, class Uncount>
bool Engine::enter_ring(QueueRuntime& queue, Held held, Enqueue enqueue, Uncount uncount) {
  if (!enqueue()) [[unlikely]] {
    uncount();
    give_back(queue, held);
    return false;
  }
  if (queue.parks) queue.notifier.notify();
  return true;
}

[[gnu::always_inline]] inline Result<JobId> Engine::commit(ProducerState& state, Route target, Envelope&& envelope) {
  QueueRuntime& queue = *queues_[target.queue];
  QueueRuntime::Credit& credit = state.counters[target.queue].credit;
  if (!queue.reserve(1, credit)) [[unlikely]] {
    if (const Errc refused = reserve_slow(state, target.queue, 1); refused != Errc{}) {
      count_rejected(state, target);
      return Error(refused);
    }
  }
  if (!still_open(queue, Held{state.shard, 1, &credit})) [[unlikely]] {
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
  // Step 4 by hand rather than through enter_ring(): the undo is recomputed from `state` and
  // `target` in a function of its own, so that nothing is kept on the stack across the enqueue
  // for it. A producer that outruns its worker waits on every store (the ring's lines are the
  // worker's), and each spill is one more.
  if (!queue.ring.enqueue(state.tokens[target.queue], std::move(envelope))) [[unlikely]] return ring_refused(state, target);
  if (queue.parks) queue.notifier.notify();
  return id;
}

template <class Count, class Uncount>
Engine::Readmitted Engine::readmit(QueueRuntime& queue, moodycamel::ProducerToken& token, Envelope& envelope,
                                   Count count, Uncount uncount) {
  const Held held{QueueRuntime::readmit_shard, 1, nullptr};
  queue.grant_past_capacity(1);
  if (!still_open(queue, held)) return Readmitted::closed;
  count();
  if (!enter_ring(queue, held, [&] { return queue.ring.enqueue(token, std::move(envelope)); }, uncount)) [[unlikely]] {
    return Readmitted::no_memory;
  }
  return Readmitted::yes;
}

/// commit() for a bulk batch: the steps above for all its queues at once, every queue's slots or
/// none. Called by dispatch_bulk only, once per batch.
inline Result<JobId> Engine::commit_staged(ProducerState& state, JobId first) {
  // A refusal of the whole batch counts every staged job; the caller clears the staging.
  auto refuse = [&](Error error) -> Result<JobId> {
    for (QueueId queue = 0; queue < queues_.size(); ++queue) {
      for (const Envelope& envelope : state.staging[queue]) count_rejected(state, Route{envelope.type, queue});
    }
    return error;
  };
  auto held = [&](QueueId queue) {
    return Held{state.shard, static_cast<std::int64_t>(state.staging[queue].size()), &state.counters[queue].credit};
  };
  auto unreserve = [&](QueueId upto) {
    for (QueueId queue = 0; queue < upto; ++queue) QueueRuntime::unreserve(held(queue).count, *held(queue).credit);
  };
  // 1. Every queue's slots.
  for (QueueId queue = 0; queue < queues_.size(); ++queue) {
    const auto count = static_cast<std::int64_t>(state.staging[queue].size());
    if (count == 0) continue;
    QueueRuntime& runtime = *queues_[queue];
    if (!runtime.reserve(count, state.counters[queue].credit) && reserve_slow(state, queue, count) != Errc{}) {
      unreserve(queue);
      return refuse(Error(Errc::queue_full, "queue '" + runtime.config.name + "' has room for fewer than " +
                                                std::to_string(count) + " jobs"));
    }
  }
  // 2. Counted in on every queue, then one lifecycle check for all of them.
  for (QueueId queue = 0; queue < queues_.size(); ++queue) {
    if (!state.staging[queue].empty()) queues_[queue]->count_in(state.shard, held(queue).count);
  }
  if (state_.load(std::memory_order_seq_cst) != running) {
    for (QueueId queue = 0; queue < queues_.size(); ++queue) {
      if (!state.staging[queue].empty()) give_back(*queues_[queue], held(queue));
    }
    return refuse(Error(Errc::shutting_down));
  }
  for (QueueId queue = 0; queue < queues_.size(); ++queue) {
    std::vector<Envelope>& staged = state.staging[queue];
    if (staged.empty()) continue;
    QueueRuntime& runtime = *queues_[queue];
    // 3. Counted before the enqueue.
    const std::uint64_t stamp = config_.metrics ? ticks() : 0;
    for (Envelope& envelope : staged) {
      envelope.stamped = stamp;
      state.type_counters[envelope.type].accepted.add();
    }
    state.counters[queue].accepted.add(staged.size());
    // 4. One bulk enqueue and at most one wake: a worker that takes jobs and sees more left wakes
    // the next (Notifier).
    const bool entered = enter_ring(
        runtime, held(queue),
        [&] { return runtime.ring.enqueue_bulk(state.tokens[queue], std::make_move_iterator(staged.begin()), staged.size()); },
        [&] {
          state.counters[queue].accepted.subtract(staged.size());
          for (const Envelope& envelope : staged) state.type_counters[envelope.type].accepted.subtract(1);
        });
    if (!entered) {
      // Only an allocation failure gets here, and earlier queues of the batch are already on their
      // rings: this queue's jobs (their slots given back above) and every later queue's are refused.
      for (QueueId rest = queue; rest < queues_.size(); ++rest) {
        const std::size_t count = state.staging[rest].size();
        if (count == 0) continue;
        if (rest != queue) give_back(*queues_[rest], held(rest));
        state.counters[rest].rejected.add(count);
        for (const Envelope& envelope : state.staging[rest]) state.type_counters[envelope.type].rejected.add();
        state.staging[rest].clear();
      }
      return Error(Errc::queue_full, "could not allocate ring blocks");
    }
    staged.clear();
  }
  return first;
}

}  // namespace jobq::internal
