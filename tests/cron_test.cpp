// Cron expressions against known next-fire sequences: leap years, the last day of months, steps
// across month ends, the day-of-month / day-of-week rule, seconds, @every, and daylight saving in
// New York and Berlin; and bad expressions refused with the column and the reason.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "schedule/cron.hpp"
#include "schedule/zone.hpp"

namespace {

using namespace std::chrono;
using jobq::internal::CronError;
using jobq::internal::CronSpec;
using jobq::internal::TimeZone;

CronSpec spec_of(const std::string& expression) {
  auto parsed = jobq::internal::parse_cron(expression);
  if (auto* error = std::get_if<CronError>(&parsed)) ADD_FAILURE() << expression << ": " << error->message();
  return std::get_if<CronSpec>(&parsed) ? std::get<CronSpec>(parsed) : CronSpec{};
}

TimeZone zone_of(const std::string& name) {
  auto found = TimeZone::find(name);
  if (auto* error = std::get_if<std::string>(&found)) ADD_FAILURE() << *error;
  return std::get<TimeZone>(found);
}

/// "2024-02-29T00:00:00Z"
sys_seconds at(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return sys_days(year(y) / month(m) / day(d)) + hours(hh) + minutes(mm) + seconds(ss);
}

std::string text(sys_seconds t) {
  const sys_days day = floor<days>(t);
  const year_month_day date(day);
  const hh_mm_ss time(t - day);
  char out[96];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02ld:%02ld:%02ldZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<long>(time.hours().count()), static_cast<long>(time.minutes().count()),
                static_cast<long>(time.seconds().count()));
  return out;
}

/// The next `count` fire times after `from`, in `zone`.
std::vector<std::string> fires(const std::string& expression, sys_seconds from, std::size_t count,
                               const std::string& zone = "UTC") {
  const CronSpec spec = spec_of(expression);
  const TimeZone tz = zone_of(zone);
  std::vector<std::string> out;
  for (sys_seconds t = from; out.size() < count;) {
    t = jobq::internal::next_fire(spec, tz, t);
    if (t == sys_seconds::max()) break;
    out.push_back(text(t));
  }
  return out;
}

using Seq = std::vector<std::string>;

