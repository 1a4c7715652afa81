// A durable lane: where a queue's jobs live when they must outlive the process (Redis Streams in
// jobq::redis). The engine talks to a lane through this interface only, so that the in-memory
// engine links no storage client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "jobq/batch.hpp"
#include "jobq/dead_letter.hpp"
#include "jobq/error.hpp"
#include "jobq/ids.hpp"
#include "jobq/job.hpp"
#include "jobq/lane_stats.hpp"
#include "jobq/limits.hpp"

namespace jobq {

/// A job as a dispatch hands it to a lane: JSON bytes and the options the lane keeps with it.
struct LaneJob {
  std::string_view type;
  std::string_view payload;          ///< JSON, already validated (or trusted)
  std::string_view key;              ///< idempotency key; empty: none
  std::uint32_t max_attempts = 0;    ///< 0: the type's policy
  std::chrono::nanoseconds timeout{0};  ///< 0: the type's timeout
  std::chrono::nanoseconds delay{0};    ///< 0: ready now; max(): forever
  std::string_view headers = {};     ///< a JSON object of strings (Headers::to_json()); empty: none
  KeyHold key_hold = KeyHold::until_done;  ///< how long `key` is held
  /// Debounce (Job::debounce): `key` names the burst, and the job waits this long, taking the
  /// place of a job of the same key and type that still waits. 0: not debounced.
  std::chrono::nanoseconds debounce{0};
  std::string_view flow = {};  ///< its place in a chain (Job::flow_state()), kept as is; empty: none
};

/// A job a lane fetched for this process to run.
struct LaneDelivery {
  JobId id = 0;
  std::string type;
  std::string payload;
  std::string key;
  std::uint32_t attempt = 1;  ///< the attempt this run is (lost runs of a dead process count)
  std::uint32_t max_attempts = 0;
  std::chrono::nanoseconds timeout{0};
  std::string ref;  ///< the lane's handle on the stored job (a stream entry id)
  std::string headers;  ///< as stored from LaneJob::headers; empty: none
  KeyHold key_hold = KeyHold::until_done;
  std::string flow;  ///< as stored from LaneJob::flow
};

/// How a job that came from a lane ended here; the lane makes it so in its store.
struct LaneSettlement {
  enum class Kind : std::uint8_t {
    succeeded,  ///< done: acknowledge; a key is kept for its TTL
    revoked,    ///< done: acknowledge; a key is released
    dead,       ///< done: store `letter` as a dead letter and acknowledge, at once
    later,      ///< a retry or snooze: wait `delay`, then run as `attempt`; moved and acknowledged at once
    give_back,  ///< not run (shutdown): put back for any process to run, at once
    /// not an outcome: the run began, so a key held until then (KeyHold::until_started) is
    /// released; the job is still this process's
    started,
  };
  Kind kind = Kind::succeeded;
  JobId id = 0;
  std::string_view ref;
  std::string_view type;
  std::string_view payload;  ///< for later and give_back
  std::string_view key;
  std::uint32_t attempt = 1;
  std::uint32_t max_attempts = 0;
  std::chrono::nanoseconds timeout{0};
  std::chrono::nanoseconds delay{0};  ///< for later
  const DeadLetter* letter = nullptr;  ///< for dead (its headers are the job's)
  std::string_view headers = {};  ///< for later and give_back: as in LaneJob
  KeyHold key_hold = KeyHold::until_done;  ///< for give_back: as in LaneJob
  std::string_view flow = {};  ///< for later and give_back: as in LaneJob (a dead letter has its own)
};

/// What the engine offers a lane: a way to hand fetched jobs to the queue's workers.
class LaneIntake {
 public:
  /// Puts a fetched job on the queue's ring. If the engine no longer takes jobs, it hands the job
  /// back through the lane (LaneSettlement::Kind::give_back); a job whose type is not registered
  /// here, or past its attempts, it dead-letters through the lane. False only when it could do
  /// none of these (out of memory): the job then stays leased here until its lease lapses.
  virtual bool deliver(LaneDelivery&& job) = 0;
  /// Holds or frees this process's workers of the queue: the lane saw a fleet-wide pause.
  virtual void hold(bool paused) = 0;

