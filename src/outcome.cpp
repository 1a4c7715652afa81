// What happens to a job after a handler that did not succeed: retry with backoff, dead letter,
// revoke or snooze. Runs on the worker; none of it is on the success path.
#include <exception>
#include <string>

#include "jobq/internal/deadline.hpp"
#include "jobq/internal/engine.hpp"
#include "jobq/internal/flow.hpp"

namespace jobq {
namespace {

/// The attempt budget and backoff that apply to a job: its own override, else its type's
/// (which already fell back to the global policy at registration).
struct AppliedPolicy {
  std::uint32_t max_attempts;
  const Backoff* backoff;
};

AppliedPolicy applied_policy(const internal::Envelope& envelope, const RetryPolicy& type_policy) {
  AppliedPolicy applied{type_policy.max_attempts, &type_policy.backoff};
  if (const internal::JobExtras* extras = envelope.extras.get()) {
    if (extras->retry) {
      applied = {extras->retry->max_attempts, &extras->retry->backoff};
    } else if (extras->max_attempts != 0) {
      applied.max_attempts = extras->max_attempts;
    }
  }
  return applied;
}

}  // namespace

void internal::Engine::settle(internal::QueueRuntime& queue, internal::TypeCell& cell, internal::Envelope& envelope,
                              const Message& message, const Status& status, SettleProgress& progress) {
  // Every step that can fail (allocate) comes before the counters move, and a step that did its
  // part is not done again: a failed allocation anywhere here leaves the job as it was, and
  // run_job() tries the whole settlement again.
  switch (status.kind()) {
    case Status::Kind::ok:
      return;  // handled by run_job
    case Status::Kind::revoke:
      end_key(queue, envelope, KeyEnd::revoked);
      cell.revoked.add();
      return;
    case Status::Kind::snooze:
      if (schedule(queue.index, envelope, internal::later(now(), status.delay()))) {
        cell.snoozed.add();
        return;
      }
      dead_letter(queue, envelope,
                  "snoozed, but " + std::to_string(timer_.pending().limit(queue.index)) + " jobs of its queue were already waiting",
                  DeadReason::no_room, progress);
      cell.snoozed.add();
      cell.dead_lettered.add();
      return;
    case Status::Kind::error:
    case Status::Kind::skip_retry:
      break;
  }
  const AppliedPolicy policy = applied_policy(envelope, type_rules_.retry(envelope.type));
  const bool will_retry = status.kind() == Status::Kind::error && envelope.attempt < policy.max_attempts;
  std::chrono::nanoseconds delay{0};
  if (will_retry) {
    try {
      delay = (*policy.backoff)(envelope.attempt, status, message);
    } catch (...) {  // a throwing backoff falls back to the default rather than losing the job
      delay = ExponentialBackoff{}(envelope.attempt, status, message);
    }
    delay = std::max(delay, std::chrono::nanoseconds::zero());
  }
  if (hooks_.logs(LogLevel::debug)) {
    hooks_.log(LogLevel::debug, "job " + std::to_string(envelope.id) + " (" + std::string(registry_[envelope.type].name) +
                             ") attempt " + std::to_string(envelope.attempt) + " failed: " + status.message() +
                             (will_retry ? "; retry in " + std::to_string(delay.count() / 1000000) + " ms" : ""));
  }
  if (!progress.failure_reported) {
    // Counted before the hook runs, so that a hook (or whoever it signals) reading the stats sees
    // its own failure; the report is built first, since building it may fail.
    const Failure failure{envelope.id,
                          registry_[envelope.type].name,
                          queue.config.name,
                          envelope.attempt,
                          message.payload(),
                          status.message(),
                          status.kind() == Status::Kind::error,
                          will_retry,
                          delay,
                          envelope.extras ? &envelope.extras->headers : &internal::no_headers()};
    cell.failed.add();
    hooks_.call(hooks_.on_failure, "failure", failure);
    progress.failure_reported = true;
  }
  if (will_retry) {
    ++envelope.attempt;
    bool scheduled = false;
    try {
      scheduled = schedule(queue.index, envelope, internal::later(now(), delay));
    } catch (...) {
      --envelope.attempt;
      throw;
    }
    if (scheduled) {
      cell.retried.add();
      return;
    }
    --envelope.attempt;
    dead_letter(queue, envelope,
                status.message() + " (no retry: " + std::to_string(timer_.pending().limit(queue.index)) +
                    " jobs of its queue were already waiting)",
                DeadReason::no_room, progress);
  } else {
    dead_letter(queue, envelope, status.message(),
                status.kind() == Status::Kind::error ? DeadReason::attempts_exhausted : DeadReason::skipped, progress);
  }
  // Counted once the letter is in the store: whoever sees the count (wait_idle, a report) can
  // then find the letter.
  cell.dead_lettered.add();
}

void internal::Engine::dead_letter(internal::QueueRuntime& queue, internal::Envelope& envelope, std::string error,
                                   DeadReason reason, SettleProgress& progress) {
  end_key(queue, envelope, KeyEnd::dead);
  internal::DeadLetterStore::Record record;
  record.letter.id = envelope.id;
  record.letter.type = registry_[envelope.type].name;
  record.letter.queue = queue.config.name;
  record.letter.payload = internal::payload_json(envelope.payload);
  record.letter.attempts = envelope.attempt;
  record.letter.last_error = std::move(error);
  record.letter.reason = reason;
  record.letter.when = std::chrono::system_clock::now();
  if (envelope.extras) {
    record.letter.headers = envelope.extras->headers;
    record.letter.flow = envelope.extras->flow;
    record.letter.chain_waiting = internal::waiting_types(envelope.extras->flow);
  }
  record.type = envelope.type;
  record.queue = queue.index;
  if (hooks_.logs(LogLevel::warn)) {
    hooks_.log(LogLevel::warn, "job " + std::to_string(record.letter.id) + " (" + record.letter.type + ") dead-lettered after " +
                            std::to_string(record.letter.attempts) + " attempts (" +
                            std::string(describe(reason)) + "): " + record.letter.last_error);
  }
  if (!progress.dead_reported) {
    hooks_.call(hooks_.on_dead, "dead-letter", record.letter);
    progress.dead_reported = true;
  }
  if (from_lane(envelope)) {  // stored by the lane, where every process sharing the queue sees it
    settle_in_lane(queue, envelope, LaneSettlement::Kind::dead, {}, &record.letter);
    return;
  }
  // The job's overrides go with the letter last, and come back if the store cannot take it. Its
  // headers and its chain are kept once, in the letter, where a requeue takes them from.
  record.extras = std::move(envelope.extras);
  if (record.extras) {
    record.extras->key.clear();  // released above; a requeue does not claim it
    record.extras->headers.swap(record.letter.headers);
    record.extras->headers.clear();
    record.extras->flow.swap(record.letter.flow);
    record.extras->flow.clear();
  }
  try {
    dead_letters_.add(record);
  } catch (...) {
    envelope.extras = std::move(record.extras);
    if (envelope.extras) {
      envelope.extras->headers.swap(record.letter.headers);
      envelope.extras->flow.swap(record.letter.flow);
    }
    throw;
  }
}

void internal::Engine::end_key(internal::QueueRuntime& queue, const internal::Envelope& envelope, KeyEnd end) {
  // A batch's count goes first: a durable job whose process dies before its acknowledgement runs
  // again, and is not counted twice.
  if (envelope.extras && !envelope.extras->flow.empty()) {
    finish_in_batch(envelope, end == KeyEnd::succeeded ? internal::BatchEnd::succeeded
                              : end == KeyEnd::dead   ? internal::BatchEnd::dead
                                                      : internal::BatchEnd::revoked);
  }
  if (from_lane(envelope)) {
    // A durable job's outcome, and its key, go to its lane; a dead one's with its letter.
    if (end != KeyEnd::dead) {
      settle_in_lane(queue, envelope, end == KeyEnd::succeeded ? LaneSettlement::Kind::succeeded
                                                               : LaneSettlement::Kind::revoked);
    }
    return;
  }
  if (!envelope.extras || envelope.extras->key.empty()) return;
  if (end == KeyEnd::succeeded) {
    keys_.keep(envelope.extras->key, envelope.id, now());
  } else {
    keys_.release(envelope.extras->key, envelope.id);
  }
}

void internal::Engine::release_started_key(internal::QueueRuntime& queue, internal::Envelope& envelope) {
  if (from_lane(envelope)) {
    settle_in_lane(queue, envelope, LaneSettlement::Kind::started, {}, nullptr, false);
  } else {
    keys_.release(envelope.extras->key, envelope.id);
  }
  // Its retries, and its outcome, no longer touch the key: a job dispatched since may hold it.
  envelope.extras->key.clear();
}

bool internal::Engine::schedule(QueueId queue, internal::Envelope& envelope, Clock::time_point due) {
  if (from_lane(envelope)) {  // waits in the lane's store, where any process may pick it up
    const Clock::time_point now_ = now();
    const auto delay = due == Clock::time_point::max() ? std::chrono::nanoseconds::max()
                       : due > now_ ? std::chrono::duration_cast<std::chrono::nanoseconds>(due - now_)
                                    : std::chrono::nanoseconds::zero();
    settle_in_lane(*queues_[queue], envelope, LaneSettlement::Kind::later, delay);
    return true;
  }
  internal::Timer::Node node = internal::Timer::make(due, queue, std::move(envelope));
  bool added = false;
  try {
    std::unique_lock lock = timer_.pending().lock();
    added = timer_.pending().add_locked(node);
  } catch (...) {
    envelope = std::move(node->envelope);
    throw;
  }
  if (!added) envelope = std::move(node->envelope);
  return added;
}

}  // namespace jobq
