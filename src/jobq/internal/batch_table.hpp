// The batches of in-memory queues: how many of each batch's jobs have ended and how, each job
// counted once, and the callbacks to dispatch when the last one ends.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "jobq/batch.hpp"
#include "jobq/ids.hpp"

namespace jobq::internal {

enum class BatchEnd : std::uint8_t { succeeded, dead, revoked };

/// A batch that has just ended, with its callbacks (FlowStep JSON; empty: none).
struct BatchEnding {
  BatchOutcome outcome;
  std::string on_complete;
  std::string on_success;
};

class BatchTable {
 public:
  void open(const std::string& batch, std::uint64_t total, std::string on_complete, std::string on_success);
  /// A batch carried over from another run, with its counts so far.
  void restore(const PendingBatch& batch);
  /// The batches that have not ended, for the shutdown report.
  std::vector<PendingBatch> pending() const;
  /// Counts `job`'s end once; the ending when it was the batch's last.
  std::optional<BatchEnding> finish(std::string_view batch, JobId job, BatchEnd end);
  /// After a failed dispatch: the batch is the `total` jobs dispatched before it, cancelled.
  std::optional<BatchEnding> shrink(std::string_view batch, std::uint64_t total);
  bool cancel(std::string_view batch);
  bool cancelled(std::string_view batch) const;
  std::optional<BatchOutcome> status(std::string_view batch) const;

  /// Ended batches whose outcome stays readable (status()); the oldest go first.
  static constexpr std::size_t ended_kept = 10000;

 private:
  struct Entry {
    BatchOutcome outcome;
    std::unordered_set<JobId> finished;  // freed when the batch ends
    std::string on_complete;
    std::string on_success;
  };
  /// The ending, if `entry` has just ended. Lock held.
  std::optional<BatchEnding> end_if_done_locked(Entry& entry);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> batches_;
  std::deque<std::string> ended_;  // oldest first
};

}  // namespace jobq::internal