 protected:
  ~LaneIntake() = default;
};


/// A queue's durable store. Set one on QueueConfig::lane; the Manager calls it, never the user.
/// Every call may come from any thread, concurrently, except start() and stop().
class Lane {
 public:
  virtual ~Lane() = default;
  /// Called when the Manager is made, for the queue the lane serves; a lane serves one queue
  /// (throws ConfigError when attached to a second one).
  virtual void attach(std::string_view queue) = 0;
  /// Called by Manager::start(): start fetching into `intake`.
  virtual void start(LaneIntake& intake) = 0;
  /// Stores one job; returns its id once the store has acknowledged it.
  virtual Result<JobId> append(const LaneJob& job) = 0;
  /// Stores every job or none; returns the first id (the batch's ids need not be consecutive).
  virtual Result<JobId> append_bulk(std::span<const LaneJob> jobs) = 0;
  /// Stores one job and calls `done` with append()'s result once the store has answered, on a
  /// thread of the lane's (or on the caller's). `job`'s views need not outlive the call. A lane
  /// may batch the jobs in flight; by default it is append() and then `done`.
  virtual void append_async(const LaneJob& job, std::function<void(Result<JobId>)> done) { done(append(job)); }
  /// Records a job's outcome. Never throws: an outcome that cannot be stored leaves the job
  /// where it was, to run again once its lease lapses (at least once).
  virtual void settle(const LaneSettlement& outcome) noexcept = 0;
  /// Pauses or resumes the queue for every process sharing it.
  virtual void set_paused(bool paused) = 0;
  /// Periodic jobs on this queue: the last slot (Unix seconds) of `schedule` any process claimed.
  /// A lane that keeps none answers nullopt, and a restart then cannot tell which slots passed
  /// while no process ran.
  virtual Result<std::optional<std::int64_t>> last_slot(std::string_view /*schedule*/) {
    return std::optional<std::int64_t>{};
  }
  /// Claims `slot` for this process: true when the store held an earlier slot (or none), false
  /// when it holds this one or a later one (another process's). A lane that keeps none claims
  /// every slot; each process then relies on the slot's idempotency key alone.
  virtual Result<bool> claim_slot(std::string_view /*schedule*/, std::int64_t /*slot*/) { return true; }
  /// Limits for the fleet (Limits on the queue, or on a job type running on it): true when this
  /// lane keeps them in its store, where every process draws from one budget. Otherwise each
  /// process applies them on its own. `scope` is "queue" or a job type's name.
  virtual bool keeps_limits() const { return false; }
  /// Books the next start under `rate`: how long the caller waits before it starts.
  virtual Result<std::chrono::nanoseconds> book_start(std::string_view /*scope*/, const RateLimit& /*rate*/) {
    return Error(Errc::unsupported);
  }
  /// Takes one of `limit` running slots for `job`, held until release_slot() (or until the
  /// holder's lease lapses, if its process dies): false when all are taken.
  virtual Result<bool> acquire_slot(std::string_view /*scope*/, std::uint32_t /*limit*/, JobId /*job*/) {
    return Error(Errc::unsupported);
  }
  virtual void release_slot(std::string_view /*scope*/, JobId /*job*/) noexcept {}
  /// Keeps a job's result (Context::set_result) for `ttl`, for any process to read; by default
  /// results are not kept.
  virtual void store_result(JobId /*job*/, std::string_view /*json*/, std::chrono::nanoseconds /*ttl*/) noexcept {}
  virtual Result<std::optional<std::string>> result(JobId /*job*/) { return std::optional<std::string>{}; }

  /// Batches whose jobs are on this queue (Manager::batch()), kept in the store so that every
  /// process counts into one. A batch that has just ended, with its callbacks as the engine
  /// wrote them (empty: none); `outcome.complete` is false until then.
  struct BatchEnding {
    BatchOutcome outcome;
    std::string on_complete;
    std::string on_success;
  };
  /// Opens a batch of `total` jobs, before any is stored.
  virtual Result<bool> open_batch(std::string_view /*batch*/, std::uint64_t /*total*/, std::string_view /*on_complete*/,
                                  std::string_view /*on_success*/) {
    return Error(Errc::unsupported, "this queue's lane keeps no batches");
  }
  /// Counts `job`'s end ("succeeded", "dead" or "revoked") once, whichever process ends it.
  virtual Result<BatchEnding> finish_in_batch(std::string_view /*batch*/, JobId /*job*/, std::string_view /*end*/) {
    return Error(Errc::unsupported);
  }
  /// After a failed dispatch: the batch is the `total` jobs stored before it, cancelled.
  virtual Result<BatchEnding> shrink_batch(std::string_view /*batch*/, std::uint64_t /*total*/) {
    return Error(Errc::unsupported);
  }
  /// False for an unknown batch.
  virtual Result<bool> cancel_batch(std::string_view /*batch*/) { return Error(Errc::unsupported); }
  virtual Result<std::optional<BatchOutcome>> batch_status(std::string_view /*batch*/) { return Error(Errc::unsupported); }
  /// Stops fetching (shutdown's first step); no deliver() call follows its return.
  virtual void stop_fetching() = 0;
  /// Stores what is left to store and closes (after the workers have stopped).
  virtual void stop() = 0;
  /// True when the store holds no job of this queue that is ready, scheduled or fetched.
  virtual bool idle() = 0;
  /// The queue's dead letters kept in the store, oldest first, from every process.
  virtual Result<DeadLetterPage> dead_letters(std::size_t offset, std::size_t limit) = 0;
  virtual Result<std::optional<DeadLetter>> dead_letter(JobId id) = 0;
  /// Puts a dead letter back as attempt 1; false when there is none with that id.
  virtual Result<bool> requeue_dead(JobId id) = 0;
  virtual Result<bool> purge_dead(JobId id) = 0;
  virtual LaneStats stats() = 0;
};

}  // namespace jobq
