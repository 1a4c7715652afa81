// The engine's small parts on their own: the idempotency key table, the flat name map, and the
// payload buffer with a lifetime-tracking payload.
#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <limits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "jobq/internal/decimal_digits.hpp"
#include "jobq/internal/envelope.hpp"
#include "jobq/internal/flat_name_map.hpp"
#include "jobq/internal/kept_memory.hpp"
#include "jobq/internal/key_table.hpp"
#include "jobq/internal/utf8.hpp"
#include "jobq/payload.hpp"
#include "test_support.hpp"

namespace {

using jobq::internal::KeyTable;
using jobq::internal::PayloadBuffer;
using jobq::testing::Lifetime;
using namespace std::chrono_literals;

const KeyTable::time_point epoch{};

TEST(KeyTableUnit, AKeyIsHeldWhilePendingThenForItsTtlAfterSuccessAndFreedOnFailure) {
  KeyTable keys(100, 1h);
  EXPECT_EQ(keys.claim("a", 1, epoch).outcome, KeyTable::Outcome::claimed);
  const KeyTable::Claim again = keys.claim("a", 2, epoch);
  EXPECT_EQ(again.outcome, KeyTable::Outcome::duplicate);
  EXPECT_EQ(again.holder, 1u);
  keys.keep("a", 1, epoch);  // succeeded: held for the TTL
  EXPECT_EQ(keys.claim("a", 3, epoch + 59min).outcome, KeyTable::Outcome::duplicate);
  EXPECT_EQ(keys.claim("a", 3, epoch + 1h).outcome, KeyTable::Outcome::claimed);  // expired
  keys.release("a", 3);  // failed: freed at once
  EXPECT_EQ(keys.claim("a", 4, epoch + 1h).outcome, KeyTable::Outcome::claimed);
  keys.release("a", 99);  // another job's release does not free it
  EXPECT_EQ(keys.claim("a", 5, epoch + 1h).outcome, KeyTable::Outcome::duplicate);
}

TEST(KeyTableUnit, PastItsBoundAClaimIsRefusedUntilExpiredKeysAreReclaimed) {
  KeyTable keys(3, 1min);
  const char* const held[] = {"k1", "k2", "k3"};
  for (jobq::JobId id = 1; id <= 3; ++id) {
    ASSERT_EQ(keys.claim(held[id - 1], id, epoch).outcome, KeyTable::Outcome::claimed);
    keys.keep(held[id - 1], id, epoch);
  }
  EXPECT_EQ(keys.claim("k4", 4, epoch).outcome, KeyTable::Outcome::full);
  EXPECT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys.claim("k4", 4, epoch + 1min).outcome, KeyTable::Outcome::claimed);  // the three expired
  EXPECT_EQ(keys.size(), 1u);
}

TEST(KeyTableUnit, ATtlOfMaxNeverExpires) {
  KeyTable keys(10, std::chrono::nanoseconds::max());
  ASSERT_EQ(keys.claim("a", 1, epoch + 1h).outcome, KeyTable::Outcome::claimed);
  keys.keep("a", 1, epoch + 1h);
  EXPECT_EQ(keys.claim("a", 2, KeyTable::time_point::max() - 1ns).outcome, KeyTable::Outcome::duplicate);
}

TEST(FlatNameMapUnit, FindsEveryNameAcrossGrowthAndRefusesDuplicates) {
  std::vector<std::string> names;
  for (int index = 0; index < 1000; ++index) {
    std::string name = "category";
    name.append(std::to_string(index % 7)).append(":action").append(std::to_string(index));
    names.push_back(std::move(name));
  }
  jobq::internal::FlatNameMap map;
  for (std::uint32_t index = 0; index < names.size(); ++index) ASSERT_TRUE(map.insert(names[index], index));
  EXPECT_FALSE(map.insert(names[10], 99));
  for (std::uint32_t index = 0; index < names.size(); ++index) ASSERT_EQ(map.find(names[index]), index);
  EXPECT_EQ(map.find("category0:missing"), jobq::no_id);
  EXPECT_EQ(map.find(""), jobq::no_id);
  EXPECT_EQ(jobq::internal::FlatNameMap().find("anything"), jobq::no_id);
}

TEST(FlatNameMapUnit, NamesThatDifferInOneByteAtAnyPositionAreTwoNames) {
  // Lengths around the word-wise comparison's steps: under 8, exactly 8, 9, 16, 17 and 40.
  for (std::size_t length : {1u, 7u, 8u, 9u, 16u, 17u, 40u}) {
    const std::string name(length, 'a');
    for (std::size_t position = 0; position < length; ++position) {
      std::string other = name;
      other[position] = 'b';
      EXPECT_FALSE(jobq::internal::same_name(name, other)) << length << " " << position;
      EXPECT_TRUE(jobq::internal::same_name(other, std::string(other))) << length << " " << position;
    }
    EXPECT_FALSE(jobq::internal::same_name(name, name + "a")) << length;
  }
  jobq::internal::FlatNameMap map;
  ASSERT_TRUE(map.insert("emails:welcome", 1));
  ASSERT_TRUE(map.insert("emails:welcomf", 2));
  EXPECT_EQ(map.find("emails:welcome"), 1u);
  EXPECT_EQ(map.find("emails:welcomf"), 2u);
  EXPECT_EQ(map.find("emails:welcomg"), jobq::no_id);
}

