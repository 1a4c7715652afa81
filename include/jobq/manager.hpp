// The engine: named queues, registered job types, workers, dispatch and shutdown.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "jobq/batch.hpp"
#include "jobq/clock.hpp"
#include "jobq/config.hpp"
#include "jobq/context.hpp"
#include "jobq/dead_letter.hpp"
#include "jobq/dispatch_future.hpp"
#include "jobq/error.hpp"
#include "jobq/ids.hpp"
#include "jobq/job.hpp"
#include "jobq/message.hpp"
#include "jobq/metrics.hpp"
#include "jobq/middleware.hpp"
#include "jobq/payload.hpp"
#include "jobq/registry.hpp"
#include "jobq/retry.hpp"
#include "jobq/schedule.hpp"
#include "jobq/stats.hpp"
#include "jobq/status.hpp"

namespace jobq {

namespace internal {
class Engine;
}  // namespace internal

/// A job class: a stable type name and a handler member.
template <class J>
concept JobClass = requires(J& job, Context& context, const Message& message) {
  { J::type_name } -> std::convertible_to<std::string_view>;
  { job.handle_task(context, message) } -> std::same_as<Status>;
};

/// A plain callable handler.
template <class F>
concept HandlerCallable = std::is_invocable_r_v<Status, F&, Context&, const Message&>;

struct RegisterOptions {
  /// The queue that jobs of this type run on when the dispatch names none. Empty: "default".
  std::string_view queue = {};
  /// Attempts and backoff for this type; unset: Config::retry.
  std::optional<RetryPolicy> retry = std::nullopt;
  /// The handler's deadline: its stop token fires this long after it starts. Zero: none.
  std::chrono::nanoseconds timeout{0};
  /// How fast and how many jobs of this type may start, on whatever queue they run (see Limits).
  /// A worker holding a job over the limit waits with it, and its queue's other jobs wait behind
  /// it: give a limited type a queue of its own when other types must not wait.
  Limits limits = {};
};

/// Hooks run on engine threads, one call at a time per thread, and must not block for long.
/// Exceptions they throw are swallowed: a hook cannot kill a worker.
///
/// The failure hook runs on the worker, after a failed attempt, before the job is retried or
/// dead-lettered.
using FailureHook = std::function<void(const Failure&)>;
/// Runs on the worker, when a job is dead-lettered, before it enters the bounded store: the
/// place to persist dead letters that must outlive the store or the process.
using DeadHook = std::function<void(const DeadLetter&)>;
/// Runs on the timer thread, when a handler is still running at its timeout, just before its
/// stop token fires.
using TimeoutHook = std::function<void(const Overrun&)>;

/// A worker thread, as its start and stop hooks see it.
/// A thread the engine runs: a worker of a queue, or the timer (which moves delayed jobs,
/// retries and snoozes onto their queues and fires timeouts).
struct WorkerInfo {
  std::string_view queue;  ///< the worker's queue; empty for the timer
  unsigned index;          ///< within its queue; 0 for the timer
  int cpu;                 ///< the CPU a worker was pinned to, or -1 (the timer: see Config::timer_cpus)
  std::string_view thread = {};  ///< its name: "jq:<queue>/<index>" or "jq:timer"
};
/// Runs on each thread the engine starts, the workers and the timer: the start hook after jobq
/// named and pinned it and before its first job (the place to rename, re-pin or set a
/// thread-local), the stop hook after its last job. start() returns only after every start hook
/// has returned.
using WorkerHook = std::function<void(const WorkerInfo&)>;

class Manager {
 public:
  /// Throws ConfigError for an invalid configuration: no queues, a bad or duplicate queue name,
  /// zero workers or capacity, a CPU this process may not run on.
  explicit Manager(Config config);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  /// Makes a job object that the Manager owns and registers it: `J(*this, args...)` when J takes
  /// the Manager first (for its dispatch helper), else `J(args...)`. The object lives as long as
  /// the Manager, through the drain its destructor runs, so no handler can run on a destroyed
  /// job whatever order the caller's objects go in. The services it uses (passed as `args`)
  /// must be declared before the Manager. Prefer it to register_job(). The overload taking
  /// RegisterOptions first sets a retry policy, a timeout or a queue.
  template <JobClass J, class... Args>
  J& emplace_job(Args&&... args);
  template <JobClass J, class... Args>
  J& emplace_job(RegisterOptions options, Args&&... args);

