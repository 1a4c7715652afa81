// Cron expressions: parsing (with the column and reason of a bad field) and the next matching
// local time. Time zones are not this file's business: it works in a zone's local calendar time
// (date::local_seconds), and zone.hpp maps that to instants.
//
//   [second] minute hour day-of-month month day-of-week
//   second 0-59 (optional sixth field, first), minute 0-59, hour 0-23, day 1-31, month 1-12 or
//   JAN-DEC, weekday 0-7 or SUN-SAT (0 and 7 are Sunday); each field a list of '*', N, N-M, with
//   an optional /STEP ('*/15', '10-50/20', '5/10' = 5-max/10).
//   @yearly @annually @monthly @weekly @daily @midnight @hourly, and @every DURATION (1h30m, 45s).
//
// Day-of-month and day-of-week follow cron: when both are restricted, a day matching either runs.
#pragma once

#include <bitset>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace jobq::internal {

struct CronSpec {
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;      ///< 1..31
  std::bitset<13> months;    ///< 1..12
  std::bitset<7> weekdays;   ///< 0..6, Sunday 0
  bool days_restricted = false;
  bool weekdays_restricted = false;
  /// @every: a fixed interval, counted from the Unix epoch (so every process agrees on the slots).
  std::optional<std::chrono::seconds> every;
};

struct CronError {
  std::size_t column = 0;  ///< 1-based, in the expression as given
  std::string reason;
  std::string message() const { return "column " + std::to_string(column) + ": " + reason; }
};

std::variant<CronSpec, CronError> parse_cron(std::string_view expression);

/// Does a local date match the day fields (the cron rule for day-of-month and day-of-week)?
bool matches_day(const CronSpec& spec, unsigned day, unsigned month, unsigned weekday);

/// The first local time after `after` (strictly) that matches; nullopt if none within 30 years
/// (parse_cron refuses expressions that can never match, such as February 30).
std::optional<std::chrono::sys_seconds> next_local_match(const CronSpec& spec, std::chrono::sys_seconds after);

}  // namespace jobq::internal
