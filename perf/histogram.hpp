// A log-linear latency histogram in the HdrHistogram style.
//
// Values are nanoseconds. Below 128 ns every value has its own bucket. Above, each power of two
// [2^m, 2^(m+1)) is cut into 128 equal sub-buckets, so a bucket is at most 1/128 (0.8 %) of the
// values it holds wide: every reported percentile is within 0.8 % of a recorded value. Values
// from 0 up to 2^37 ns (about 137 s) are kept in 3968 buckets (31 KiB); larger ones are counted
// in the last bucket, and max() still reports them exactly.
//
// No locks and no atomics: one histogram per recording thread, merged once the threads are done.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace jobq_perf {

class LatencyHistogram {
 public:
  static constexpr int sub_bits = 7;
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;  // 128
  static constexpr int max_exponent = 37;                                   // 2^37 ns ≈ 137 s
  static constexpr std::size_t bucket_count = sub_count + (max_exponent - sub_bits) * sub_count;
  static constexpr std::uint64_t largest_tracked = (std::uint64_t{1} << max_exponent) - 1;

  LatencyHistogram() : counts_(bucket_count, 0) {}

  /// Records one latency. A negative value (a clock going backwards, or a bug in the caller) is
  /// recorded as 0 and counted in negatives(), so that it is visible rather than silently lost.
  void record(std::int64_t ns) noexcept {
    if (ns < 0) [[unlikely]] {
      ++negatives_;
      ns = 0;
    }
    const auto value = static_cast<std::uint64_t>(ns);
    ++counts_[index_of(std::min(value, largest_tracked))];
    ++count_;
    sum_ += static_cast<double>(value);
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }

  void merge(const LatencyHistogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    negatives_ += other.negatives_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  void reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = negatives_ = 0;
    sum_ = 0;
    min_ = std::numeric_limits<std::uint64_t>::max();
    max_ = 0;
  }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t negatives() const noexcept { return negatives_; }
  std::uint64_t max() const noexcept { return count_ == 0 ? 0 : max_; }
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  double mean() const noexcept { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }

  /// The value at percentile `p` (0..100): the highest value equivalent to the bucket holding the
  /// ceil(p% × count)-th smallest recording, clamped to [min, max]. Monotonic in p; 100 gives max().
  std::uint64_t percentile(double p) const noexcept {
    if (count_ == 0) return 0;
    p = std::clamp(p, 0.0, 100.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(highest_equivalent(i), min_, max_);
    }
    return max_;
  }

  /// The bucket a value falls in.
  static constexpr std::size_t index_of(std::uint64_t value) noexcept {
    if (value < sub_count) return static_cast<std::size_t>(value);
    const int msb = 63 - std::countl_zero(value);  // 2^msb <= value < 2^(msb+1), msb >= sub_bits
    const int shift = msb - sub_bits;
    return static_cast<std::size_t>(sub_count + static_cast<std::uint64_t>(shift) * sub_count +
                                    ((value >> shift) - sub_count));
  }
  /// The smallest and largest values that land in bucket `index`.
  static constexpr std::uint64_t lowest_equivalent(std::size_t index) noexcept {
    if (index < sub_count) return index;
    const std::size_t shift = (index - sub_count) / sub_count;
    const std::size_t sub = (index - sub_count) % sub_count;
    return (sub_count + sub) << shift;
  }
  static constexpr std::uint64_t highest_equivalent(std::size_t index) noexcept {
    if (index < sub_count) return index;
    const std::size_t shift = (index - sub_count) / sub_count;
    return lowest_equivalent(index) + (std::uint64_t{1} << shift) - 1;
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t negatives_ = 0;
  double sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

// The bucket layout, checked at compile time: exact below 128, contiguous above, 0.8 % wide.
static_assert(LatencyHistogram::index_of(127) == 127);
static_assert(LatencyHistogram::index_of(128) == 128);
static_assert(LatencyHistogram::index_of(255) == 255);
static_assert(LatencyHistogram::index_of(256) == 256);
static_assert(LatencyHistogram::index_of(257) == 256);
static_assert(LatencyHistogram::index_of(LatencyHistogram::largest_tracked) == LatencyHistogram::bucket_count - 1);
static_assert(LatencyHistogram::lowest_equivalent(LatencyHistogram::index_of(1'000'003)) <= 1'000'003);
static_assert(LatencyHistogram::highest_equivalent(LatencyHistogram::index_of(1'000'003)) >= 1'000'003);

}  // namespace jobq_perf