struct Small {
  int n = 0;
  Lifetime tracker;
};
JOBQ_PAYLOAD(Small, n);

struct Big {
  char bytes[1024] = {};
  Lifetime tracker;
  int n = 0;
};
JOBQ_PAYLOAD(Big, n);

template <class T>
void holds_and_releases_once() {
  Lifetime::reset();
  {
    T value;
    value.n = 7;
    PayloadBuffer buffer;
    ASSERT_TRUE(buffer.emplace_object(*jobq::internal::payload_type_of<T>, &value, false));  // a copy
    EXPECT_EQ(Lifetime::live.load(), 2);
    PayloadBuffer moved(std::move(buffer));  // the buffer moves, not the object (spilled or not)
    EXPECT_EQ(static_cast<const T*>(moved.object())->n, 7);
    EXPECT_EQ(Lifetime::live.load(), 2);
    PayloadBuffer other;
    other = std::move(moved);
    EXPECT_EQ(static_cast<const T*>(other.object())->n, 7);
    ASSERT_TRUE(other.assign(R"({"n":1})"));  // replacing the object destroys it
    EXPECT_EQ(Lifetime::live.load(), 1);
    EXPECT_EQ(other.view(), R"({"n":1})");
    EXPECT_EQ(other.object_type(), nullptr);
  }
  EXPECT_EQ(Lifetime::live.load(), 0);
}

TEST(PayloadBufferUnit, AnInlineObjectIsDestroyedExactlyOnceThroughMovesAndReplacement) { holds_and_releases_once<Small>(); }

TEST(PayloadBufferUnit, ASpilledObjectIsDestroyedExactlyOnceThroughMovesAndReplacement) { holds_and_releases_once<Big>(); }

struct Plain {
  std::uint64_t id = 0;
  std::int32_t count = 0;
  double price = 0;
  bool urgent = false;
};
JOBQ_PAYLOAD(Plain, id, count, price, urgent);

TEST(PayloadBufferUnit, ATriviallyCopyableObjectTravelsByItsBytes) {
  static_assert(jobq::internal::payload_type_of<Plain>->trivial);
  static_assert(!jobq::internal::payload_type_of<Small>->trivial);
  const Plain value{.id = 0x1122334455667788, .count = -7, .price = 2.5, .urgent = true};
  PayloadBuffer buffer;
  ASSERT_TRUE(buffer.emplace_object(*jobq::internal::payload_type_of<Plain>, const_cast<Plain*>(&value), false));
  PayloadBuffer moved(std::move(buffer));
  EXPECT_EQ(buffer.object_type(), nullptr);
  PayloadBuffer other;
  other = std::move(moved);
  EXPECT_EQ(moved.object_type(), nullptr);
  ASSERT_EQ(other.object_type(), jobq::internal::payload_type_of<Plain>);
  const auto* out = static_cast<const Plain*>(other.object());
  EXPECT_EQ(out->id, value.id);
  EXPECT_EQ(out->count, value.count);
  EXPECT_EQ(out->price, value.price);
  EXPECT_TRUE(out->urgent);
  other.release();
  EXPECT_EQ(other.object_type(), nullptr);
}

// What follows JSON text is zero wherever the text goes, whatever the buffer held before: the
// report of a truncated document depends on it.
TEST(PayloadBufferUnit, JsonTextIsFollowedByZerosThroughMoves) {
  auto zeros_follow = [](const PayloadBuffer& buffer) {
    for (std::size_t index = 0; index < PayloadBuffer::json_tail_zeros; ++index) {
      if (buffer.data()[buffer.size() + index] != 0) return false;
    }
    return true;
  };
  PayloadBuffer first;
  ASSERT_TRUE(first.assign(std::string(200, '7')));
  ASSERT_TRUE(first.assign("[1,2"));
  EXPECT_TRUE(zeros_follow(first));
  PayloadBuffer second;
  ASSERT_TRUE(second.assign(std::string(250, '9')));
  second = std::move(first);
  EXPECT_EQ(second.view(), "[1,2");
  EXPECT_TRUE(zeros_follow(second));
  PayloadBuffer third(std::move(second));
  EXPECT_TRUE(zeros_follow(third));
  ASSERT_TRUE(third.assign(std::string(1000, 'x')));  // spilled
  EXPECT_TRUE(zeros_follow(third));
}

TEST(PayloadBufferUnit, JsonBytesSpillPastTheInlineSizeAndStayPadded) {
  PayloadBuffer buffer;
  const std::string large(4096, 'x');
  ASSERT_TRUE(buffer.assign(large));
  EXPECT_EQ(buffer.view(), large);
  EXPECT_GE(buffer.capacity(), large.size() + simdjson::SIMDJSON_PADDING);
  ASSERT_TRUE(buffer.assign("{}"));
  EXPECT_EQ(buffer.view(), "{}");
}

