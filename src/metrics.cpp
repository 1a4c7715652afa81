// Merging the per-worker and per-producer counters into a metrics snapshot and per-queue stats.
#include "jobq/internal/engine.hpp"

namespace jobq {
namespace {

/// Runs that ended: each ended as exactly one of these (a failure then retried or died).
std::uint64_t finished_runs(const JobCounters& jobs) {
  return jobs.succeeded + jobs.failed + jobs.revoked + jobs.snoozed;
}

}  // namespace

MetricsSnapshot internal::Engine::metrics() const {
  MetricsSnapshot snapshot;
  snapshot.latency_sample_every = config_.latency_sample_every;
  const double seconds_per_tick = tick_rate_.seconds_per_tick();
  const bool cells = cells_ready_.load(std::memory_order_acquire);
  if (cells) {
    snapshot.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
  }
  snapshot.types.resize(registry_.size());
  for (std::size_t type = 0; type < registry_.size(); ++type) {
    snapshot.types[type].type = registry_[static_cast<TypeId>(type)].name;
    snapshot.types[type].wait = Latency(seconds_per_tick);
    snapshot.types[type].run = Latency(seconds_per_tick);
  }
  for (const auto& queue : queues_) {
    QueueMetrics& out = snapshot.queues.emplace_back();
    out.name = queue->config.name;
    out.workers = queue->config.workers;
    out.idle = queue->config.idle;
    out.paused = queue->paused.load(std::memory_order_relaxed);
    if (queue->lane != nullptr) {
      out.durable = true;
      out.lane = queue->lane->stats();
      out.handed_back = queue->handed_back.load(std::memory_order_acquire);
    }
    out.wait = Latency(seconds_per_tick);
    out.run = Latency(seconds_per_tick);
    std::uint64_t taken = 0;
    std::uint64_t returned = 0;
    if (cells) {
      for (const auto& worker : queue->workers) {
        // Outcomes before `taken`, so that in_flight never comes out negative.
        for (std::size_t type = 0; type < registry_.size(); ++type) {
          const internal::TypeCell& cell = worker->cells[type];
          cell.add_outcomes_to(out.jobs);
          cell.add_outcomes_to(snapshot.types[type].jobs);
          out.wait.add(cell.wait);
          out.run.add(cell.run);
          snapshot.types[type].wait.add(cell.wait);
          snapshot.types[type].run.add(cell.run);
        }
        returned += worker->returned.read();
        taken += worker->taken.read();
        if (worker->running_id.load(std::memory_order_relaxed) != 0) ++out.busy_workers;
      }
    }
    const std::uint64_t finished = finished_runs(out.jobs) + returned;
    out.in_flight = taken > finished ? taken - finished : 0;
    out.jobs.started = finished_runs(out.jobs) + out.busy_workers;
    out.timed_out = queue->timed_out.load(std::memory_order_acquire);
    out.limit_waiting = queue->limit_waiting.load(std::memory_order_relaxed);
    out.throttled = queue->throttled.load(std::memory_order_relaxed);
    out.wakeups = queue->notifier.wakes();
    out.jobs.accepted = queue->requeued.load(std::memory_order_acquire);
    out.depth = std::max<std::int64_t>(0, queue->depth());
    {
      std::unique_lock timer_lock = timer_.pending().lock();
      out.scheduled = timer_.pending().size_locked(queue->index);
    }
  }
  for (TypeMetrics& type : snapshot.types) type.jobs.started = finished_runs(type.jobs);
  for (const InFlightJob& job : in_flight()) {
    if (job.id != 0) ++snapshot.types[registry_.find(job.type)].jobs.started;
  }
  producers_.for_each([&](const internal::ProducerState& producer) {
    for (std::size_t queue = 0; queue < queues_.size(); ++queue) {
      snapshot.queues[queue].jobs.accepted += producer.counters[queue].accepted.read();
      snapshot.queues[queue].jobs.rejected += producer.counters[queue].rejected.read();
      snapshot.queues[queue].jobs.debounced += producer.counters[queue].debounced.read();
    }
    for (std::size_t type = 0; type < producer.type_count; ++type) {
      snapshot.types[type].jobs.accepted += producer.type_counters[type].accepted.read();
      snapshot.types[type].jobs.rejected += producer.type_counters[type].rejected.read();
      snapshot.types[type].jobs.debounced += producer.type_counters[type].debounced.read();
    }
    snapshot.unrouted += producer.unrouted.read();
    ++(producer.retired ? snapshot.producers_retired : snapshot.producers_live);
  });
  const DeadLetterPage dead = dead_letters_.page(0, 0);
  snapshot.dead_letters = dead.total;
  snapshot.dead_letters_dropped = dead.dropped;
  snapshot.dead_letter_bytes = dead_letters_.bytes();
  snapshot.idempotency_keys = keys_.size();
  return snapshot;
}

std::vector<InFlightJob> internal::Engine::in_flight() const {
  std::vector<InFlightJob> jobs;
  const double seconds_per_tick = tick_rate_.seconds_per_tick();
  for (const auto& queue : queues_) {
    for (const auto& worker : queue->workers) {
      // A sequence-locked read: retry while the worker is between writes.
      for (int tries = 0; tries < 64; ++tries) {
        const std::uint64_t before = worker->running_seq.load(std::memory_order_acquire);
        if (before % 2 != 0) continue;
        InFlightJob job;
        job.id = worker->running_id.load(std::memory_order_relaxed);
        const TypeId type = worker->running_type.load(std::memory_order_relaxed);
        job.attempt = worker->running_attempt.load(std::memory_order_relaxed);
        const std::uint64_t since = worker->running_since.load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (worker->running_seq.load(std::memory_order_relaxed) != before) continue;
        if (job.id == 0) break;
        job.type = registry_[type].name;
        job.queue = queue->config.name;
        job.worker = worker->index;
        if (since != 0) {
          const std::uint64_t now_ticks = internal::ticks();
          job.running_seconds = now_ticks > since ? static_cast<double>(now_ticks - since) * seconds_per_tick : 0;
        }
        jobs.push_back(std::move(job));
        break;
      }
    }
  }
  return jobs;
}

QueueStats internal::Engine::collect_stats(const internal::QueueRuntime& queue) const {
  QueueStats stats;
  stats.name = queue.config.name;
  stats.workers = queue.config.workers;
  // Outcomes first, acceptances after: a job counted as run was accepted before it ran (release
  // stores, acquire loads, and the ring in between), so a snapshot never shows more jobs run than
  // accepted.
  // The workers' cells exist once start() has begun; before it every count is zero.
  if (cells_ready_.load(std::memory_order_acquire)) {
    for (const auto& worker : queue.workers) {
      for (std::size_t type = 0; type < registry_.size(); ++type) worker->cells[type].add_outcomes_to(stats);
    }
  }
  stats.timed_out = queue.timed_out.load(std::memory_order_acquire);
  stats.handed_back = queue.handed_back.load(std::memory_order_acquire);
  stats.accepted += queue.requeued.load(std::memory_order_acquire);
  stats.accepted += queue.delivered.load(std::memory_order_acquire);
  stats.rejected += queue.async_rejected.load(std::memory_order_relaxed);
  stats.paused = queue.paused.load(std::memory_order_relaxed);
  stats.wakeups = queue.notifier.wakes();
  stats.limit_waiting = queue.limit_waiting.load(std::memory_order_relaxed);
  stats.throttled = queue.throttled.load(std::memory_order_relaxed);
  {
    std::unique_lock timer_lock = timer_.pending().lock();
    stats.scheduled = timer_.pending().size_locked(queue.index);
  }
  producers_.for_each([&](const internal::ProducerState& producer) {
    stats.accepted += producer.counters[queue.index].accepted.read();
    stats.rejected += producer.counters[queue.index].rejected.read();
    stats.debounced += producer.counters[queue.index].debounced.read();
  });
  stats.depth = std::max<std::int64_t>(0, queue.depth());
  return stats;
}

std::vector<QueueStats> internal::Engine::stats() const {
  std::vector<QueueStats> all;
  all.reserve(queues_.size());
  for (const auto& queue : queues_) all.push_back(collect_stats(*queue));
  return all;
}

std::uint64_t internal::Engine::unrouted() const {
  std::uint64_t total = 0;
  producers_.for_each([&](const internal::ProducerState& producer) { total += producer.unrouted.read(); });
  return total;
}

QueueStats internal::Engine::stats(std::string_view queue) const {
  const QueueId id = queue_index_.find(queue);
  if (id == no_id) throw ConfigError("no queue is named '" + std::string(queue) + "'");
  return collect_stats(*queues_[id]);
}

}  // namespace jobq
