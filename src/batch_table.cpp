// The in-memory batch table.
#include "jobq/internal/batch_table.hpp"

namespace jobq::internal {

void BatchTable::open(const std::string& batch, std::uint64_t total, std::string on_complete, std::string on_success) {
  const std::lock_guard lock(mutex_);
  Entry& entry = batches_[batch];
  entry.outcome.batch = batch;
  entry.outcome.total = total;
  entry.on_complete = std::move(on_complete);
  entry.on_success = std::move(on_success);
}

void BatchTable::restore(const PendingBatch& batch) {
  const std::lock_guard lock(mutex_);
  Entry& entry = batches_[batch.outcome.batch];
  entry.outcome = batch.outcome;
  entry.outcome.complete = false;
  // Ids start again in a new Manager: the ones counted before mean nothing here. The jobs that
  // come back (dispatched again under new ids) are each counted once, as any job is.
  entry.finished = {};
  entry.on_complete = batch.on_complete;
  entry.on_success = batch.on_success;
}

std::vector<PendingBatch> BatchTable::pending() const {
  const std::lock_guard lock(mutex_);
  std::vector<PendingBatch> out;
  for (const auto& [id, entry] : batches_) {
    if (!entry.outcome.complete) out.push_back(PendingBatch{entry.outcome, entry.on_complete, entry.on_success});
  }
  return out;
}

std::optional<BatchEnding> BatchTable::end_if_done_locked(Entry& entry) {
  BatchOutcome& outcome = entry.outcome;
  if (outcome.complete || outcome.succeeded + outcome.dead + outcome.revoked < outcome.total) return std::nullopt;
  outcome.complete = true;
  entry.finished = {};
  ended_.push_back(outcome.batch);
  BatchEnding ending{outcome, std::move(entry.on_complete), std::move(entry.on_success)};
  while (ended_.size() > ended_kept) {
    batches_.erase(ended_.front());
    ended_.pop_front();
  }
  return ending;
}

std::optional<BatchEnding> BatchTable::finish(std::string_view batch, JobId job, BatchEnd end) {
  const std::lock_guard lock(mutex_);
  const auto found = batches_.find(batch);
  if (found == batches_.end() || found->second.outcome.complete) return std::nullopt;
  Entry& entry = found->second;
  if (!entry.finished.insert(job).second) return std::nullopt;  // counted already (run again after a requeue)
  switch (end) {
    case BatchEnd::succeeded: ++entry.outcome.succeeded; break;
    case BatchEnd::dead: ++entry.outcome.dead; break;
    case BatchEnd::revoked: ++entry.outcome.revoked; break;
  }
  return end_if_done_locked(entry);
}

std::optional<BatchEnding> BatchTable::shrink(std::string_view batch, std::uint64_t total) {
  const std::lock_guard lock(mutex_);
  const auto found = batches_.find(batch);
  if (found == batches_.end()) return std::nullopt;
  found->second.outcome.total = total;
  found->second.outcome.cancelled = true;
  return end_if_done_locked(found->second);
}

bool BatchTable::cancel(std::string_view batch) {
  const std::lock_guard lock(mutex_);
  const auto found = batches_.find(batch);
  if (found == batches_.end()) return false;
  found->second.outcome.cancelled = true;
  return true;
}

bool BatchTable::cancelled(std::string_view batch) const {
  const std::lock_guard lock(mutex_);
  const auto found = batches_.find(batch);
  return found != batches_.end() && found->second.outcome.cancelled;
}

std::optional<BatchOutcome> BatchTable::status(std::string_view batch) const {
  const std::lock_guard lock(mutex_);
  const auto found = batches_.find(batch);
  if (found == batches_.end()) return std::nullopt;
  return found->second.outcome;
}

}  // namespace jobq::internal
