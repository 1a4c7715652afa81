// The fetcher of a durable lane: reads the consumer group's new entries and delivers each job to
// the queue's workers; an entry that cannot be read is dead-lettered with the reason. deliver()
// also serves the keeper, which delivers the entries it claims from dead processes on its own
// thread.
#include <algorithm>
#include <charconv>
#include <thread>

#include "redis/lane_state.hpp"

namespace jobq::redis {
namespace {

template <class Number>
bool parse_number(std::string_view text, Number& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc{} && end == text.data() + text.size();
}

/// Creates the queue's consumer group (and stream) if missing; from the start of the stream, so
/// that jobs dispatched before any worker process ran are seen.
void ensure_group(detail::Connection& connection, const std::string& stream) {
  detail::Args args;
  args.add("XGROUP").add("CREATE").add(stream).add(Lane::State::group).add("0").add("MKSTREAM");
  (void)connection.run(args);  // BUSYGROUP (it exists) is the usual answer
}

}  // namespace

bool Lane::State::read_entry(const redisReply* fields, LaneDelivery& job, std::string& problem) {
  if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 != 0) {
    problem = "the entry has no fields";
    return false;
  }
  bool has_id = false, has_type = false, has_payload = false;
  std::string malformed;
  for (std::size_t index = 0; index + 1 < fields->elements; index += 2) {
    const std::string_view name = detail::text(fields->element[index]);
    const std::string_view value = detail::text(fields->element[index + 1]);
    if (name == "id") {
      has_id = parse_number(value, job.id) && job.id != 0;
    } else if (name == "type") {
      job.type = value;
      has_type = !value.empty();
    } else if (name == "payload") {
      job.payload = value;
      has_payload = true;
    } else if (name == "attempt") {
      if (!parse_number(value, job.attempt) || job.attempt == 0) {
        problem = "attempt '" + std::string(value) + "' is not a positive number";
        return false;
      }
    } else if (name == "max") {
      if (!parse_number(value, job.max_attempts)) {
        problem = "max '" + std::string(value) + "' is not a number";
        return false;
      }
    } else if (name == "timeout") {
      std::int64_t nanoseconds = 0;
      if (!parse_number(value, nanoseconds) || nanoseconds < 0) {
        problem = "timeout '" + std::string(value) + "' is not a number of nanoseconds";
        return false;
      }
      job.timeout = std::chrono::nanoseconds(nanoseconds);
    } else if (name == "key") {
      job.key = value;
    } else if (name == "hold") {
      job.key_hold = value == "started" ? KeyHold::until_started : KeyHold::until_done;
    } else if (name == "flow") {
      job.flow = value;
    } else if (name == "headers") {
      job.headers = value;  // read (and a bad one dead-lettered) by the engine
    } else if (name == "malformed") {
      malformed = value;
    }
  }
  if (!malformed.empty()) {
    job.payload = malformed;
    problem = "a scheduled job that could not be decoded";
  } else if (!has_id) {
    problem = "the entry has no id";
  } else if (!has_type) {
    problem = "the entry has no type";
  } else if (!has_payload) {
    problem = "the entry has no payload";
  }
  return problem.empty();
}

void Lane::State::dead_letter_entry(const std::string& entry, const LaneDelivery& job, const std::string& problem) {
  DeadLetter letter;
  letter.id = job.id;
  letter.type = job.type;
  letter.queue = queue;
  letter.payload = job.payload;
  letter.attempts = job.attempt;
  letter.last_error = "malformed stream entry " + entry + ": " + problem;
  letter.reason = DeadReason::malformed;
  letter.when = std::chrono::system_clock::now();
  // A malformed entry may lack an id: its letter is filed under the stream entry's own id,
  // <ms>-<seq>, as ms * 1000 + seq.
  if (letter.id == 0) {
    std::uint64_t millis = 0;
    std::uint64_t sequence = 0;
    const auto [dash, error] = std::from_chars(entry.data(), entry.data() + entry.size(), millis);
    if (error == std::errc{} && dash != entry.data() + entry.size()) {
      (void)std::from_chars(dash + 1, entry.data() + entry.size(), sequence);
    }
    letter.id = millis * 1000 + sequence % 1000;
  }
  LaneSettlement outcome;
  outcome.kind = LaneSettlement::Kind::dead;
  outcome.id = letter.id;
  outcome.ref = entry;
  outcome.letter = &letter;
  settle(outcome);
}

