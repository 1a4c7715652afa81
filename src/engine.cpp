// Cold paths of the Manager: configuration, registration, start, shutdown, stats.
#include "jobq/internal/deadline.hpp"
#include "jobq/internal/engine.hpp"
#include "jobq/internal/stderr_log.hpp"
#include "jobq/internal/threads.hpp"
#include "jobq/internal/until_allocated.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <thread>
#include <vector>

namespace jobq {
namespace {

std::atomic<std::uint64_t> next_manager_uid{1};

/// Throws unless every CPU of `cpus` is one this process may use.
void validate_cpus(const std::vector<unsigned>& cpus, const cpu_set_t& allowed, const std::string& owner) {
  for (unsigned cpu : cpus) {
    if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) {
      throw ConfigError(owner + ": CPU " + std::to_string(cpu) + " is not one this process may run on (allowed: " +
                        internal::describe_cpus(allowed) + ")");
    }
  }
}

void validate_queue(const QueueConfig& queue, const cpu_set_t& allowed) {
  const std::string quoted = "queue '" + queue.name + "'";
  if (std::string problem = queue_name_problem(queue.name); !problem.empty()) {
    throw ConfigError("invalid " + quoted + ": " + problem);
  }
  // A durable queue may have no workers here: this process only dispatches to it (a web
  // process), and worker processes elsewhere run its jobs.
  if (queue.workers == 0 && !queue.lane) throw ConfigError(quoted + ": workers must be at least 1 (0 only for a durable queue)");
  if (queue.capacity == 0) throw ConfigError(quoted + ": capacity must be at least 1");
  if (queue.capacity > (std::size_t{1} << 40)) throw ConfigError(quoted + ": capacity must be at most 2^40");
  if (queue.max_scheduled == 0) throw ConfigError(quoted + ": max_scheduled must be at least 1");
  if (queue.dequeue_batch == 0 || queue.dequeue_batch > 64) {
    throw ConfigError(quoted + ": dequeue_batch must be between 1 and 64");
  }
  if (queue.block_timeout < std::chrono::nanoseconds::zero()) throw ConfigError(quoted + ": block_timeout must not be negative");
  validate_cpus(queue.cpus, allowed, quoted);
  if (std::string problem = internal::limits_problem(queue.limits); !problem.empty()) {
    throw ConfigError(quoted + ": " + problem);
  }
}

}  // namespace

internal::Engine::Engine(Config config)
    : config_(std::move(config)),
      uid_(next_manager_uid.fetch_add(1)),
      clock_(config_.clock),
      timer_([&] {
        std::vector<std::size_t> limits;
        for (const QueueConfig& queue : config_.queues) limits.push_back(queue.max_scheduled);
        return limits;
      }()),
      keys_(config_.max_idempotency_keys, config_.idempotency_ttl),
      dead_letters_(config_.dead_letter_capacity, config_.dead_letter_bytes),
      results_(config_.result_ttl, config_.max_results, config_.result_bytes) {
  if (config_.queues.empty()) throw ConfigError("the configuration has no queues");
  if (config_.retry.max_attempts == 0) throw ConfigError("retry.max_attempts must be at least 1");
  if (config_.latency_sample_every == 0) throw ConfigError("latency_sample_every must be at least 1");
  if (config_.idempotency_ttl < std::chrono::nanoseconds::zero()) throw ConfigError("idempotency_ttl must not be negative");
  if (config_.max_payload_bytes == 0 || config_.max_payload_bytes > (std::size_t{1} << 31)) {
    throw ConfigError("max_payload_bytes must be between 1 and 2^31");
  }
  if (config_.max_payload_depth == 0) throw ConfigError("max_payload_depth must be at least 1");
  if (config_.result_ttl < std::chrono::nanoseconds::zero()) throw ConfigError("result_ttl must not be negative");
  const cpu_set_t allowed = internal::process_cpus();
  validate_cpus(config_.timer_cpus, allowed, "timer_cpus");
  for (const QueueConfig& queue : config_.queues) {
    validate_queue(queue, allowed);
    const auto index = static_cast<QueueId>(queues_.size());
    queues_.push_back(std::make_unique<internal::QueueRuntime>(queue, index));
    if (!queue_index_.insert(queues_.back()->config.name, index)) {
      throw ConfigError("queue '" + queue.name + "' is configured twice");
    }
  }
  default_queue_ = queue_index_.find("default");
  bridges_.resize(queues_.size());
  for (auto& queue : queues_) {
    if (queue->lane != nullptr) queue->lane->attach(queue->config.name);
  }
  // Worker records exist from construction, so that stats() never races start() over them.
  for (auto& queue : queues_) {
    for (unsigned index = 0; index < queue->config.workers; ++index) {
      auto worker = std::make_unique<internal::Worker>();
      worker->index = index;
      if (!queue->config.cpus.empty()) {
        worker->cpu = static_cast<int>(queue->config.cpus[index % queue->config.cpus.size()]);
      }
      queue->workers.push_back(std::move(worker));
    }
  }
  enter_live();
}

