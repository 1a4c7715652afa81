// jobq_tune advise --from-metrics: workers for every queue of a running process, from its
// Prometheus scrape, within a CPU budget (fleet_plan.hpp). Prints a table per queue and a
// summary, and writes advise.csv and a plot (advise.svg) to --out.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "affinity.hpp"
#include "cli.hpp"
#include "fleet_plan.hpp"
#include "report.hpp"
#include "scrape.hpp"
#include "units.hpp"

namespace jobq_perf {

/// "a=1,b=2" → {a: 1, b: 2}, each value through `parse`.
template <class Parse>
std::map<std::string, double> per_queue(const std::string& option, const std::string& text, Parse parse) {
  std::map<std::string, double> out;
  for (const std::string& item : split_list(text)) {
    const std::size_t equals = item.find('=');
    if (equals == std::string::npos) cli_fail("--" + option + " takes QUEUE=VALUE,…; got '" + item + "'");
    out[item.substr(0, equals)] = parse(item.substr(equals + 1));
  }
  return out;
}

inline std::string plan_csv(const FleetPlan& plan, unsigned rows_past) {
  std::string csv = "queue,workers,runs_per_second,service_mean_s,utilization,p_wait,mean_wait_s,wait_quantile_s,"
                    "response_quantile_s,cpu,target_s,recommended\n";
  for (const QueuePlan& q : plan.queues) {
    for (unsigned c = q.keeps_up; c <= q.recommended + rows_past; ++c) {
      const MmcEstimate e = estimate_for(q, c);
      csv += q.load.queue + "," + std::to_string(c) + "," + number(q.load.runs_per_second) + "," +
             number(q.load.service_mean_s) + "," + number(e.utilization) + "," + number(e.p_wait) + "," +
             number(e.mean_wait_s) + "," + number(e.wait_quantile_s) + "," + number(e.response_quantile_s) + "," +
             number(q.cpu_per_worker * c) + "," + number(q.target.seconds) + "," + (c == q.recommended ? "1" : "0") + "\n";
    }
  }
  return csv;
}

/// The plot: one panel, the modelled quantile against workers per queue, each queue's target
/// dashed in its colour, the recommendations circled; the legend sits outside the plot, right.
inline std::string plan_plot(const FleetPlan& plan, const std::filesystem::path& out, unsigned rows_past, const char* q_name) {
  std::string data;
  std::string plot = "plot ";
  int index = 0;
  for (const QueuePlan& q : plan.queues) {
    if (q.load.runs_per_second <= 0) continue;
    data += "# " + q.load.queue + "\n";
    for (unsigned c = q.keeps_up; c <= q.recommended + rows_past; ++c) {
      const MmcEstimate e = estimate_for(q, c);
      data += std::to_string(c) + " " + number(q.quantile_s(e) * 1e3) + " " + (c == q.recommended ? "1" : "0") + "\n";
    }
    data += "\n\n";
    const std::string i = std::to_string(index);
    const std::string colour = " lc " + std::to_string(index + 1);
    plot += std::string(index == 0 ? "" : ", ") + "'advise.dat' index " + i + " using 1:2 with linespoints pt 7 ps 0.6" +
            colour + " title '" + q.load.queue + "'" + ", 'advise.dat' index " + i +
            " using 1:($3 > 0 ? $2 : 1/0) with points pt 6 ps 2.5" + colour + " notitle" + ", " +
            number(q.target.seconds * 1e3) + " with lines dashtype 2" + colour + " title '" + q.load.queue + " target'";
    ++index;
  }
  if (index == 0) return "no queue ran a job: no plot";
  write_text(out / "advise.dat", data);
  const std::string script =
      "set terminal svg size 900,450 dynamic noenhanced font 'sans,11' background rgb 'white'\n"
      "set output 'advise.svg'\n"
      "set title 'jobq tune advise: modelled " + std::string(q_name) + " per queue (circled: recommended)'\n"
      "set grid\nset key outside right top\nset xlabel 'workers'\nset ylabel '" + q_name + " (ms)'\n"
      "set logscale y\nset xtics 1\nset offsets 0.5, 0.5, 0, 0\n" + plot + "\n";
  write_text(out / "advise.gp", script);
  return run_gnuplot(out / "advise.gp", out / "advise.svg");
}

inline int advise_from_metrics(const Args& args) {
  const std::string source = *args.get("from-metrics");
  // Two scrapes: FILE1,FILE2 saved a while apart, or a URL read twice --window-s apart.
  std::vector<std::string> sources = split_list(source);
  if (sources.empty() || sources.size() > 2) cli_fail("--from-metrics takes a URL, a FILE, or EARLIER,LATER files");
  std::string error;
  std::optional<Scrape> earlier;
  std::optional<Scrape> later = Scrape::load(sources[0], error);
  if (!later) cli_fail(error);
  const bool url = sources[0].rfind("http://", 0) == 0;
  if (sources.size() == 2) {
    earlier = std::move(later);
    later = Scrape::load(sources[1], error);
    if (!later) cli_fail(error);
  } else if (url) {
    const double window = args.has("window-s") ? positive_option("window-s", *args.get("window-s")) : 10;
    std::printf("reading %s twice, %.3g s apart...\n", sources[0].c_str(), window);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(window));
    earlier = std::move(later);
    later = Scrape::load(sources[0], error);
    if (!later) cli_fail(error);
  }
  const std::vector<QueueLoad> loads = queue_loads(earlier ? &*earlier : nullptr, *later, error);
  if (!error.empty()) cli_fail(error);
  if (loads.empty()) cli_fail("the scrape lists no queue (no jobq_queue_workers samples)");
  if (loads.front().window_s <= 0) cli_fail("the scrapes are not in time order, or were taken at once");

