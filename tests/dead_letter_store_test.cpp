// The dead-letter store on its own: both bounds, lookups by id, order, and pages taken while
// letters come and go.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "jobq/internal/dead_letter_store.hpp"
#include "test_support.hpp"

namespace {

using jobq::internal::DeadLetterStore;

DeadLetterStore::Record record(jobq::JobId id, std::size_t payload_bytes = 2) {
  DeadLetterStore::Record made;
  made.letter.id = id;
  made.letter.type = "t:x";
  made.letter.queue = "default";
  made.letter.payload = std::string(payload_bytes, 'x');
  made.letter.last_error = "down";
  made.letter.when = std::chrono::system_clock::time_point(std::chrono::seconds(id));
  return made;
}

std::vector<jobq::JobId> ids(const DeadLetterStore& store) {
  std::vector<jobq::JobId> out;
  for (const jobq::DeadLetter& letter : store.page(0, 1000).letters) out.push_back(letter.id);
  return out;
}

TEST(DeadLetterStore, PastItsCountTheOldestAreDroppedAndCounted) {
  DeadLetterStore store(3, std::size_t{1} << 30);
  for (jobq::JobId id = 1; id <= 5; ++id) store.add(record(id));
  EXPECT_EQ(ids(store), (std::vector<jobq::JobId>{3, 4, 5}));
  EXPECT_EQ(store.dropped(), 2u);
  EXPECT_FALSE(store.find(1).has_value());
  EXPECT_TRUE(store.find(4).has_value());
}

TEST(DeadLetterStore, PastItsByteBudgetTheOldestAreDroppedAndTheBytesStayUnderIt) {
  const std::size_t one = DeadLetterStore::weight(record(1, 1000));
  DeadLetterStore store(1000, 3 * one + one / 2);
  for (jobq::JobId id = 1; id <= 10; ++id) {
    store.add(record(id, 1000));
    EXPECT_LE(store.bytes(), 3 * one + one / 2);
  }
  EXPECT_EQ(ids(store), (std::vector<jobq::JobId>{8, 9, 10}));
  EXPECT_EQ(store.dropped(), 7u);
  EXPECT_EQ(store.bytes(), 3 * one);
  // A letter bigger than the whole budget is dropped too; the hook has seen it.
  store.add(record(11, 10 * one));
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.bytes(), 0u);
  EXPECT_EQ(store.dropped(), 11u);
}

TEST(DeadLetterStore, TakePurgeAndRestoreByIdKeepTheOrderAndTheBytes) {
  DeadLetterStore store(100, std::size_t{1} << 30);
  for (jobq::JobId id = 1; id <= 5; ++id) store.add(record(id));
  const std::size_t full = store.bytes();
  std::optional<DeadLetterStore::Record> taken = store.take(3);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->letter.id, 3u);
  EXPECT_FALSE(store.take(3).has_value());
  EXPECT_TRUE(store.purge(5));
  EXPECT_FALSE(store.purge(5));
  EXPECT_EQ(ids(store), (std::vector<jobq::JobId>{1, 2, 4}));
  store.restore(std::move(*taken));  // back where its time sorts it
  EXPECT_EQ(ids(store), (std::vector<jobq::JobId>{1, 2, 3, 4}));
  EXPECT_EQ(store.bytes(), full - DeadLetterStore::weight(record(5)));
  const std::vector<DeadLetterStore::Record> all = store.take_all();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all.front().letter.id, 1u);
  EXPECT_EQ(all.back().letter.id, 4u);
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.bytes(), 0u);
  EXPECT_EQ(store.dropped(), 0u);
}

TEST(DeadLetterStore, PagesSkipAndLimit) {
  DeadLetterStore store(100, std::size_t{1} << 30);
  for (jobq::JobId id = 1; id <= 10; ++id) store.add(record(id));
  const jobq::DeadLetterPage page = store.page(4, 3);
  EXPECT_EQ(page.total, 10u);
  ASSERT_EQ(page.letters.size(), 3u);
  EXPECT_EQ(page.letters[0].id, 5u);
  EXPECT_EQ(page.letters[2].id, 7u);
  EXPECT_TRUE(store.page(10, 5).letters.empty());
}

TEST(DeadLetterStore, PagesTakenWhileLettersAreAddedTakenAndPurgedAreWhole) {
  const jobq::JobId letters = jobq::testing::sanitized ? 5'000 : 50'000;
  DeadLetterStore store(1000, std::size_t{1} << 30);
  std::atomic<bool> done{false};
  std::thread browser([&] {
    while (!done.load()) {
      for (const jobq::DeadLetter& letter : store.page(0, 100).letters) {
        ASSERT_EQ(letter.payload, std::string(64, 'x'));
        ASSERT_EQ(letter.last_error, "down");
      }
    }
  });
  std::uint64_t taken_whole = 0;
  for (jobq::JobId id = 1; id <= letters; ++id) {
    store.add(record(id, 64));
    if (id % 3 == 0) {  // ids one below a multiple of 3 are taken, multiples of 15 purged
      std::optional<DeadLetterStore::Record> taken = store.take(id - 1);
      if (taken && taken->letter.payload == std::string(64, 'x')) ++taken_whole;
      if (id % 5 == 0) {
        EXPECT_TRUE(store.purge(id));
      }
    }
  }
  done = true;
  browser.join();
  EXPECT_EQ(taken_whole, letters / 3);
  EXPECT_LE(store.size(), 1000u);
}

}  // namespace
