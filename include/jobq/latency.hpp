// Latency histograms: log-linear buckets, recorded in CPU ticks by one thread, merged on read.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace jobq {

namespace internal {

/// Four sub-buckets per power of two: a value is placed within 1/4 of itself (≤ 25 % error at a
/// bucket's edge, 12.5 % at its middle). 168 buckets reach 2^43 ticks: over 40 minutes at 3 GHz.
inline constexpr std::size_t latency_buckets = 168;

constexpr std::size_t latency_bucket(std::uint64_t ticks) noexcept {
  if (ticks < 4) return static_cast<std::size_t>(ticks);
  const unsigned exponent = 63u - static_cast<unsigned>(std::countl_zero(ticks));
  const std::size_t sub = (ticks >> (exponent - 2)) & 3u;
  const std::size_t index = 4 + (exponent - 2) * 4 + sub;
  return index < latency_buckets ? index : latency_buckets - 1;
}

/// The smallest tick count past bucket `index`.
constexpr std::uint64_t latency_bucket_end(std::size_t index) noexcept {
  if (index < 4) return index + 1;
  const std::size_t exponent = (index - 4) / 4 + 2;
  const std::uint64_t sub = (index - 4) % 4;
  return (4 + sub + 1) << (exponent - 2);
}

/// Written by one thread (relaxed load + store, no locked instruction), read by any.
class LatencyRecorder {
 public:
  void record(std::uint64_t ticks) noexcept {
    bump(buckets_[latency_bucket(ticks)], 1);
    bump(sum_, ticks);
  }
  std::uint64_t bucket(std::size_t index) const noexcept { return buckets_[index].load(std::memory_order_relaxed); }
  std::uint64_t sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  static void bump(std::atomic<std::uint64_t>& value, std::uint64_t by) noexcept {
    value.store(value.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  std::array<std::atomic<std::uint64_t>, latency_buckets> buckets_{};
  std::atomic<std::uint64_t> sum_{0};
};

}  // namespace internal

/// A merged latency histogram, in seconds.
class Latency {
 public:
  Latency() = default;
  explicit Latency(double seconds_per_tick) : seconds_per_tick_(seconds_per_tick) {}

  void add(const internal::LatencyRecorder& recorder) noexcept {
    for (std::size_t index = 0; index < internal::latency_buckets; ++index) {
      const std::uint64_t count = recorder.bucket(index);
      buckets_[index] += count;
      count_ += count;
    }
    sum_ticks_ += recorder.sum();
  }
  void add(const Latency& other) noexcept {
    for (std::size_t index = 0; index < internal::latency_buckets; ++index) buckets_[index] += other.buckets_[index];
    count_ += other.count_;
    sum_ticks_ += other.sum_ticks_;
    if (seconds_per_tick_ == 0) seconds_per_tick_ = other.seconds_per_tick_;
  }

  /// What was recorded after `earlier`, a snapshot of the same histograms taken before this one:
  /// the latencies of one interval, for live charts.
  Latency since(const Latency& earlier) const noexcept {
    Latency out(seconds_per_tick_);
    for (std::size_t index = 0; index < internal::latency_buckets; ++index) {
      out.buckets_[index] = buckets_[index] >= earlier.buckets_[index] ? buckets_[index] - earlier.buckets_[index] : 0;
      out.count_ += out.buckets_[index];
    }
    out.sum_ticks_ = sum_ticks_ >= earlier.sum_ticks_ ? sum_ticks_ - earlier.sum_ticks_ : 0;
    return out;
  }

  std::uint64_t count() const noexcept { return count_; }
  double sum_seconds() const noexcept { return static_cast<double>(sum_ticks_) * seconds_per_tick_; }
  /// The upper edge of the bucket holding the q-quantile (0 < q ≤ 1), in seconds; 0 if empty.
  double quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    const double wanted = q * static_cast<double>(count_) + 0.5;
    const auto rank = static_cast<std::uint64_t>(wanted > 1.0 ? wanted : 1.0);
    std::uint64_t seen = 0;
    for (std::size_t index = 0; index < internal::latency_buckets; ++index) {
      seen += buckets_[index];
      if (seen >= rank) return static_cast<double>(internal::latency_bucket_end(index)) * seconds_per_tick_;
    }
    return static_cast<double>(internal::latency_bucket_end(internal::latency_buckets - 1)) * seconds_per_tick_;
  }
  double p50() const noexcept { return quantile(0.50); }
  double p99() const noexcept { return quantile(0.99); }
  double p999() const noexcept { return quantile(0.999); }
  /// Observations whose bucket lies wholly at or below `seconds` (a Prometheus "le" bucket).
  std::uint64_t count_at_most(double seconds) const noexcept {
    std::uint64_t total = 0;
    for (std::size_t index = 0; index < internal::latency_buckets; ++index) {
      if (static_cast<double>(internal::latency_bucket_end(index)) * seconds_per_tick_ > seconds) break;
      total += buckets_[index];
    }
    return total;
  }

 private:
  std::array<std::uint64_t, internal::latency_buckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ticks_ = 0;
  double seconds_per_tick_ = 0;
};

}  // namespace jobq