  /// Registers a job class by its `type_name`; its `queue_name` (if declared) is its default
  /// queue. The object stays the caller's: it must outlive the Manager, or shutdown() must have
  /// returned before it goes (a destructor-driven drain runs handlers). emplace_job() makes
  /// that impossible to get wrong. Throws ConfigError after start(), for an invalid or duplicate
  /// name, or an unknown queue.
  template <JobClass J>
  TypeId register_job(J& job, RegisterOptions options = {});

  /// Registers a callable `Status(Context&, const Message&)`; the Manager keeps a copy.
  template <HandlerCallable F>
  TypeId register_handler(std::string_view type_name, F handler, RegisterOptions options = {});

  /// Hooks; set before start(). Each throws ConfigError after start().
  void on_failure(FailureHook hook);
  void on_dead(DeadHook hook);
  void on_timeout(TimeoutHook hook);
  void on_worker_start(WorkerHook hook);
  void on_worker_stop(WorkerHook hook);

  /// Wraps every handler in `middleware`; before start(). The first middleware added is the
  /// outermost. The chain is fixed at start() and calling it allocates nothing per job.
  void use(Middleware middleware);
  /// Runs `middleware` on every dispatch, on the dispatching thread, before start(); in the order
  /// added. With none installed a dispatch pays one test and allocates nothing for it; with one,
  /// each dispatch copies its headers into a buffer of its own.
  void use_dispatch(DispatchMiddleware middleware);

  /// Starts the workers, pinned and named ("jq:<queue>/<i>"); returns once every worker runs.
  /// Workers of a queue without `cpus` inherit the CPU affinity of the thread calling start().
  /// Throws ConfigError if called twice, or if a worker thread cannot be created or pinned (the
  /// workers already started are stopped first).
  void start();

  /// Dispatches a raw job. The payload is copied, and validated unless disabled or trusted().
  /// With delay() or at() in the future the job waits in the timer, then goes onto its queue.
  /// Errors are values; only std::bad_alloc escapes, when a thread's first dispatch cannot set
  /// up its producer state.
  Result<JobId> dispatch(const Job& job);

  /// Dispatches a typed job: the payload object travels to its handler as an object, moved when
  /// passed as an rvalue and copied otherwise, with no JSON made on the way (JSON is made only
  /// where bytes are needed: a dead letter, a job returned by shutdown, the failure hook, a
  /// handler that calls Message::payload() or binds another struct). Inline up to 256 bytes,
  /// it allocates nothing. Its strings are checked to be UTF-8 and its floats finite
  /// (Errc::invalid_payload, naming the field), unless the Job is trusted() or validation is off.
  /// The Job supplies the type, queue and options; its payload() is not used.
  template <class P>
    requires Payload<std::remove_cvref_t<P>>
  Result<JobId> dispatch(const Job& job, P&& payload);

  /// Dispatches every job or none: on any error nothing is enqueued, that error is returned, and
  /// every job of the batch whose queue is known counts as rejected. (The one exception is a
  /// failed allocation of ring memory, after which the queues already filled keep their jobs.)
  /// On success returns the first job's id; the batch's ids are consecutive. Jobs for one queue
  /// go in with one bulk enqueue. An empty batch returns 0. Jobs with options (delay, key,
  /// timeout, retry) are refused with Errc::unsupported: dispatch those one by one. Headers are
  /// taken.
  Result<JobId> dispatch_bulk(std::span<const Job> jobs);