void Lane::State::deliver(const redisReply* entries, bool claimed) {
  if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY) return;
  std::vector<bool> newly_held(entries->elements, false);
  {
    // Held (leased by this process) from now: one lock for the whole batch. A claim can return
    // an entry this process holds already (its renewal was late): that one is not run again.
    const std::lock_guard lock(held_mutex);
    for (std::size_t index = 0; index < entries->elements; ++index) {
      const redisReply* item = entries->element[index];
      if (item != nullptr && item->type == REDIS_REPLY_ARRAY && item->elements >= 2) {
        newly_held[index] = held.emplace(detail::text(item->element[0])).second;
      }
    }
  }
  for (std::size_t index = 0; index < entries->elements; ++index) {
    const redisReply* item = entries->element[index];
    if (item == nullptr || item->type != REDIS_REPLY_ARRAY || item->elements < 2) continue;
    const std::string entry(detail::text(item->element[0]));
    LaneDelivery job;
    std::string problem;
    if (!read_entry(item->element[1], job, problem)) {
      dead_letter_entry(entry, job, problem);
      continue;
    }
    if (claimed && !newly_held[index]) continue;  // already held here: it runs once, from the first delivery
    if (claimed && item->elements >= 3) {
      // Each claim of a dead process's job counted a delivery: those runs were lost.
      const std::int64_t deliveries = item->element[2]->integer;
      if (deliveries > 1) job.attempt += static_cast<std::uint32_t>(deliveries - 1);
      recovered.fetch_add(1, std::memory_order_relaxed);
    }
    job.ref = entry;
    delivered.fetch_add(1, std::memory_order_relaxed);
    bool taken = false;
    try {
      const std::lock_guard lock(deliver_mutex);
      if (fetching.load()) {
        taken = intake->deliver(std::move(job));
      } else {
        // Fetching stopped while this batch was on its way (a claim by the keeper): back on the
        // stream for any process.
        give_back_entry(job);
        taken = true;
      }
    } catch (...) {  // out of memory: the job stays leased here and comes back after the lease
    }
    if (!taken) release(entry);
  }
}

void Lane::State::give_back_entry(const LaneDelivery& job) {
  LaneSettlement outcome;
  outcome.kind = LaneSettlement::Kind::give_back;
  outcome.id = job.id;
  outcome.ref = job.ref;
  outcome.type = job.type;
  outcome.payload = job.payload;
  outcome.key = job.key;
  outcome.attempt = job.attempt;
  outcome.max_attempts = job.max_attempts;
  outcome.timeout = job.timeout;
  // Everything the job carries goes back with it.
  outcome.headers = job.headers;
  outcome.key_hold = job.key_hold;
  outcome.flow = job.flow;
  settle(outcome);
}

void Lane::State::run_fetcher() {
  detail::Connection connection(options, reconnects);
  detail::Backoff backoff;
  bool grouped = false;
  while (fetching.load()) {
    std::size_t space = 0;
    {
      std::unique_lock lock(held_mutex);
      room.wait_for(lock, options.poll_every, [&] { return held.size() < options.prefetch || !fetching.load(); });
      space = held.size() < options.prefetch ? options.prefetch - held.size() : 0;
    }
    if (!fetching.load()) continue;
    // The group exists as soon as a worker process runs, paused or not.
    if (!grouped || !connection.connected()) {
      ensure_group(connection, stream);
      grouped = connection.connected();
      if (!grouped) {
        backoff.failed(fetching);
        continue;
      }
    }
    if (space == 0) continue;
    if (paused_seen.load()) {
      std::this_thread::sleep_for(std::min(options.poll_every, std::chrono::milliseconds(20)));
      continue;
    }
    detail::Args args;
    args.add("XREADGROUP").add("GROUP").add(group).add(consumer).add("COUNT").add(static_cast<std::int64_t>(space));
    args.add("BLOCK").add(static_cast<std::int64_t>(options.poll_every.count())).add("STREAMS").add(stream).add(">");
    Result<detail::Reply> reply = connection.run(args);
    if (!reply) {
      if (reply.error().detail().starts_with("NOGROUP")) grouped = false;  // the stream was deleted under us
      backoff.failed(fetching);
      continue;
    }
    backoff.succeeded();
    const redisReply* streams = reply->get();
    if (streams->type != REDIS_REPLY_ARRAY) continue;  // nil: nothing arrived within the block
    for (std::size_t index = 0; index < streams->elements; ++index) {
      const redisReply* one = streams->element[index];
      if (one->type == REDIS_REPLY_ARRAY && one->elements == 2) deliver(one->element[1], false);
    }
  }
}

}  // namespace jobq::redis
