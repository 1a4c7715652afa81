// The bounded store of dead letters behind the Manager's inspection calls.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "jobq/dead_letter.hpp"
#include "jobq/internal/job_extras.hpp"

namespace jobq::internal {

/// Oldest first. When full, adding drops the oldest and counts it: the on_dead hook has seen
/// every letter by then, so a user who must keep them all persists them there.
class DeadLetterStore {
 public:
  /// A letter with what is needed to run the job again.
  struct Record {
    DeadLetter letter;
    TypeId type = 0;
    QueueId queue = 0;
    std::unique_ptr<JobExtras> extras;  ///< retry and timeout overrides; the key is released
  };

  explicit DeadLetterStore(std::size_t capacity) : capacity_(capacity) {}

  void add(Record record);
  DeadLetterPage page(std::size_t offset, std::size_t limit) const;
  std::optional<DeadLetter> find(JobId id) const;
  /// Removes and returns the letter for `id`.
  std::optional<Record> take(JobId id);
  /// Removes and returns every letter.
  std::vector<Record> take_all();
  /// Puts a taken record back where it sorts by time (a requeue that could not be done).
  void restore(Record record);
  /// Removes the letter for `id`; false if there is none.
  bool purge(JobId id);
  /// Removes every letter; returns how many.
  std::size_t purge_all();
  std::size_t size() const;
  std::uint64_t dropped() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<Record> records_;
  std::uint64_t dropped_ = 0;
};

}  // namespace jobq::internal
