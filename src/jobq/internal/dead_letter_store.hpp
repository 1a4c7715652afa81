// The bounded store of dead letters behind the Manager's inspection calls.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "jobq/dead_letter.hpp"
#include "jobq/internal/job_extras.hpp"

namespace jobq::internal {

/// Oldest first, bounded by a count and by a byte budget. When either is passed, adding drops the
/// oldest and counts it: the on_dead hook has seen every letter by then, so a user who must keep
/// them all persists them there. Finding, taking and purging by id cost O(1); a page is gathered
/// under the lock as pointers and copied out after it, so that browsing never holds up a worker
/// that dead-letters a job.
class DeadLetterStore {
 public:
  /// A letter with what is needed to run the job again.
  struct Record {
    DeadLetter letter;
    TypeId type = 0;
    QueueId queue = 0;
    std::unique_ptr<JobExtras> extras;  ///< retry and timeout overrides; the key is released
  };

  DeadLetterStore(std::size_t capacity, std::size_t byte_budget) : capacity_(capacity), byte_budget_(byte_budget) {}

  /// Takes `record` in; if that throws (std::bad_alloc), `record` is as it was.
  void add(Record& record);
  void add(Record&& record) { add(record); }
  DeadLetterPage page(std::size_t offset, std::size_t limit) const;
  std::optional<DeadLetter> find(JobId id) const;
  /// Removes and returns the letter for `id`.
  std::optional<Record> take(JobId id);
  /// Removes and returns every letter, oldest first.
  std::vector<Record> take_all();
  /// Puts a taken record back where it sorts by time (a requeue that could not be done).
  void restore(Record record);
  /// Removes the letter for `id`; false if there is none.
  bool purge(JobId id);
  /// Removes every letter; returns how many.
  std::size_t purge_all();
  std::size_t size() const;
  /// The bytes the kept letters are counted as (their strings and their records).
  std::size_t bytes() const;
  std::uint64_t dropped() const;

  /// What a record is counted as against the byte budget.
  static std::size_t weight(const Record& record) noexcept;

 private:
  using Shared = std::shared_ptr<Record>;
  using Order = std::list<Shared>;

  /// Inserts before `position`; then drops the oldest until both bounds hold. Lock held. On a
  /// throw, `record` and the store are as they were.
  void insert_locked(Order::iterator position, Record& record);
  void erase_locked(Order::iterator position);
  void trim_locked();
  /// A record taken out of the store, as the caller's own.
  static Record detach(Shared record);

  const std::size_t capacity_;
  const std::size_t byte_budget_;
  mutable std::mutex mutex_;
  Order order_;  // oldest first
  std::unordered_map<JobId, Order::iterator> by_id_;
  std::size_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace jobq::internal
