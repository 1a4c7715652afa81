// The state behind jobq::redis::Lane, shared by its files: the lane (lane.cpp), dispatch
// (append.cpp), outcomes (settle.cpp), the fetcher (fetch.cpp), the keeper (keeper.cpp), dead
// letters (dead_letters.cpp) and the rest beside them.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <set>
#include <unordered_set>
#include <vector>

#include "jobq/redis.hpp"
#include "redis/connection.hpp"

namespace jobq::redis {
namespace detail {

/// Waits before the next try after Redis could not be reached: 10 ms, doubling to 1 s.
class Backoff {
 public:
  void failed(const std::atomic<bool>& running) {
    const auto until = std::chrono::steady_clock::now() + pause_;
    while (running.load() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pause_ = std::min(pause_ * 2, std::chrono::milliseconds(1000));
  }
  void succeeded() { pause_ = std::chrono::milliseconds(10); }

 private:
  std::chrono::milliseconds pause_{10};
};

}  // namespace detail

struct Lane::State {
  explicit State(Options lane_options);

  Options options;
  std::string queue;
  // Key names (see scripts.hpp).
  std::string base, stream, scheduled, ids, dead, dead_prefix, key_prefix, debounce_prefix, paused_key;
  std::string consumer;
  static constexpr std::string_view group = "workers";

  /// Connections for dispatch, outcomes and the dead-letter calls: any thread takes the next.
  struct Pooled {
    Pooled(const Options& options, std::atomic<std::uint64_t>& reconnects) : connection(options, reconnects) {}
    std::mutex mutex;
    detail::Connection connection;
  };
  std::vector<std::unique_ptr<Pooled>> pool;
  std::atomic<std::size_t> next_pooled{0};
  template <class F>
  auto with_connection(F f) {
    Pooled& pooled = *pool[next_pooled.fetch_add(1, std::memory_order_relaxed) % pool.size()];
    const std::lock_guard lock(pooled.mutex);
    return f(pooled.connection);
  }

  LaneIntake* intake = nullptr;
  std::thread fetcher;  // XREADGROUP into the intake
  std::thread keeper;   // acknowledgements, promotion, leases, recovery, the pause flag
  std::atomic<bool> fetching{false};
  std::atomic<bool> keeping{false};

  /// Entries this process fetched and has not settled: renewed by the keeper, bounded by prefetch.
  std::mutex held_mutex;
  std::condition_variable room;  // the fetcher waits here when `held` is full
  std::unordered_set<std::string> held;
  void release(const std::string& entry);
  std::size_t held_count();

  /// Successes and revokes, acknowledged in batches by the keeper.
  struct Ack {
    std::string entry;
    std::string key;  // the key's full name, or empty
    JobId id;
    char mode;  // 'k' keep the key for its TTL, 'r' release it
  };
  std::mutex ack_mutex;
  std::condition_variable ack_ready;
  std::vector<Ack> acks;
  /// Running slots (Limits::concurrency) this process holds: the running key and the holder.
  /// The keeper renews their leases with the jobs'.
  std::mutex slots_mutex;
  std::set<std::pair<std::string, JobId>> slots;
  std::string result_key(JobId job) const { return base + ":result:" + std::to_string(job); }
  std::string batch_key(std::string_view batch) const { return base + ":batch:" + std::string(batch); }
  std::string limit_key(std::string_view scope, std::string_view what) const {
    return base + ":limit:" + std::string(scope) + ":" + std::string(what);
  }
  /// Keys held until their jobs started (KeyHold::until_started): the key's full name and the id
  /// that must still hold it. Sent by the keeper with the acknowledgements.
  std::vector<std::pair<std::string, JobId>> unlocks;
  std::size_t acks_in_flight = 0;  // taken by a flush that has not finished (guarded by ack_mutex)
  /// Sends every waiting acknowledgement over `connection`; false if Redis could not be reached
  /// (they are kept, to be sent again).
  bool flush_acks(detail::Connection& connection);

  std::atomic<bool> paused_seen{false};  // the fleet-wide pause flag, as the keeper last read it
  std::mutex deliver_mutex;  // the intake takes one thread at a time: the fetcher, or the keeper's claims

