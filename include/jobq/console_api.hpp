// The JSON the console serves under /api, as JOBQ_PAYLOAD structs: the console writes them with
// jobq's serializer, and a client (the `jobq inspect` command, a test, a script in C++) binds them
// with the same structs. Times are in seconds, rates in jobs per second.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobq/metrics.hpp"
#include "jobq/payload.hpp"

namespace jobq::console::api {

/// jobq::JobCounters: events since start().
struct Counters {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t started = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::uint64_t retried = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t revoked = 0;
  std::uint64_t snoozed = 0;
};
JOBQ_PAYLOAD(Counters, accepted, rejected, started, succeeded, failed, retried, dead_lettered, revoked, snoozed);

inline Counters counters_of(const JobCounters& jobs) {
  return {.accepted = jobs.accepted,
          .rejected = jobs.rejected,
          .started = jobs.started,
          .succeeded = jobs.succeeded,
          .failed = jobs.failed,
          .retried = jobs.retried,
          .dead_lettered = jobs.dead_lettered,
          .revoked = jobs.revoked,
          .snoozed = jobs.snoozed};
}

/// Per second, over the console's last sampling interval (Options::sample_every).
struct Rates {
  double accepted = 0;
  double succeeded = 0;
  double failed = 0;
  double dead_lettered = 0;
};
JOBQ_PAYLOAD(Rates, accepted, succeeded, failed, dead_lettered);

/// Quantiles of a latency histogram (upper bucket edges, within 25 %), in seconds.
struct Quantiles {
  double p50 = 0;
  double p99 = 0;
  std::uint64_t samples = 0;
};
JOBQ_PAYLOAD(Quantiles, p50, p99, samples);

/// What Redis holds for a durable queue (-1: Redis could not be asked).
struct DurableView {
  std::int64_t ready = -1;
  std::int64_t pending = -1;
  std::int64_t scheduled = -1;
  std::int64_t dead = -1;
  std::uint64_t appended = 0;
  std::uint64_t delivered = 0;
  std::uint64_t recovered = 0;
  std::uint64_t reconnects = 0;
};
JOBQ_PAYLOAD(DurableView, ready, pending, scheduled, dead, appended, delivered, recovered, reconnects);

struct QueueRow {
  std::string name{};
  unsigned workers = 0;
  unsigned busy_workers = 0;
  std::string idle{};  ///< "busy_spin" or "spin_then_park"
  bool paused = false;
  std::int64_t depth = 0;       ///< waiting in the ring
  std::uint64_t scheduled = 0;  ///< waiting in the timer: delayed, retries, snoozes
  std::uint64_t in_flight = 0;  ///< taken by a worker, not finished
  std::uint64_t timed_out = 0;
  Counters counters;
  Rates rates;
  Quantiles wait;  ///< dispatch (or due time) → start, since start()
  Quantiles run;   ///< start → handler returned, since start()
  std::optional<DurableView> durable{};
};
JOBQ_PAYLOAD(QueueRow, name, workers, busy_workers, idle, paused, depth, scheduled, in_flight, timed_out, counters,
             rates, wait, run, durable);

/// GET /api/queues
struct Overview {
  std::string version{};
  double uptime_seconds = 0;
  /// The latency histograms hold about one job in this many (the counters are exact).
  std::uint32_t latency_sample_every = 1;
  std::uint64_t unrouted = 0;
  std::uint64_t dead_letters = 0;          ///< kept by this process (in-memory queues)
  std::uint64_t dead_letters_dropped = 0;
  std::vector<QueueRow> queues{};
};
JOBQ_PAYLOAD(Overview, version, uptime_seconds, latency_sample_every, unrouted, dead_letters, dead_letters_dropped,
             queues);

struct TypeRow {
  std::string type{};
  Counters counters;
  Quantiles wait;
  Quantiles run;
};
JOBQ_PAYLOAD(TypeRow, type, counters, wait, run);

/// GET /api/types
struct Types {
  std::vector<TypeRow> types{};
};
JOBQ_PAYLOAD(Types, types);

struct RunningJob {
  std::uint64_t id = 0;
  std::string type{};
  std::string queue{};
  unsigned worker = 0;
  std::uint32_t attempt = 0;
  double running_seconds = 0;
};
JOBQ_PAYLOAD(RunningJob, id, type, queue, worker, attempt, running_seconds);

/// GET /api/running
struct Running {
  std::vector<RunningJob> jobs{};
};
JOBQ_PAYLOAD(Running, jobs);

struct HeaderRow {
  std::string name{};
  std::string value{};
};
JOBQ_PAYLOAD(HeaderRow, name, value);

struct DeadLetterRow {
  std::uint64_t id = 0;
  std::string type{};
  std::string queue{};
  std::uint32_t attempts = 0;
  std::string reason{};
  std::string last_error{};
  std::string failed_at{};  ///< UTC, ISO 8601
  std::string payload{};    ///< the job's JSON text
  std::vector<HeaderRow> headers{};  ///< the job's headers, in order
  std::vector<std::string> chain_waiting{};  ///< a chain's steps waiting on this letter, in order
};
JOBQ_PAYLOAD(DeadLetterRow, id, type, queue, attempts, reason, last_error, failed_at, payload, headers, chain_waiting);

/// GET /api/dead?queue=Q&offset=N&limit=N: one queue's dead letters, oldest first.
struct DeadLetters {
  std::string queue{};
  std::uint64_t total = 0;
  std::uint64_t dropped = 0;
  std::uint64_t offset = 0;
  std::vector<DeadLetterRow> letters{};
};
JOBQ_PAYLOAD(DeadLetters, queue, total, dropped, offset, letters);

/// One sampling interval of one queue.
struct HistoryPoint {
  double at = 0;       ///< seconds since start() at the interval's end
  double seconds = 0;  ///< the interval's length: rates × seconds = the interval's jobs
  Rates rates;
  Quantiles wait;  ///< of the jobs timed in this interval
  Quantiles run;
};
JOBQ_PAYLOAD(HistoryPoint, at, seconds, rates, wait, run);

struct QueueHistory {
  std::string queue{};
  std::vector<HistoryPoint> points{};  ///< oldest first
};
JOBQ_PAYLOAD(QueueHistory, queue, points);

/// GET /api/history: the last minutes (Options::history), every queue.
struct History {
  double interval_seconds = 0;
  std::vector<QueueHistory> queues{};
};
JOBQ_PAYLOAD(History, interval_seconds, queues);

struct ScheduleRow {
  std::string name{};
  std::string cron{};
  std::string time_zone{};
  std::string type{};
  std::string queue{};
  std::string next_run{};  ///< UTC, ISO 8601
  std::string last_run{};  ///< empty: none yet
  std::uint64_t dispatched = 0;
  std::uint64_t taken_elsewhere = 0;
  std::uint64_t missed = 0;
  std::uint64_t refused = 0;
};
JOBQ_PAYLOAD(ScheduleRow, name, cron, time_zone, type, queue, next_run, last_run, dispatched, taken_elsewhere, missed,
             refused);

/// GET /api/schedules
struct Schedules {
  std::vector<ScheduleRow> schedules{};
};
JOBQ_PAYLOAD(Schedules, schedules);

/// The answer to every action (POST), and to every refused request (4xx) with ok = false.
struct ActionResult {
  bool ok = false;
  std::string message{};
  std::uint64_t job_id = 0;  ///< a requeued dead letter's id
};
JOBQ_PAYLOAD(ActionResult, ok, message, job_id);

}  // namespace jobq::console::api
