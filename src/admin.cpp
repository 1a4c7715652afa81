// Operating a running Manager: pausing queues and working with dead letters.
#include <limits>
#include <thread>

#include "jobq/internal/deadline.hpp"
#include "jobq/internal/engine.hpp"

namespace jobq {

bool internal::Engine::wait_idle(std::chrono::nanoseconds timeout) {
  const auto until = internal::later(std::chrono::steady_clock::now(), timeout);
  for (;;) {
    if (state_.load(std::memory_order_acquire) != running) return false;
    bool idle = true;
    for (const auto& queue : queues_) {
      const QueueStats counted = collect_stats(*queue);
      // Terminal counts are read before acceptances, so equality cannot be a torn read.
      idle &= counted.depth == 0 && counted.scheduled == 0 &&
              counted.succeeded + counted.dead_lettered + counted.revoked + counted.handed_back == counted.accepted;
      if (idle && queue->lane != nullptr) idle = queue->lane->idle();
    }
    if (idle) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

internal::QueueRuntime& internal::Engine::queue_named(std::string_view name) const {
  const QueueId id = queue_index_.find(name);
  if (id == no_id) throw ConfigError("no queue is named '" + std::string(name) + "'");
  return *queues_[id];
}

void internal::Engine::pause(std::string_view name) {
  internal::QueueRuntime& queue = queue_named(name);
  if (queue.lane != nullptr) queue.lane->set_paused(true);  // every process's workers, not only these
  queue.paused.store(true, std::memory_order_seq_cst);
  // Parked workers move to the pause word now, so that dispatches meanwhile wake nobody.
  queue.wake_everyone();
}

void internal::Engine::resume(std::string_view name) {
  internal::QueueRuntime& queue = queue_named(name);
  if (queue.lane != nullptr) queue.lane->set_paused(false);
  queue.paused.store(false, std::memory_order_seq_cst);
  queue.wake_everyone();
}

bool internal::Engine::paused(std::string_view name) const {
  return queue_named(name).paused.load(std::memory_order_relaxed);
}

DeadLetterPage internal::Engine::dead_letters(std::size_t offset, std::size_t limit) const {
  return dead_letters_.page(offset, limit);
}

std::optional<DeadLetter> internal::Engine::dead_letter(JobId id) const { return dead_letters_.find(id); }

bool internal::Engine::purge_dead(JobId id) { return dead_letters_.purge(id); }

std::size_t internal::Engine::purge_all_dead() { return dead_letters_.purge_all(); }

Result<DeadLetterPage> internal::Engine::dead_letters(std::string_view queue, std::size_t offset,
                                                      std::size_t limit) const {
  const internal::QueueRuntime& runtime = queue_named(queue);
  if (runtime.lane != nullptr) return runtime.lane->dead_letters(offset, limit);
  // The store keeps every queue's letters in one order: this queue's are picked from a copy of
  // all of them (an admin call, not a hot path).
  const DeadLetterPage all = dead_letters_.page(0, std::numeric_limits<std::size_t>::max());
  DeadLetterPage page;
  page.dropped = all.dropped;
  for (const DeadLetter& letter : all.letters) {
    if (letter.queue != queue) continue;
    if (page.total >= offset && page.letters.size() < limit) page.letters.push_back(letter);
    ++page.total;
  }
  return page;
}

Result<std::optional<DeadLetter>> internal::Engine::dead_letter(std::string_view queue, JobId id) const {
  const internal::QueueRuntime& runtime = queue_named(queue);
  if (runtime.lane != nullptr) return runtime.lane->dead_letter(id);
  std::optional<DeadLetter> letter = dead_letters_.find(id);
  if (letter && letter->queue != queue) letter.reset();
  return letter;
}

Result<JobId> internal::Engine::requeue_dead(std::string_view queue, JobId id) {
  const internal::QueueRuntime& runtime = queue_named(queue);
  if (runtime.lane != nullptr) {
    Result<bool> requeued = runtime.lane->requeue_dead(id);
    if (!requeued) return requeued.error();
    if (!*requeued) return Error(Errc::not_found, "queue '" + std::string(queue) + "' has no dead letter " + std::to_string(id));
    return id;
  }
  const std::optional<DeadLetter> letter = dead_letters_.find(id);
  if (!letter || letter->queue != queue) {
    return Error(Errc::not_found, "queue '" + std::string(queue) + "' has no dead letter " + std::to_string(id));
  }
  return requeue_dead(id);
}

Result<bool> internal::Engine::purge_dead(std::string_view queue, JobId id) {
  const internal::QueueRuntime& runtime = queue_named(queue);
  if (runtime.lane != nullptr) return runtime.lane->purge_dead(id);
  const std::optional<DeadLetter> letter = dead_letters_.find(id);
  if (!letter || letter->queue != queue) return false;
  return purge_dead(id);
}

Result<JobId> internal::Engine::requeue_dead(JobId id) {
  if (const int lifecycle = state_.load(std::memory_order_acquire); lifecycle != running) {
    return Error(lifecycle == configuring ? Errc::not_started : Errc::shutting_down);
  }
  std::optional<internal::DeadLetterStore::Record> record = dead_letters_.take(id);
  if (!record) return Error(Errc::not_found, "no dead letter has id " + std::to_string(id));
  Result<JobId> requeued = requeue_record(*record);
  if (!requeued) dead_letters_.restore(std::move(*record));
  return requeued;
}

Result<std::size_t> internal::Engine::requeue_all_dead() {
  if (const int lifecycle = state_.load(std::memory_order_acquire); lifecycle != running) {
    return Error(lifecycle == configuring ? Errc::not_started : Errc::shutting_down);
  }
  std::vector<internal::DeadLetterStore::Record> records = dead_letters_.take_all();
  std::size_t requeued = 0;
  for (; requeued < records.size(); ++requeued) {
    if (!requeue_record(records[requeued])) break;
  }
  for (std::size_t rest = requeued; rest < records.size(); ++rest) dead_letters_.restore(std::move(records[rest]));
  return requeued;
}

Result<JobId> internal::Engine::requeue_record(const internal::DeadLetterStore::Record& record) {
  internal::Envelope envelope;
  envelope.id = record.letter.id;
  envelope.type = record.type;
  envelope.attempt = 1;
  if (config_.metrics) envelope.stamped = internal::ticks();
  if (record.extras) envelope.extras = std::make_unique<internal::JobExtras>(*record.extras);
  if (!record.letter.headers.empty() || !record.letter.flow.empty()) {
    if (!envelope.extras) envelope.extras = std::make_unique<internal::JobExtras>();
    envelope.extras->headers = record.letter.headers;
    envelope.extras->flow = record.letter.flow;
  }
  if (!envelope.payload.assign(record.letter.payload)) return Error(Errc::payload_too_large, "could not allocate");
  internal::QueueRuntime& queue = *queues_[record.queue];
  internal::ProducerState& state = producer();
  // Counted as accepted again, on its queue and its type.
  switch (readmit(
      queue, state.tokens[record.queue], envelope,
      [&] {
        queue.requeued.fetch_add(1, std::memory_order_seq_cst);
        state.type_counters[record.type].accepted.add();
      },
      [&] {
        queue.requeued.fetch_sub(1, std::memory_order_seq_cst);
        state.type_counters[record.type].accepted.subtract(1);
      })) {
    case Readmitted::yes:
      return record.letter.id;
    case Readmitted::closed:
      return Error(Errc::shutting_down);
    case Readmitted::no_memory:
      break;
  }
  return Error(Errc::queue_full, "could not allocate a ring block");
}

}  // namespace jobq