  /// Dispatches a raw job and reports the result to `done`, exactly once. On a durable queue
  /// the job is sent without waiting: `done` runs on the lane's sending thread once Redis has
  /// acknowledged the job (or refused it), and jobs in flight at once share round trips, while a
  /// lone job goes at once. On an in-memory queue, and for a refusal before the job is sent (not
  /// running, unknown type, invalid payload), `done` runs before dispatch_async returns. `done`
  /// must not block for long; an exception from it is logged and swallowed.
  using DispatchCallback = std::function<void(Result<JobId>)>;
  void dispatch_async(const Job& job, DispatchCallback done);
  /// The same, with the result in a future.
  DispatchFuture dispatch_async(const Job& job);
  /// dispatch_async() of a typed payload: on a durable queue it is checked and made JSON on the
  /// calling thread, then sent as above; on an in-memory queue it is dispatch(job, payload).
  template <class P>
    requires Payload<std::remove_cvref_t<P>>
  void dispatch_async(const Job& job, P&& payload, DispatchCallback done);
  template <class P>
    requires Payload<std::remove_cvref_t<P>>
  DispatchFuture dispatch_async(const Job& job, P&& payload);

  /// Dispatches a chain: `steps[0]` now, and each next step when the one before succeeds, with
  /// that step's result (Context::set_result) as its Context::previous_result(). A step that is
  /// dead-lettered stops the chain there, visibly: its letter holds the rest
  /// (DeadLetter::chain_waiting), and requeueing it goes on. Each step is dispatched as a dispatch
  /// would (the dispatch middleware runs for it, on the worker that ran the step before, so that
  /// trace context follows the chain), with its options (headers, key, delay counted from the
  /// step before, timeout, max_attempts), but no RetryPolicy object, at() or debounce. Every step
  /// is checked now: type, queue, payload, headers. Returns the first step's id. A chain is a
  /// list, so it cannot loop; a handler that dispatches a chain of its own starts a new one.
  /// Each next step carries the key "chain:<chain>:<step>" (unless it has one of its own), so
  /// that a step run twice on a durable queue still dispatches its next step once.
  Result<JobId> chain(std::span<const Job> steps);
  /// Dispatches a batch: every job now, and its callbacks (options) once, when all of them have
  /// ended: on_success if every job succeeded, then on_complete whatever they did. Each callback
  /// gets the counts (BatchOutcome) as Context::previous_result(). A job counts once however often
  /// it runs (a dead letter requeued after its batch ended counts for nothing). The batch is kept
  /// with its jobs: in this Manager for in-memory queues, or in the store of the one durable
  /// queue its jobs go to (then every process counts into it). Jobs and callbacks are checked
  /// first, as a chain's steps are. If a dispatch fails part-way, the jobs dispatched before it
  /// stay the batch, cancelled, and the error says so. Returns the batch's id ("<queue>:<hex>").
  Result<std::string> batch(std::span<const Job> jobs, const BatchOptions& options = {});
  /// Where a batch stands; Errc::not_found for one that is unknown (or ended long ago).
  Result<BatchOutcome> batch_status(std::string_view batch) const;
  /// Cancels a batch: its jobs that have not started are revoked when they come up, without
  /// running; its callbacks still come (on_complete; not on_success). False for an unknown batch.
  Result<bool> cancel_batch(std::string_view batch);
  /// Carries an in-memory batch over from the last run (ShutdownReport::batches), before start().
  /// Throws ConfigError after start(), or when its queue (the first part of its id) is not an
  /// in-memory queue of this Manager.
  void restore_batch(const PendingBatch& batch);

  /// The result of a job of an in-memory queue that succeeded less than Config::result_ttl ago,
  /// if it set one.
  std::optional<std::string> result(JobId id) const;
  /// The result of a durable queue's job, from its store, whichever process ran it. Throws
  /// ConfigError for an unknown queue.
  Result<std::optional<std::string>> result(std::string_view queue, JobId id) const;

  /// Stops intake at once (dispatch returns Errc::shutting_down) and freezes the timer. With
  /// ShutdownMode::drain the workers run what is on the queues until `deadline`; with
  /// return_pending they start nothing more. At the deadline the stop tokens of handlers still
  /// running fire, and shutdown waits for them to return (a thread cannot be killed: a handler
  /// that ignores its token delays shutdown). Every accepted job that did not reach a terminal
  /// state (queued, delayed, retry or snooze pending) is in the report. A second (or concurrent)
  /// call waits for the first, then returns the final counters and no jobs. A deadline of
  /// nanoseconds::max() never passes.
  ShutdownReport shutdown(std::chrono::nanoseconds deadline, ShutdownMode mode = ShutdownMode::drain);