internal::Engine::~Engine() {
  leave_live();
  const int lifecycle = state_.load();
  if (lifecycle == configuring || lifecycle == stopped) return;
  const ShutdownReport report = shutdown(internal::saturating_cast<std::chrono::nanoseconds>(config_.destructor_shutdown_timeout));
  if (!report.not_run.empty()) {
    log(LogLevel::error, "Manager destroyed with " + std::to_string(report.not_run.size()) +
                             " accepted jobs not run; call shutdown() to get them back");
  }
}

void internal::Engine::require_configuring(std::string_view what) const {
  if (state_.load() != configuring) {
    throw ConfigError("cannot " + std::string(what) + ": handlers and hooks must be set before start()");
  }
}

TypeId internal::Engine::add_type(std::string_view name, HandlerEntry::Invoke invoke, void* target,
                         std::shared_ptr<void> owned, RegisterOptions options) {
  require_configuring("register job type '" + std::string(name) + "'");
  QueueId queue = default_queue_;
  if (!options.queue.empty()) {
    queue = queue_index_.find(options.queue);
    if (queue == no_id) {
      throw ConfigError("cannot register job type '" + std::string(name) + "': no queue is named '" +
                        std::string(options.queue) + "'");
    }
  }
  if (options.timeout < std::chrono::nanoseconds::zero()) {
    throw ConfigError("cannot register job type '" + std::string(name) + "': the timeout must not be negative");
  }
  RetryPolicy retry = options.retry.value_or(config_.retry);
  if (retry.max_attempts == 0) {
    throw ConfigError("cannot register job type '" + std::string(name) + "': retry.max_attempts must be at least 1");
  }
  if (!retry.backoff) retry.backoff = ExponentialBackoff{};
  if (std::string problem = internal::limits_problem(options.limits); !problem.empty()) {
    throw ConfigError("cannot register job type '" + std::string(name) + "': " + problem);
  }
  const TypeId type = registry_.add(name, invoke, target, std::move(owned), queue, options.timeout);
  type_retry_.push_back(std::move(retry));
  type_limits_.push_back(options.limits.any() ? std::make_unique<internal::LimitScope>(std::string(name), options.limits)
                                              : nullptr);
  if (options.limits.any()) any_type_limited_ = true;
  return type;
}

void internal::Engine::on_failure(FailureHook hook) {
  require_configuring("set the failure hook");
  on_failure_ = std::move(hook);
}

void internal::Engine::on_worker_start(WorkerHook hook) {
  require_configuring("set the worker start hook");
  on_worker_start_ = std::move(hook);
}

void internal::Engine::on_worker_stop(WorkerHook hook) {
  require_configuring("set the worker stop hook");
  on_worker_stop_ = std::move(hook);
}

void internal::Engine::use(Middleware middleware) {
  require_configuring("add middleware");
  if (!middleware) throw ConfigError("cannot add middleware: it is empty");
  middleware_.push_back(std::move(middleware));
}

void internal::Engine::use_dispatch(DispatchMiddleware middleware) {
  require_configuring("add dispatch middleware");
  if (!middleware) throw ConfigError("cannot add dispatch middleware: it is empty");
  dispatch_middleware_.push_back(std::move(middleware));
}

void internal::Engine::log(LogLevel level, const std::string& message) const noexcept {
  if (!logs(level)) return;
  try {
    if (config_.log_sink) {
      config_.log_sink(level, message);
      return;
    }
    internal::log_to_stderr(level, message);
  } catch (...) {  // NOLINT(bugprone-empty-catch): logging must never take a thread down
  }
}

void internal::Engine::on_dead(DeadHook hook) {
  require_configuring("set the dead-letter hook");
  on_dead_ = std::move(hook);
}

void internal::Engine::on_timeout(TimeoutHook hook) {
  require_configuring("set the timeout hook");
  on_timeout_ = std::move(hook);
}