TEST(Cron, LeapYearsAndFebruary29) {
  EXPECT_EQ(fires("0 0 29 2 *", at(2023, 3, 1), 3), (Seq{"2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}));
  // 2100 is not a leap year.
  EXPECT_EQ(fires("0 0 29 2 *", at(2096, 3, 1), 1), (Seq{"2104-02-29T00:00:00Z"}));
}

TEST(Cron, TheLastDayOfLongMonths) {
  EXPECT_EQ(fires("0 0 31 * *", at(2024, 1, 31, 0, 0, 1), 5),
            (Seq{"2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z", "2024-08-31T00:00:00Z",
                 "2024-10-31T00:00:00Z"}));
  EXPECT_EQ(fires("0 0 30 * *", at(2023, 1, 30, 12), 2), (Seq{"2023-03-30T00:00:00Z", "2023-04-30T00:00:00Z"}));
}

TEST(Cron, StepsStartAgainAtEachMonth) {
  // */7 in the day field is 1, 8, 15, 22, 29: a step across a month end starts from day 1 again.
  EXPECT_EQ(fires("0 0 */7 * *", at(2024, 1, 28), 7),
            (Seq{"2024-01-29T00:00:00Z", "2024-02-01T00:00:00Z", "2024-02-08T00:00:00Z", "2024-02-15T00:00:00Z",
                 "2024-02-22T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"}));
  EXPECT_EQ(fires("*/7 0 * * *", at(2024, 1, 31, 0, 50), 3),
            (Seq{"2024-01-31T00:56:00Z", "2024-02-01T00:00:00Z", "2024-02-01T00:07:00Z"}));
  EXPECT_EQ(fires("10-50/20 * * * *", at(2024, 1, 1), 3),
            (Seq{"2024-01-01T00:10:00Z", "2024-01-01T00:30:00Z", "2024-01-01T00:50:00Z"}));
}

TEST(Cron, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  // Friday the 13th style: the 13th, or any Friday. (2024-09-13 is a Friday.)
  EXPECT_EQ(fires("0 12 13 * fri", at(2024, 9, 1), 4),
            (Seq{"2024-09-06T12:00:00Z", "2024-09-13T12:00:00Z", "2024-09-20T12:00:00Z", "2024-09-27T12:00:00Z"}));
  EXPECT_EQ(fires("0 0 * * MON-FRI", at(2024, 9, 6, 1), 2), (Seq{"2024-09-09T00:00:00Z", "2024-09-10T00:00:00Z"}));
  EXPECT_EQ(fires("0 0 * * 7", at(2024, 9, 1, 1), 1), (Seq{"2024-09-08T00:00:00Z"}));  // 7 is Sunday
  // A range may end on Sunday by name or as 7; a step from a day runs to the week's end.
  EXPECT_EQ(fires("0 0 * * FRI-SUN", at(2024, 9, 6, 1), 3),
            (Seq{"2024-09-07T00:00:00Z", "2024-09-08T00:00:00Z", "2024-09-13T00:00:00Z"}));
  EXPECT_EQ(fires("0 0 * * 5-7", at(2024, 9, 6, 1), 2), (Seq{"2024-09-07T00:00:00Z", "2024-09-08T00:00:00Z"}));
  EXPECT_EQ(fires("0 0 * * 5/2", at(2024, 9, 6, 1), 2), (Seq{"2024-09-08T00:00:00Z", "2024-09-13T00:00:00Z"}));
  EXPECT_EQ(fires("0 0 1 jan,jul *", at(2024, 1, 2), 2), (Seq{"2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"}));
}

TEST(Cron, SecondsMacrosAndEvery) {
  EXPECT_EQ(fires("*/20 * * * * *", at(2024, 1, 1, 0, 0, 5), 3),
            (Seq{"2024-01-01T00:00:20Z", "2024-01-01T00:00:40Z", "2024-01-01T00:01:00Z"}));
  EXPECT_EQ(fires("@hourly", at(2024, 1, 1, 0, 30), 1), (Seq{"2024-01-01T01:00:00Z"}));
  EXPECT_EQ(fires("@weekly", at(2024, 9, 2), 1), (Seq{"2024-09-08T00:00:00Z"}));
  EXPECT_EQ(fires("@yearly", at(2024, 9, 2), 1), (Seq{"2025-01-01T00:00:00Z"}));
  // @every counts from the Unix epoch, in every zone alike.
  EXPECT_EQ(fires("@every 90m", at(2024, 1, 1, 0, 10), 2, "Asia/Kolkata"),
            (Seq{"2024-01-01T01:30:00Z", "2024-01-01T03:00:00Z"}));
  EXPECT_EQ(fires("@every 1h30m", at(2024, 1, 1, 0, 10), 1), (Seq{"2024-01-01T01:30:00Z"}));
}

TEST(Cron, NewYorkSpringForwardRunsASkippedTimeOnceAtTheTransition) {
  // 2024-03-10: 02:00 EST becomes 03:00 EDT (07:00Z). 02:30 does not exist that day.
  EXPECT_EQ(fires("30 2 * * *", at(2024, 3, 9, 12), 3, "America/New_York"),
            (Seq{"2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z", "2024-03-12T06:30:00Z"}));
  // Every 15 minutes of the skipped hour: one run, at the transition.
  EXPECT_EQ(fires("*/15 2 * * *", at(2024, 3, 10, 6), 2, "America/New_York"),
            (Seq{"2024-03-10T07:00:00Z", "2024-03-11T06:00:00Z"}));
}

TEST(Cron, NewYorkFallBackRunsARepeatedHourOnce) {
  // 2024-11-03: 02:00 EDT becomes 01:00 EST (06:00Z); 01:00-01:59 happens twice.
  EXPECT_EQ(fires("30 1 * * *", at(2024, 11, 2, 12), 2, "America/New_York"),
            (Seq{"2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"}));
  EXPECT_EQ(fires("0 * * * *", at(2024, 11, 3, 4), 3, "America/New_York"),
            (Seq{"2024-11-03T05:00:00Z", "2024-11-03T07:00:00Z", "2024-11-03T08:00:00Z"}));
  // Started during the second pass, it does not run the hour again.
  EXPECT_EQ(fires("30 1 * * *", at(2024, 11, 3, 6, 10), 1, "America/New_York"), (Seq{"2024-11-04T06:30:00Z"}));
}

TEST(Cron, LordHoweShiftsByHalfAnHour) {
  // Australia/Lord_Howe: +10:30 standard, +11 in summer; on 2024-10-06 02:00 becomes 02:30
  // (15:30Z the day before), and on 2024-04-07 02:00 falls back to 01:30.
  EXPECT_EQ(fires("15 2 * * *", at(2024, 10, 5, 12), 2, "Australia/Lord_Howe"),
            (Seq{"2024-10-05T15:30:00Z", "2024-10-06T15:15:00Z"}));
  EXPECT_EQ(fires("45 1 * * *", at(2024, 4, 6, 12), 2, "Australia/Lord_Howe"),
            (Seq{"2024-04-06T14:45:00Z", "2024-04-07T15:15:00Z"}));
}

TEST(Cron, EveryCountsFromTheEpochBefore1970Too) {
  EXPECT_EQ(fires("@every 1h", at(1969, 12, 31, 22, 30), 2), (Seq{"1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z"}));
}

TEST(Cron, BerlinTransitionsBothWays) {
  // 2024-03-31: 02:00 CET becomes 03:00 CEST (01:00Z); 2024-10-27: 03:00 CEST becomes 02:00 CET (01:00Z).
  EXPECT_EQ(fires("*/20 2 * * *", at(2024, 3, 30, 12), 3, "Europe/Berlin"),
            (Seq{"2024-03-31T01:00:00Z", "2024-04-01T00:00:00Z", "2024-04-01T00:20:00Z"}));
  EXPECT_EQ(fires("30 2 * * *", at(2024, 10, 26, 12), 2, "Europe/Berlin"),
            (Seq{"2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"}));
  EXPECT_EQ(fires("0 9 * * *", at(2024, 6, 1), 1, "+05:30"), (Seq{"2024-06-01T03:30:00Z"}));
}

TEST(Cron, BadExpressionsAreRefusedWithTheColumnAndTheReason) {
  struct Case {
    const char* expression;
    std::size_t column;
    const char* reason;
  };
  const Case cases[] = {
      {"", 1, "empty"},
      {"61 * * * *", 1, "minute '61': out of range 0-59"},
      {"* 24 * * *", 3, "hour '24': out of range 0-23"},
      {"0 0 0 * *", 5, "day of month '0': out of range 1-31"},
      {"0 0 * 13 *", 7, "month '13': out of range 1-12"},
      {"0 0 * * 8", 9, "day of week '8': out of range 0-7"},
      {"*/0 * * * *", 1, "a step of 0"},
      {"5-1 * * * *", 1, "the range runs backwards"},
      {"1,,2 * * * *", 3, "an empty item"},
      {"0 0 * JANX *", 7, "'JANX' is not a number or a name"},
      {"0 0 * * MON-", 9, "'' is not a number or a name"},
      {"* * * *", 8, "has 5 fields"},
      {"* * * * * * *", 13, "this one has 7"},
      {"0 0 30 2 *", 5, "never falls in month '2'"},
      {"0 0 31 4,6 *", 5, "the schedule would never run"},
      {"@every 0s", 8, "not a duration from 1s to 366d"},
      {"@every 400d", 8, "not a duration from 1s to 366d"},
      {"@every 5x", 8, "not a duration"},
      {"@every", 1, "takes one duration"},
      {"@fortnightly", 1, "unknown macro '@fortnightly'"},
      {"@daily 5", 8, "takes nothing after it"},
      {"1-2/x * * * *", 1, "the step 'x' is not a number"},
  };
  for (const Case& c : cases) {
    auto parsed = jobq::internal::parse_cron(c.expression);
    const CronError* error = std::get_if<CronError>(&parsed);
    ASSERT_NE(error, nullptr) << "'" << c.expression << "' was accepted";
    EXPECT_EQ(error->column, c.column) << c.expression << ": " << error->message();
    EXPECT_NE(error->reason.find(c.reason), std::string::npos) << c.expression << ": " << error->message();
  }
  // Names, lists, ranges and steps that are fine.
  for (const char* fine : {"0 0 * jan-mar mon-fri", "0 0 1,15 * *", "*/5 9-17 * * 1-5", "0 30 */2 * * *", "@midnight",
                           "@every 1d", "0 0 29 2 *", "0 0 31 4,5 *"}) {
    EXPECT_TRUE(std::holds_alternative<CronSpec>(jobq::internal::parse_cron(fine))) << fine;
  }
}

TEST(Cron, UnknownZonesAreRefusedAndOffsetsAccepted) {
  auto unknown = TimeZone::find("Mars/Olympus_Mons");
  ASSERT_TRUE(std::holds_alternative<std::string>(unknown));
  EXPECT_NE(std::get<std::string>(unknown).find("unknown time zone 'Mars/Olympus_Mons'"), std::string::npos);
  for (const char* fine : {"UTC", "+05:30", "-08:00", "+0545", "Europe/Berlin", "Asia/Kathmandu"}) {
    EXPECT_TRUE(std::holds_alternative<TimeZone>(TimeZone::find(fine))) << fine;
  }
  EXPECT_TRUE(std::holds_alternative<std::string>(TimeZone::find("+25:00")));
}

}  // namespace
