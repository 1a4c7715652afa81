// Cold paths of the Manager: configuration, registration, start, shutdown, stats.
#include "jobq/manager.hpp"

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

/// The CPUs this process may run on, as "0-3,6" for messages.
std::string describe_cpus(const cpu_set_t& set) {
  std::string text;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    if (!text.empty()) text += ',';
    text += std::to_string(cpu);
    if (last > cpu) text += '-' + std::to_string(last);
    cpu = last;
  }
  return text;
}

void validate_queue(const QueueConfig& queue, const cpu_set_t& allowed) {
  const std::string quoted = "queue '" + queue.name + "'";
  if (std::string problem = queue_name_problem(queue.name); !problem.empty()) {
    throw ConfigError("invalid " + quoted + ": " + problem);
  }
  if (queue.workers == 0) throw ConfigError(quoted + ": workers must be at least 1");
  if (queue.capacity == 0) throw ConfigError(quoted + ": capacity must be at least 1");
  if (queue.capacity > (std::size_t{1} << 40)) throw ConfigError(quoted + ": capacity must be at most 2^40");
  if (queue.dequeue_batch == 0 || queue.dequeue_batch > 64) {
    throw ConfigError(quoted + ": dequeue_batch must be between 1 and 64");
  }
  for (unsigned cpu : queue.cpus) {
    if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) {
      throw ConfigError(quoted + ": CPU " + std::to_string(cpu) +
                        " is not one this process may run on (allowed: " + describe_cpus(allowed) + ")");
    }
  }
}

}  // namespace

Manager::Manager(Config config) : config_(std::move(config)), uid_(next_manager_uid.fetch_add(1)) {
  if (config_.queues.empty()) throw ConfigError("the configuration has no queues");
  if (config_.max_payload_bytes == 0 || config_.max_payload_bytes > (std::size_t{1} << 31)) {
    throw ConfigError("max_payload_bytes must be between 1 and 2^31");
  }
  if (config_.max_payload_depth == 0) throw ConfigError("max_payload_depth must be at least 1");
  // The process's CPUs: the main thread's set (the process id names it) joined with this
  // thread's, so that a Manager built on a pinned thread may still pin its workers elsewhere.
  cpu_set_t allowed;
  cpu_set_t this_thread;
  CPU_ZERO(&allowed);
  CPU_ZERO(&this_thread);
  if (sched_getaffinity(getpid(), sizeof allowed, &allowed) != 0 ||
      sched_getaffinity(0, sizeof this_thread, &this_thread) != 0) {
    throw ConfigError("sched_getaffinity failed");
  }
  CPU_OR(&allowed, &allowed, &this_thread);
  for (const QueueConfig& queue : config_.queues) {
    validate_queue(queue, allowed);
    const auto index = static_cast<QueueId>(queues_.size());
    queues_.push_back(std::make_unique<internal::QueueRuntime>(queue, index));
    if (!queue_index_.insert(queues_.back()->config.name, index)) {
      throw ConfigError("queue '" + queue.name + "' is configured twice");
    }
  }
  default_queue_ = queue_index_.find("default");
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
}

Manager::~Manager() {
  const int lifecycle = state_.load();
  if (lifecycle == configuring || lifecycle == stopped) return;
  const ShutdownReport report = shutdown(config_.destructor_shutdown_timeout);
  if (!report.not_run.empty()) {
    std::fprintf(stderr, "jobq: Manager destroyed with %zu accepted jobs not run; call shutdown() to get them back\n",
                 report.not_run.size());
  }
}

void Manager::require_configuring(std::string_view what) const {
  if (state_.load() != configuring) {
    throw ConfigError("cannot " + std::string(what) + ": handlers and hooks must be set before start()");
  }
}

TypeId Manager::add_type(std::string_view name, HandlerEntry::Invoke invoke, void* target,
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
  return registry_.add(name, invoke, target, std::move(owned), queue);
}

void Manager::on_failure(FailureHook hook) {
  require_configuring("set the failure hook");
  on_failure_ = std::move(hook);
}

