// The engine behind Manager (jobq/manager.hpp), a facade over one Engine so that no user
// translation unit compiles the engine's layout, its ring or its parser.
//
// The engine's state lives in parts, each a class with its own header: the registry and the
// types' rules (TypeRules), the queues (QueueRuntime), the producers (ProducerTable), the timer
// and its thread (TimerService), the keys (KeyTable), the dead letters (DeadLetterStore), results
// (ResultStore), batches (BatchTable), periodic jobs (Scheduler), the user's hooks (UserHooks) and
// what start() and shutdown() keep (Lifecycle). Engine itself holds them and the lifecycle word,
// and runs the flows that cross parts, a file each: dispatch (engine-inl.hpp, intake-inl.hpp,
// dispatch.cpp), the worker loop (worker.cpp), settlement (outcome.cpp), start and shutdown
// (lifecycle.cpp), operating (admin.cpp), metrics (metrics.cpp), durable queues
// (lane_bridge.cpp), chains and batches (chains.cpp, batches.cpp).
#pragma once

#include <simdjson.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "jobq/internal/batch_table.hpp"
#include "jobq/internal/dead_letter_store.hpp"
#include "jobq/internal/envelope.hpp"
#include "jobq/internal/key_table.hpp"
#include "jobq/internal/lane_bridge.hpp"
#include "jobq/internal/lifecycle.hpp"
#include "jobq/internal/payload_json.hpp"
#include "jobq/internal/producer_table.hpp"
#include "jobq/internal/queue_runtime.hpp"
#include "jobq/internal/result_store.hpp"
#include "jobq/internal/scheduler.hpp"
#include "jobq/internal/ticks.hpp"
#include "jobq/internal/timer_service.hpp"
#include "jobq/internal/type_rules.hpp"
#include "jobq/internal/user_hooks.hpp"
#include "jobq/manager.hpp"

