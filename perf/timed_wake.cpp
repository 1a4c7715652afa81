// jobq_timed_wake: how late a thread wakes from a short timed sleep on this machine, and what the
// sleep costs in CPU. It answers whether a worker could park *through* a short gap between jobs
// and wake just before the next one (an anticipating park), instead of spinning through the gap
// or being woken by the producer. A gap of 11 µs (10 µs jobs at 50 % load) would need a wake
// accurate to about 1 µs for a sub-µs start.
//
//   jobq_timed_wake [--sleeps 2us,5us,8us] [--count 20000]
//
// Each sleep is clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) with the thread's timer slack at
// 1 ns (the default 50 µs would make it worse). Prints, per requested sleep, the lateness
// percentiles and the CPU time the thread was charged per sleep.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "units.hpp"

namespace {

std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

double thread_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::int64_t> sleeps{2'000, 5'000, 8'000};
  std::size_t count = 20'000;
  for (int index = 1; index < argc; ++index) {
    const std::string arg = argv[index];
    if (arg == "--sleeps" && index + 1 < argc) {
      sleeps.clear();
      for (const std::string& item : jobq_perf::split_list(argv[++index])) {
        const std::optional<double> ns = jobq_perf::parse_duration_ns(item);
        if (!ns || *ns <= 0) {
          std::fprintf(stderr, "jobq_timed_wake: not a duration: %s\n", item.c_str());
          return 2;
        }
        sleeps.push_back(static_cast<std::int64_t>(*ns));
      }
    } else if (arg == "--count" && index + 1 < argc) {
      count = std::stoul(argv[++index]);
    } else {
      std::fprintf(stderr, "usage: jobq_timed_wake [--sleeps 2us,5us,8us] [--count 20000]\n");
      return 2;
    }
  }
  prctl(PR_SET_TIMERSLACK, 1UL);
  std::printf("%10s %12s %12s %12s %16s\n", "sleep", "late p50", "late p90", "late p99", "CPU per sleep");
  for (const std::int64_t sleep : sleeps) {
    std::vector<std::int64_t> late;
    late.reserve(count);
    const double cpu_before = thread_cpu_seconds();
    for (std::size_t round = 0; round < count; ++round) {
      const std::int64_t due = monotonic_ns() + sleep;
      const timespec until{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr);
      late.push_back(monotonic_ns() - due);
    }
    const double cpu_per_sleep_ns = (thread_cpu_seconds() - cpu_before) / static_cast<double>(count) * 1e9;
    std::sort(late.begin(), late.end());
    auto at = [&](double quantile) { return late[static_cast<std::size_t>(quantile * static_cast<double>(late.size() - 1))]; };
    std::printf("%10s %12s %12s %12s %16s\n", jobq_perf::format_ns(static_cast<double>(sleep)).c_str(),
                jobq_perf::format_ns(static_cast<double>(at(0.5))).c_str(), jobq_perf::format_ns(static_cast<double>(at(0.9))).c_str(),
                jobq_perf::format_ns(static_cast<double>(at(0.99))).c_str(), jobq_perf::format_ns(cpu_per_sleep_ns).c_str());
  }
  return 0;
}
