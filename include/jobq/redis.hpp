// Durable queues on Redis Streams (link jobq::redis). A queue whose QueueConfig::lane is a
// jobq::redis::Lane keeps its jobs in Redis: they survive a crash of the process, and every
// process whose Manager has a queue of that name on the same Redis shares its work.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "jobq/dead_letter.hpp"
#include "jobq/lane.hpp"

namespace jobq::redis {

struct Options {
  /// Where Redis listens: a unix socket if set, else host and port.
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_socket = {};
  /// AUTH, when set (with `user` for an ACL user).
  std::string user = {};
  std::string password = {};
  int database = 0;
  /// Keys of queue Q are "<prefix>:{Q}:…"; processes that share a queue use the same prefix.
  std::string prefix = "jobq";
  /// This process's name in the queue's consumer group; empty: "<host>:<pid>:<random>". Each
  /// process needs its own: a name reused by a live process would share its leases.
  std::string consumer = {};
  /// Jobs this process fetches and holds at once (queued in memory or running). They are the jobs
  /// that run again if the process dies; a larger number fetches in larger batches.
  std::size_t prefetch = 64;
  /// A fetched job's lease: renewed every third of it while the job is held here; a job not
  /// renewed for this long (its process died, or lost Redis that long) is claimed by another
  /// process and run again, its lost run counted as an attempt.
  std::chrono::milliseconds lease = std::chrono::seconds(30);
  /// How often each process looks for due delayed jobs, retries and snoozes (and moves them onto
  /// the stream, each exactly once), and for the leases of dead processes.
  std::chrono::milliseconds poll_every = std::chrono::milliseconds(50);  ///< below command_timeout
  /// Connections for dispatch and outcomes, shared by all threads (one command at a time each).
  std::size_t connections = 4;
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(1);
  /// A command with no reply by then fails (Errc::unavailable), and the connection is remade.
  std::chrono::milliseconds command_timeout = std::chrono::seconds(5);
  /// How long a dispatch keeps trying to reach Redis before it fails with Errc::unavailable;
  /// zero: it fails at once when Redis cannot be reached.
  std::chrono::milliseconds dispatch_wait = std::chrono::milliseconds(0);
  /// How long a successful job's idempotency key keeps refusing duplicates; max(): forever.
  std::chrono::milliseconds idempotency_ttl = std::chrono::hours(1);
  /// Dead letters kept in Redis for the queue; past it the oldest go.
  std::size_t dead_letter_capacity = 10000;
};

/// A durable lane for one queue. Make one per durable queue with make_lane() and set it on the
/// queue's QueueConfig::lane; keep the pointer for the dead-letter calls, which work from any
/// process (with or without a running Manager).
class Lane final : public jobq::Lane {
 public:
  explicit Lane(Options options);
  ~Lane() override;
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  /// The queue the lane serves: set by the Manager it is configured in, or here for a lane used
  /// only for its dead-letter calls. Once: throws ConfigError when the lane is attached already
  /// (a lane serves one queue of one Manager).
  void attach(std::string_view queue) override;

  /// Dead letters of the queue, oldest first, from every process. Errors as values: Redis may
  /// be unreachable.
  Result<DeadLetterPage> dead_letters(std::size_t offset = 0, std::size_t limit = 100) override;
  Result<std::optional<DeadLetter>> dead_letter(JobId id) override;
  /// Puts a dead letter back on the stream, as attempt 1 (its key is not claimed again).
  Result<bool> requeue_dead(JobId id) override;
  Result<bool> purge_dead(JobId id) override;

  // jobq::Lane, called by the Manager.
  void start(LaneIntake& intake) override;
  Result<JobId> append(const LaneJob& job) override;
  Result<JobId> append_bulk(std::span<const LaneJob> jobs) override;
  /// Pipelined on a connection of its own: the jobs waiting when a round trip ends go in the next.
  void append_async(const LaneJob& job, std::function<void(Result<JobId>)> done) override;
  void settle(const LaneSettlement& outcome) noexcept override;
  void set_paused(bool paused) override;
  Result<std::optional<std::int64_t>> last_slot(std::string_view schedule) override;
  Result<bool> claim_slot(std::string_view schedule, std::int64_t slot) override;
  /// Limits hold for every process sharing the queue (src/redis/limits.cpp).
  bool keeps_limits() const override { return true; }
  Result<std::chrono::nanoseconds> book_start(std::string_view scope, const RateLimit& rate) override;
  Result<bool> acquire_slot(std::string_view scope, std::uint32_t limit, JobId job) override;
  void release_slot(std::string_view scope, JobId job) noexcept override;
  /// Results live in Redis for every process (src/redis/results.cpp).
  void store_result(JobId job, std::string_view json, std::chrono::nanoseconds ttl) noexcept override;
  Result<std::optional<std::string>> result(JobId job) override;
  /// Batches live in Redis for every process (src/redis/batches.cpp).
  Result<bool> open_batch(std::string_view batch, std::uint64_t total, std::string_view on_complete,
                          std::string_view on_success) override;
  Result<BatchEnding> finish_in_batch(std::string_view batch, JobId job, std::string_view end) override;
  Result<BatchEnding> shrink_batch(std::string_view batch, std::uint64_t total) override;
  Result<bool> cancel_batch(std::string_view batch) override;
  Result<std::optional<BatchOutcome>> batch_status(std::string_view batch) override;
  void stop_fetching() override;
  void stop() override;
  bool idle() override;
  LaneStats stats() override;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

/// A durable lane with these options, for QueueConfig::lane.
inline std::shared_ptr<Lane> make_lane(Options options) { return std::make_shared<Lane>(std::move(options)); }

}  // namespace jobq::redis