  /// Waits until no job is queued, scheduled or running (every accepted job has reached a
  /// terminal state), polling the counters every millisecond; false if `timeout` passes first
  /// or the Manager is not running. Jobs dispatched meanwhile are waited for too.
  /// nanoseconds::max(): no time limit.
  bool wait_idle(std::chrono::nanoseconds timeout);

  /// Stops a queue's workers from starting jobs; dispatch still accepts jobs onto it (up to its
  /// capacity). Running handlers finish. At shutdown a paused queue's jobs are returned, not run.
  /// Throws ConfigError for an unknown queue name.
  void pause(std::string_view queue);
  void resume(std::string_view queue);
  bool paused(std::string_view queue) const;

  /// Dead letters, oldest first, from `offset`.
  DeadLetterPage dead_letters(std::size_t offset = 0, std::size_t limit = 100) const;
  std::optional<DeadLetter> dead_letter(JobId id) const;
  /// Puts a dead letter back onto its queue under its id, with its attempts reset to 1 (and its
  /// retry and timeout overrides kept; its idempotency key was released when it died and is not
  /// claimed again). Counted as accepted again. Errc::not_found, not_started or shutting_down.
  Result<JobId> requeue_dead(JobId id);
  /// requeue_dead() for every dead letter; returns how many were requeued.
  Result<std::size_t> requeue_all_dead();
  /// Forgets a dead letter; false if there is none with that id.
  bool purge_dead(JobId id);
  /// Forgets every dead letter; returns how many.
  std::size_t purge_all_dead();
  // The calls above cover the in-memory queues' dead letters, which this Manager keeps. Those
  // below take a queue and work for either kind: a durable queue's letters live in Redis, shared
  // by every process (their errors are Redis's: Errc::unavailable, store_refused). Each throws
  // ConfigError for an unknown queue name.

  /// One queue's dead letters, oldest first (for an in-memory queue, `dropped` is the store's).
  Result<DeadLetterPage> dead_letters(std::string_view queue, std::size_t offset = 0, std::size_t limit = 100) const;
  Result<std::optional<DeadLetter>> dead_letter(std::string_view queue, JobId id) const;
  /// Puts one queue's dead letter back, as requeue_dead(id) does. A durable queue's goes back
  /// into Redis whether or not this Manager runs.
  Result<JobId> requeue_dead(std::string_view queue, JobId id);
  /// Forgets one queue's dead letter; false if it has none with that id.
  Result<bool> purge_dead(std::string_view queue, JobId id);

  /// The Manager's clock (Config::clock, else steady_clock).
  Clock::time_point now() const noexcept;

  /// Counters, gauges and latency histograms per queue and per job type.
  MetricsSnapshot metrics() const;
  /// The jobs workers are running now.
  std::vector<InFlightJob> in_flight() const;

  std::vector<QueueStats> stats() const;
  /// Dispatches refused for an unknown job type or queue: they have no queue to be counted on.
  std::uint64_t unrouted() const;
  /// Counters of one queue; throws ConfigError for an unknown queue name.
  QueueStats stats(std::string_view queue) const;

  /// Registers a periodic job, before start(): `job` (its type, payload and queue, copied) is
  /// dispatched at every slot of `cron` in options.time_zone, on a thread "jq:scheduler" (pinned
  /// with Config::timer_cpus, announced to the worker hooks). Each slot's dispatch carries the
  /// idempotency key "schedule:<name>:<slot>": once per slot in a process, and once in a fleet on
  /// a durable queue. Throws ConfigError, with the column and the reason, for a bad expression;
  /// and for an unknown zone, type or queue, a name used twice, a job with a key or a delay.
  void schedule(std::string_view name, std::string_view cron, const Job& job, ScheduleOptions options = {});
  /// Every schedule: its next and last slot and its counts.
  std::vector<ScheduleInfo> schedules() const;

  const Config& config() const noexcept;
  const Registry& registry() const noexcept;
  /// The id of a queue by name, or no_id.
  QueueId queue_id(std::string_view name) const noexcept;

