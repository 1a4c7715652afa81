// The thread that serves the timer: moves due jobs onto their queues and fires timeouts.
#include <vector>

#include "jobq/internal/engine.hpp"
#include "jobq/internal/threads.hpp"

namespace jobq {

void internal::Engine::run_timer() {
  constexpr std::string_view thread_name = "jq:timer";
  internal::name_this_thread(thread_name);
  std::string pin_error = internal::pin_this_thread(config_.timer_cpus);
  if (!pin_error.empty()) pin_error = "timer_cpus: " + pin_error;
  const WorkerInfo info{{}, 0, -1, thread_name};
  if (pin_error.empty()) call_hook(on_worker_start_, "timer start", info);
  {
    const std::lock_guard lock(lifecycle_mutex_);
    timer_ready_ = true;
    if (!pin_error.empty() && start_error_.empty()) start_error_ = std::move(pin_error);
  }
  lifecycle_changed_.notify_all();
  serve_timer();
  if (pin_error.empty()) call_hook(on_worker_stop_, "timer stop", info);
}

void internal::Engine::serve_timer() {
  // The timer's own ring producers: one thread, so one token per queue.
  std::vector<moodycamel::ProducerToken> tokens;
  tokens.reserve(queues_.size());
  for (auto& queue : queues_) tokens.emplace_back(queue->ring);
  std::vector<internal::Timer::Pending> due;
  std::vector<internal::Timer::Watch> watches;
  std::unique_lock lock = timer_.lock();
  while (!timer_stop_) {
    const Clock::time_point now_ = now();
    timer_.take_due_watches_locked(now_, watches);
    if (state_.load(std::memory_order_seq_cst) == running) timer_.take_due_locked(now_, due, 256);
    if (!due.empty() || !watches.empty()) {
      lock.unlock();
      fire_watches(watches);
      std::size_t released = 0;
      while (released < due.size() && release_due(due[released], tokens)) ++released;
      lock.lock();
      // Intake closed while these were in hand: they stay in the timer for shutdown to return.
      for (std::size_t index = released; index < due.size(); ++index) {
        timer_.add_locked(due[index].due, due[index].queue, std::move(due[index].envelope));
      }
      due.clear();
      watches.clear();
      continue;
    }
    // Once intake has closed, due jobs stay put for shutdown to return, but timeouts still fire.
    const Clock::time_point next = state_.load(std::memory_order_seq_cst) == running ? timer_.next_due_locked()
                                                                                     : timer_.next_watch_locked();
    if (clock_) {
      // A clock the timer cannot sleep on: look again every millisecond of real time.
      timer_.wait_until(lock, std::chrono::steady_clock::now() + std::chrono::milliseconds(1));
    } else if (next == Clock::time_point::max()) {
      timer_.wait(lock);
    } else {
      timer_.wait_until(lock, next);
    }
  }
}

bool internal::Engine::release_due(internal::Timer::Pending& due, std::vector<moodycamel::ProducerToken>& tokens) {
  internal::QueueRuntime& queue = *queues_[due.queue];
  // The producers' protocol (see commit()), without the capacity bound: these jobs were
  // accepted already, so they go in even when the queue is full.
  queue.enqueued.fetch_add(1, std::memory_order_seq_cst);
  if (state_.load(std::memory_order_seq_cst) != running) {
    queue.withdraw(1);
    return false;
  }
  // Its queue wait is measured from now: the time it spent in the timer was asked for.
  if (config_.metrics) due.envelope.stamped = internal::ticks();
  while (!queue.ring.enqueue(tokens[due.queue], std::move(due.envelope))) {
    // Only a failed allocation of a ring block gets here; the job must not be dropped.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (queue.parks && queue.sleepers.load(std::memory_order_seq_cst) != 0) queue.wake_one();
  return true;
}

void internal::Engine::fire_watches(std::vector<internal::Timer::Watch>& watches) {
  for (const internal::Timer::Watch& watch : watches) {
    std::stop_source overran(std::nostopstate);
    {
      const std::lock_guard lock(watch.worker->timed_mutex);
      if (watch.worker->run == watch.run && watch.worker->timed_stop.stop_possible()) {
        overran = watch.worker->timed_stop;
      }
    }
    if (!overran.stop_possible()) continue;  // the handler returned in time
    // Counted, logged and reported before the token fires, so that whoever sees the handler
    // react to its token also sees the overrun. (The copy keeps the job's stop state alive even
    // if the handler returns meanwhile; firing it then reaches no one.)
    queues_[watch.queue]->timed_out.fetch_add(1, std::memory_order_release);
    if (logs(LogLevel::warn)) {
      log(LogLevel::warn, "job " + std::to_string(watch.id) + " (" + std::string(registry_[watch.type].name) +
                              ") still running at its " + std::to_string(watch.timeout.count() / 1000000) +
                              " ms timeout: firing its stop token");
    }
    call_hook(on_timeout_, "timeout",
              Overrun{watch.id, registry_[watch.type].name, queues_[watch.queue]->config.name, watch.attempt,
                      watch.timeout});
    overran.request_stop();
  }
}

void internal::Engine::stop_timer() {
  {
    std::unique_lock lock = timer_.lock();
    timer_stop_ = true;
  }
  timer_.notify();
  if (timer_thread_.joinable()) timer_thread_.join();
}

}  // namespace jobq
