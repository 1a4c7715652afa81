// The JSON bodies of the HTTP API, as JOBQ_PAYLOAD structs: jobq's own binder reads the request
// bodies and its serializer writes the answers, so the service needs no second JSON library. The
// test binds the answers with the same structs.
#pragma once

#include <jobq/console_api.hpp>
#include <jobq/jobq.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace webapp::api {

/// POST /signup
struct SignupRequest {
  std::string user_id;
};
JOBQ_PAYLOAD(SignupRequest, user_id);

/// POST /reports
struct ReportRequest {
  std::string name;
  std::string day;
};
JOBQ_PAYLOAD(ReportRequest, name, day);

/// POST /signups: a group signing up together (a batch of welcome emails).
struct GroupSignupRequest {
  std::vector<std::string> user_ids;
};
JOBQ_PAYLOAD(GroupSignupRequest, user_ids);

/// 202 from POST /signups: the batch, to follow at GET /batches/<batch> (a jobq::BatchOutcome).
struct BatchAccepted {
  std::string batch;
};
JOBQ_PAYLOAD(BatchAccepted, batch);

/// 202 from POST /signup, /reports and /dead/<id>/requeue.
struct Accepted {
  std::uint64_t job_id = 0;
};
JOBQ_PAYLOAD(Accepted, job_id);

/// Every 4xx and 5xx: the jobq error message, e.g. "queue full".
struct Refusal {
  std::string error;
};
JOBQ_PAYLOAD(Refusal, error);

/// 200 from POST /queues/<name>/pause and /resume.
struct QueueState {
  std::string name;
  bool paused = false;
};
JOBQ_PAYLOAD(QueueState, name, paused);

/// 202 from POST /shutdown.
struct Stopping {
  std::string status;
};
JOBQ_PAYLOAD(Stopping, status);

// GET /inspect -------------------------------------------------------------------------------

/// jobq::JobCounters: events since start(), as the console serves them.
using Counters = jobq::console::api::Counters;

struct QueueView {
  std::string name;
  unsigned workers = 0;
  bool paused = false;
  std::int64_t depth = 0;       ///< waiting in the ring
  std::uint64_t scheduled = 0;  ///< waiting in the timer (retries here)
  std::uint64_t in_flight = 0;  ///< taken by a worker, not finished
  unsigned busy_workers = 0;
  Counters counters;
};
JOBQ_PAYLOAD(QueueView, name, workers, paused, depth, scheduled, in_flight, busy_workers, counters);

struct RunningJob {
  std::uint64_t id = 0;
  std::string type;
  std::string queue;
  unsigned worker = 0;
  std::uint32_t attempt = 0;
  double running_seconds = 0;
};
JOBQ_PAYLOAD(RunningJob, id, type, queue, worker, attempt, running_seconds);

struct DeadLetterView {
  std::uint64_t id = 0;
  std::string type;
  std::string queue;
  std::uint32_t attempts = 0;
  std::string last_error;
  std::string reason;   ///< "attempts exhausted" or "skip retry"
  std::string payload;  ///< the job's JSON, as text
};
JOBQ_PAYLOAD(DeadLetterView, id, type, queue, attempts, last_error, reason, payload);

/// One page of the dead letters, oldest first (?offset=&limit= on GET /inspect).
struct DeadLetters {
  std::uint64_t total = 0;  ///< kept now, on every page
  std::uint64_t dropped = 0;
  std::uint64_t offset = 0;
  std::vector<DeadLetterView> letters;
};
JOBQ_PAYLOAD(DeadLetters, total, dropped, offset, letters);

struct Inspection {
  std::vector<QueueView> queues;
  std::vector<RunningJob> in_flight;
  DeadLetters dead_letters;
};
JOBQ_PAYLOAD(Inspection, queues, in_flight, dead_letters);

}  // namespace webapp::api
