// Cron expressions from the fuzzer: parsing never crashes, an accepted expression's fire times in
// UTC and in a zone with daylight saving only move forward, and a refusal names a column inside
// the expression (or just past its end).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "schedule/cron.hpp"
#include "schedule/zone.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono;
  const std::string_view expression(reinterpret_cast<const char*>(data), size);
  const auto parsed = jobq::internal::parse_cron(expression);
  if (const auto* error = std::get_if<jobq::internal::CronError>(&parsed)) {
    if (error->column < 1 || error->column > size + 1 || error->reason.empty()) std::abort();
    return 0;
  }
  const auto& spec = std::get<jobq::internal::CronSpec>(parsed);
  static const auto utc = std::get<jobq::internal::TimeZone>(jobq::internal::TimeZone::find("UTC"));
  static const auto berlin = std::get<jobq::internal::TimeZone>(jobq::internal::TimeZone::find("Europe/Berlin"));
  for (const auto* zone : {&utc, &berlin}) {
    // From a moment before a spring-forward transition, a few fire times, strictly increasing.
    sys_seconds t = sys_days(year(2024) / 3 / 30) + hours(23);
    for (int i = 0; i < 4; ++i) {
      const sys_seconds next = jobq::internal::next_fire(spec, *zone, t);
      if (next == sys_seconds::max()) break;
      if (next <= t) std::abort();
      t = next;
    }
  }
  return 0;
}