TEST(KeptMemoryUnit, BlocksOfEverySizeAreAlignedWritableAndReused) {
  // Sizes across the 128-byte steps, the power-of-two classes and past them (a mapping of its own).
  const std::vector<std::size_t> sizes = {1, 100, 128, 129, 4000, 12'500, 16'384, 40'000, 200'000, 300'000, 5 << 20};
  std::vector<void*> blocks;
  for (std::size_t size : sizes) {
    void* block = jobq::internal::keep_allocate(size);
    ASSERT_NE(block, nullptr) << size;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % 128, 0u) << size;
    std::memset(block, 0xAB, size);  // every byte is the caller's (AddressSanitizer checks it in sanitizer builds)
    blocks.push_back(block);
  }
  // No two blocks overlap.
  for (std::size_t a = 0; a < blocks.size(); ++a) {
    for (std::size_t b = a + 1; b < blocks.size(); ++b) {
      const auto* first = static_cast<const char*>(blocks[a]);
      const auto* second = static_cast<const char*>(blocks[b]);
      EXPECT_TRUE(first + sizes[a] <= second || second + sizes[b] <= first) << sizes[a] << " and " << sizes[b];
    }
  }
  for (void* block : blocks) jobq::internal::keep_release(block);
  jobq::internal::keep_release(nullptr);
  if (jobq::testing::sanitized) return;  // the system allocator there: nothing more to check
  // A released block is what the next request of its class gets.
  void* first = jobq::internal::keep_allocate(12'500);
  jobq::internal::keep_release(first);
  void* again = jobq::internal::keep_allocate(12'500);
  EXPECT_EQ(again, first);
  jobq::internal::keep_release(again);
}

TEST(KeptMemoryUnit, AKeptArrayConstructsAndDestroysEachElementOnce) {
  static int alive = 0;
  struct Counted {
    Counted() noexcept { ++alive; }
    ~Counted() { --alive; }
    std::uint64_t value = 7;
  };
  {
    jobq::internal::KeptArray<Counted> items = jobq::internal::make_kept_array<Counted>(1000);
    EXPECT_EQ(alive, 1000);
    EXPECT_EQ(items[999].value, 7u);
    jobq::internal::KeptArray<Counted> none = jobq::internal::make_kept_array<Counted>(0);
    EXPECT_EQ(alive, 1000);
  }
  EXPECT_EQ(alive, 0);
}

}  // namespace

namespace {

template <class Integer>
void expect_digits_as_to_chars(Integer value) {
  char text[32];
  const auto written = static_cast<std::size_t>(std::to_chars(text, text + sizeof text, value).ptr - text);
  EXPECT_EQ(jobq::internal::decimal_digits(value), written) << std::string(text, written);
}

template <class Integer>
void expect_digits_around_powers_of_ten() {
  using Limits = std::numeric_limits<Integer>;
  for (Integer value : {Limits::min(), Limits::max(), Integer{0}, Integer{1}}) expect_digits_as_to_chars(value);
  for (std::uint64_t power = 1; power <= static_cast<std::uint64_t>(Limits::max()); power *= 10) {
    for (std::uint64_t value : {power - 1, power, power + 1}) {
      if (value > static_cast<std::uint64_t>(Limits::max())) continue;
      expect_digits_as_to_chars(static_cast<Integer>(value));
      if constexpr (Limits::is_signed) expect_digits_as_to_chars(static_cast<Integer>(-static_cast<Integer>(value)));
    }
    if (power > static_cast<std::uint64_t>(Limits::max()) / 10) break;
  }
}

}  // namespace

TEST(DecimalDigitsUnit, CountsWhatToCharsWritesForEveryIntegerWidthAroundEveryPowerOfTen) {
  expect_digits_around_powers_of_ten<std::int8_t>();
  expect_digits_around_powers_of_ten<std::int16_t>();
  expect_digits_around_powers_of_ten<std::int32_t>();
  expect_digits_around_powers_of_ten<std::int64_t>();
  expect_digits_around_powers_of_ten<std::uint8_t>();
  expect_digits_around_powers_of_ten<std::uint16_t>();
  expect_digits_around_powers_of_ten<std::uint32_t>();
  expect_digits_around_powers_of_ten<std::uint64_t>();
  for (std::uint64_t value = 0; value < 100000; value += 7) expect_digits_as_to_chars(value);
}

TEST(Utf8Unit, ABadByteAnywhereInAShortOrLongStringIsFound) {
  for (std::size_t size = 1; size <= 300; ++size) {
    std::string text(size, 'a');
    EXPECT_TRUE(jobq::internal::valid_utf8(text)) << size;
    for (std::size_t at = 0; at < size; ++at) {
      text[at] = '\x80';  // a continuation byte with no lead: never valid
      EXPECT_FALSE(jobq::internal::valid_utf8(text)) << size << " at " << at;
      text[at] = 'a';
    }
  }
  EXPECT_TRUE(jobq::internal::valid_utf8(""));
  EXPECT_TRUE(jobq::internal::valid_utf8("caf\xc3\xa9"));
}