void internal::Engine::start() {
  const std::lock_guard call(lifecycle_calls_);
  std::unique_lock lock(lifecycle_mutex_);
  if (state_.load() != configuring) throw ConfigError("start() may be called once, before shutdown()");
  std::size_t spawned = 0;
  std::string failure;
  for (auto& queue : queues_) {
    for (auto& worker : queue->workers) worker->cells = std::make_unique<internal::TypeCell[]>(registry_.size());
    queue->check_limits = queue->limits != nullptr || any_type_limited_;
  }
  started_at_ = std::chrono::steady_clock::now();
  cells_ready_.store(true, std::memory_order_release);
  try {
    for (auto& queue : queues_) {
      for (auto& worker : queue->workers) {
        internal::QueueRuntime* runtime = queue.get();
        internal::Worker* self = worker.get();
        worker->thread = std::thread([this, runtime, self] { run_worker(*runtime, *self); });
        ++spawned;
      }
    }
  } catch (const std::exception& error) {  // e.g. std::system_error when no thread can be made
    failure = std::string("cannot start a worker thread: ") + error.what();
  }
  lifecycle_changed_.wait(lock, [&] { return workers_started_ == spawned; });
  if (failure.empty()) failure = start_error_;
  if (failure.empty()) {
    try {
      timer_thread_ = std::thread([this] { run_timer(); });
      lifecycle_changed_.wait(lock, [&] { return timer_ready_; });
      failure = start_error_;
    } catch (const std::exception& error) {
      failure = std::string("cannot start the timer thread: ") + error.what();
    }
  }
  if (failure.empty()) {
    // Types are frozen from here: size every per-type counter, then open intake under the same
    // lock, so that a producer state made meanwhile cannot miss its sizing.
    {
      const std::lock_guard producers_lock(producers_mutex_);
      for (auto& state : producers_) size_type_counters(*state);
      state_.store(running, std::memory_order_seq_cst);
    }
    if (logs(LogLevel::info)) {
      std::size_t workers = 0;
      for (const auto& queue : queues_) workers += queue->workers.size();
      log(LogLevel::info, "started " + std::to_string(workers) + " workers on " + std::to_string(queues_.size()) +
                              " queues, " + std::to_string(registry_.size()) + " job types");
    }
    return;
  }
  // Stop the workers that did start, so that none outlives a Manager that never ran.
  state_.store(stopping, std::memory_order_seq_cst);
  for (auto& queue : queues_) queue->wake_everyone();
  lock.unlock();
  for (auto& queue : queues_) {
    for (auto& worker : queue->workers) {
      if (worker->thread.joinable()) worker->thread.join();
    }
  }
  stop_timer();
  state_.store(stopped);
  shut_down_ = true;
  throw ConfigError(failure);
}

ShutdownReport internal::Engine::shutdown(std::chrono::nanoseconds deadline, ShutdownMode mode) {
  const auto until = internal::later(std::chrono::steady_clock::now(), deadline);
  const std::lock_guard call(lifecycle_calls_);  // a concurrent call waits, then gets the final counters
  std::unique_lock lock(lifecycle_mutex_);
  bool drained = true;
  // No new slot after this; one in hand may still be dispatched until intake closes below (a
  // dispatch waiting for room then gives up), and the thread is joined once it has.
  scheduler_.request_stop();
  if (!shut_down_ && state_.load() == configuring) {
    state_.store(stopped, std::memory_order_seq_cst);
    shut_down_ = true;
  } else if (!shut_down_) {
    // Durable queues stop fetching first, while intake is still open, so that no fetched job
    // meets a closed ring: what they hold is then run (drain) or handed back below.
    lock.unlock();
    stop_lane_fetching();
    lock.lock();
    // Intake closes here; the timer stops moving jobs onto the queues (it checks the state).
    state_.store(mode == ShutdownMode::drain ? draining : stopping, std::memory_order_seq_cst);
    lock.unlock();
    scheduler_.stop();
    lock.lock();
    for (auto& queue : queues_) queue->wake_everyone();
    drained = lifecycle_changed_.wait_until(lock, until, [&] { return workers_live_ == 0; });
    if (!drained) {
      state_.store(stopping, std::memory_order_seq_cst);
      for (auto& queue : queues_) {
        for (auto& worker : queue->workers) worker->stop.request_stop();
        queue->wake_everyone();
      }
    }
    lock.unlock();
    for (auto& queue : queues_) {
      for (auto& worker : queue->workers) worker->thread.join();
    }
    // No worker can schedule a retry any more: stop the timer, then return what it holds.
    stop_timer();
    {
      std::unique_lock timer_lock = timer_.lock();
      std::vector<internal::Timer::Node> pending = timer_.take_all_locked();
      timer_lock.unlock();
      for (internal::Timer::Node& job : pending) return_job(*queues_[job->queue], job->envelope, job->due);
    }
    // What no worker took. A reservation made before intake closed turns into an enqueue (or is
    // withdrawn) within a few instructions, so wait for the depth itself to reach zero.
    for (auto& queue : queues_) {
      internal::Envelope envelope;
      while (queue->depth() > 0) {
        if (queue->ring.try_dequeue(envelope)) {
          queue->dequeued.fetch_add(1, std::memory_order_seq_cst);
          return_job(*queue, envelope);
        } else {
          std::this_thread::yield();
        }
      }
    }
    stop_lanes();
    lock.lock();
    state_.store(stopped, std::memory_order_seq_cst);
    shut_down_ = true;
  }
  ShutdownReport report;
  report.not_run = std::move(returned_);
  returned_.clear();
  report.chain_steps = std::move(chain_returned_);
  chain_returned_.clear();
  report.batches = batches_.pending();
  report.drained = drained && report.not_run.empty();
  lock.unlock();
  report.queues = stats();
  report.unrouted = unrouted();
  if (logs(LogLevel::info)) {
    log(LogLevel::info, "shut down: " + std::to_string(report.not_run.size()) + " jobs returned not run");
  }
  for (const QueueStats& queue : report.queues) {
    report.accepted += queue.accepted;
    report.succeeded += queue.succeeded;
    report.dead_lettered += queue.dead_lettered;
    report.revoked += queue.revoked;
    report.failed += queue.failed;
    report.retried += queue.retried;
    report.snoozed += queue.snoozed;
    report.timed_out += queue.timed_out;
    report.handed_back += queue.handed_back;
  }
  return report;
}

