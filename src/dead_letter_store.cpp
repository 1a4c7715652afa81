// The bounded dead-letter store.
#include "jobq/internal/dead_letter_store.hpp"

#include <algorithm>

namespace jobq::internal {
namespace {

template <class Records>
auto find_record(Records& records, JobId id) {
  return std::find_if(records.begin(), records.end(), [id](const auto& record) { return record.letter.id == id; });
}

}  // namespace

void DeadLetterStore::add(Record record) {
  const std::lock_guard lock(mutex_);
  if (capacity_ == 0) {
    ++dropped_;
    return;
  }
  if (records_.size() == capacity_) {
    records_.pop_front();
    ++dropped_;
  }
  records_.push_back(std::move(record));
}

DeadLetterPage DeadLetterStore::page(std::size_t offset, std::size_t limit) const {
  const std::lock_guard lock(mutex_);
  DeadLetterPage page;
  page.total = records_.size();
  page.dropped = dropped_;
  for (std::size_t index = offset; index < records_.size() && page.letters.size() < limit; ++index) {
    page.letters.push_back(records_[index].letter);
  }
  return page;
}

std::optional<DeadLetter> DeadLetterStore::find(JobId id) const {
  const std::lock_guard lock(mutex_);
  auto found = find_record(records_, id);
  if (found == records_.end()) return std::nullopt;
  return found->letter;
}

std::optional<DeadLetterStore::Record> DeadLetterStore::take(JobId id) {
  const std::lock_guard lock(mutex_);
  auto found = find_record(records_, id);
  if (found == records_.end()) return std::nullopt;
  Record record = std::move(*found);
  records_.erase(found);
  return record;
}

std::vector<DeadLetterStore::Record> DeadLetterStore::take_all() {
  const std::lock_guard lock(mutex_);
  std::vector<Record> all(std::make_move_iterator(records_.begin()), std::make_move_iterator(records_.end()));
  records_.clear();
  return all;
}

void DeadLetterStore::restore(Record record) {
  const std::lock_guard lock(mutex_);
  auto position = std::upper_bound(records_.begin(), records_.end(), record.letter.when,
                                   [](auto when, const Record& other) { return when < other.letter.when; });
  records_.insert(position, std::move(record));
  if (records_.size() > capacity_) {
    records_.pop_front();
    ++dropped_;
  }
}

bool DeadLetterStore::purge(JobId id) {
  const std::lock_guard lock(mutex_);
  auto found = find_record(records_, id);
  if (found == records_.end()) return false;
  records_.erase(found);
  return true;
}

std::size_t DeadLetterStore::purge_all() {
  const std::lock_guard lock(mutex_);
  const std::size_t count = records_.size();
  records_.clear();
  return count;
}

std::size_t DeadLetterStore::size() const {
  const std::lock_guard lock(mutex_);
  return records_.size();
}

std::uint64_t DeadLetterStore::dropped() const {
  const std::lock_guard lock(mutex_);
  return dropped_;
}

}  // namespace jobq::internal