 private:
  TypeId add_type(std::string_view name, HandlerEntry::Invoke invoke, void* target, std::shared_ptr<void> owned,
                  RegisterOptions options);
  Result<JobId> dispatch_object(const Job& job, const internal::ObjectType& type, void* object, bool move);
  void dispatch_object_async(const Job& job, const internal::ObjectType& type, void* object, bool move,
                             DispatchCallback done);
  DispatchFuture dispatch_object_future(const Job& job, const internal::ObjectType& type, void* object, bool move);

  std::unique_ptr<internal::Engine> engine_;
};

// ---------------------------------------------------------------------------------------------
// Inline definitions: the templates, which only erase the user's types before the library call.

namespace internal {

/// Calls a job object's handle_task through the registry's type-erased pointer.
template <class J>
Status invoke_job(void* target, Context& context, const Message& message) {
  return static_cast<J*>(target)->handle_task(context, message);
}

template <class J>
RegisterOptions with_job_queue(RegisterOptions options) {
  if constexpr (requires { J::queue_name; }) {
    if (options.queue.empty()) options.queue = J::queue_name;
  }
  return options;
}

}  // namespace internal

template <JobClass J>
TypeId Manager::register_job(J& job, RegisterOptions options) {
  return add_type(J::type_name, &internal::invoke_job<J>, &job, nullptr, internal::with_job_queue<J>(options));
}

template <JobClass J, class... Args>
J& Manager::emplace_job(Args&&... args) {
  return emplace_job<J>(RegisterOptions{}, std::forward<Args>(args)...);
}

template <JobClass J, class... Args>
J& Manager::emplace_job(RegisterOptions options, Args&&... args) {
  std::shared_ptr<J> job;
  if constexpr (std::is_constructible_v<J, Manager&, Args...>) {
    job = std::make_shared<J>(*this, std::forward<Args>(args)...);
  } else {
    job = std::make_shared<J>(std::forward<Args>(args)...);
  }
  J& made = *job;
  add_type(J::type_name, &internal::invoke_job<J>, &made, std::move(job), internal::with_job_queue<J>(options));
  return made;
}

template <HandlerCallable F>
TypeId Manager::register_handler(std::string_view type_name, F handler, RegisterOptions options) {
  // Function pointers and nullable wrappers (std::function) can be empty; lambdas cannot.
  bool empty = false;
  if constexpr (std::is_pointer_v<F>) {
    empty = handler == nullptr;
  } else if constexpr (requires { handler.operator bool(); }) {
    empty = !handler.operator bool();
  }
  if (empty) throw ConfigError("cannot register job type '" + std::string(type_name) + "': the handler is empty");
  auto owned = std::make_shared<F>(std::move(handler));
  auto invoke = [](void* target, Context& context, const Message& message) -> Status {
    return std::invoke(*static_cast<F*>(target), context, message);
  };
  void* target = owned.get();
  return add_type(type_name, invoke, target, std::move(owned), options);
}

template <class P>
  requires Payload<std::remove_cvref_t<P>>
Result<JobId> Manager::dispatch(const Job& job, P&& payload) {
  using T = std::remove_cvref_t<P>;
  constexpr bool move = std::is_rvalue_reference_v<P&&> && !std::is_const_v<std::remove_reference_t<P>>;
  return dispatch_object(job, *internal::payload_type_of<T>, const_cast<T*>(&payload), move);
}

template <class P>
  requires Payload<std::remove_cvref_t<P>>
void Manager::dispatch_async(const Job& job, P&& payload, DispatchCallback done) {
  using T = std::remove_cvref_t<P>;
  constexpr bool move = std::is_rvalue_reference_v<P&&> && !std::is_const_v<std::remove_reference_t<P>>;
  dispatch_object_async(job, *internal::payload_type_of<T>, const_cast<T*>(&payload), move, std::move(done));
}

template <class P>
  requires Payload<std::remove_cvref_t<P>>
DispatchFuture Manager::dispatch_async(const Job& job, P&& payload) {
  using T = std::remove_cvref_t<P>;
  constexpr bool move = std::is_rvalue_reference_v<P&&> && !std::is_const_v<std::remove_reference_t<P>>;
  return dispatch_object_future(job, *internal::payload_type_of<T>, const_cast<T*>(&payload), move);
}

}  // namespace jobq
