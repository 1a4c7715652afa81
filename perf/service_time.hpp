// The handler's service-time model: how long each job keeps its worker busy.
//
//   fixed:10us          every job takes 10 us
//   exp:10us            exponential with mean 10 us (an M/M/c server, as the advisor assumes)
//   uniform:5us..15us   uniform between 5 and 15 us
//
// The handler busy-spins for the sampled time, so a job occupies a core the way CPU-bound work
// does; or, with waiting() (jobq_tune --handler io), it sleeps for it, the way a handler that
// waits on a network does: its worker is busy, its core is free. A sleep lasts at least the time
// asked, plus the kernel's timer slack (about 50 us), so give an I/O service time in ms. A job's sample depends only on its sequence number, so every implementation compared at
// one load level is given exactly the same sequence of service times.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "clock.hpp"
#include "units.hpp"

namespace jobq_perf {

class ServiceTime {
 public:
  enum class Kind { fixed, exponential, uniform };

  static ServiceTime fixed(double ns) { return ServiceTime(Kind::fixed, ns, ns); }
  static ServiceTime exponential(double mean_ns) { return ServiceTime(Kind::exponential, mean_ns, mean_ns); }
  static ServiceTime uniform(double low_ns, double high_ns) { return ServiceTime(Kind::uniform, low_ns, high_ns); }

  /// Parses a spec (see the top of this file; a bare duration is fixed). Empty on error.
  static std::optional<ServiceTime> parse(std::string_view spec) {
    const std::size_t colon = spec.find(':');
    const std::string_view kind = colon == std::string_view::npos ? "fixed" : spec.substr(0, colon);
    const std::string_view rest = colon == std::string_view::npos ? spec : spec.substr(colon + 1);
    if (kind == "fixed") {
      if (auto ns = parse_duration_ns(rest)) return fixed(*ns);
    } else if (kind == "exp" || kind == "exponential") {
      if (auto ns = parse_duration_ns(rest)) return exponential(*ns);
    } else if (kind == "uniform") {
      const std::size_t dots = rest.find("..");
      if (dots == std::string_view::npos) return std::nullopt;
      auto low = parse_duration_ns(rest.substr(0, dots));
      auto high = parse_duration_ns(rest.substr(dots + 2));
      if (low && high && *low <= *high) return uniform(*low, *high);
    }
    return std::nullopt;
  }

  Kind kind() const noexcept { return kind_; }
  /// The same distribution, spent sleeping (I/O-bound) instead of spinning (CPU-bound).
  ServiceTime waiting() const noexcept {
    ServiceTime out = *this;
    out.waits_ = true;
    return out;
  }
  bool waits() const noexcept { return waits_; }

  /// Keeps the handler busy for `ns`, as the model says: spinning or sleeping.
  void spend(std::int64_t ns) const {
    if (!waits_) return spin_for(ns);
    if (ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
  }
  /// The mean service time in nanoseconds.
  double mean_ns() const noexcept { return kind_ == Kind::uniform ? (a_ + b_) / 2 : a_; }

  /// The service time of job `key`, in nanoseconds: a pure function of the key.
  std::int64_t sample(std::uint64_t key) const noexcept {
    switch (kind_) {
      case Kind::fixed: return static_cast<std::int64_t>(a_);
      case Kind::exponential: return static_cast<std::int64_t>(-a_ * std::log1p(-unit(key)));
      case Kind::uniform: return static_cast<std::int64_t>(a_ + (b_ - a_) * unit(key));
    }
    return 0;
  }

  /// Busy-spins for `ns` nanoseconds on the steady clock.
  static void spin_for(std::int64_t ns) noexcept {
    if (ns <= 0) return;
    const std::int64_t until = now_ns() + ns;
    while (now_ns() < until) cpu_relax();
  }

  std::string describe() const {
    const std::string handler = waits_ ? " (I/O: sleeping)" : "";
    switch (kind_) {
      case Kind::fixed: return "fixed:" + format_ns(a_) + handler;
      case Kind::exponential: return "exp:" + format_ns(a_) + handler;
      case Kind::uniform: return "uniform:" + format_ns(a_) + ".." + format_ns(b_) + handler;
    }
    return {};
  }

 private:
  ServiceTime(Kind kind, double a, double b) noexcept : kind_(kind), a_(a), b_(b) {}

  /// A uniform double in [0, 1) from the key (splitmix64, then the top 53 bits).
  static double unit(std::uint64_t key) noexcept {
    std::uint64_t z = key + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
  }

  Kind kind_;
  double a_;  // fixed: the time; exponential: the mean; uniform: the low end
  double b_;  // uniform: the high end
  bool waits_ = false;
};

}  // namespace jobq_perf