void Manager::start() {
  const std::lock_guard call(lifecycle_calls_);
  std::unique_lock lock(lifecycle_mutex_);
  if (state_.load() != configuring) throw ConfigError("start() may be called once, before shutdown()");
  std::size_t spawned = 0;
  std::string failure;
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
    state_.store(running, std::memory_order_seq_cst);
    return;
  }
  // Stop the workers that did start, so that none outlives a Manager that never ran.
  state_.store(stopping, std::memory_order_seq_cst);
  for (auto& queue : queues_) queue->wake_all();
  lock.unlock();
  for (auto& queue : queues_) {
    for (auto& worker : queue->workers) {
      if (worker->thread.joinable()) worker->thread.join();
    }
  }
  state_.store(stopped);
  shut_down_ = true;
  throw ConfigError(failure);
}

ShutdownReport Manager::shutdown(std::chrono::nanoseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::lock_guard call(lifecycle_calls_);  // a concurrent call waits, then gets the final counters
  std::unique_lock lock(lifecycle_mutex_);
  bool drained = true;
  if (!shut_down_ && state_.load() == configuring) {
    state_.store(stopped, std::memory_order_seq_cst);
    shut_down_ = true;
  } else if (!shut_down_) {
    state_.store(draining, std::memory_order_seq_cst);
    for (auto& queue : queues_) queue->wake_all();
    drained = lifecycle_changed_.wait_until(lock, until, [&] { return workers_live_ == 0; });
    if (!drained) {
      state_.store(stopping, std::memory_order_seq_cst);
      for (auto& queue : queues_) {
        for (auto& worker : queue->workers) worker->stop.request_stop();
        queue->wake_all();
      }
    }
    lock.unlock();
    for (auto& queue : queues_) {
      for (auto& worker : queue->workers) worker->thread.join();
    }
    // What no worker took. A reservation made before intake closed turns into an enqueue (or is
    // withdrawn) within a few instructions, so wait for the depth itself to reach zero.
    for (auto& queue : queues_) {
      internal::Envelope envelope;
      while (queue->depth() > 0) {
        if (queue->ring.try_dequeue(envelope)) {
          queue->dequeued.fetch_add(1, std::memory_order_seq_cst);
          hand_back(*queue, envelope);
        } else {
          std::this_thread::yield();
        }
      }
    }
    lock.lock();
    state_.store(stopped, std::memory_order_seq_cst);
    shut_down_ = true;
  }
  ShutdownReport report;
  report.not_run = std::move(handed_back_);
  handed_back_.clear();
  report.drained = drained && report.not_run.empty();
  lock.unlock();
  report.queues = stats();
  report.unrouted = unrouted();
  for (const QueueStats& queue : report.queues) {
    report.accepted += queue.accepted;
    report.succeeded += queue.succeeded;
    report.failed += queue.failed;
  }
  return report;
}

void Manager::hand_back(internal::QueueRuntime& queue, internal::Envelope& envelope) {
  ReturnedJob job{envelope.id, std::string(registry_[envelope.type].name), queue.config.name,
                  std::string(envelope.payload.view())};
  envelope.payload.release();
  const std::lock_guard lock(lifecycle_mutex_);
  handed_back_.push_back(std::move(job));
}

QueueStats Manager::collect_stats(const internal::QueueRuntime& queue) const {
  QueueStats stats;
  stats.name = queue.config.name;
  stats.workers = queue.config.workers;
  // Outcomes first, acceptances after: a job counted as run was accepted before it ran (release
  // stores, acquire loads, and the ring in between), so a snapshot never shows more jobs run than
  // accepted.
  for (const auto& worker : queue.workers) {
    stats.succeeded += worker->succeeded.read();
    stats.failed += worker->failed.read();
  }
  {
    const std::lock_guard lock(producers_mutex_);
    for (const auto& producer : producers_) {
      stats.accepted += producer->counters[queue.index].accepted.read();
      stats.rejected += producer->counters[queue.index].rejected.read();
    }
  }
  stats.depth = std::max<std::int64_t>(0, queue.depth());
  return stats;
}

