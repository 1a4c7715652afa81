// A schedule's time zone: UTC, a fixed offset ("+05:30"), or an IANA name ("Europe/Berlin")
// looked up in the system's time-zone database (Debian's tzdata, read by Howard Hinnant's date
// library: GCC 12's <chrono> has no time zones). Local times are passed as sys_seconds that read
// as the zone's wall clock.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <variant>

namespace date {
class time_zone;
}

namespace jobq::internal {

class TimeZone {
 public:
  /// The zone named `name`, or why there is none.
  static std::variant<TimeZone, std::string> find(std::string_view name);

  /// The zone's wall clock at `instant`.
  std::chrono::sys_seconds to_local(std::chrono::sys_seconds instant) const;
  /// The instant a wall-clock time names. A time skipped by a spring-forward transition names
  /// the transition (the first valid instant after it); a time repeated by a fall-back
  /// transition names its first occurrence.
  std::chrono::sys_seconds to_instant(std::chrono::sys_seconds local) const;

  const std::string& name() const noexcept { return name_; }

 private:
  const date::time_zone* zone_ = nullptr;  // null: a fixed offset
  std::chrono::seconds offset_{0};
  std::string name_;
};

struct CronSpec;

/// The first instant after `after` (strictly) at which `spec` fires in `zone`; sys_seconds::max()
/// when it never does. The repeated hour of a fall-back transition runs once (its matches name
/// their first occurrence, so the second pass finds them in the past and moves on); a time a
/// spring-forward transition skips runs once, at the transition. @every ignores the zone.
std::chrono::sys_seconds next_fire(const CronSpec& spec, const TimeZone& zone, std::chrono::sys_seconds after);

}  // namespace jobq::internal
