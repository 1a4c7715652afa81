#include "schedule/zone.hpp"

#include "schedule/cron.hpp"

#include <date/tz.h>

#include <charconv>
#include <optional>
#include <stdexcept>

namespace jobq::internal {
namespace {

/// "+05:30", "-08:00", "+0530", "-8": a fixed offset east of UTC.
std::optional<std::chrono::seconds> fixed_offset(std::string_view text) {
  if (text.size() < 2 || (text[0] != '+' && text[0] != '-')) return std::nullopt;
  const int sign = text[0] == '-' ? -1 : 1;
  std::string digits;
  for (char c : text.substr(1)) {
    if (c == ':') continue;
    if (c < '0' || c > '9') return std::nullopt;
    digits += c;
  }
  if (digits.empty() || digits.size() > 4) return std::nullopt;
  unsigned hours = 0;
  unsigned minutes = 0;
  const std::string hour_text = digits.size() <= 2 ? digits : digits.substr(0, digits.size() - 2);
  std::from_chars(hour_text.data(), hour_text.data() + hour_text.size(), hours);
  if (digits.size() > 2) std::from_chars(digits.data() + digits.size() - 2, digits.data() + digits.size(), minutes);
  if (hours > 14 || minutes > 59) return std::nullopt;
  return std::chrono::seconds(sign * static_cast<int>(hours * 3600 + minutes * 60));
}

}  // namespace

std::variant<TimeZone, std::string> TimeZone::find(std::string_view name) {
  TimeZone zone;
  zone.name_ = std::string(name);
  if (name == "UTC" || name == "Etc/UTC" || name == "Z") return zone;
  if (const std::optional<std::chrono::seconds> offset = fixed_offset(name)) {
    zone.offset_ = *offset;
    return zone;
  }
  try {
    zone.zone_ = date::locate_zone(std::string(name));
  } catch (const std::exception&) {
    return "unknown time zone '" + std::string(name) +
           "': give an IANA name such as Europe/Berlin (from the system's tzdata), UTC, or an offset such as +05:30";
  }
  return zone;
}

std::chrono::sys_seconds TimeZone::to_local(std::chrono::sys_seconds instant) const {
  if (zone_ == nullptr) return instant + offset_;
  const date::local_seconds local = zone_->to_local(date::sys_seconds(instant.time_since_epoch()));
  return std::chrono::sys_seconds(local.time_since_epoch());
}

std::chrono::sys_seconds TimeZone::to_instant(std::chrono::sys_seconds local) const {
  if (zone_ == nullptr) return local - offset_;
  const date::local_seconds wall(local.time_since_epoch());
  const date::local_info info = zone_->get_info(wall);
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:  // the first occurrence: the offset before the change
      return std::chrono::sys_seconds(local.time_since_epoch() - info.first.offset);
    case date::local_info::nonexistent:  // skipped: the transition itself
      return std::chrono::sys_seconds(info.first.end.time_since_epoch());
  }
  return std::chrono::sys_seconds(local.time_since_epoch() - info.first.offset);
}

std::chrono::sys_seconds next_fire(const CronSpec& spec, const TimeZone& zone, std::chrono::sys_seconds after) {
  if (spec.every) return *next_local_match(spec, after);  // epoch-aligned: the same in every zone
  std::chrono::sys_seconds local = zone.to_local(after);
  for (int guard = 0; guard < 100'000; ++guard) {
    const std::optional<std::chrono::sys_seconds> match = next_local_match(spec, local);
    if (!match) break;
    const std::chrono::sys_seconds instant = zone.to_instant(*match);
    if (instant > after) return instant;
    local = *match;
  }
  return std::chrono::sys_seconds::max();  // parse_cron refuses what never matches
}

}  // namespace jobq::internal