  std::atomic<std::uint64_t> appended{0}, append_failed{0}, delivered{0}, acknowledged{0}, recovered{0},
      promoted{0}, settle_lost{0}, reconnects{0}, debounced{0};

  /// Builds the delivery of a stream entry: its fields (an array of name, value); false when a
  /// field is missing or unreadable (`problem` says which).
  static bool read_entry(const redisReply* fields, LaneDelivery& job, std::string& problem);
  /// Stores a job that could not be read, or not run here, as a dead letter of the queue.
  void dead_letter_entry(const std::string& entry, const LaneDelivery& job, const std::string& problem);
  /// Hands fetched entries (XREADGROUP's or XAUTOCLAIM's) to the intake; `deliveries` (XAUTOCLAIM)
  /// count the runs lost with dead processes.
  void deliver(const redisReply* entries, bool claimed);
  /// Puts a fetched job that will not run here back on the stream, and releases it.
  void give_back_entry(const LaneDelivery& job);
  /// Stores an outcome (Lane::settle): successes and revokes batched for the keeper, the others
  /// at once, each script checking that the entry is still this process's; then releases it.
  void settle(const LaneSettlement& outcome) noexcept;

  /// What Redis holds for the queue now: jobs ready (not yet delivered to any process), pending
  /// (delivered, not settled), scheduled, dead.
  struct Counts {
    std::int64_t ready = 0, pending = 0, scheduled = 0, dead = 0;
  };
  Result<Counts> counts();

  /// Asynchronous dispatches, sent by the sender thread in pipelined batches.
  struct Outgoing {
    std::string type, payload, key, headers, flow;
    LaneJob options;  ///< its views are not used: view() points them at the strings above
    std::function<void(Result<JobId>)> done;

    LaneJob view() const {
      LaneJob job = options;
      job.type = type;
      job.payload = payload;
      job.key = key;
      job.headers = headers;
      job.flow = flow;
      return job;
    }
  };
  std::mutex outgoing_mutex;
  std::condition_variable outgoing_ready;
  std::vector<Outgoing> outgoing;
  std::size_t outgoing_in_flight = 0;  // taken by the sender, callbacks not yet run
  std::thread sender;
  bool sender_started = false;   // guarded by outgoing_mutex
  bool sender_stopping = false;  // guarded by outgoing_mutex
  void run_sender();
  void stop_sender();
  /// The arguments of the script that stores one job: the append script, or the debounce script
  /// for a debounced job.
  static detail::Args append_args(const LaneJob& job);
  /// The key that script takes: the idempotency key's name, or the debounce key's.
  std::string append_key(const LaneJob& job) const;
  /// Runs that script, or makes its command for a pipeline.
  Result<detail::Reply> eval_append(detail::Connection& connection, const LaneJob& job, const std::string& key,
                                    detail::Args& args);
  detail::Args append_command(detail::Connection& connection, const LaneJob& job, const std::string& key,
                              detail::Args& args);
  /// The append script's reply as a dispatch's result.
  Result<JobId> append_result(const redisReply* reply, std::string_view key);

  void run_fetcher();
  void run_keeper();
  // The keeper's steps; each false when Redis could not be reached.
  /// Renews the lease of every entry held here; releases those another process has claimed.
  bool renew_leases(detail::Connection& connection);
  /// Renews the leases of the running slots held here (src/redis/limits.cpp).
  bool renew_slots(detail::Connection& connection);
  /// Promotes due jobs, trims settled entries and follows the fleet-wide pause flag.
  bool promote_trim_and_follow_pause(detail::Connection& connection);
  /// Claims jobs whose lease lapsed (their process died), from `from` on, up to the free prefetch.
  bool reclaim_lapsed(detail::Connection& connection, std::string& from);
  std::string key_name(std::string_view key) const { return key.empty() ? std::string() : key_prefix + std::string(key); }
};

/// A duration as whole milliseconds for the scripts, rounded up; -1 for max() ("forever").
std::int64_t script_ms(std::chrono::nanoseconds duration);
/// A refusal from Redis, said as what it means for the job.
Error explain_refusal(Error error);
/// A reply's integer (or numeric string); 0 for anything else.
std::int64_t reply_integer(const redisReply* reply);

}  // namespace jobq::redis
