// CPU placement shared by the benchmarks and the perf tools: which CPUs this process may use,
// pinning a thread to one of them, and pinning the benchmark thread for a scope only.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <vector>

namespace jobq_bench {

/// The CPUs the calling thread may run on, ascending; empty if the set cannot be read.
inline std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
  }
  return cpus;
}

/// Pins the calling thread to `cpu`; a negative cpu means "not pinned" and does nothing. False if
/// pinning failed.
inline bool pin_this_thread(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

/// Pins the calling (benchmark) thread for its lifetime and restores its previous affinity after,
/// so that the next benchmark, and the next Manager constructed on this thread, see the original
/// CPU set.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu) {
    CPU_ZERO(&saved_);
    restore_ = pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_) == 0;
    ok_ = pin_this_thread(cpu);
  }
  ~ScopedPin() {
    if (restore_) pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
  }
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;

  bool ok() const noexcept { return ok_; }

 private:
  cpu_set_t saved_;
  bool restore_ = false;
  bool ok_ = false;
};

/// One producer thread and one consumer thread: the first two CPUs this thread may run on (CPUs 0
/// and 1 on an unrestricted machine), {first, -1} on a single CPU. -1: not pinned.
struct ProducerConsumerCpus {
  int producer = -1;
  int consumer = -1;
};

inline ProducerConsumerCpus producer_consumer_cpus() {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.empty()) return {};
  if (cpus.size() == 1) return {cpus[0], -1};
  return {cpus[0], cpus[1]};
}

}  // namespace jobq_bench
