// The console's memory of the last minutes: a thread that snapshots the Manager's metrics every
// interval and keeps, per queue, the rates and latency quantiles of each interval.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobq/console_api.hpp"
#include "jobq/metrics.hpp"

namespace jobq {
class Manager;
}

namespace jobq::console {

class Sampler {
 public:
  Sampler(const Manager& manager, std::chrono::milliseconds every, std::size_t points);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  void start();
  void stop();

  /// Every queue's intervals, oldest first.
  api::History history() const;
  /// One queue's last interval's rates (zeros before the second sample).
  api::Rates latest_rates(const std::string& queue) const;

  /// Takes one sample now (the thread calls it every interval; tests call it directly).
  void sample();

 private:
  struct Track {
    std::string queue;
    JobCounters counters;
    Latency wait;
    Latency run;
    std::deque<api::HistoryPoint> points;
  };

  void loop();

  const Manager& manager_;
  const std::chrono::milliseconds every_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::vector<Track> tracks_;  // guarded by mutex_, in the Manager's queue order
  double last_uptime_ = 0;

  std::mutex stop_mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;
  std::thread thread_;
};

/// p50, p99 and the sample count of a histogram.
api::Quantiles quantiles_of(const Latency& latency);

}  // namespace jobq::console
