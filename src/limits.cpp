// Rate and concurrency limits, on the worker: a job over a limit waits in the hands of the worker
// that took it, spending no attempt, until it may start. Only a queue with limits, or a job type
// with them, comes here; the unlimited path tests two flags.
#include <thread>

#include "jobq/internal/deadline.hpp"
#include "jobq/internal/engine.hpp"

namespace jobq {
namespace {

/// How long a waiting worker sleeps before it looks at the lifecycle again: shutdown's deadline
/// returns a waiting job within this.
constexpr std::chrono::milliseconds look_every{20};
/// How often a worker asks a fleet's store again for a running slot it was refused.
constexpr std::chrono::milliseconds fleet_poll{5};

}  // namespace

std::string internal::limits_problem(const Limits& limits) {
  if (!limits.rate) return {};
  const RateLimit& rate = *limits.rate;
  if (rate.count == 0) return "a rate limit of 0 starts would start nothing: leave the rate unset for none";
  if (rate.per <= std::chrono::nanoseconds::zero()) return "a rate limit's period must be positive";
  if (rate.burst == 0) return "a rate limit's burst must be at least 1";
  if (rate.per.count() / rate.count == 0) return "a rate limit of more than one start a nanosecond";
  return {};
}

bool internal::Engine::wait_for_limits(internal::QueueRuntime& queue, internal::Worker& worker,
                                       const internal::Envelope& envelope, internal::LimitHold& hold) {
  internal::LimitScope* const type = type_rules_.any_limited() ? type_rules_.limits(envelope.type) : nullptr;
  internal::LimitScope* const own = queue.limits.get();
  Lane* const fleet = queue.limit_store;
  bool waited = false;
  auto wait_begins = [&] {
    if (waited) return;
    waited = true;
    queue.throttled.fetch_add(1, std::memory_order_relaxed);
    queue.limit_waiting.fetch_add(1, std::memory_order_relaxed);
  };
  auto done_waiting = [&] {
    if (waited) queue.limit_waiting.fetch_sub(1, std::memory_order_relaxed);
  };
  // Drain keeps waiting jobs waiting (they may still start before the deadline); the deadline,
  // or return_pending, hands them back unstarted.
  auto must_stop = [&] {
    return state_.load(std::memory_order_acquire) == stopping || worker.stop.stop_requested();
  };
  auto give_up = [&] {
    release_limits(queue, envelope, hold);
    done_waiting();
    return false;
  };
  const std::chrono::milliseconds nap = clock_ ? std::chrono::milliseconds(1) : look_every;

  // Running slots first: a job that holds one and then waits for its start time is about to run.
  for (internal::LimitScope* scope : {type, own}) {
    if (scope == nullptr || scope->limits.concurrency == 0) continue;
    for (;;) {
      if (fleet != nullptr) {
        const Result<bool> taken = fleet->acquire_slot(scope->scope, scope->limits.concurrency, envelope.id);
        if (taken && *taken) break;
        wait_begins();
        if (must_stop()) return give_up();
        std::this_thread::sleep_for(taken ? fleet_poll : nap);  // refused, or the store is away
      } else {
        if (scope->concurrency->acquire(std::chrono::milliseconds(0))) break;
        wait_begins();
        if (scope->concurrency->acquire(nap)) break;
        if (must_stop()) return give_up();
      }
    }
    (scope == own ? hold.queue_slot : hold.type_slot) = true;
  }

  // Then a start time from each rate limit; the job starts at the later of them.
  std::chrono::nanoseconds wait{0};
  for (internal::LimitScope* scope : {type, own}) {
    if (scope == nullptr || !scope->limits.rate) continue;
    if (fleet != nullptr) {
      for (;;) {
        const Result<std::chrono::nanoseconds> booked = fleet->book_start(scope->scope, *scope->limits.rate);
        if (booked) {
          wait = std::max(wait, *booked);
          break;
        }
        wait_begins();
        if (must_stop()) return give_up();
        std::this_thread::sleep_for(nap);
      }
    } else {
      wait = std::max(wait, std::chrono::nanoseconds(scope->rate->book(now().time_since_epoch().count())));
    }
  }
  if (wait.count() > 0) {
    wait_begins();
    const Clock::time_point start = internal::later(now(), wait);
    for (Clock::time_point at = now(); at < start; at = now()) {
      if (must_stop()) return give_up();
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(start - at, nap));
    }
  }
  done_waiting();
  return true;
}

void internal::Engine::release_limits(internal::QueueRuntime& queue, const internal::Envelope& envelope,
                                      internal::LimitHold& hold) noexcept {
  Lane* const fleet = queue.limit_store;
  auto release = [&](internal::LimitScope& scope) {
    if (fleet != nullptr) {
      fleet->release_slot(scope.scope, envelope.id);
    } else {
      scope.concurrency->release();
    }
  };
  if (hold.type_slot) release(*type_rules_.limits(envelope.type));
  if (hold.queue_slot) release(*queue.limits);
  hold = {};
}

}  // namespace jobq
