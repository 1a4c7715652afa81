// Batches: a group of jobs dispatched together, with callbacks when all of them have ended.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "jobq/job.hpp"
#include "jobq/payload.hpp"

namespace jobq {

/// Where a batch stands. Its callbacks get it as Context::previous_result(), JSON to bind with
/// jobq::from_json().
struct BatchOutcome {
  std::string batch;            ///< the batch's id
  std::uint64_t total = 0;      ///< jobs in the batch
  std::uint64_t succeeded = 0;
  std::uint64_t dead = 0;       ///< dead-lettered
  std::uint64_t revoked = 0;    ///< revoked by their handler, or by cancel_batch() before they started
  bool cancelled = false;
  bool complete = false;        ///< every job has ended: on_complete has been dispatched
};
JOBQ_PAYLOAD(BatchOutcome, batch, total, succeeded, dead, revoked, cancelled, complete);

/// An in-memory batch that had not ended when its Manager shut down (ShutdownReport::batches):
/// give it to the next Manager's restore_batch() before start(), and dispatch the returned jobs
/// again (ReturnedJob::to_job() keeps their batch), and the batch goes on where it stopped.
struct PendingBatch {
  BatchOutcome outcome;     ///< its counts so far
  std::string on_complete;  ///< its callbacks, as the engine wrote them (opaque)
  std::string on_success;
};

/// A batch's callbacks: jobs dispatched once, when the batch's jobs have all ended. Their views
/// (type, payload, queue, headers) need only live through Manager::batch().
struct BatchOptions {
  /// When every job has ended: succeeded, dead-lettered or revoked.
  std::optional<Job> on_complete = std::nullopt;
  /// When every job has succeeded; dispatched just before on_complete (on several workers the
  /// two may run in either order).
  std::optional<Job> on_success = std::nullopt;
};

}  // namespace jobq