namespace jobq::internal {

struct FlowStep;   // flow.hpp
struct FlowState;

/// Everything Manager does, with the state it needs; the documented API is Manager's.
class Engine {
 public:
  explicit Engine(Config config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The documented API (see Manager).
  void on_failure(FailureHook hook);
  void on_dead(DeadHook hook);
  void on_timeout(TimeoutHook hook);
  void on_worker_start(WorkerHook hook);
  void on_worker_stop(WorkerHook hook);

  void use(Middleware middleware);
  void use_dispatch(DispatchMiddleware middleware);

  /// Periodic jobs (src/schedules.cpp).
  void add_schedule(std::string_view name, std::string_view cron, const Job& job, const ScheduleOptions& options);
  std::vector<ScheduleInfo> schedules() const { return scheduler_.info(); }
  void start_scheduler();

  void start();

  // Each dispatch runs the dispatch middleware (if any), then its *_inner form.
  Result<JobId> dispatch(const Job& job);
  Result<JobId> dispatch_object(const Job& job, const ObjectType& type, void* object, bool move);
  Result<JobId> dispatch_bulk(std::span<const Job> jobs);
  void dispatch_async(const Job& job, Manager::DispatchCallback done);
  void dispatch_object_async(const Job& job, const ObjectType& type, void* object, bool move,
                             Manager::DispatchCallback done);

  Result<JobId> dispatch_inner(const Job& job);
  Result<JobId> dispatch_object_inner(const Job& job, const ObjectType& type, void* object, bool move);
  Result<JobId> dispatch_bulk_inner(std::span<const Job> jobs);
  void dispatch_async_inner(const Job& job, Manager::DispatchCallback done);
  void dispatch_object_async_inner(const Job& job, const ObjectType& type, void* object, bool move,
                                   Manager::DispatchCallback done);
  // Batches (src/batches.cpp).
  Result<std::string> batch(std::span<const Job> jobs, const BatchOptions& options);
  Result<BatchOutcome> batch_status(std::string_view batch) const;
  Result<bool> cancel_batch(std::string_view batch);
  void restore_batch(const PendingBatch& batch);
  /// The queue a batch is kept on (its id names it), or null.
  QueueRuntime* batch_queue(std::string_view batch) const;
  /// Counts a batch job's end, once; dispatches the batch's callbacks if it was the last.
  void finish_in_batch(const Envelope& envelope, BatchEnd end);
  void dispatch_batch_callbacks(const BatchEnding& ending);
  /// True for a job of a cancelled batch: it is revoked instead of run.
  bool batch_cancelled(const Envelope& envelope);

  // Chains and results (src/chains.cpp).
  /// Checks a job dispatched later on the caller's behalf (a chain's step, a batch's job or
  /// callback) as its dispatch would: route, options, headers, payload. Its route, or the
  /// refusal (counted), prefixed with `which`.
  Result<Route> check_ahead(const Job& job, const std::string& which, simdjson::dom::parser& parser);
  Result<JobId> chain(std::span<const Job> steps);
  std::optional<std::string> result(JobId id) const;
  Result<std::optional<std::string>> result(std::string_view queue, JobId id) const;
  /// After a step of a chain succeeded: dispatches the next step with `result` handed on. The
  /// error when it could not (the caller dead-letters the step: chain stalled); none when it was
  /// dispatched, had been already, or went into the shutdown report because intake closed.
  std::optional<Error> continue_chain(QueueRuntime& queue, const Envelope& envelope, const std::string& result);
  /// Dispatches a job written down earlier (a chain's next step, a batch's callback) carrying
  /// `state`, under `key` unless the step has a key of its own. When intake has closed, `closed`
  /// (if given) gets the job, for the shutdown report.
  Result<JobId> dispatch_step(const FlowStep& step, const FlowState& state, const std::string& key,
                              ReturnedJob* closed = nullptr);
  /// Keeps a succeeded job's result: in the result store, or in its durable queue's store.
  void keep_result(QueueRuntime& queue, const Envelope& envelope, const std::string& result);

  /// A dispatch as the dispatch middleware left it: the caller's job with the headers they set.
  struct Outbound {
    Job job;
    Headers headers;
  };
  /// Runs the dispatch middleware over `outbound` (made from the caller's job). The refusal if
  /// one refuses, counted unless `count` is false; none for a job that is not routable or while
  /// the Manager is not running, which the dispatch itself then refuses.
  std::optional<Error> run_dispatch_middleware(Outbound& outbound, bool count = true);
  Result<JobId> dispatch_through_middleware(const Job& job);
  Result<JobId> dispatch_object_through_middleware(const Job& job, const ObjectType& type, void* object, bool move);
  /// Hands a checked durable dispatch to its lane without waiting; `payload` is JSON.
  void send_async(QueueRuntime& queue, Route route, const Job& job, std::string_view payload,
                  Manager::DispatchCallback done);

  ShutdownReport shutdown(std::chrono::nanoseconds deadline, ShutdownMode mode = ShutdownMode::drain);

  bool wait_idle(std::chrono::nanoseconds timeout);

  void pause(std::string_view queue);
  void resume(std::string_view queue);
  bool paused(std::string_view queue) const;

  DeadLetterPage dead_letters(std::size_t offset = 0, std::size_t limit = 100) const;
  std::optional<DeadLetter> dead_letter(JobId id) const;
  Result<JobId> requeue_dead(JobId id);
  Result<std::size_t> requeue_all_dead();
  bool purge_dead(JobId id);
  std::size_t purge_all_dead();
  Result<DeadLetterPage> dead_letters(std::string_view queue, std::size_t offset, std::size_t limit) const;
  Result<std::optional<DeadLetter>> dead_letter(std::string_view queue, JobId id) const;
  Result<JobId> requeue_dead(std::string_view queue, JobId id);
  Result<bool> purge_dead(std::string_view queue, JobId id);

  Clock::time_point now() const noexcept { return clock_ ? clock_->now() : std::chrono::steady_clock::now(); }

  MetricsSnapshot metrics() const;
  std::vector<InFlightJob> in_flight() const;

  std::vector<QueueStats> stats() const;
  std::uint64_t unrouted() const;
  QueueStats stats(std::string_view queue) const;
  const Config& config() const noexcept { return config_; }
  const Registry& registry() const noexcept { return registry_; }
  /// The id of a queue by name, or no_id.
  QueueId queue_id(std::string_view name) const noexcept { return queue_index_.find(name); }

  // The parts the engine's own files share.
  enum State : int { configuring, running, draining, stopping, stopped };

  /// Where a job goes, or why it cannot go anywhere.
  Result<Route> route(const Job& job) const;
  /// route() for the hot path: the route, or one whose queue is no_id (route() then says why).
  /// Two ids in a register, where a Result would be written field by field and read back whole
  /// (a stalled store-to-load forward on every dispatch).
  Route find_route(const Job& job) const noexcept;
  /// find_route() through the calling thread's last type: a thread that dispatches one type
  /// after another skips the hash lookup. The name is compared, never its address, so a buffer
  /// that is reused for another name cannot be routed as the old one.
  Route find_route(ProducerState& state, const Job& job) const noexcept;
  /// Where a dispatch goes, and the calling thread's producer state.
  struct Admitted {
    Route route{no_id, no_id};
    ProducerState* producer = nullptr;
  };
  /// The checks every single dispatch makes before it touches its payload: the lifecycle first
  /// (before start() the registry may still be growing), then the route, then room on the queue.
  /// A refusal is counted and put in `refused`. Not a Result, for find_route()'s reason.
  Admitted admit(const Job& job, std::optional<Error>& refused);
  /// Errc{} if `queue` has room for a job now, else the refusal, counted. The caller has checked
  /// the lifecycle.
  /// Checked before a payload is built or copied, so that retries against a full queue are cheap.
  /// `delayed`: the job waits in the timer first, so the ring's fullness now does not matter.
  Errc admission(ProducerState& producer, Route route, bool delayed = false);
  /// With WhenFull::block: waits until `queue` looks not full, intake closes, or the block
  /// timeout passes. Errc{} when there is room.
  Errc wait_for_room(ProducerState& producer, QueueId queue);
  /// Reserves `count` slots after a first try failed: waits with WhenFull::block.
  Errc reserve_slow(ProducerState& producer, QueueId queue, std::int64_t count);
  /// Copies, validates, reserves and enqueues one job that passed admission().
  Result<JobId> enqueue(ProducerState& producer, Route route, std::string_view payload, bool validate);
  /// Puts a filled envelope (without its id) with options on its ring or into the timer:
  /// delay, idempotency key, timeout, retry; or hands it to its durable queue's lane.
  Result<JobId> enqueue_with_options(ProducerState& producer, Route route, Envelope&& envelope, const Job& job);
  /// Fills `envelope` with a copy of `payload`, validated if asked; the refusal otherwise, counted.
  std::optional<Error> fill(ProducerState& producer, Route route, std::string_view payload, bool validate,
                            Envelope& envelope);
  // The intake (intake-inl.hpp): every way into a ring.
  /// Reserves a slot and puts a filled envelope (with its id) on its ring; counts it accepted.
  Result<JobId> commit(ProducerState& producer, Route route, Envelope&& envelope);
  /// commit() for the producer's staged bulk batch: every queue's slots, or none; returns `first`.
  Result<JobId> commit_staged(ProducerState& producer, JobId first);
  /// Slots a job (or a batch) holds in its queue from step 1 of the intake until it is on the
  /// ring: counted in on `shard`, and reserved from `credit` (null: granted past the capacity).
  struct Held {
    std::uint16_t shard;
    std::int64_t count;
    QueueRuntime::Credit* credit;
  };
  /// Step 2 of the intake: counts the held slots in, then true while intake is open; else gives
  /// them back.
  bool still_open(QueueRuntime& queue, Held held);
  /// Gives back held slots whose jobs did not enter the ring.
  static void give_back(QueueRuntime& queue, Held held) noexcept;
  /// Step 4 of commit() when no ring block could be allocated: undoes steps 1 to 3 and counts
  /// the job refused.
  [[gnu::cold]] Error ring_refused(ProducerState& producer, Route route);
  /// Step 4: `enqueue()`, then a wake; if it fails, `uncount()` and the held slots given back.
  template <class Enqueue, class Uncount>
  bool enter_ring(QueueRuntime& queue, Held held, Enqueue enqueue, Uncount uncount);
  enum class Readmitted { yes, closed, no_memory };
  /// Puts a job accepted once before (due from the timer, a requeued dead letter) back on its
  /// ring: commit()'s protocol (reserve, check the lifecycle, enqueue, wake) without the capacity
  /// bound, since such a job must not be refused. `count()` runs once it is admitted and before
  /// it can be seen; on `no_memory` (no ring block could be allocated) `uncount()` takes it back
  /// and the envelope is as it was.
  template <class Count, class Uncount>
  Readmitted readmit(QueueRuntime& queue, moodycamel::ProducerToken& token, Envelope& envelope, Count count,
                     Uncount uncount);
  /// Counts a dispatch refused before it had a queue (unknown type or queue) and returns `error`.
  Error refuse_unrouted(Error error);
  /// The refusal of a dispatch while the Manager is not running, checked before anything else:
  /// before start() the registry may still be growing, so the job is not even routed.
  Error refuse_closed(const Job& job);
  /// The calling thread's producer state.
  ProducerState& producer() { return producers_.mine(); }
  /// Counts refused dispatches on their queue, and on their type once types are frozen.
  void count_rejected(ProducerState& producer, Route route, std::size_t count = 1);
  /// Empty if `payload` is valid JSON within the limits, else the reason.
  std::string validation_problem(ProducerState& producer, const PayloadBuffer& payload);
  TypeId add_type(std::string_view name, HandlerEntry::Invoke invoke, void* target, std::shared_ptr<void> owned,
                  RegisterOptions options);
  void require_configuring(std::string_view what) const;
  /// Runs the middleware chain and the handler; an exception of any type becomes a retryable
  /// error carrying its message.
  Status invoke_guarded(const HandlerEntry& handler, Context& context, const Message& message) const;
  /// A worker thread: makes what it keeps, reports to start(), serves its queue until shutdown.
  void run_worker(QueueRuntime& queue, Worker& worker);
  /// The worker's loop: takes jobs, runs them, spins and parks while the queue is empty.
  void serve(QueueRuntime& queue, Worker& worker, PayloadScratch& scratch, Context& context);
  /// "worker <queue>/<index> <what>" at debug level; a line that cannot be made is dropped.
  void log_worker(const QueueRuntime& queue, const Worker& worker, std::string_view what) const noexcept;
  /// Parks a worker whose queue is paused (before a take, or in the middle of a batch) until it
  /// is resumed or intake closes.
  void hold_while_paused(QueueRuntime& queue);
  /// `last_ticks`: the worker's latest tick reading, which dates the job for the inspector
  /// unless the job is sampled (then it is read exactly, and updated).
  void run_job(QueueRuntime& queue, Worker& worker, Envelope& envelope,
               Context& context, PayloadScratch& scratch, std::uint64_t& last_ticks);
  /// Runs a handler whose job has a timeout, with the worker's deadline armed.
  Status run_timed(Worker& worker, const HandlerEntry& handler, Context& context, const Message& message,
                   std::chrono::nanoseconds timeout);
  /// Gives the worker a fresh stop source for its handlers, forwarded from its shutdown source:
  /// at start, and after a timeout fired the old one.
  void renew_job_stop(Worker& worker, Context& context);
  /// What a settlement has already done, so that trying it again after a failed allocation does
  /// not repeat it: the hooks run once.
  struct SettleProgress {
    bool failure_reported = false;
    bool dead_reported = false;
    bool chain_continued = false;
    bool result_kept = false;
  };
  /// Everything after a handler that did not succeed: retry, dead-letter, revoke or snooze.
  /// Changes nothing if it throws (std::bad_alloc), so that it can be tried again.
  void settle(QueueRuntime& queue, TypeCell& cell, Envelope& envelope, const Message& message, const Status& status,
              SettleProgress& progress);
  /// Waits until a job may start under its type's and its queue's limits, taking what it needs
  /// into `hold` (src/limits.cpp). False when the worker must stop first: nothing is then held.
  bool wait_for_limits(QueueRuntime& queue, Worker& worker, const Envelope& envelope, LimitHold& hold);
  /// Gives back what wait_for_limits() took, once the job's run has ended.
  void release_limits(QueueRuntime& queue, const Envelope& envelope, LimitHold& hold) noexcept;
  /// Shows the job a worker runs to the inspector (a sequence-locked write on the worker's line).
  static void publish_running(Worker& worker, const Envelope& envelope, std::uint64_t since);
  static void publish_idle(Worker& worker);
  void dead_letter(QueueRuntime& queue, Envelope& envelope, std::string error, DeadReason reason,
                   SettleProgress& progress);
  /// How a job ended, for its key (and, for a durable job, its lane).
  enum class KeyEnd { succeeded, revoked, dead };
  /// Ends a keyed job's hold on its key: kept for the TTL after success, released otherwise. A
  /// durable job's success or revoke is stored by its lane here (its dead letter by
  /// dead_letter()).
  void end_key(QueueRuntime& queue, const Envelope& envelope, KeyEnd end);
  /// A job held its key until it started (KeyHold::until_started): release it, here or in its lane.
  void release_started_key(QueueRuntime& queue, Envelope& envelope);
  /// Puts a job into the timer from a worker (retry, snooze); false, with `envelope` untouched,
  /// when its queue already has max_scheduled jobs waiting there.
  bool schedule(QueueId queue, Envelope& envelope, Clock::time_point due);
  void return_job(QueueRuntime& queue, Envelope& envelope,
                 Clock::time_point due = Clock::time_point{});
  /// return_job()'s record of the job, stored with the jobs shutdown returns.
  void record_returned(QueueRuntime& queue, const Envelope& envelope, Clock::time_point due);
  QueueStats collect_stats(const QueueRuntime& queue) const;

  // Durable queues (lane_bridge.cpp).
  static bool from_lane(const Envelope& envelope) noexcept {
    return envelope.extras && !envelope.extras->lane_ref.empty();
  }
  /// Why a debounced dispatch is refused (no key, a window that is not positive and finite, a
  /// delay with it), counted; or none.
  std::optional<Error> debounce_refusal(ProducerState& producer, Route route, const Job& job);
  /// Puts a debounced job (its envelope filled, with extras) into the timer, or folds it into the
  /// job waiting under its key (src/debounce.cpp).
  Result<JobId> debounce(ProducerState& producer, Route route, Envelope&& envelope, const Job& job);
  /// The timer's key for a debounce key: per type and queue.
  static std::string debounce_slot(Route route, std::string_view key);
  /// Why a job's headers are refused (Errc::invalid_header), counted; or none.
  std::optional<Error> header_refusal(ProducerState& producer, Route route, const Job& job);
  /// Why a job cannot go to a lane (a RetryPolicy object: its backoff is code), counted; or none.
  std::optional<Error> lane_refusal(ProducerState& producer, Route route, const Job& job);
  /// Stores a dispatch in its queue's lane; `payload` is JSON that passed validation.
  Result<JobId> dispatch_to_lane(ProducerState& producer, Route route, const Job& job, std::string_view payload);
  /// A durable job's delay from its delay() or at(); max() for forever.
  std::chrono::nanoseconds lane_delay(const Job& job) const;
  /// What a lane stores for `job`, viewing `payload` (JSON).
  LaneJob lane_job(Route route, const Job& job, std::string_view payload, std::string& headers) const;
  /// A typed payload as JSON for a lane; payload_too_large (counted) past max_payload_bytes.
  Result<std::string> lane_json(ProducerState& producer, Route route, const PayloadBuffer& payload);
  /// A durable dispatch whose payload is in `payload` (JSON, validated; or a checked object).
  Result<JobId> dispatch_envelope_to_lane(ProducerState& producer, Route route, const Job& job,
                                          const PayloadBuffer& payload);
  /// dispatch_bulk() once every job is routed (producer.routes) and the first goes to a lane.
  Result<JobId> dispatch_bulk_to_lane(ProducerState& producer, std::span<const Job> jobs);
  /// Hands a fetched job's outcome to its lane; `delay` for later, `letter` for dead. `counted`:
  /// the job was delivered here (in the books), so a job leaving is counted as handed back.
  void settle_in_lane(QueueRuntime& queue, const Envelope& envelope, LaneSettlement::Kind kind,
                      std::chrono::nanoseconds delay = {}, const DeadLetter* letter = nullptr, bool counted = true);
  void start_lanes();
  void stop_lane_fetching() noexcept;
  void stop_lanes() noexcept;
  std::vector<std::unique_ptr<LaneBridge>> bridges_;  // one per queue; null for in-memory queues
  QueueRuntime& queue_named(std::string_view name) const;
  /// Puts a dead letter's job back on its ring; leaves `record` as it was on failure.
  Result<JobId> requeue_record(const DeadLetterStore::Record& record);

  Config config_;
  Scheduler scheduler_;  // its thread dispatches: shutdown() stops it before intake closes
  Registry registry_;
  TypeRules type_rules_;
  std::vector<std::unique_ptr<QueueRuntime>> queues_;
  FlatNameMap queue_index_;
  ProducerTable producers_;  // after queues_: its states hold ring producers of their rings
  QueueId default_queue_ = no_id;
  std::shared_ptr<const Clock> clock_;
  UserHooks hooks_;

  TimerService timer_;
  KeyTable keys_;
  DeadLetterStore dead_letters_;
  ResultStore results_;
  BatchTable batches_;

  alignas(cache_line) std::atomic<int> state_{configuring};
  std::atomic<bool> cells_ready_{false};  // the workers' per-type cells exist
  std::chrono::steady_clock::time_point started_at_{};  // written by start() before cells_ready_
  TickRate tick_rate_;

  Lifecycle lifecycle_;
};

}  // namespace jobq::internal

// The dispatch hot path and the templates, inline: dispatch() is called once per job.
#include "jobq/internal/engine-inl.hpp"
