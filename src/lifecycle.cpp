// Starting and stopping the engine: start() brings up the workers and the timer, shutdown() drains
// or stops them and hands back, as ReturnedJob records, the jobs that did not run.
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "jobq/internal/deadline.hpp"
#include "jobq/internal/engine.hpp"
#include "jobq/internal/until_allocated.hpp"

namespace jobq {
namespace {

/// Why start() failed, or empty (then start() reports running out of memory) when even that
/// line cannot be made: the workers that did start must still be stopped before it throws.
std::string start_failure(std::string_view what, const std::exception& error) noexcept {
  try {
    return std::string(what) + error.what();
  } catch (const std::bad_alloc&) {
    return {};
  }
}

}  // namespace

void internal::Engine::start() {
  const std::lock_guard call(lifecycle_.calls());
  internal::Lifecycle::Lock lock = lifecycle_.lock();
  if (state_.load() != configuring) throw ConfigError("start() may be called once, before shutdown()");
  std::size_t spawned = 0;
  std::string failure;
  for (auto& queue : queues_) {
    for (auto& worker : queue->workers) worker->cells = std::make_unique<internal::TypeCell[]>(registry_.size());
    queue->check_limits = queue->limits != nullptr || type_rules_.any_limited();
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
  } catch (const std::bad_alloc&) {
    lifecycle_.note_out_of_memory();
  } catch (const std::exception& error) {  // e.g. std::system_error when no thread can be made
    failure = start_failure("cannot start a worker thread: ", error);
  }
  lifecycle_.wait_workers_ready(lock, spawned);
  if (failure.empty()) failure = lifecycle_.take_problem();
  if (failure.empty() && !lifecycle_.out_of_memory()) {
    try {
      timer_.start();
      lifecycle_.wait_timer_ready(lock);
      failure = lifecycle_.take_problem();
    } catch (const std::bad_alloc&) {
      lifecycle_.note_out_of_memory();
    } catch (const std::exception& error) {
      failure = start_failure("cannot start the timer thread: ", error);
    }
  }
  if (failure.empty() && !lifecycle_.out_of_memory()) {
    // Types are frozen from here: size every per-type counter, then open intake under the same
    // lock, so that a producer state made meanwhile cannot miss its sizing.
    try {
      producers_.freeze_types(registry_.size(), [&] { state_.store(running, std::memory_order_seq_cst); });
    } catch (const std::bad_alloc&) {  // a state's counters could not be made: start() fails below
      lifecycle_.note_out_of_memory();
    }
  }
  if (failure.empty() && !lifecycle_.out_of_memory()) {
    if (hooks_.logs(LogLevel::info)) {
      std::size_t workers = 0;
      for (const auto& queue : queues_) workers += queue->workers.size();
      hooks_.log(LogLevel::info, "started " + std::to_string(workers) + " workers on " + std::to_string(queues_.size()) +
                              " queues, " + std::to_string(registry_.size()) + " job types");
    }
    return;
  }
  // Stop the workers that did start, so that none outlives a Manager that never ran.
  producers_.types_final(registry_.size());
  state_.store(stopping, std::memory_order_seq_cst);
  for (auto& queue : queues_) queue->wake_everyone();
  lock.unlock();
  for (auto& queue : queues_) {
    for (auto& worker : queue->workers) {
      if (worker->thread.joinable()) worker->thread.join();
    }
  }
  timer_.stop();
  state_.store(stopped);
  lifecycle_.mark_shut_down();
  // Out of memory is not a configuration mistake: it is reported as itself.
  if (lifecycle_.out_of_memory() || failure.empty()) throw std::bad_alloc();
  throw ConfigError(failure);
}

ShutdownReport internal::Engine::shutdown(std::chrono::nanoseconds deadline, ShutdownMode mode) {
  const auto until = internal::later(std::chrono::steady_clock::now(), deadline);
  const std::lock_guard call(lifecycle_.calls());  // a concurrent call waits, then gets the final counters
  internal::Lifecycle::Lock lock = lifecycle_.lock();
  bool drained = true;
  // No new slot after this; one in hand may still be dispatched until intake closes below (a
  // dispatch waiting for room then gives up), and the thread is joined once it has.
  scheduler_.request_stop();
  if (!lifecycle_.shut_down() && state_.load() == configuring) {
    producers_.types_final(registry_.size());
    state_.store(stopped, std::memory_order_seq_cst);
    lifecycle_.mark_shut_down();
  } else if (!lifecycle_.shut_down()) {
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
    drained = lifecycle_.wait_workers_gone(lock, until);
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
    timer_.stop();
    {
      std::unique_lock timer_lock = timer_.pending().lock();
      std::vector<internal::Timer::Node> pending = timer_.pending().take_all_locked();
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
    lifecycle_.mark_shut_down();
  }
  ShutdownReport report;
  report.not_run = lifecycle_.take_returned();
  report.chain_steps = lifecycle_.take_chain_steps();
  report.batches = batches_.pending();
  report.drained = drained && report.not_run.empty();
  lock.unlock();
  report.queues = stats();
  report.unrouted = unrouted();
  if (hooks_.logs(LogLevel::info)) {
    hooks_.log(LogLevel::info, "shut down: " + std::to_string(report.not_run.size()) + " jobs returned not run");
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
  lifecycle_.keep_returned(std::move(job));
}

void internal::Lifecycle::ready(Thread thread, bool prepared, std::string problem) {
  {
    const std::lock_guard lock(mutex_);
    if (thread == Thread::worker) {
      ++workers_ready_;
      ++workers_live_;
    } else {
      timer_ready_ = true;
    }
    if (!prepared) out_of_memory_ = true;
    if (!problem.empty() && problem_.empty()) problem_ = std::move(problem);
  }
  changed_.notify_all();
}

void internal::Lifecycle::worker_gone() {
  {
    const std::lock_guard lock(mutex_);
    --workers_live_;
  }
  changed_.notify_all();
}

void internal::Lifecycle::keep_returned(ReturnedJob job) {
  const std::lock_guard lock(mutex_);
  returned_.push_back(std::move(job));
}

void internal::Lifecycle::keep_chain_step(ReturnedJob job) {
  const std::lock_guard lock(mutex_);
  chain_steps_.push_back(std::move(job));
}

}  // namespace jobq
