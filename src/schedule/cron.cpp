#include "schedule/cron.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <vector>

namespace jobq::internal {
namespace {

using namespace std::chrono;

struct Field {
  const char* name;
  unsigned low;
  unsigned high;
  const std::array<const char*, 13>* names;  // index = value (months from 1, weekdays from 0)
};

constexpr std::array<const char*, 13> month_names = {"",    "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 13> weekday_names = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT",
                                                       "",    "",    "",    "",    "",    ""};

constexpr Field second_field{"second", 0, 59, nullptr};
constexpr Field minute_field{"minute", 0, 59, nullptr};
constexpr Field hour_field{"hour", 0, 23, nullptr};
constexpr Field day_field{"day of month", 1, 31, nullptr};
constexpr Field month_field{"month", 1, 12, &month_names};
constexpr Field weekday_field{"day of week", 0, 7, &weekday_names};  // 7 is Sunday too

/// One whitespace-separated field of the expression and where it starts.
struct Token {
  std::string_view text;
  std::size_t column;
};

std::vector<Token> split(std::string_view expression) {
  std::vector<Token> tokens;
  std::size_t at = 0;
  while (at < expression.size()) {
    while (at < expression.size() && std::isspace(static_cast<unsigned char>(expression[at]))) ++at;
    const std::size_t start = at;
    while (at < expression.size() && !std::isspace(static_cast<unsigned char>(expression[at]))) ++at;
    if (at > start) tokens.push_back({expression.substr(start, at - start), start + 1});
  }
  return tokens;
}

/// A number or (where the field has them) a name; nullopt if `text` is neither.
std::optional<unsigned> value_of(std::string_view text, const Field& field) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc{} && end == text.data() + text.size() && !text.empty()) return value;
  if (field.names != nullptr && text.size() == 3) {
    std::string upper(text);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (unsigned index = 0; index < field.names->size(); ++index) {
      if (upper == (*field.names)[index]) return index;
    }
  }
  return std::nullopt;
}

/// Parses one field into `bits` (sized for field.high + 1); an error names the column.
template <std::size_t N>
std::optional<CronError> parse_field(const Token& token, const Field& field, std::bitset<N>& bits, bool& restricted) {
  restricted = token.text != "*" && token.text != "?";
  std::size_t at = 0;
  while (at <= token.text.size()) {
    const std::size_t comma = std::min(token.text.find(',', at), token.text.size());
    const std::string_view item = token.text.substr(at, comma - at);
    const std::size_t column = token.column + at;
    auto fail = [&](std::string reason) {
      return CronError{column, std::string(field.name) + " '" + std::string(item) + "': " + reason};
    };
    if (item.empty()) return CronError{column, std::string(field.name) + ": an empty item in a list"};
    const std::size_t slash = item.find('/');
    const std::string_view range = item.substr(0, slash);
    unsigned step = 1;
    if (slash != std::string_view::npos) {
      const std::string_view step_text = item.substr(slash + 1);
      const auto [end, error] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (error != std::errc{} || end != step_text.data() + step_text.size() || step_text.empty()) {
        return fail("the step '" + std::string(step_text) + "' is not a number");
      }
      if (step == 0) return fail("a step of 0");
      if (step > field.high) return fail("a step of " + std::to_string(step) + " is past the field's range");
    }
    unsigned low = field.low;
    unsigned high = field.high;
    if (range == "*" || range == "?") {
      if (field.high == 7) high = 6;  // '*' in day of week: 0-6, Sunday once
    } else {
      const std::size_t dash = range.find('-');
      const std::optional<unsigned> first = value_of(range.substr(0, dash), field);
      if (!first) return fail("'" + std::string(range.substr(0, dash)) + "' is not a number" + (field.names ? " or a name" : ""));
      low = *first;
      high = slash != std::string_view::npos && dash == std::string_view::npos ? field.high : *first;  // "5/10": 5-max
      if (dash != std::string_view::npos) {
        const std::optional<unsigned> last = value_of(range.substr(dash + 1), field);
        if (!last) return fail("'" + std::string(range.substr(dash + 1)) + "' is not a number" + (field.names ? " or a name" : ""));
        high = *last;
        // A weekday range may end on Sunday by name: FRI-SUN is 5-7.
        if (field.high == 7 && high == 0 && low > 0) high = 7;
      }
      if (low < field.low || low > field.high || high < field.low || high > field.high) {
        return fail("out of range " + std::to_string(field.low) + "-" + std::to_string(field.high));
      }
      if (low > high) return fail("the range runs backwards");
    }
    for (unsigned value = low; value <= high; value += step) bits.set(field.high == 7 ? value % 7 : value);
    at = comma + 1;
  }
  return std::nullopt;
}

/// "1h30m", "45s", "2m": at least a second, whole seconds.
std::optional<seconds> parse_every(std::string_view text) {
  seconds total{0};
  std::size_t at = 0;
  if (text.empty()) return std::nullopt;
  while (at < text.size()) {
    std::uint64_t number = 0;
    const auto [end, error] = std::from_chars(text.data() + at, text.data() + text.size(), number);
    if (error != std::errc{} || end == text.data() + text.size() || number > 100'000'000) return std::nullopt;
    at = static_cast<std::size_t>(end - text.data());
    const char unit = text[at++];
    const std::int64_t n = static_cast<std::int64_t>(number);
    if (unit == 's') total += seconds(n);
    else if (unit == 'm') total += minutes(n);
    else if (unit == 'h') total += hours(n);
    else if (unit == 'd') total += days(n);
    else return std::nullopt;
  }
  if (total < seconds(1) || total > days(366)) return std::nullopt;
  return total;
}