std::vector<QueueStats> Manager::stats() const {
  std::vector<QueueStats> all;
  all.reserve(queues_.size());
  for (const auto& queue : queues_) all.push_back(collect_stats(*queue));
  return all;
}

std::uint64_t Manager::unrouted() const {
  const std::lock_guard lock(producers_mutex_);
  std::uint64_t total = 0;
  for (const auto& producer : producers_) total += producer->unrouted.read();
  return total;
}

QueueStats Manager::stats(std::string_view queue) const {
  const QueueId id = queue_index_.find(queue);
  if (id == no_id) throw ConfigError("no queue is named '" + std::string(queue) + "'");
  return collect_stats(*queues_[id]);
}

internal::ProducerState& Manager::producer_slow() {
  // The Managers this thread used recently, most recent last. A miss here falls back to this
  // Manager's own list, keyed by thread, so that a thread never gets a second state (and a second
  // set of ring producers, which every worker would then poll) from the same Manager.
  constexpr std::size_t remembered = 16;
  thread_local std::vector<internal::ProducerCacheEntry> recent;
  auto remember = [&](internal::ProducerState* state) -> internal::ProducerState& {
    std::erase_if(recent, [&](const internal::ProducerCacheEntry& entry) { return entry.manager_uid == uid_; });
    if (recent.size() == remembered) recent.erase(recent.begin());
    recent.push_back({uid_, state});
    internal::last_producer = recent.back();
    return *state;
  };
  for (const internal::ProducerCacheEntry& entry : recent) {
    if (entry.manager_uid == uid_) return remember(entry.state);
  }
  const std::thread::id self = std::this_thread::get_id();
  {
    const std::lock_guard lock(producers_mutex_);
    for (const auto& state : producers_) {
      if (state->owner == self) return remember(state.get());
    }
  }
  auto state = std::make_unique<internal::ProducerState>();
  state->owner = self;
  state->tokens.reserve(queues_.size());
  for (auto& queue : queues_) {
    state->tokens.emplace_back(queue->ring);
    if (!state->tokens.back().valid()) throw std::bad_alloc();  // the ring could not add a producer
  }
  state->counters = std::make_unique<internal::ProducerState::QueueCounters[]>(queues_.size());
  state->staging.resize(queues_.size());
  if (state->validator.allocate(4096, config_.max_payload_depth) != simdjson::SUCCESS) throw std::bad_alloc();
  internal::ProducerState* raw = state.get();
  {
    const std::lock_guard lock(producers_mutex_);
    producers_.push_back(std::move(state));
  }
  return remember(raw);
}

std::string Manager::validation_problem(internal::ProducerState& state, const internal::PayloadBuffer& payload) {
  simdjson::dom::element root;
  // The envelope already carries simdjson's padding, so the validator parses it in place.
  const simdjson::error_code error = state.validator.parse(payload.data(), payload.size(), false).get(root);
  if (error == simdjson::SUCCESS) return {};
  std::string text = internal::describe_simdjson_error(error);
  if (error == simdjson::DEPTH_ERROR) text += ": nesting deeper than " + std::to_string(config_.max_payload_depth);
  return text;
}

