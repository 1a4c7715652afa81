// The bounded dead-letter store.
#include "jobq/internal/dead_letter_store.hpp"

#include <algorithm>

namespace jobq::internal {

DeadLetterStore::Record DeadLetterStore::detach(Shared record) {
  // Out of the store, so no page can take a new share of it; a page being copied may still hold
  // one, and then the letter is copied rather than moved.
  if (record.use_count() == 1) return std::move(*record);
  return Record{record->letter, record->type, record->queue, std::move(record->extras)};
}

namespace {
std::size_t headers_weight(const Headers& headers) noexcept {
  std::size_t bytes = 0;
  for (const Header& header : headers) bytes += sizeof(Header) + header.name.size() + header.value.size();
  return bytes;
}
}  // namespace

std::size_t DeadLetterStore::weight(const Record& record) noexcept {
  const DeadLetter& letter = record.letter;
  return sizeof(Record) + letter.payload.size() + letter.last_error.size() + letter.type.size() +
         letter.queue.size() + (record.extras ? sizeof(JobExtras) : 0) + headers_weight(letter.headers) + letter.flow.size();
}

void DeadLetterStore::insert_locked(Order::iterator position, Record& record) {
  const JobId id = record.letter.id;
  const std::size_t size = weight(record);
  // Every allocation first, each undone if a later one fails, so that a failure leaves the store
  // and the record as they were.
  by_id_.reserve(by_id_.size() + 1);
  Shared shared = std::make_shared<Record>(std::move(record));
  Order::iterator inserted;
  try {
    inserted = order_.insert(position, shared);
    try {
      if (auto [slot, fresh] = by_id_.try_emplace(id, inserted); !fresh) {
        // Ids are unique per Manager; a second letter for one replaces the first.
        erase_locked(slot->second);
        by_id_[id] = inserted;
      }
    } catch (...) {
      order_.erase(inserted);
      throw;
    }
  } catch (...) {
    record = std::move(*shared);
    throw;
  }
  bytes_ += size;
  trim_locked();
}

void DeadLetterStore::erase_locked(Order::iterator position) {
  bytes_ -= weight(**position);
  if (auto found = by_id_.find((*position)->letter.id); found != by_id_.end() && found->second == position) {
    by_id_.erase(found);
  }
  order_.erase(position);
}

void DeadLetterStore::trim_locked() {
  while (!order_.empty() && (order_.size() > capacity_ || bytes_ > byte_budget_)) {
    erase_locked(order_.begin());
    ++dropped_;
  }
}

void DeadLetterStore::add(Record& record) {
  const std::lock_guard lock(mutex_);
  insert_locked(order_.end(), record);
}

DeadLetterPage DeadLetterStore::page(std::size_t offset, std::size_t limit) const {
  std::vector<Shared> gathered;
  DeadLetterPage page;
  {
    const std::lock_guard lock(mutex_);
    page.total = order_.size();
    page.dropped = dropped_;
    if (offset < order_.size()) {
      gathered.reserve(std::min(limit, order_.size() - offset));
      auto position = order_.begin();
      std::advance(position, static_cast<std::ptrdiff_t>(offset));
      for (; position != order_.end() && gathered.size() < limit; ++position) gathered.push_back(*position);
    }
  }
  // Copied without the lock. The records are shared: one taken or purged meanwhile stays alive
  // here, and its letter is never written after it was stored.
  page.letters.reserve(gathered.size());
  for (const Shared& record : gathered) page.letters.push_back(record->letter);
  return page;
}

std::optional<DeadLetter> DeadLetterStore::find(JobId id) const {
  Shared record;
  {
    const std::lock_guard lock(mutex_);
    const auto found = by_id_.find(id);
    if (found == by_id_.end()) return std::nullopt;
    record = *found->second;
  }
  return record->letter;
}

std::optional<DeadLetterStore::Record> DeadLetterStore::take(JobId id) {
  Shared record;
  {
    const std::lock_guard lock(mutex_);
    const auto found = by_id_.find(id);
    if (found == by_id_.end()) return std::nullopt;
    record = *found->second;
    erase_locked(found->second);
  }
  return detach(std::move(record));
}

std::vector<DeadLetterStore::Record> DeadLetterStore::take_all() {
  Order taken;
  {
    const std::lock_guard lock(mutex_);
    taken.swap(order_);
    by_id_.clear();
    bytes_ = 0;
  }
  std::vector<Record> all;
  all.reserve(taken.size());
  for (Shared& record : taken) all.push_back(detach(std::move(record)));
  return all;
}

void DeadLetterStore::restore(Record record) {
  const std::lock_guard lock(mutex_);
  auto position = std::find_if(order_.begin(), order_.end(),
                               [&](const Shared& other) { return record.letter.when < other->letter.when; });
  insert_locked(position, record);
}

bool DeadLetterStore::purge(JobId id) {
  const std::lock_guard lock(mutex_);
  const auto found = by_id_.find(id);
  if (found == by_id_.end()) return false;
  erase_locked(found->second);
  return true;
}

std::size_t DeadLetterStore::purge_all() {
  Order purged;  // freed after the lock is let go
  const std::lock_guard lock(mutex_);
  const std::size_t count = order_.size();
  purged.swap(order_);
  by_id_.clear();
  bytes_ = 0;
  return count;
}

std::size_t DeadLetterStore::size() const {
  const std::lock_guard lock(mutex_);
  return order_.size();
}

std::size_t DeadLetterStore::bytes() const {
  const std::lock_guard lock(mutex_);
  return bytes_;
}

std::uint64_t DeadLetterStore::dropped() const {
  const std::lock_guard lock(mutex_);
  return dropped_;
}

}  // namespace jobq::internal
