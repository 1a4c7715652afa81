// The engine made from its configuration: queues checked and built, job types registered, hooks
// and middleware set (all before start()).
#include "jobq/internal/deadline.hpp"
#include "jobq/internal/engine.hpp"
#include "jobq/internal/threads.hpp"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

namespace jobq {
namespace {

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
      producers_(queues_, config_.max_payload_depth),
      clock_(config_.clock),
      hooks_(config_.log_level, config_.log_sink),
      timer_(*this, [&] {
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
}

internal::Engine::~Engine() {
  const int lifecycle = state_.load();
  if (lifecycle == configuring || lifecycle == stopped) return;
  const ShutdownReport report = shutdown(internal::saturating_cast<std::chrono::nanoseconds>(config_.destructor_shutdown_timeout));
  if (!report.not_run.empty()) {
    hooks_.log(LogLevel::error, "Manager destroyed with " + std::to_string(report.not_run.size()) +
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
  // What can fail is done before the registry takes the type: a type has its rules, or is not
  // registered at all.
  auto limits = options.limits.any() ? std::make_unique<internal::LimitScope>(std::string(name), options.limits)
                                     : nullptr;
  type_rules_.reserve_next();
  const TypeId type = registry_.add(name, invoke, target, std::move(owned), queue, options.timeout);
  type_rules_.add(std::move(retry), std::move(limits));
  return type;
}

void internal::Engine::on_failure(FailureHook hook) {
  require_configuring("set the failure hook");
  hooks_.on_failure = std::move(hook);
}

void internal::Engine::on_worker_start(WorkerHook hook) {
  require_configuring("set the worker start hook");
  hooks_.on_worker_start = std::move(hook);
}

void internal::Engine::on_worker_stop(WorkerHook hook) {
  require_configuring("set the worker stop hook");
  hooks_.on_worker_stop = std::move(hook);
}

void internal::Engine::use(Middleware middleware) {
  require_configuring("add middleware");
  if (!middleware) throw ConfigError("cannot add middleware: it is empty");
  hooks_.middleware.push_back(std::move(middleware));
}

void internal::Engine::use_dispatch(DispatchMiddleware middleware) {
  require_configuring("add dispatch middleware");
  if (!middleware) throw ConfigError("cannot add dispatch middleware: it is empty");
  hooks_.dispatch_middleware.push_back(std::move(middleware));
}

void internal::Engine::on_dead(DeadHook hook) {
  require_configuring("set the dead-letter hook");
  hooks_.on_dead = std::move(hook);
}

void internal::Engine::on_timeout(TimeoutHook hook) {
  require_configuring("set the timeout hook");
  hooks_.on_timeout = std::move(hook);
}

}  // namespace jobq
