// The worker loop. It lives in the library rather than in a header: it is one function per
// thread, entered once, so inlining it into user code would buy nothing.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <string>

#include "jobq/internal/adaptive_spin.hpp"
#include "jobq/internal/cpu.hpp"
#include "jobq/internal/deadline.hpp"
#include "jobq/internal/message_access.hpp"
#include "jobq/internal/ticks.hpp"
#include "jobq/internal/engine.hpp"
#include "jobq/internal/threads.hpp"
#include "jobq/internal/until_allocated.hpp"

namespace jobq {
namespace internal {

struct ContextAccess {
  static void bind_worker(Context& context, std::string_view queue) { context.queue_ = queue; }
  static void bind_stop(Context& context, std::stop_token stop) noexcept { context.stop_ = std::move(stop); }
  static void bind_job(Context& context, JobId id, std::string_view type, std::uint32_t attempt,
                       const JobExtras* extras) noexcept {
    context.job_id_ = id;
    context.type_ = type;
    context.attempt_ = attempt;
    context.extras_ = extras;
  }
  static void clear_result(Context& context) noexcept { context.result_.clear(); }
  static void set_deadline(Context& context, std::chrono::steady_clock::time_point deadline) noexcept {
    context.deadline_ = deadline;
  }
};

}  // namespace internal

namespace {

/// The retryable error for an exception a handler let out. Building its message may itself run
/// out of memory (the exception may be std::bad_alloc): then a message short enough for the
/// string's inline buffer, which allocates nothing.
Status exception_status(const char* what) noexcept {
  try {
    return Status::error(what == nullptr ? std::string("unhandled exception of a type not derived from std::exception")
                                         : std::string("unhandled exception: ") + what);
  } catch (...) {
    return Status::error("out of memory");
  }
}

}  // namespace

Status internal::Engine::invoke_guarded(const HandlerEntry& handler, Context& context, const Message& message) const {
  try {
    if (hooks_.middleware.empty()) [[likely]] return handler.invoke(handler.target, context, message);
    return Next(hooks_.middleware, 0, handler)(context, message);
  } catch (const std::exception& error) {
    return exception_status(error.what());
  } catch (...) {
    return exception_status(nullptr);
  }
}

namespace {

/// Empty polls between two tick readings of an idle worker.
constexpr std::uint32_t polls_per_tick = 16;

/// "jq:<queue>/<index>", cut to the 15 characters Linux keeps.
std::string worker_thread_name(std::string_view queue, unsigned index) {
  std::string name = "jq:" + std::string(queue.substr(0, 8)) + "/" + std::to_string(index);
  if (name.size() > 15) name.resize(15);
  return name;
}

}  // namespace

void internal::Engine::run_worker(internal::QueueRuntime& queue, internal::Worker& worker) {
  // What the worker keeps for its life is made before it reports to start(): a thread that cannot
  // get that memory says so, start() fails with std::bad_alloc, and the process goes on.
  std::string thread_name;
  std::string pin_error;
  std::optional<internal::PayloadScratch> scratch;  // parser and JSON buffer, reused for every bind
  Context context;
  bool prepared = false;
  try {
    thread_name = worker_thread_name(queue.config.name, worker.index);
    internal::name_this_thread(thread_name);
    if (worker.cpu >= 0) {
      const unsigned cpu = static_cast<unsigned>(worker.cpu);
      pin_error = internal::pin_this_thread(std::span(&cpu, 1));
      if (!pin_error.empty()) pin_error = "queue '" + queue.config.name + "': worker " + std::to_string(worker.index) + ": " + pin_error;
    }
    scratch.emplace();
    internal::ContextAccess::bind_worker(context, queue.config.name);
    renew_job_stop(worker, context);
    prepared = true;
  } catch (const std::bad_alloc&) {  // reported below
  }
  const WorkerInfo info{queue.config.name, worker.index, worker.cpu, thread_name};
  const bool announced = prepared && pin_error.empty();
  if (announced) hooks_.call(hooks_.on_worker_start, "worker start", info);
  lifecycle_.ready(internal::Lifecycle::Thread::worker, prepared, std::move(pin_error));
  log_worker(queue, worker, "started");
  if (prepared) serve(queue, worker, *scratch, context);
  if (announced) hooks_.call(hooks_.on_worker_stop, "worker stop", info);
  log_worker(queue, worker, "stopped");
  lifecycle_.worker_gone();
}

void internal::Engine::log_worker(const internal::QueueRuntime& queue, const internal::Worker& worker,
                                  std::string_view what) const noexcept {
  if (!hooks_.logs(LogLevel::debug)) return;
  try {
    hooks_.log(LogLevel::debug, "worker " + queue.config.name + "/" + std::to_string(worker.index) + " " + std::string(what));
  } catch (const std::bad_alloc&) {  // NOLINT(bugprone-empty-catch): the line is lost, the worker is not
  }
}

void internal::Engine::serve(internal::QueueRuntime& queue, internal::Worker& worker,
                             internal::PayloadScratch& scratch, Context& context) {
  moodycamel::ConsumerToken token(queue.ring);
  std::array<internal::Envelope, 64> batch;
  const std::size_t batch_size = queue.config.dequeue_batch;
  // How many jobs to ask the ring for: one after it was found empty, doubling while takes come
  // back full, up to dequeue_batch. A take that asks for more than the ring holds costs more
  // than it takes: the ring books the shortfall with one more locked instruction and then visits
  // every other producer of the queue, on the path from a job's arrival to its handler.
  std::size_t want = 1;
  // Idle: spinning on the empty ring (counted in the notifier, so producers need not wake
  // anyone), for a budget that follows the gaps this worker has seen, then parked.
  bool spinning = false;
  bool woken = false;  // the spin follows a wake-up, whose job says nothing about the gaps
  std::uint32_t idle_polls = 0;
  internal::AdaptiveSpin spin(queue.config.spin_iterations);
  auto stop_spinning = [&](bool hand_off) {
    if (!spinning) return;
    spinning = false;
    queue.notifier.end_spin([&] { return hand_off && queue.depth() > 0; });
  };
  // The tick reading that dates the next job's start for the inspector (running_since). It is
  // read where nothing waits for it: after a batch, every few empty polls, after a wait. Read
  // after the take instead, it would sit between a job's arrival and its handler, where perf
  // put about a tenth of a one-job loop's samples on it (rdtsc is microcoded: tens of cycles).
  // A job is so dated at most a few polls early: under a microsecond.
  std::uint64_t last_ticks = 0;
  std::uint32_t polls_since_tick = 0;
  auto read_ticks = [&] {
    polls_since_tick = 0;
    if (config_.metrics) last_ticks = internal::ticks();
  };
  read_ticks();

  for (;;) {
    if (queue.paused.load(std::memory_order_relaxed)) [[unlikely]] {
      // A paused queue's jobs are returned at shutdown, not run.
      stop_spinning(false);
      if (state_.load(std::memory_order_seq_cst) > running) break;
      hold_while_paused(queue);
      read_ticks();
      continue;
    }
    // A take of one goes through the ring's single-job path: 188 instructions with the move of
    // the envelope, against 277 for the bulk path asked for one (callgrind), which sizes and
    // walks block ranges for any count.
    const std::size_t taken = want == 1 ? static_cast<std::size_t>(queue.ring.try_dequeue(token, batch[0]))
                                        : queue.ring.try_dequeue_bulk(token, batch.begin(), want);
    if (taken != 0) {
      // A handler that dispatches onward is likely to dispatch where this thread did last: its
      // ring producer's lines are asked for now, while the job reaches its handler, rather than
      // by the dispatch, a few hundred instructions before its enqueue needs them.
      if (const internal::ProducerState* own = producers_.mine_if_made(); own != nullptr && own->last_type != no_id) {
        internal::prefetch_ring_producer(own->tokens[registry_[own->last_type].default_queue]);
      }
      want = taken == want ? std::min(want * 2, batch_size) : taken;
      queue.dequeued.fetch_add(static_cast<std::int64_t>(taken), std::memory_order_seq_cst);
      worker.taken.add(taken);
      if (spinning) {
        if (!woken) spin.caught(idle_polls);
        woken = false;
        stop_spinning(true);  // the last spinner to leave wakes a waiter if jobs are left
      }
      // Only the sampled jobs (stamped by their producer) pay for exact wait and run times.
      for (std::size_t index = 0; index < taken; ++index) {
        // Checked before every job, not only before each take: a job dispatched after pause()
        // returned is dequeued after the flag was set, so this load sees it.
        if (queue.paused.load(std::memory_order_acquire)) [[unlikely]] {
          hold_while_paused(queue);
          read_ticks();
        }
        const int lifecycle = state_.load(std::memory_order_relaxed);
        if (lifecycle == stopping || (lifecycle > running && queue.paused.load(std::memory_order_relaxed))) [[unlikely]] {
          worker.returned.add(taken - index);
          for (; index < taken; ++index) return_job(queue, batch[index]);
          break;
        }
        run_job(queue, worker, batch[index], context, scratch, last_ticks);
        batch[index].payload.release();
      }
      read_ticks();
      continue;
    }
    want = 1;
    if (++polls_since_tick == polls_per_tick) read_ticks();
    const int lifecycle = state_.load(std::memory_order_seq_cst);
    if (lifecycle == stopping) break;
    if (lifecycle == draining) {
      if (queue.depth() == 0) break;
      internal::cpu_relax();  // a producer that reserved before intake closed is about to enqueue
      continue;
    }
    if (!queue.parks) {
      internal::cpu_relax();
      continue;
    }
    if (!spinning) {
      spinning = true;
      idle_polls = 0;
      queue.notifier.begin_spin();
    }
    if (++idle_polls < spin.limit()) {
      internal::cpu_relax();
      continue;
    }
    // Announce the wait, then look once more (see Notifier): either a producer sees this waiter
    // and no spinner and wakes it, or this check sees its job. pause() wakes every waiter after
    // setting its flag, so a pause is not slept through either.
    const internal::Notifier::Key key = queue.notifier.prepare_wait();
    if (queue.depth() == 0 && state_.load(std::memory_order_seq_cst) <= running &&
        !queue.paused.load(std::memory_order_seq_cst)) {
      queue.notifier.commit_wait(key);
      spin.parked();
      woken = true;
      read_ticks();
    } else {
      queue.notifier.cancel_wait();
    }
    idle_polls = 0;  // spinning again, either way
  }
  stop_spinning(false);
}

void internal::Engine::hold_while_paused(internal::QueueRuntime& queue) {
  // Jobs a worker holds meanwhile (the rest of a batch) are counted neither in depth nor as
  // running, but not finished either, so wait_idle() and the books still see them.
  // Held on the queue's pause word, not in the notifier, so that dispatches to a paused queue
  // wake nobody. pause() and resume() change the flag before they bump the word, and shutdown
  // changes the state before it does: read the word, then check again, then wait.
  while (queue.paused.load(std::memory_order_seq_cst) && state_.load(std::memory_order_seq_cst) <= running) {
    const std::uint32_t epoch = queue.pause_epoch.load(std::memory_order_seq_cst);
    if (queue.paused.load(std::memory_order_seq_cst) && state_.load(std::memory_order_seq_cst) <= running) {
      queue.pause_epoch.wait(epoch, std::memory_order_seq_cst);
    }
  }
}

void internal::Engine::run_job(internal::QueueRuntime& queue, internal::Worker& worker, internal::Envelope& envelope,
                      Context& context, internal::PayloadScratch& scratch, std::uint64_t& last_ticks) {
  if (envelope.extras && !envelope.extras->flow.empty() && batch_cancelled(envelope)) [[unlikely]] {
    // Its batch was cancelled: revoked without running.
    internal::TypeCell& cell = worker.cells[envelope.type];
    internal::until_allocated([&] { end_key(queue, envelope, KeyEnd::revoked); }, []() noexcept {});
    cell.revoked.add();
    return;
  }
  internal::LimitHold held;
  // check_limits: the queue has limits, or some type has (then the job's type is looked at).
  const bool limited = queue.check_limits && (queue.limits != nullptr || type_rules_.limits(envelope.type) != nullptr);
  if (limited) [[unlikely]] {
    if (!wait_for_limits(queue, worker, envelope, held)) {
      // Shutdown came first: the job goes back unstarted, as the rest of a batch does.
      worker.returned.add(1);
      return_job(queue, envelope);
      return;
    }
  }
  const HandlerEntry& handler = registry_[envelope.type];
  internal::TypeCell& cell = worker.cells[envelope.type];
  internal::ContextAccess::bind_job(context, envelope.id, handler.name, envelope.attempt, envelope.extras.get());
  const Message message = internal::MessageAccess::over(handler.name, envelope.id, envelope.payload, scratch);
  const bool timed = envelope.stamped != 0;
  if (timed) [[unlikely]] {
    last_ticks = internal::ticks();
    // Time-stamp counters of different cores may differ by a few ticks: never record a wrap.
    cell.wait.record(last_ticks > envelope.stamped ? last_ticks - envelope.stamped : 0);
  }
  const std::uint64_t started = last_ticks;
  publish_running(worker, envelope, started);
  std::chrono::nanoseconds timeout = handler.timeout;
  if (envelope.extras) [[unlikely]] {
    if (envelope.extras->timeout.count() > 0) timeout = envelope.extras->timeout;
    if (envelope.extras->hold == KeyHold::until_started && !envelope.extras->key.empty()) {
      release_started_key(queue, envelope);
    }
  }
  Status status = timeout.count() == 0 ? invoke_guarded(handler, context, message)
                                       : run_timed(worker, handler, context, message, timeout);
  if (timed) [[unlikely]] {
    last_ticks = internal::ticks();
    cell.run.record(last_ticks - started);
  }
  publish_idle(worker);
  if (limited) [[unlikely]] release_limits(queue, envelope, held);
  if (status.ok() && !envelope.extras) [[likely]] {
    if (!context.result().empty()) [[unlikely]] {
      keep_result(queue, envelope, context.result());
      internal::ContextAccess::clear_result(context);
    }
    cell.succeeded.add();
    return;
  }
  // Whatever happens below, this run's result does not outlive it.
  struct ClearResult {
    Context& context;
    ~ClearResult() { internal::ContextAccess::clear_result(context); }
  } const clear_result{context};
  // What follows may allocate (a key kept for its TTL, a retry's timer node, a dead letter). A
  // failed allocation must neither kill this worker nor lose or double the job: each step
  // changes nothing until it can no longer fail, so the whole settlement is tried again.
  SettleProgress progress;
  internal::until_allocated(
      [&] {
        if (status.ok()) {
          // Its result is kept first, so that whoever sees its chain go on can read it.
          if (!context.result().empty() && !progress.result_kept) {
            keep_result(queue, envelope, context.result());
            progress.result_kept = true;
          }
          // The next step of its chain goes before this one is acknowledged: a durable step
          // whose process dies between the two runs again, and its next step's key refuses the
          // second dispatch.
          if (!envelope.extras->flow.empty() && !progress.chain_continued) {
            if (std::optional<Error> stalled = continue_chain(queue, envelope, context.result())) {
              dead_letter(queue, envelope, "its chain's next step could not be dispatched: " + stalled->message(),
                          DeadReason::chain_stalled, progress);
              cell.dead_lettered.add();
              return;
            }
            progress.chain_continued = true;
          }
          end_key(queue, envelope, KeyEnd::succeeded);
          cell.succeeded.add();
        } else {
          settle(queue, cell, envelope, message, status, progress);
        }
      },
      [this]() noexcept {
        try {
          hooks_.log(LogLevel::error, "out of memory while settling a job: trying again");
        } catch (...) {  // NOLINT(bugprone-empty-catch): the line itself could not be made
        }
      });
}

void internal::Engine::publish_running(internal::Worker& worker, const internal::Envelope& envelope, std::uint64_t since) {
  const std::uint64_t sequence = worker.running_seq.load(std::memory_order_relaxed);
  worker.running_seq.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  worker.running_id.store(envelope.id, std::memory_order_relaxed);
  worker.running_type.store(envelope.type, std::memory_order_relaxed);
  worker.running_attempt.store(envelope.attempt, std::memory_order_relaxed);
  worker.running_since.store(since, std::memory_order_relaxed);
  worker.running_seq.store(sequence + 2, std::memory_order_release);
}

void internal::Engine::publish_idle(internal::Worker& worker) {
  const std::uint64_t sequence = worker.running_seq.load(std::memory_order_relaxed);
  worker.running_seq.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  worker.running_id.store(0, std::memory_order_relaxed);
  worker.running_seq.store(sequence + 2, std::memory_order_release);
}

Status internal::Engine::run_timed(internal::Worker& worker, const HandlerEntry& handler, Context& context,
                                   const Message& message, std::chrono::nanoseconds timeout) {
  const Clock::time_point deadline = internal::later(now(), timeout);
  if (deadline == Clock::time_point::max()) return invoke_guarded(handler, context, message);  // never fires
  const std::uint64_t run = ++worker.timed_runs;
  worker.deadline.arm(run, deadline, timeout);
  timer_.pending().nudge(deadline);
  internal::ContextAccess::set_deadline(context, deadline);
  Status status = invoke_guarded(handler, context, message);
  internal::ContextAccess::set_deadline(context, Clock::time_point::max());
  if (worker.deadline.disarm(run)) [[unlikely]] {
    // The fired source cannot be reset; the next job needs a fresh one, memory or not yet.
    internal::until_allocated([&] { renew_job_stop(worker, context); }, [] {});
  }
  return status;
}

void internal::Engine::renew_job_stop(internal::Worker& worker, Context& context) {
  // A stop source is allocated: made first, so that running out of memory changes nothing.
  std::stop_source fresh;
  // The callback goes first: its destructor waits for a forward that is running, so the source
  // it points to can then be replaced. Made again after, it fires at once if shutdown's deadline
  // has already passed.
  worker.forward_stop.reset();
  worker.job_stop = std::move(fresh);
  worker.forward_stop.emplace(worker.stop.get_token(), internal::Worker::ForwardStop{&worker.job_stop});
  internal::ContextAccess::bind_stop(context, worker.job_stop.get_token());
}

}  // namespace jobq