/// The days each month can have (February: 29).
constexpr std::array<unsigned, 13> longest_month = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

}  // namespace

std::variant<CronSpec, CronError> parse_cron(std::string_view expression) {
  std::string_view trimmed = expression;
  const std::size_t first = trimmed.find_first_not_of(" \t");
  if (first == std::string_view::npos) return CronError{1, "the expression is empty"};
  if (trimmed[first] == '@') {
    const std::vector<Token> tokens = split(trimmed);
    const std::string_view macro = tokens[0].text;
    static const std::array<std::pair<std::string_view, std::string_view>, 7> macros = {{
        {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"},
        {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},
        {"@daily", "0 0 * * *"},
        {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    }};
    if (macro == "@every") {
      if (tokens.size() != 2) return CronError{tokens[0].column, "@every takes one duration, such as @every 30s or @every 1h30m"};
      const std::optional<seconds> every = parse_every(tokens[1].text);
      if (!every) {
        return CronError{tokens[1].column, "'" + std::string(tokens[1].text) +
                                               "' is not a duration from 1s to 366d (units s, m, h, d: 90s, 1h30m)"};
      }
      CronSpec spec;
      spec.every = *every;
      return spec;
    }
    for (const auto& [name, equivalent] : macros) {
      if (macro != name) continue;
      if (tokens.size() != 1) return CronError{tokens[1].column, std::string(name) + " takes nothing after it"};
      return parse_cron(equivalent);
    }
    return CronError{tokens[0].column, "unknown macro '" + std::string(macro) +
                                           "' (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every)"};
  }

  std::vector<Token> tokens = split(expression);
  if (tokens.size() != 5 && tokens.size() != 6) {
    const std::size_t column = tokens.size() > 6 ? tokens[6].column : expression.size() + 1;
    return CronError{column, "a cron expression has 5 fields (minute hour day month weekday), or 6 with seconds "
                             "first; this one has " + std::to_string(tokens.size())};
  }
  CronSpec spec;
  bool restricted = false;
  std::size_t next = 0;
  if (tokens.size() == 6) {
    if (auto error = parse_field(tokens[next++], second_field, spec.seconds, restricted)) return *error;
  } else {
    spec.seconds.set(0);
  }
  if (auto error = parse_field(tokens[next++], minute_field, spec.minutes, restricted)) return *error;
  if (auto error = parse_field(tokens[next++], hour_field, spec.hours, restricted)) return *error;
  const Token& day_token = tokens[next];
  if (auto error = parse_field(tokens[next++], day_field, spec.days, spec.days_restricted)) return *error;
  const Token& month_token = tokens[next];
  if (auto error = parse_field(tokens[next++], month_field, spec.months, restricted)) return *error;
  std::bitset<8> weekdays;
  if (auto error = parse_field(tokens[next++], weekday_field, weekdays, spec.weekdays_restricted)) return *error;
  for (unsigned day = 0; day < 7; ++day) spec.weekdays[day] = weekdays[day] || (day == 0 && weekdays[7]);

  // Refuse what can never run: day 30 of February alone, say (when the weekday leaves it to the day).
  if (spec.days_restricted && !spec.weekdays_restricted) {
    bool possible = false;
    for (unsigned month = 1; month <= 12 && !possible; ++month) {
      if (!spec.months[month]) continue;
      for (unsigned day = 1; day <= longest_month[month] && !possible; ++day) possible = spec.days[day];
    }
    if (!possible) {
      return CronError{day_token.column, "day of month '" + std::string(day_token.text) +
                                             "' never falls in month '" + std::string(month_token.text) +
                                             "': the schedule would never run"};
    }
  }
  return spec;
}

bool matches_day(const CronSpec& spec, unsigned day, unsigned month, unsigned weekday) {
  if (!spec.months[month]) return false;
  const bool by_day = spec.days[day];
  const bool by_weekday = spec.weekdays[weekday];
  if (spec.days_restricted && spec.weekdays_restricted) return by_day || by_weekday;
  if (spec.days_restricted) return by_day;
  if (spec.weekdays_restricted) return by_weekday;
  return true;
}

std::optional<sys_seconds> next_local_match(const CronSpec& spec, sys_seconds after) {
  if (spec.every) {
    const auto period = spec.every->count();
    const auto since = after.time_since_epoch().count();
    // The next multiple of the period strictly after `since` (floor division, also before 1970).
    const auto floor_div = since >= 0 ? since / period : -((-since + period - 1) / period);
    const auto next = (floor_div + 1) * period;
    return sys_seconds(seconds(next));
  }
  sys_seconds t = after + seconds(1);
  const sys_seconds limit = after + years(30);
  while (t < limit) {
    const sys_days day = floor<days>(t);
    const year_month_day date(day);
    const unsigned month = static_cast<unsigned>(date.month());
    if (!spec.months[month]) {
      const year_month next = year_month(date.year(), date.month()) + std::chrono::months(1);
      t = sys_days(next / 1);
      continue;
    }
    if (!matches_day(spec, static_cast<unsigned>(date.day()), month, weekday(day).c_encoding())) {
      t = day + days(1);
      continue;
    }
    const hh_mm_ss time(t - day);
    const auto hour = static_cast<unsigned>(time.hours().count());
    if (!spec.hours[hour]) {
      t = day + hours(hour + 1);
      continue;
    }
    const auto minute = static_cast<unsigned>(time.minutes().count());
    if (!spec.minutes[minute]) {
      t = day + hours(hour) + minutes(minute + 1);
      continue;
    }
    const auto second = static_cast<unsigned>(time.seconds().count());
    if (!spec.seconds[second]) {
      t += seconds(1);
      continue;
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace jobq::internal
