// How a queue's idle workers wait for work, and how a producer decides whether to wake one: an
// event count (prepare / commit / cancel) that also counts the workers spinning on the ring. A
// producer issues a futex wake only when a worker is parked and none is spinning: a spinner takes
// the job within a poll, so waking another would buy nothing but a system call and a thread that
// finds the ring empty.
//
// The counts share one word, so a producer reads them with one load, and a worker turns from
// spinner into waiter (and back) with one read-modify-write. Besides spinners and waiters the
// word counts wakes on their way: a waiter woken (or about to be) turns into a spinner only when
// it runs, and until then a second dispatch must not wake a second worker for nothing. Every operation on the word is
// sequentially consistent; with the ring's own sequentially consistent depth counter that gives
// the rule that no wake-up is lost: a job is enqueued before its producer reads the word, and a
// worker looks at the depth again after it announced itself a waiter, so either the producer sees
// the waiter (and no spinner) and wakes it, or the worker sees the job, or a spinner does.
//
// One more case needs a hand: a spinner that takes jobs stops spinning, and jobs a producer left
// for it meanwhile (seeing it spin, so waking no one) would wait for its whole batch while other
// workers sleep. So the last spinner to leave wakes one waiter if the ring still holds work
// (as Go's scheduler does when its last spinning thread finds work).
#pragma once

#include <atomic>
#include <cstdint>

namespace jobq::internal {

class Notifier {
 public:
  using Key = std::uint32_t;

  // A worker's side. A worker is in one of three states: working (counted nowhere), spinning on
  // an empty ring, or waiting (prepared, then parked).

  /// Working → spinning: the ring looked empty.
  void begin_spin() noexcept { state_.fetch_add(one_spinner, std::memory_order_seq_cst); }
  /// Spinning → working: it took jobs. Wakes a waiter if this was the last spinner, no wake is
  /// on its way, and `work_left()` says the ring still holds jobs.
  template <class WorkLeft>
  void end_spin(WorkLeft work_left) noexcept {
    const std::uint64_t before = state_.fetch_sub(one_spinner, std::memory_order_seq_cst);
    if (spinners(before) == 1 && waiters(before) != 0 && pending(before) == 0 && work_left()) wake_one();
  }
  /// Spinning → waiting. Look at the ring once more after this, then commit_wait() with the key
  /// if it is still empty, or cancel_wait() if not.
  Key prepare_wait() noexcept {
    state_.fetch_add(one_waiter - one_spinner, std::memory_order_seq_cst);
    return epoch_.load(std::memory_order_seq_cst);
  }
  /// Parks until a wake after prepare_wait(); then spinning again. Does not park while a wake
  /// is on its way: the wake may have been meant for a worker that read the epoch before it was
  /// bumped, and that worker's job (to poll the ring) is this one's now; parking here instead
  /// could leave the wake counted and nobody to take it, and then no producer would wake anyone.
  void commit_wait(Key key) noexcept {
    if (pending(state_.load(std::memory_order_seq_cst)) == 0) epoch_.wait(key, std::memory_order_seq_cst);
    leave_wait();
  }
  /// Waiting → spinning without parking: the ring was not empty after all.
  void cancel_wait() noexcept { leave_wait(); }

  // A producer's side, after its job is on the ring.

  /// Wakes one waiter if there is one, no worker spins and no wake is on its way. One load when
  /// it does not.
  void notify() noexcept {
    const std::uint64_t now = state_.load(std::memory_order_seq_cst);
    if (waiters(now) != 0 && spinners(now) == 0 && pending(now) == 0) [[unlikely]] wake_one();
  }
  /// Wakes every worker wherever it is in its wait, whether or not it is counted yet: for pause
  /// and lifecycle changes, which workers re-check after every wake.
  void wake_everyone() noexcept {
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    epoch_.notify_all();
  }

  /// Futex wakes issued by dispatch and by the workers' hand-offs, for the metrics.
  std::uint64_t wakes() const noexcept { return wakes_.load(std::memory_order_relaxed); }

 private:
  // spinners << 42 | pending << 21 | waiters: 21 bits each are ample for a queue's workers.
  static constexpr std::uint64_t one_waiter = 1;
  static constexpr std::uint64_t one_pending = std::uint64_t{1} << 21;
  static constexpr std::uint64_t one_spinner = std::uint64_t{1} << 42;
  static constexpr std::uint64_t field = (std::uint64_t{1} << 21) - 1;
  static std::uint64_t waiters(std::uint64_t state) noexcept { return state & field; }
  static std::uint64_t pending(std::uint64_t state) noexcept { return (state >> 21) & field; }
  static std::uint64_t spinners(std::uint64_t state) noexcept { return state >> 42; }

  /// Waiting (or woken) → spinning. A worker leaving its wait takes a pending wake if there is
  /// one (it is the wake's worker, or does its job just as well: it polls the ring next), else
  /// its own waiter count.
  void leave_wait() noexcept {
    std::uint64_t state = state_.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t next = state + one_spinner - (pending(state) != 0 ? one_pending : one_waiter);
      if (state_.compare_exchange_weak(state, next, std::memory_order_seq_cst)) return;
    }
  }
  /// One waiter → a wake on its way; then the futex wake. Nothing if no waiter is left.
  void wake_one() noexcept {
    std::uint64_t state = state_.load(std::memory_order_relaxed);
    do {
      if (waiters(state) == 0) return;
    } while (!state_.compare_exchange_weak(state, state - one_waiter + one_pending, std::memory_order_seq_cst));
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    epoch_.notify_one();
    wakes_.fetch_add(1, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> state_{0};
  std::atomic<Key> epoch_{0};
  std::atomic<std::uint64_t> wakes_{0};
};

}  // namespace jobq::internal
