// Workers for every queue of a process at once, within a CPU budget, from the M/M/c model
// (erlang_c.hpp) of each queue's measured load (scrape.hpp).
//
// What a worker costs: a busy_spin worker holds a CPU whether it works or not (1); a parking
// worker holds one only while its handler computes: its CPU share, 1 for CPU-bound handlers
// (the default) and less for handlers that mostly wait on a network (--cpu-share QUEUE=F). The
// plan counts each worker at that cost, as if every worker were busy at once: that is when the
// latency target is at stake.
//
// The plan: each queue gets the fewest workers whose modelled quantile meets its target. If the
// total is over the budget, every queue starts from the fewest workers that keep up (utilization
// below 1), and the budget left goes one worker at a time to the queue furthest from its target,
// among those whose next worker still fits.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "erlang_c.hpp"
#include "scrape.hpp"
#include "units.hpp"

namespace jobq_perf {

struct Target {
  double seconds = 0;     ///< the quantile's bound
  double quantile = 0.99;
  bool on_wait = false;   ///< bound the wait, not the response (wait + run)
};

struct QueuePlan {
  QueueLoad load;
  Target target;
  double cpu_per_worker = 1;
  unsigned keeps_up = 1;                ///< the fewest workers with utilization < 1
  std::optional<unsigned> meets{};      ///< the fewest that meet the target, up to the limit
  /// Where more workers stop helping: the fewest that meet the target, or, when none does, the
  /// fewest past which the quantile improves by under 1 % (the service time alone misses it).
  unsigned wanted = 1;
  unsigned recommended = 1;
  MmcEstimate estimate{};               ///< at `recommended`
  bool meets_target = false;

  double quantile_s(const MmcEstimate& e) const { return target.on_wait ? e.wait_quantile_s : e.response_quantile_s; }
  double cpu() const { return cpu_per_worker * recommended; }
};

struct FleetPlan {
  std::vector<QueuePlan> queues;
  double budget = 0;
  double cpus = 0;
  bool trimmed = false;  ///< the budget did not allow every queue's target
  std::vector<std::string> warnings;

  double cpu_used() const {
    double total = 0;
    for (const QueuePlan& q : queues) total += q.cpu();
    return total;
  }
};

inline MmcEstimate estimate_for(const QueuePlan& q, unsigned workers) {
  return mmc_estimate(q.load.runs_per_second, q.load.service_mean_s, workers, q.target.quantile);
}

/// `cpu_share(queue)`: a parking worker's CPU cost; `target(queue)`: its latency target.
template <class CpuShare, class TargetOf>
FleetPlan plan_fleet(const std::vector<QueueLoad>& loads, double cpus, double budget, unsigned max_workers,
                     CpuShare cpu_share, TargetOf target_of) {
  FleetPlan plan{.queues = {}, .budget = budget, .cpus = cpus, .trimmed = false, .warnings = {}};
  for (const QueueLoad& load : loads) {
    QueuePlan q{.load = load, .target = target_of(load.queue), .cpu_per_worker = load.busy_spin ? 1.0 : cpu_share(load.queue)};
    if (load.runs_per_second <= 0 || load.service_mean_s <= 0) {
      q.keeps_up = 1;
      q.meets = 1;
      q.wanted = 1;
    } else {
      q.keeps_up = static_cast<unsigned>(std::floor(load.runs_per_second * load.service_mean_s)) + 1;
      const unsigned limit = std::max(max_workers, q.keeps_up);
      double previous = q.quantile_s(estimate_for(q, q.keeps_up));
      q.wanted = limit;
      bool saturated = false;
      for (unsigned c = q.keeps_up; c <= limit; ++c) {
        const double quantile = q.quantile_s(estimate_for(q, c));
        if (quantile <= q.target.seconds) {
          q.meets = c;
          q.wanted = c;
          break;
        }
        if (c > q.keeps_up && quantile > previous * 0.99) {
          q.wanted = c - 1;  // no worker count meets this target
          saturated = true;
          break;
        }
        previous = quantile;
      }
      if (saturated) {
        plan.warnings.push_back("queue '" + load.queue + "': no worker count meets its target; past " +
                                std::to_string(q.wanted) + " workers the modelled quantile no longer falls (the run " +
                                "time alone is too long for it)");
      } else if (!q.meets) {
        plan.warnings.push_back("queue '" + load.queue + "': none of up to " + std::to_string(limit) +
                                " workers meets its target (--max-workers)");
      }
    }
    q.recommended = q.wanted;
    plan.queues.push_back(q);
  }

  if (plan.cpu_used() > budget + 1e-9) {
    plan.trimmed = true;
    for (QueuePlan& q : plan.queues) q.recommended = q.keeps_up;
    if (plan.cpu_used() > budget + 1e-9) {
      plan.warnings.push_back("the budget of " + format_cores(budget) + " cannot keep up with this load: the queues need " +
                              format_cores(plan.cpu_used()) + " just to run as fast as jobs arrive");
    }
    for (;;) {
      QueuePlan* furthest = nullptr;
      double worst = 1.0;
      for (QueuePlan& q : plan.queues) {
        if (q.recommended >= q.wanted || plan.cpu_used() + q.cpu_per_worker > budget + 1e-9) continue;
        const double ratio = q.quantile_s(estimate_for(q, q.recommended)) / q.target.seconds;
        if (ratio > worst) {
          worst = ratio;
          furthest = &q;
        }
      }
      if (furthest == nullptr) break;
      ++furthest->recommended;
    }
  }
  unsigned spinning = 0;
  for (QueuePlan& q : plan.queues) {
    q.estimate = estimate_for(q, q.recommended);
    q.meets_target = q.load.runs_per_second <= 0 || (q.estimate.stable && q.quantile_s(q.estimate) <= q.target.seconds);
    if (q.load.busy_spin) spinning += q.recommended;
  }
  if (spinning > cpus) {
    plan.warnings.push_back("this plan has " + std::to_string(spinning) + " busy-spinning workers on " + format_cores(cpus) +
                            ": spinning workers then take CPUs from each other and from the handlers; use spin_then_park "
                            "on some queues, or more CPUs");
  }
  return plan;
}

}  // namespace jobq_perf
