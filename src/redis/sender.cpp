// The sending thread of a durable lane: asynchronous dispatches, pipelined. Whatever waits when a
// round trip ends goes in the next one, so a lone job is sent at once and a burst shares trips.
#include "redis/lane_state.hpp"

namespace jobq::redis {

void Lane::State::run_sender() {
  detail::Connection connection(options, reconnects);
  std::vector<Outgoing> batch;
  // Done with the batch: idle() counts it until its callbacks have run.
  auto finish_batch = [&] {
    batch.clear();
    const std::lock_guard lock(outgoing_mutex);
    outgoing_in_flight = 0;
  };
  for (;;) {
    {
      std::unique_lock lock(outgoing_mutex);
      outgoing_ready.wait(lock, [&] { return !outgoing.empty() || sender_stopping; });
      if (outgoing.empty()) return;  // stopping, and everything sent
      batch.swap(outgoing);
      outgoing_in_flight = batch.size();
    }
    // Plain jobs (no key, delay or overrides) go 512 to a bulk script, which stores them with
    // consecutive ids; the others one script each. All in one pipelined round trip. The commands
    // view the jobs' strings, the keys' names and the formatted numbers (argvs), which live until
    // the replies are in.
    if (std::optional<Error> down = connection.ensure()) {
      // Redis cannot be reached: the whole batch fails at once, none of it sent.
      for (Outgoing& job : batch) {
        append_failed.fetch_add(1, std::memory_order_relaxed);
        try {
          job.done(*down);
        } catch (...) {  // NOLINT(bugprone-empty-catch): the engine's callback wrapper logs
        }
      }
      finish_batch();
      continue;
    }
    std::vector<detail::Args> commands;
    std::vector<detail::Args> argvs;
    std::vector<std::string> keys(batch.size());
    struct Sent {
      std::size_t first;  // index in batch
      std::size_t count;  // jobs the command stores: 1, or more for a bulk script
      bool bulk;
    };
    std::vector<Sent> sent;
    std::vector<std::size_t> plain;
    auto flush_plain = [&] {
      if (plain.empty()) return;
      detail::Args argv;
      for (std::size_t index : plain) argv.add(batch[index].type).add(batch[index].payload).add(batch[index].headers);
      argvs.push_back(std::move(argv));
      commands.push_back(connection.eval_args(detail::Script::append_bulk, {stream, ids}, argvs.back()));
      sent.push_back({plain.front(), plain.size(), true});
      plain.clear();
    };
    for (std::size_t index = 0; index < batch.size(); ++index) {
      const Outgoing& job = batch[index];
      // The bulk script stores type, payload and headers: a job with anything more goes alone.
      const bool is_plain = job.key.empty() && job.flow.empty() && job.options.delay.count() == 0 &&
                            job.options.max_attempts == 0 && job.options.timeout.count() == 0 &&
                            job.options.debounce.count() == 0;
      if (is_plain && (plain.empty() || plain.back() + 1 == index) && plain.size() < 512) {
        plain.push_back(index);
        continue;
      }
      flush_plain();
      if (is_plain) {
        plain.push_back(index);
        continue;
      }
      const LaneJob stored = job.view();
      keys[index] = append_key(stored);
      argvs.push_back(append_args(stored));
      commands.push_back(append_command(connection, stored, keys[index], argvs.back()));
      sent.push_back({index, 1, false});
    }
    flush_plain();
    Result<std::vector<detail::Reply>> replies = connection.pipeline(commands);
    auto finish = [&](std::size_t index, Result<JobId> result) {
      try {
        batch[index].done(std::move(result));
      } catch (...) {  // NOLINT(bugprone-empty-catch): the engine's callback wrapper logs; never kill the sender
      }
    };
    for (std::size_t command = 0; command < sent.size(); ++command) {
      const Sent& what = sent[command];
      const redisReply* reply = replies ? (*replies)[command].get() : nullptr;
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR && detail::text(reply).starts_with("NOSCRIPT")) {
        // The server forgot the scripts (a restart): these jobs were not stored; send them alone,
        // which loads the scripts again.
        for (std::size_t index = what.first; index < what.first + what.count; ++index) {
          const LaneJob stored = batch[index].view();
          const std::string key = append_key(stored);
          detail::Args argv = append_args(stored);
          Result<detail::Reply> again = eval_append(connection, stored, key, argv);
          if (!again) append_failed.fetch_add(1, std::memory_order_relaxed);
          finish(index, again ? append_result(again->get(), stored.key) : Result<JobId>(again.error()));
        }
        continue;
      }
      for (std::size_t offset = 0; offset < what.count; ++offset) {
        const std::size_t index = what.first + offset;
        if (!replies) {
          // Sent, but the answer was lost with the connection: the job may or may not be stored.
          append_failed.fetch_add(1, std::memory_order_relaxed);
          finish(index, replies.error());
        } else if (reply->type == REDIS_REPLY_ERROR) {
          append_failed.fetch_add(1, std::memory_order_relaxed);
          finish(index, Error(Errc::store_refused, std::string(detail::text(reply))));
        } else if (what.bulk) {
          appended.fetch_add(1, std::memory_order_relaxed);
          finish(index, static_cast<JobId>(reply->integer) + offset);
        } else {
          finish(index, append_result(reply, batch[index].key));
        }
      }
    }
    finish_batch();
  }
}

void Lane::State::stop_sender() {
  {
    const std::lock_guard lock(outgoing_mutex);
    sender_stopping = true;
  }
  outgoing_ready.notify_all();
  if (sender.joinable()) sender.join();
}

}  // namespace jobq::redis
