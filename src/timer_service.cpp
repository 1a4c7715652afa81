// The timer thread (timer_service.hpp): moves due jobs onto their queues and fires timeouts.
#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "jobq/internal/engine.hpp"
#include "jobq/internal/timer_service.hpp"
#include "jobq/internal/threads.hpp"

namespace jobq {

internal::TimerService::TimerService(Engine& engine, std::vector<std::size_t> limits)
    : engine_(engine), timer_(std::move(limits)) {}

void internal::TimerService::start() { thread_ = std::thread([this] { run(); }); }

void internal::TimerService::run() {
  constexpr std::string_view thread_name = "jq:timer";
  internal::name_this_thread(thread_name);
  // What the timer keeps for its life is made before it reports to start(), as a worker's is.
  std::string pin_error;
  std::vector<moodycamel::ProducerToken> tokens;  // its own ring producers: one per queue
  bool prepared = false;
  try {
    pin_error = internal::pin_this_thread(engine_.config_.timer_cpus);
    if (!pin_error.empty()) pin_error = "timer_cpus: " + pin_error;
    tokens.reserve(engine_.queues_.size());
    for (auto& queue : engine_.queues_) {
      tokens.emplace_back(queue->ring);
      if (!tokens.back().valid()) throw std::bad_alloc();  // the ring could not add a producer
    }
    prepared = true;
  } catch (const std::bad_alloc&) {  // reported below
  }
  const WorkerInfo info{{}, 0, -1, thread_name};
  const bool announced = prepared && pin_error.empty();
  if (announced) engine_.hooks_.call(engine_.hooks_.on_worker_start, "timer start", info);
  engine_.lifecycle_.ready(internal::Lifecycle::Thread::timer, prepared, std::move(pin_error));
  if (prepared) serve(tokens);
  if (announced) engine_.hooks_.call(engine_.hooks_.on_worker_stop, "timer stop", info);
}

void internal::TimerService::serve(std::vector<moodycamel::ProducerToken>& tokens) {
  std::vector<internal::Timer::Node> due;
  std::unique_lock lock = timer_.lock();
  while (!stop_) {
    const Clock::time_point now_ = engine_.now();
    // Once intake has closed, due jobs stay put for shutdown to return, but timeouts still fire.
    if (engine_.state_.load(std::memory_order_seq_cst) == Engine::running) {
      try {
        timer_.take_due_locked(now_, due, 256);
      } catch (const std::bad_alloc&) {  // nothing was taken; try again shortly
        timer_.wait_until(lock, std::chrono::steady_clock::now() + std::chrono::milliseconds(1));
        continue;
      }
    }
    lock.unlock();
    fire_due_deadlines(now_);
    std::size_t released = 0;
    while (released < due.size() && release_due(*due[released], tokens)) ++released;
    lock.lock();
    if (!due.empty()) {
      // Intake closed while these were in hand: they go back for shutdown to return. They left
      // the timer a moment ago, so their queue's count has room for them.
      for (std::size_t index = released; index < due.size(); ++index) {
        bool kept = false;
        try {
          kept = timer_.add_locked(due[index]);
        } catch (const std::bad_alloc&) {  // returned below instead
        }
        if (!kept) engine_.return_job(*engine_.queues_[due[index]->queue], due[index]->envelope, due[index]->due);
      }
      due.clear();
      continue;
    }
    // The lock was let go above: stop() may have asked meanwhile, and its notify is gone.
    if (stop_) break;
    const bool open = engine_.state_.load(std::memory_order_seq_cst) == Engine::running;
    Clock::time_point next = open ? timer_.next_due_locked() : Clock::time_point::max();
    if (engine_.clock_) {
      // A clock the timer cannot sleep on: look again every millisecond of real time.
      timer_.plan_locked(Clock::time_point::min());
      timer_.wait_until(lock, std::chrono::steady_clock::now() + std::chrono::milliseconds(1));
      continue;
    }
    // Publish the plan, then look at the deadlines: a worker arming one after this sees the plan
    // and nudges (under the lock this thread holds until it sleeps) if it comes earlier.
    timer_.plan_locked(std::min(next, earliest_deadline()));
    next = std::min(next, earliest_deadline());
    if (next == Clock::time_point::max()) {
      timer_.wait(lock);
    } else {
      timer_.wait_until(lock, next);
    }
  }
}

internal::Timer::time_point internal::TimerService::earliest_deadline() const noexcept {
  Clock::time_point earliest = Clock::time_point::max();
  for (const auto& queue : engine_.queues_) {
    for (const auto& worker : queue->workers) earliest = std::min(earliest, worker->deadline.armed_until());
  }
  return earliest;
}

bool internal::TimerService::release_due(internal::Timer::Pending& due,
                                         std::vector<moodycamel::ProducerToken>& tokens) {
  // Its queue wait is measured from now: the time it spent in the timer was asked for.
  if (engine_.config_.metrics) due.envelope.stamped = internal::ticks();
  for (;;) {
    switch (engine_.readmit(*engine_.queues_[due.queue], tokens[due.queue], due.envelope, [] {}, [] {})) {
      case Engine::Readmitted::yes:
        return true;
      case Engine::Readmitted::closed:
        return false;
      case Engine::Readmitted::no_memory:  // the job must not be dropped: try again shortly
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

void internal::TimerService::fire_due_deadlines(Clock::time_point now_) {
  for (const auto& queue : engine_.queues_) {
    for (const auto& worker : queue->workers) {
      std::uint64_t run = 0;
      std::chrono::nanoseconds timeout{0};
      if (!worker->deadline.claim_due(now_, run, timeout)) continue;
      // Claimed: the worker waits in disarm() until fired(), so the job it publishes and its
      // stop source stay this run's. Counted, logged and reported before the token fires, so
      // that whoever sees the handler react to its token also sees the overrun.
      const JobId id = worker->running_id.load(std::memory_order_acquire);
      const TypeId type = worker->running_type.load(std::memory_order_relaxed);
      const std::uint32_t attempt = worker->running_attempt.load(std::memory_order_relaxed);
      queue->timed_out.fetch_add(1, std::memory_order_release);
      if (engine_.hooks_.logs(LogLevel::warn)) {
        try {
          engine_.hooks_.log(LogLevel::warn, "job " + std::to_string(id) + " (" +
                                                 std::string(engine_.registry_[type].name) + ") still running at its " +
                                                 std::to_string(timeout.count() / 1000000) +
                                                 " ms timeout: firing its stop token");
        } catch (const std::bad_alloc&) {  // the line is lost, the timeout is not
        }
      }
      engine_.hooks_.call(engine_.hooks_.on_timeout, "timeout",
                          Overrun{id, engine_.registry_[type].name, queue->config.name, attempt, timeout});
      worker->job_stop.request_stop();
      worker->deadline.fired(run);
    }
  }
}

void internal::TimerService::stop() {
  {
    std::unique_lock lock = timer_.lock();
    stop_ = true;
  }
  timer_.notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace jobq
