#include "console/views.hpp"

#include <ctime>

#include "console/sampler.hpp"
#include "jobq/manager.hpp"
#include "jobq/version.hpp"

namespace jobq::console {
namespace {

/// `text` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD: a handler's
/// error message may hold anything, and one bad byte must not make a page unwritable.
std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    bool ok = length != 0 && i + length <= text.size();
    for (std::size_t k = 1; ok && k < length; ++k) ok = (static_cast<unsigned char>(text[i + k]) >> 6) == 0x2;
    if (ok && length > 1) {
      // No overlong forms, no surrogates, nothing past U+10FFFF.
      const auto second = static_cast<unsigned char>(text[i + 1]);
      ok = !(length == 2 && lead < 0xC2) && !(length == 3 && lead == 0xE0 && second < 0xA0) &&
           !(length == 3 && lead == 0xED && second >= 0xA0) && !(length == 4 && lead == 0xF0 && second < 0x90) &&
           !(length == 4 && (lead > 0xF4 || (lead == 0xF4 && second >= 0x90)));
    }
    if (ok) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string utc_text(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

}  // namespace

api::Overview overview(const Manager& manager, const Sampler& sampler) {
  const MetricsSnapshot snapshot = manager.metrics();
  api::Overview out{.version = JOBQ_VERSION_STRING,
                    .uptime_seconds = snapshot.uptime_seconds,
                    .latency_sample_every = snapshot.latency_sample_every,
                    .unrouted = snapshot.unrouted,
                    .dead_letters = snapshot.dead_letters,
                    .dead_letters_dropped = snapshot.dead_letters_dropped,
                    .queues = {}};
  for (const QueueMetrics& queue : snapshot.queues) {
    api::QueueRow& row = out.queues.emplace_back();
    row.name = queue.name;
    row.workers = queue.workers;
    row.busy_workers = queue.busy_workers;
    row.idle = queue.idle == IdleStrategy::busy_spin ? "busy_spin" : "spin_then_park";
    row.paused = queue.paused;
    row.depth = queue.depth;
    row.scheduled = queue.scheduled;
    row.in_flight = queue.in_flight;
    row.timed_out = queue.timed_out;
    row.counters = api::counters_of(queue.jobs);
    row.rates = sampler.latest_rates(queue.name);
    row.wait = quantiles_of(queue.wait);
    row.run = quantiles_of(queue.run);
    if (queue.durable) {
      row.durable = api::DurableView{.ready = queue.lane.stream_length,
                                     .pending = queue.lane.pending,
                                     .scheduled = queue.lane.scheduled,
                                     .dead = queue.lane.dead,
                                     .appended = queue.lane.appended,
                                     .delivered = queue.lane.delivered,
                                     .recovered = queue.lane.recovered,
                                     .reconnects = queue.lane.reconnects};
    }
  }
  return out;
}

api::Types types(const Manager& manager) {
  api::Types out;
  for (const TypeMetrics& type : manager.metrics().types) {
    out.types.push_back({.type = type.type,
                         .counters = api::counters_of(type.jobs),
                         .wait = quantiles_of(type.wait),
                         .run = quantiles_of(type.run)});
  }
  return out;
}

api::Running running(const Manager& manager) {
  api::Running out;
  for (const InFlightJob& job : manager.in_flight()) {
    out.jobs.push_back({.id = job.id,
                        .type = job.type,
                        .queue = job.queue,
                        .worker = job.worker,
                        .attempt = job.attempt,
                        .running_seconds = job.running_seconds});
  }
  return out;
}

api::Schedules schedules(const Manager& manager) {
  api::Schedules out;
  for (const ScheduleInfo& schedule : manager.schedules()) {
    const bool ran = schedule.last_run != std::chrono::system_clock::time_point{};
    out.schedules.push_back({.name = schedule.name,
                             .cron = schedule.cron,
                             .time_zone = schedule.time_zone,
                             .type = schedule.type,
                             .queue = schedule.queue,
                             .next_run = utc_text(schedule.next_run),
                             .last_run = ran ? utc_text(schedule.last_run) : "",
                             .dispatched = schedule.dispatched,
                             .taken_elsewhere = schedule.taken_elsewhere,
                             .missed = schedule.missed,
                             .refused = schedule.refused});
  }
  return out;
}

api::DeadLetterRow row_of(const DeadLetter& letter) {
  api::DeadLetterRow row{.id = letter.id,
                         .type = letter.type,
                         .queue = letter.queue,
                         .attempts = letter.attempts,
                         .reason = std::string(describe(letter.reason)),
                         .last_error = valid_utf8(letter.last_error),
                         .failed_at = utc_text(letter.when),
                         .payload = valid_utf8(letter.payload),
                         .headers = {},
                         .chain_waiting = letter.chain_waiting};
  for (const Header& header : letter.headers) row.headers.push_back({header.name, valid_utf8(header.value)});
  return row;
}

Result<api::DeadLetters> dead_letters(const Manager& manager, std::string_view queue, std::size_t offset,
                                      std::size_t limit) {
  Result<DeadLetterPage> page = manager.dead_letters(queue, offset, limit);
  if (!page) return page.error();
  api::DeadLetters out{.queue = std::string(queue), .total = page->total, .dropped = page->dropped, .offset = offset,
                       .letters = {}};
  for (const DeadLetter& letter : page->letters) out.letters.push_back(row_of(letter));
  return out;
}

}  // namespace jobq::console
