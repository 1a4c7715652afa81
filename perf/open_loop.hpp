// One measurement point: an implementation, a setup and a rate, run by one producer thread.
//
// Open loop (rate > 0): job i is due at t0 + i / rate (Pacer) whatever happened to job i − 1, and
// its latencies are measured from that intended time. A full queue makes the producer retry, and
// the time lost counts against the jobs that were due meanwhile.
// Closed loop (rate <= 0, the saturation burst): the producer keeps `window` jobs in flight and
// dispatches as fast as that allows; latencies are then measured from the actual dispatch.
//
// Before either, `warmup_jobs` jobs are run and not recorded (ring blocks, page faults, parsers).
// CPU use is the process's CPU time over the run, divided by its wall time; the producer thread's
// own CPU (it spins by design, between dispatches and while the run drains) is reported apart.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "affinity.hpp"
#include "clock.hpp"
#include "engines.hpp"
#include "histogram.hpp"
#include "load_job.hpp"
#include "pacer.hpp"

namespace jobq_perf {

struct RunSpec {
  double rate = 0;              ///< jobs/s; <= 0: closed loop
  double seconds = 3;           ///< open loop: jobs = rate × seconds; closed loop: burst length
  std::uint64_t warmup_jobs = 2000;
  std::uint64_t window = 4096;  ///< closed loop: jobs in flight at most
  double drain_timeout_s = 30;  ///< after the last dispatch; past it the rest are skipped unrecorded
};

struct PointResult {
  Engine engine = Engine::jobq_spin;
  bool closed_loop = false;
  double offered_rate = 0;      ///< what was asked for (0: closed loop)
  std::uint64_t jobs = 0;       ///< dispatched in the measured part
  std::uint64_t recorded = 0;   ///< latencies recorded (== jobs unless the run was abandoned)
  std::uint64_t skipped = 0;    ///< run unrecorded after the drain timeout
  std::uint64_t full_retries = 0;
  double wall_s = 0;            ///< first intended dispatch → every job done
  double dispatch_rate = 0;     ///< dispatches per second between the first intended and the last
  double throughput = 0;        ///< recorded / (last handler end − first intended dispatch)
  double cpu_cores = 0;         ///< process CPU time / wall time
  double producer_cpu_cores = 0;
  double engine_cpu_cores = 0;  ///< cpu_cores − producer_cpu_cores: the workers (and the engine)
  /// Cores' worth of CPU that other processes used during the run (machine-wide CPU time less this
  /// process's); negative when unknown. Above ~0.1 the latencies measure the neighbours too.
  double other_cpu_cores = -1;
  std::int64_t max_producer_lag_ns = 0;
  LatencyHistogram to_start;    ///< intended dispatch → handler start
  LatencyHistogram to_end;      ///< intended dispatch → handler end
  std::string problem;          ///< empty when every job was accounted for

