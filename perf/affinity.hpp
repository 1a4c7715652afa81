// CPU placement for the perf tools: the layout every run uses (the producer on one CPU, the
// workers on the others). Listing and pinning CPUs is shared with the benchmarks.
#pragma once

#include <vector>

#include "common/affinity.hpp"

namespace jobq_perf {

using jobq_bench::allowed_cpus;
using jobq_bench::pin_this_thread;

/// Where a run's threads go. Pinned: the producer on the first allowed CPU, the workers cycling
/// over the others, so that no worker shares a core with the producer (with a single CPU nothing
/// is pinned). Not pinned: every thread floats (-1 / empty).
struct CpuPlan {
  int producer = -1;
  std::vector<unsigned> workers;
};

inline CpuPlan plan_cpus(bool pin) {
  CpuPlan plan;
  if (!pin) return plan;
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) return plan;
  plan.producer = cpus.front();
  for (auto cpu = cpus.begin() + 1; cpu != cpus.end(); ++cpu) plan.workers.push_back(static_cast<unsigned>(*cpu));
  return plan;
}

}  // namespace jobq_perf