Result<JobId> Manager::dispatch_bulk(std::span<const Job> jobs) {
  internal::ProducerState& state = producer();
  auto clear_staging = [&state] {
    for (auto& staged : state.staging) staged.clear();
  };
  auto reject_staged = [&](Error error) -> Result<JobId> {
    clear_staging();
    for (const Job& job : jobs) {
      if (Result<Route> routed = route(job)) count_rejected(state, routed->queue);
    }
    return error;
  };
  if (jobs.empty()) {
    const int lifecycle = state_.load(std::memory_order_acquire);
    if (lifecycle == running) return JobId{0};
    return Error(lifecycle == configuring ? Errc::not_started : Errc::shutting_down);
  }
  // Route every job and admit each queue the batch touches before any payload is copied, so
  // that a producer retrying against a full queue pays for a few reads, not for the whole batch.
  state.routes.clear();
  QueueId admitted = no_id;
  for (const Job& job : jobs) {
    Result<Route> routed = route(job);
    if (!routed) return reject_staged(refuse_unrouted(routed.error()));
    if (routed->queue != admitted) {
      if (const Errc refused = admission(state, routed->queue); refused != Errc{}) {
        state.counters[routed->queue].rejected.subtract(1);  // reject_staged counts the whole batch
        return reject_staged(Error(refused));
      }
      admitted = routed->queue;
    }
    state.routes.push_back(*routed);
  }
  const JobId first = take_ids(state, jobs.size());
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    const Job& job = jobs[index];
    const Route routed = state.routes[index];
    std::vector<internal::Envelope>& staged = state.staging[routed.queue];
    internal::Envelope& envelope = staged.emplace_back();
    envelope.id = first + index;
    envelope.type = routed.type;
    envelope.attempt = 1;
    if (job.payload().size() > config_.max_payload_bytes) {
      return reject_staged(Error(Errc::payload_too_large, "job " + std::to_string(index) + ": " +
                                                              std::to_string(job.payload().size()) + " bytes"));
    }
    if (!envelope.payload.assign(job.payload())) return reject_staged(Error(Errc::payload_too_large));
    if (config_.validate_payloads && !job.is_trusted()) {
      if (std::string problem = validation_problem(state, envelope.payload); !problem.empty()) {
        return reject_staged(Error(Errc::invalid_payload, "job " + std::to_string(index) + ": " + problem));
      }
    }
  }
  auto release_reservations = [&](QueueId upto) {
    for (QueueId queue = 0; queue < upto; ++queue) {
      const auto count = static_cast<std::int64_t>(state.staging[queue].size());
      if (count != 0) queues_[queue]->withdraw(count);
    }
  };
  for (QueueId queue = 0; queue < queues_.size(); ++queue) {
    const auto count = static_cast<std::int64_t>(state.staging[queue].size());
    if (count == 0) continue;
    internal::QueueRuntime& runtime = *queues_[queue];
    if (!runtime.reserve(count, state.counters[queue].dequeued_seen)) {
      release_reservations(queue);
      return reject_staged(Error(Errc::queue_full, "queue '" + runtime.config.name + "' has room for fewer than " +
                                                       std::to_string(count) + " jobs"));
    }
  }
  if (state_.load(std::memory_order_seq_cst) != running) {
    release_reservations(static_cast<QueueId>(queues_.size()));
    return reject_staged(Error(Errc::shutting_down));
  }
  for (QueueId queue = 0; queue < queues_.size(); ++queue) {
    std::vector<internal::Envelope>& staged = state.staging[queue];
    if (staged.empty()) continue;
    internal::QueueRuntime& runtime = *queues_[queue];
    state.counters[queue].accepted.add(staged.size());  // before the enqueue, as in enqueue()
    if (!runtime.ring.enqueue_bulk(state.tokens[queue], std::make_move_iterator(staged.begin()), staged.size())) {
      state.counters[queue].accepted.subtract(staged.size());
      // Only an allocation failure gets here; earlier queues of the batch were already enqueued,
      // so withdraw this queue's jobs and every later one's.
      for (QueueId rest = queue; rest < queues_.size(); ++rest) {
        const std::size_t count = state.staging[rest].size();
        if (count == 0) continue;
        queues_[rest]->withdraw(static_cast<std::int64_t>(count));
        count_rejected(state, rest, count);
        state.staging[rest].clear();
      }
      return Error(Errc::queue_full, "could not allocate ring blocks");
    }
    staged.clear();
    if (runtime.parks && runtime.sleepers.load(std::memory_order_seq_cst) != 0) runtime.wake_all();
  }
  return first;
}

}  // namespace jobq
