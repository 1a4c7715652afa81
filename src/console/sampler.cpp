#include "console/sampler.hpp"

#include <pthread.h>

#include <algorithm>

#include "jobq/manager.hpp"

namespace jobq::console {
namespace {

double per_second(std::uint64_t now, std::uint64_t before, double seconds) {
  return seconds > 0 && now >= before ? static_cast<double>(now - before) / seconds : 0.0;
}

api::Rates rates_between(const JobCounters& now, const JobCounters& before, double seconds) {
  return {.accepted = per_second(now.accepted, before.accepted, seconds),
          .succeeded = per_second(now.succeeded, before.succeeded, seconds),
          .failed = per_second(now.failed, before.failed, seconds),
          .dead_lettered = per_second(now.dead_lettered, before.dead_lettered, seconds)};
}

}  // namespace

api::Quantiles quantiles_of(const Latency& latency) {
  return {.p50 = latency.p50(), .p99 = latency.p99(), .samples = latency.count()};
}

Sampler::Sampler(const Manager& manager, std::chrono::milliseconds every, std::size_t points)
    : manager_(manager), every_(every), capacity_(std::max<std::size_t>(points, 1)) {}

Sampler::~Sampler() { stop(); }

void Sampler::start() {
  if (thread_.joinable()) return;
  sample();
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jq:console");
    loop();
  });
}

void Sampler::stop() {
  {
    const std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_signal_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Sampler::loop() {
  std::unique_lock lock(stop_mutex_);
  auto next = std::chrono::steady_clock::now() + every_;
  while (!stop_signal_.wait_until(lock, next, [this] { return stopping_; })) {
    lock.unlock();
    sample();
    lock.lock();
    // On a fixed grid: a slow snapshot (a durable queue asks Redis) does not stretch the interval.
    next += every_;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + every_;
  }
}

void Sampler::sample() {
  // The snapshot is taken outside the lock: a durable queue's costs a round trip to Redis.
  const MetricsSnapshot snapshot = manager_.metrics();
  const std::lock_guard lock(mutex_);
  const double seconds = snapshot.uptime_seconds - last_uptime_;
  for (const QueueMetrics& queue : snapshot.queues) {
    auto track = std::find_if(tracks_.begin(), tracks_.end(), [&](const Track& t) { return t.queue == queue.name; });
    if (track == tracks_.end()) {  // the first sample: the start of the first interval
      tracks_.push_back({.queue = queue.name, .counters = queue.jobs, .wait = queue.wait, .run = queue.run, .points = {}});
      continue;
    }
    if (seconds > 0) {
      track->points.push_back({.at = snapshot.uptime_seconds,
                               .seconds = seconds,
                               .rates = rates_between(queue.jobs, track->counters, seconds),
                               .wait = quantiles_of(queue.wait.since(track->wait)),
                               .run = quantiles_of(queue.run.since(track->run))});
      if (track->points.size() > capacity_) track->points.pop_front();
    }
    track->counters = queue.jobs;
    track->wait = queue.wait;
    track->run = queue.run;
  }
  last_uptime_ = snapshot.uptime_seconds;
}

api::History Sampler::history() const {
  api::History out;
  out.interval_seconds = std::chrono::duration<double>(every_).count();
  const std::lock_guard lock(mutex_);
  for (const Track& track : tracks_) {
    out.queues.push_back({.queue = track.queue, .points = {track.points.begin(), track.points.end()}});
  }
  return out;
}

api::Rates Sampler::latest_rates(const std::string& queue) const {
  const std::lock_guard lock(mutex_);
  for (const Track& track : tracks_) {
    if (track.queue == queue && !track.points.empty()) return track.points.back().rates;
  }
  return {};
}

}  // namespace jobq::console