  /// The latency to judge a target by: "end" (intended dispatch → handler end) or "start".
  const LatencyHistogram& metric(std::string_view which) const { return which == "start" ? to_start : to_end; }
};

namespace detail {

struct ProducerOutcome {
  std::uint64_t jobs = 0;
  std::uint64_t full_retries = 0;
  std::int64_t start_ns = 0;
  std::int64_t last_dispatch_ns = 0;
  std::int64_t done_ns = 0;
  std::int64_t process_cpu_ns = 0;
  std::int64_t producer_cpu_ns = 0;
  std::int64_t machine_busy_ns = -1;
  std::int64_t max_lag_ns = 0;
  bool abandoned = false;
};

template <class Target>
void produce(Target& target, Recorders& recorders, Engine engine, const Setup& setup, const RunSpec& spec,
             ProducerOutcome& out) {
  LoadPayload payload = sized_payload(setup.payload_bytes);
  auto send = [&] {
    while (!target.submit(payload)) {
      ++out.full_retries;
      cpu_relax();
    }
  };

  payload.intended_ns = 0;  // warm-up: run, not recorded
  for (std::uint64_t i = 0; i < spec.warmup_jobs; ++i) {
    payload.seq = i;
    send();
  }
  const std::int64_t warmup_deadline = now_ns() + 30'000'000'000;
  while (recorders.completed() < spec.warmup_jobs) {
    if (now_ns() > warmup_deadline) {
      std::fprintf(stderr, "jobq perf: %s ran %llu of %llu warm-up jobs in 30 s; giving up\n",
                   std::string(engine_name(engine)).c_str(),
                   static_cast<unsigned long long>(recorders.completed()),
                   static_cast<unsigned long long>(spec.warmup_jobs));
      std::abort();
    }
    cpu_relax();
  }
  out.full_retries = 0;

  std::uint64_t seq = spec.warmup_jobs;
  const std::int64_t machine_busy_start = machine_busy_ns();
  const std::int64_t process_cpu_start = process_cpu_ns();
  const std::int64_t thread_cpu_start = thread_cpu_ns();
  out.start_ns = now_ns() + 100'000;  // the first job is due 100 us from now
  if (spec.rate > 0) {
    Pacer pacer(spec.rate, out.start_ns);
    const auto jobs = static_cast<std::uint64_t>(std::max(1.0, std::round(spec.rate * spec.seconds)));
    for (std::uint64_t i = 0; i < jobs; ++i) {
      payload.intended_ns = pacer.wait_for(i);
      payload.seq = seq++;
      send();
    }
    out.max_lag_ns = pacer.max_lag_ns();
  } else {
    while (now_ns() < out.start_ns) cpu_relax();
    const std::int64_t stop_at = out.start_ns + static_cast<std::int64_t>(spec.seconds * 1e9);
    for (std::int64_t now = now_ns(); now < stop_at; now = now_ns()) {
      if (seq - recorders.completed() >= spec.window) {
        cpu_relax();
        continue;
      }
      payload.intended_ns = now;
      payload.seq = seq++;
      send();
    }
  }
  out.last_dispatch_ns = now_ns();
  out.jobs = seq - spec.warmup_jobs;

  const std::int64_t drain_deadline = out.last_dispatch_ns + static_cast<std::int64_t>(spec.drain_timeout_s * 1e9);
  while (recorders.completed() < seq) {
    if (!out.abandoned && now_ns() > drain_deadline) {
      recorders.abandon();
      out.abandoned = true;
    }
    cpu_relax();
  }
  out.done_ns = now_ns();
  out.process_cpu_ns = process_cpu_ns() - process_cpu_start;
  out.producer_cpu_ns = thread_cpu_ns() - thread_cpu_start;
  const std::int64_t machine_busy_end = machine_busy_ns();
  if (machine_busy_start >= 0 && machine_busy_end >= 0) out.machine_busy_ns = machine_busy_end - machine_busy_start;
}

template <class Target>
PointResult run_target(Target& target, Recorders& recorders, Engine engine, const Setup& setup, const RunSpec& spec,
                       int producer_cpu) {
  ProducerOutcome out;
  std::thread producer([&] {
    pin_this_thread(producer_cpu);
    produce(target, recorders, engine, setup, spec, out);
  });
  producer.join();

  PointResult result;
  result.engine = engine;
  result.closed_loop = spec.rate <= 0;
  result.offered_rate = spec.rate > 0 ? spec.rate : 0;
  result.jobs = out.jobs;
  result.full_retries = out.full_retries;
  result.max_producer_lag_ns = out.max_lag_ns;
  result.problem = target.finish(spec.warmup_jobs + out.jobs);

  std::uint64_t completed = 0;
  std::uint64_t bind_failures = 0;
  std::uint64_t warmup = 0;
  for (const auto& slot : recorders.slots()) {
    result.to_start.merge(slot->to_start);
    result.to_end.merge(slot->to_end);
    completed += slot->completed.load(std::memory_order_acquire);
    bind_failures += slot->bind_failures;
    warmup += slot->warmup;
    result.skipped += slot->skipped;
  }
  result.recorded = result.to_end.count();

  const double wall_ns = static_cast<double>(out.done_ns - out.start_ns);
  result.wall_s = wall_ns / 1e9;
  // Open loop, job i goes out at i / rate: N jobs span N − 1 periods.
  const std::uint64_t intervals = spec.rate > 0 && out.jobs > 1 ? out.jobs - 1 : out.jobs;
  result.dispatch_rate = static_cast<double>(intervals) * 1e9 /
                         static_cast<double>(std::max<std::int64_t>(1, out.last_dispatch_ns - out.start_ns));
  result.throughput = static_cast<double>(result.recorded) * 1e9 /
                      static_cast<double>(std::max<std::int64_t>(1, recorders.last_end_ns() - out.start_ns));
  result.cpu_cores = static_cast<double>(out.process_cpu_ns) / wall_ns;
  result.producer_cpu_cores = static_cast<double>(out.producer_cpu_ns) / wall_ns;
  result.engine_cpu_cores = result.cpu_cores - result.producer_cpu_cores;
  if (out.machine_busy_ns >= 0) {
    result.other_cpu_cores = std::max(0.0, static_cast<double>(out.machine_busy_ns - out.process_cpu_ns) / wall_ns);
  }

  auto note = [&](const std::string& text) { result.problem += text + "; "; };
  if (out.abandoned) note("drain timed out: " + std::to_string(result.skipped) + " jobs skipped unrecorded");
  if (bind_failures != 0) note(std::to_string(bind_failures) + " payloads did not bind");
  if (warmup != spec.warmup_jobs) note("warm-up jobs run " + std::to_string(warmup));
  if (completed != spec.warmup_jobs + out.jobs) note("jobs completed " + std::to_string(completed));
  if (result.recorded + result.skipped != out.jobs || result.to_start.count() != result.recorded) {
    note("latencies recorded " + std::to_string(result.recorded) + " of " + std::to_string(out.jobs) + " jobs");
  }
  if (result.to_start.negatives() + result.to_end.negatives() != 0) note("negative latencies");
  if (!result.problem.empty()) result.problem.resize(result.problem.size() - 2);
  return result;
}

}  // namespace detail

/// Runs one point: builds the implementation, runs the producer, tears it down, checks the counts.
inline PointResult run_point(Engine engine, const Setup& setup, const RunSpec& spec) {
  const CpuPlan plan = plan_cpus(setup.pin);
  Recorders recorders(setup.workers);
  if (engine == Engine::pool) {
    PoolEngine target(setup, plan.workers, recorders);
    return detail::run_target(target, recorders, engine, setup, spec, plan.producer);
  }
  const auto idle = engine == Engine::jobq_spin ? jobq::IdleStrategy::busy_spin : jobq::IdleStrategy::spin_then_park;
  JobqEngine target(setup, idle, plan.workers, recorders);
  return detail::run_target(target, recorders, engine, setup, spec, plan.producer);
}

}  // namespace jobq_perf