void internal::Engine::return_job(internal::QueueRuntime& queue, internal::Envelope& envelope, Clock::time_point due) {
  if (from_lane(envelope)) {  // back to the store, for any process to run: never in the report
    settle_in_lane(queue, envelope, LaneSettlement::Kind::give_back);
    envelope.payload.release();
    envelope.extras.reset();
    return;
  }
  // A job returned at shutdown must not be lost to a failed allocation: the record is built and stored
  // before the envelope lets go, and tried again after a pause if memory runs out.
  internal::until_allocated([&] { record_returned(queue, envelope, due); }, []() noexcept {});
  envelope.payload.release();
  envelope.extras.reset();
}

void internal::Engine::record_returned(internal::QueueRuntime& queue, const internal::Envelope& envelope,
                                          Clock::time_point due) {
  ReturnedJob job;
  job.id = envelope.id;
  job.type = registry_[envelope.type].name;
  job.queue = queue.config.name;
  job.payload = internal::payload_json(envelope.payload);
  job.attempt = envelope.attempt;
  if (envelope.extras) {
    if (!envelope.extras->debounced) job.idempotency_key = envelope.extras->key;  // a debounce slot is no key
    job.headers = envelope.extras->headers;
    job.flow = envelope.extras->flow;
  }
  if (due != Clock::time_point{}) {
    // The wall-clock time at which it was due, so that the record survives a restart.
    // A due time of max() ("never") stays max(); one past it maps across, saturated.
    const Clock::time_point now_ = now();
    job.due = due == Clock::time_point::max()
                  ? std::chrono::system_clock::time_point::max()
                  : internal::later(std::chrono::system_clock::now(),
                                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                        due > now_ ? due - now_ : std::chrono::nanoseconds::zero()));
  }
  const std::lock_guard lock(lifecycle_mutex_);
  returned_.push_back(std::move(job));
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
    std::unique_lock timer_lock = timer_.lock();
    stats.scheduled = timer_.size_locked(queue.index);
  }
  {
    const std::lock_guard lock(producers_mutex_);
    for (const auto& producer : producers_) {
      stats.accepted += producer->counters[queue.index].accepted.read();
      stats.rejected += producer->counters[queue.index].rejected.read();
      stats.debounced += producer->counters[queue.index].debounced.read();
    }
  }
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
  const std::lock_guard lock(producers_mutex_);
  std::uint64_t total = 0;
  for (const auto& producer : producers_) total += producer->unrouted.read();
  return total;
}

QueueStats internal::Engine::stats(std::string_view queue) const {
  const QueueId id = queue_index_.find(queue);
  if (id == no_id) throw ConfigError("no queue is named '" + std::string(queue) + "'");
  return collect_stats(*queues_[id]);
}

}  // namespace jobq