  const double cpus = args.has("cpus") ? positive_option("cpus", *args.get("cpus")) : static_cast<double>(allowed_cpus().size());
  const double budget = args.has("budget") ? positive_option("budget", *args.get("budget")) : cpus;
  const double quantile = args.has("quantile") ? positive_option("quantile", *args.get("quantile")) : 0.99;
  if (quantile >= 1) cli_fail("--quantile must be below 1 (0.99 for p99)");
  const std::string metric = args.get("target-metric").value_or("response");
  if (metric != "response" && metric != "wait") cli_fail("--target-metric takes response or wait");
  if (!args.has("p99-target-us") && !args.has("target")) cli_fail("advise needs --p99-target-us (or --target QUEUE=US,…)");
  const double default_target = args.has("p99-target-us") ? positive_option("p99-target-us", *args.get("p99-target-us")) / 1e6 : 0;
  const auto targets = per_queue("target", args.get("target").value_or(""),
                                 [](const std::string& v) { return positive_option("target", v) / 1e6; });
  const auto shares = per_queue("cpu-share", args.get("cpu-share").value_or(""), [](const std::string& v) {
    const double share = positive_option("cpu-share", v);
    if (share > 1) cli_fail("--cpu-share is a fraction of a CPU, at most 1; got " + v);
    return share;
  });
  const unsigned max_workers = args.has("max-workers") ? count_option<unsigned>("max-workers", *args.get("max-workers"), 1)
                                                       : std::max(64u, static_cast<unsigned>(4 * cpus));
  if (max_workers > 100'000) cli_fail("--max-workers is at most 100000");
  for (const auto& [queue, value] : targets) {
    bool known = false;
    for (const QueueLoad& load : loads) known |= load.queue == queue;
    if (!known) cli_fail("--target names queue '" + queue + "', which the scrape does not list");
    (void)value;
  }
  const FleetPlan plan = plan_fleet(
      loads, cpus, budget, max_workers,
      [&](const std::string& queue) { return shares.count(queue) ? shares.at(queue) : 1.0; },
      [&](const std::string& queue) {
        const double bound = targets.count(queue) ? targets.at(queue) : default_target;
        if (bound <= 0) cli_fail("queue '" + queue + "' has no target: give --p99-target-us or --target " + queue + "=US");
        return Target{.seconds = bound, .quantile = quantile, .on_wait = metric == "wait"};
      });

  char q_name[16];
  std::snprintf(q_name, sizeof q_name, "p%g %s", quantile * 100, metric.c_str());
  std::printf("jobq_tune advise: %zu queue(s), %s over %s; budget %s of %s; M/M/c (Erlang C) per queue\n",
              loads.size(), earlier ? "measured between two scrapes" : "means since start",
              format_ns(loads.front().window_s * 1e9).c_str(), format_cores(budget).c_str(), format_cores(cpus).c_str());
  constexpr unsigned rows_past = 3;
  for (const QueuePlan& q : plan.queues) {
    const QueueLoad& l = q.load;
    std::printf("\nqueue %s: %s runs/s x %s = %.3g Erlangs; %u worker(s) now, %s, %s per worker; target %s <= %s\n",
                l.queue.c_str(), format_rate(l.runs_per_second).c_str(), format_ns(l.service_mean_s * 1e9).c_str(),
                l.runs_per_second * l.service_mean_s, l.workers, l.busy_spin ? "busy_spin" : "spin_then_park",
                format_cores(q.cpu_per_worker).c_str(), q_name, format_ns(q.target.seconds * 1e9).c_str());
    if (l.runs_per_second <= 0) {
      std::printf("  no run in the window: 1 worker is enough\n");
      continue;
    }
    std::printf("  %7s %7s %8s %10s %10s %10s %6s\n", "workers", "util", "P(wait)", "mean wait", "p wait", "p resp", "cpu");
    for (unsigned c = q.keeps_up; c <= q.recommended + rows_past; ++c) {
      const MmcEstimate e = estimate_for(q, c);
      std::printf("  %7u %7.3f %8.4f %10s %10s %10s %6.3g%s\n", c, e.utilization, e.p_wait,
                  format_ns(e.mean_wait_s * 1e9).c_str(), format_ns(e.wait_quantile_s * 1e9).c_str(),
                  format_ns(e.response_quantile_s * 1e9).c_str(), q.cpu_per_worker * c,
                  c == q.recommended ? "  <- recommended" : (q.meets && c == *q.meets ? "  (meets the target)" : ""));
    }
  }
  std::printf("\n%-16s %10s %10s %8s %6s %12s %12s %12s %7s\n", "queue", "runs/s", "service", "load", "now",
              "recommended", q_name, "target", "cpu");
  for (const QueuePlan& q : plan.queues) {
    std::printf("%-16s %10s %10s %8.3g %6u %12u %12s %12s %7.3g%s\n", q.load.queue.c_str(),
                format_rate(q.load.runs_per_second).c_str(), format_ns(q.load.service_mean_s * 1e9).c_str(),
                q.load.runs_per_second * q.load.service_mean_s, q.load.workers, q.recommended,
                q.load.runs_per_second > 0 ? format_ns(q.quantile_s(q.estimate) * 1e9).c_str() : "-",
                format_ns(q.target.seconds * 1e9).c_str(), q.cpu(), q.meets_target ? "" : "  (misses the target)");
  }
  std::printf("CPU: %s of the %s budget%s\n", format_cores(plan.cpu_used()).c_str(), format_cores(budget).c_str(),
              plan.trimmed ? " (trimmed to fit: the targets above need more)" : "");
  for (const std::string& warning : plan.warnings) std::printf("WARNING: %s\n", warning.c_str());
  std::printf("(a model: exponential service, Poisson arrivals; a fixed service time waits less, a heavy tail more)\n");

  const std::filesystem::path out = args.get("out").value_or("build/perf");
  if (std::string problem = make_output_dir(out); !problem.empty()) cli_fail(problem);
  write_text(out / "advise.csv", plan_csv(plan, rows_past));
  std::printf("wrote %s\n%s\n", (out / "advise.csv").c_str(), plan_plot(plan, out, rows_past, q_name).c_str());
  bool all_met = true;
  for (const QueuePlan& q : plan.queues) all_met &= q.meets_target;
  return all_met ? 0 : 1;
}

}  // namespace jobq_perf
