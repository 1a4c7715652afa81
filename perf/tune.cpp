// jobq_tune: how many workers, which idle strategy, pinned or not, for one queue's workload.
//
//   jobq_tune [sweep options]   runs the open-loop generator (open_loop.hpp) at the given arrival
//                               rate for every worker count 1..N × {busy_spin, spin_then_park} ×
//                               {pinned, not pinned} on this machine, prints a table (throughput,
//                               p50, p99, CPU used) and recommends the smallest worker count that
//                               meets the p99 target; CSV and a plot go to --out.
//   jobq_tune advise ...        no measurement: an M/M/c (Erlang C, erlang_c.hpp) estimate from
//                               figures given (arrival rate, mean service time) for c = 1..N, or,
//                               with --from-metrics, for every queue of a running process from
//                               its Prometheus scrape, within a CPU budget (advise_fleet.hpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "advise_fleet.hpp"
#include "affinity.hpp"
#include "cli.hpp"
#include "clock.hpp"
#include "engines.hpp"
#include "erlang_c.hpp"
#include "open_loop.hpp"
#include "report.hpp"
#include "units.hpp"

namespace {

using namespace jobq_perf;

constexpr const char* usage = R"(usage: jobq_tune [options]                 measure a sweep on this machine
       jobq_tune advise [options]          estimate from an M/M/c (Erlang C) model

Sweep: for workers 1..N, idle busy_spin and spin_then_park, pinned and not, run the open-loop
generator at the arrival rate and report throughput, p50, p99 and CPU used; recommend the
smallest worker count that keeps up and meets the p99 target (the cheapest such configuration).

  --service SPEC        handler service time: fixed:10us, exp:10us, uniform:5us..15us
                        (default fixed:10us)
  --service-ns NS       shorthand for --service fixed:NSns
  --handler cpu|io      cpu (default): the handler busy-spins for its service time, as CPU-bound
                        work does; io: it sleeps for it, as a handler waiting on a network does
                        (its worker is busy, its CPU free: sweep past the CPU count, in ms)
  --payload-bytes B     JSON payload size (default 64)
  --rate R|saturation   arrival rate in jobs/s (20000, 20k, 1.2M; default 20k), or "saturation":
                        each configuration runs closed loop as fast as it can, with --window
                        jobs in flight, and its latency is measured from the actual dispatch
  --p99-target-us T     latency target (default 500)
  --target-metric M     end (intended dispatch → handler end, default) or start (→ handler start)
  --max-workers N       largest worker count tried (default: the CPUs this process may use, %u)
  --idle LIST           spin,park (default both)
  --pin LIST            on,off (default both); on: the producer on the first allowed CPU, the
                        workers on the others
  --duration-s S        seconds per configuration (default 2)
  --window N            jobs in flight with --rate saturation (default 1024)
  --out DIR             where tune.csv and tune.svg go (default build/perf)

Advise: jobq_tune advise --arrival-rate R --service-mean-us S --p99-target-us T
        [--max-workers N] [--quantile Q] [--target-metric wait|response]
  For c = 1..N (default %u): utilization, P(wait) (Erlang C), mean wait, p99 wait and p99
  response (wait + service) of an M/M/c queue; recommends the smallest c with utilization < 1
  whose p99 response (default; or wait) meets the target.

Advise from a running process: jobq_tune advise --from-metrics URL|FILE|EARLIER,LATER
        --p99-target-us T [--target QUEUE=US,...] [--cpus N] [--budget B]
        [--cpu-share QUEUE=F,...] [--window-s S] [--max-workers N] [--quantile Q]
        [--target-metric wait|response] [--out DIR]
  Reads jobq's Prometheus metrics (a URL such as http://127.0.0.1:9090/metrics, read twice
  --window-s apart, default 10; a saved file, for the means since start; or two files saved a
  while apart) and, per queue, the runs per second and mean run time; recommends workers for
  every queue at once within --budget CPUs (default --cpus, default this machine's). A
  busy_spin worker costs a CPU; a parking one its handler's CPU share (default 1; 0.05, say,
  for a handler that mostly waits on a network). Writes advise.csv and advise.svg to --out.
)";

void print_usage() { std::printf(usage, std::thread::hardware_concurrency(), std::max(16u, std::thread::hardware_concurrency())); }

// ---------------------------------------------------------------------------------------------
// advise

int advise(int argc, char** argv) {
  const Args args(argc, argv, 2,
                  {"arrival-rate", "service-mean-us", "p99-target-us", "max-workers", "quantile", "target-metric",
                   "from-metrics", "target", "cpus", "budget", "cpu-share", "window-s", "out"},
                  {"help"});
  if (!args.error().empty()) cli_fail(args.error());
  if (args.has("help")) {
    print_usage();
    return 0;
  }
  if (args.has("from-metrics")) return advise_from_metrics(args);
  if (!args.has("arrival-rate") || !args.has("service-mean-us") || !args.has("p99-target-us")) {
    cli_fail("advise needs --arrival-rate, --service-mean-us and --p99-target-us");
  }
  const std::optional<double> rate = parse_rate(*args.get("arrival-rate"));
  if (!rate) cli_fail("bad --arrival-rate '" + *args.get("arrival-rate") + "'");
  const double service_s = positive_option("service-mean-us", *args.get("service-mean-us")) / 1e6;
  const double target_s = positive_option("p99-target-us", *args.get("p99-target-us")) / 1e6;
  const unsigned max_workers = args.has("max-workers") ? count_option<unsigned>("max-workers", *args.get("max-workers"), 1)
                                                       : std::max(16u, std::thread::hardware_concurrency());
  const double quantile = args.has("quantile") ? positive_option("quantile", *args.get("quantile")) : 0.99;
  if (quantile >= 1) cli_fail("--quantile must be below 1 (0.99 for p99)");
  const std::string metric = args.get("target-metric").value_or("response");
  if (metric != "response" && metric != "wait") cli_fail("--target-metric takes response or wait");
  const bool on_wait = metric == "wait";
  char q_name[16];
  std::snprintf(q_name, sizeof q_name, "p%g", quantile * 100);

  const double load = *rate * service_s;
  std::printf("M/M/c estimate: arrival %s/s, mean service %s, offered load %.3f Erlangs; target %s %s <= %s\n",
              format_rate(*rate).c_str(), format_ns(service_s * 1e9).c_str(), load, q_name,
              on_wait ? "wait" : "response", format_ns(target_s * 1e9).c_str());
  std::printf("%8s %8s %9s %11s %11s %11s %11s  %s\n", "workers", "util", "P(wait)", "mean wait",
              (std::string(q_name) + " wait").c_str(), "mean resp", (std::string(q_name) + " resp").c_str(), "meets");
  std::optional<unsigned> chosen;
  for (unsigned c = 1; c <= max_workers; ++c) {
    const MmcEstimate e = mmc_estimate(*rate, service_s, c, quantile);
    if (!e.stable) {
      std::printf("%8u %8.3f %9s %11s %11s %11s %11s  no (unstable: utilization >= 1)\n", c, e.utilization, "1", "inf",
                  "inf", "inf", "inf");
      continue;
    }
    const bool meets = (on_wait ? e.wait_quantile_s : e.response_quantile_s) <= target_s;
    if (meets && !chosen) chosen = c;
    std::printf("%8u %8.3f %9.4f %11s %11s %11s %11s  %s\n", c, e.utilization, e.p_wait,
                format_ns(e.mean_wait_s * 1e9).c_str(), format_ns(e.wait_quantile_s * 1e9).c_str(),
                format_ns(e.mean_response_s * 1e9).c_str(), format_ns(e.response_quantile_s * 1e9).c_str(),
                meets ? (chosen == c ? "yes  <- recommended" : "yes") : "no");
  }
  if (chosen) {
    const MmcEstimate e = mmc_estimate(*rate, service_s, *chosen, quantile);
    std::printf("recommendation: %u worker(s): utilization %.1f %%, P(wait) %.3f, %s %s %s <= %s\n", *chosen,
                e.utilization * 100, e.p_wait, q_name, on_wait ? "wait" : "response",
                format_ns((on_wait ? e.wait_quantile_s : e.response_quantile_s) * 1e9).c_str(),
                format_ns(target_s * 1e9).c_str());
    return 0;
  }
  // Nothing up to N: say how many would do, or that none can (the service time alone misses it).
  for (unsigned c = max_workers + 1; c <= 100'000; ++c) {
    const MmcEstimate e = mmc_estimate(*rate, service_s, c, quantile);
    if (e.stable && (on_wait ? e.wait_quantile_s : e.response_quantile_s) <= target_s) {
      std::printf("recommendation: none of 1..%u workers meets the target; %u would (utilization %.1f %%)\n",
                  max_workers, c, e.utilization * 100);
      return 1;
    }
    if (e.stable && e.p_wait < 1e-12) break;  // more workers cannot help any more
  }
  std::printf("recommendation: no worker count meets the target: with no wait at all the %s response of an "
              "exponential service of mean %s is %s\n",
              q_name, format_ns(service_s * 1e9).c_str(), format_ns(-std::log(1 - quantile) * service_s * 1e9).c_str());
  return 1;
}

// ---------------------------------------------------------------------------------------------
// sweep

struct Row {
  unsigned workers = 0;
  Engine engine = Engine::jobq_spin;
  bool pin = false;
  PointResult result;
  bool kept_up = false;
  bool meets = false;
};

std::string config_name(const Row& row) {
  return std::to_string(row.workers) + " " + (row.engine == Engine::jobq_spin ? "busy_spin" : "spin_then_park") +
         (row.pin ? " pinned" : " unpinned");
}

int sweep(int argc, char** argv) {
  const Args args(argc, argv, 1,
                  {"service", "service-ns", "handler", "payload-bytes", "rate", "p99-target-us", "target-metric", "max-workers",
                   "idle", "pin", "duration-s", "window", "out"},
                  {"help"});
  if (!args.error().empty()) cli_fail(args.error());
  if (args.has("help")) {
    print_usage();
    return 0;
  }
  Setup setup;
  if (auto v = args.get("service")) {
    auto service = ServiceTime::parse(*v);
    if (!service) cli_fail("bad --service '" + *v + "'");
    setup.service = *service;
  }
  if (auto v = args.get("service-ns")) setup.service = ServiceTime::fixed(count_option<double>("service-ns", *v, 0));
  if (auto v = args.get("handler")) {
    if (*v == "io") {
      setup.service = setup.service.waiting();
    } else if (*v != "cpu") {
      cli_fail("--handler takes cpu or io");
    }
  }
  if (auto v = args.get("payload-bytes")) setup.payload_bytes = count_option<std::size_t>("payload-bytes", *v, 0);
  const std::string rate_text = args.get("rate").value_or("20k");
  const bool saturation = rate_text == "saturation";
  double rate = 0;
  if (!saturation) {
    const std::optional<double> parsed = parse_rate(rate_text);
    if (!parsed) cli_fail("bad --rate '" + rate_text + "'");
    rate = *parsed;
  }
  const double target_ns = (args.has("p99-target-us") ? positive_option("p99-target-us", *args.get("p99-target-us")) : 500) * 1e3;
  const std::string metric = args.get("target-metric").value_or("end");
  if (metric != "end" && metric != "start") cli_fail("--target-metric takes end or start");
  const unsigned max_workers = args.has("max-workers") ? count_option<unsigned>("max-workers", *args.get("max-workers"), 1)
                                                       : std::max(1u, static_cast<unsigned>(allowed_cpus().size()));
  std::vector<Engine> idles;
  for (const std::string& item : split_list(args.get("idle").value_or("spin,park"))) {
    if (item == "spin") idles.push_back(Engine::jobq_spin);
    else if (item == "park") idles.push_back(Engine::jobq_park);
    else cli_fail("--idle takes spin and/or park");
  }
  std::vector<bool> pins;
  for (const std::string& item : split_list(args.get("pin").value_or("on,off"))) {
    if (item == "on") pins.push_back(true);
    else if (item == "off") pins.push_back(false);
    else cli_fail("--pin takes on and/or off");
  }
  if (idles.empty() || pins.empty()) cli_fail("--idle and --pin need at least one item");
  RunSpec spec;
  spec.rate = rate;
  spec.seconds = args.has("duration-s") ? positive_option("duration-s", *args.get("duration-s")) : 2;
  spec.window = args.has("window") ? count_option<std::uint64_t>("window", *args.get("window"), 1) : 1024;
  const std::filesystem::path out = args.get("out").value_or("build/perf");
  if (std::string error = make_output_dir(out); !error.empty()) cli_fail(error);

  const std::int64_t since = now_ns();
  std::printf("jobq_tune: service %s, payload %zu bytes, %s, target p99 %s <= %s, workers 1..%u, %.1f s each, %zu CPUs allowed\n",
              setup.service.describe().c_str(), setup.payload_bytes,
              saturation ? "closed loop (saturation)" : ("arrival " + format_rate(rate) + "/s").c_str(),
              metric == "end" ? "(to handler end)" : "(to handler start)", format_ns(target_ns).c_str(), max_workers,
              spec.seconds, allowed_cpus().size());
  if (!saturation) {
    const double load = rate * setup.service.mean_ns() / 1e9;
    std::printf("offered load %.2f workers' worth of service time (M/M/c would need at least %u)\n", load,
                static_cast<unsigned>(std::floor(load)) + 1);
  }

  std::vector<Row> rows;
  for (unsigned workers = 1; workers <= max_workers; ++workers) {
    for (Engine engine : idles) {
      for (bool pin : pins) {
        Row row{.workers = workers, .engine = engine, .pin = pin, .result = {}};
        setup.workers = workers;
        setup.pin = pin;
        row.result = run_point(engine, setup, spec);
        const PointResult& r = row.result;
        row.kept_up = r.problem.empty() && (saturation || r.throughput >= 0.97 * rate);
        row.meets = row.kept_up && static_cast<double>(r.metric(metric).percentile(99)) <= target_ns;
        std::printf("[%6.1fs] %-28s done %-7s p50 %-8s p99 %-8s cpu %.2f%s%s\n",
                    static_cast<double>(now_ns() - since) / 1e9, config_name(row).c_str(),
                    format_rate(r.throughput).c_str(), format_ns(static_cast<double>(r.metric(metric).percentile(50))).c_str(),
                    format_ns(static_cast<double>(r.metric(metric).percentile(99))).c_str(), r.engine_cpu_cores,
                    row.kept_up ? "" : "  (did not keep up)", r.problem.empty() ? "" : ("  PROBLEM: " + r.problem).c_str());
        if (r.other_cpu_cores > 0.1) {
          std::printf("          WARNING: other processes used %.2f cores meanwhile: this row includes their interference\n",
                      r.other_cpu_cores);
        }
        std::fflush(stdout);
        rows.push_back(std::move(row));
      }
    }
  }

  // The table.
  std::printf("\n%7s %-15s %-8s %10s %10s %9s %9s %9s %9s %9s  %s\n", "workers", "idle", "pinning", "offered/s",
              "done/s", "p50", "p99", "max", "cpu", "cpu+prod", "meets");
  for (const Row& row : rows) {
    const PointResult& r = row.result;
    const LatencyHistogram& h = r.metric(metric);
    std::printf("%7u %-15s %-8s %10s %10s %9s %9s %9s %9.2f %9.2f  %s\n", row.workers,
                row.engine == Engine::jobq_spin ? "busy_spin" : "spin_then_park", row.pin ? "pinned" : "unpinned",
                saturation ? "closed" : format_rate(rate).c_str(), format_rate(r.throughput).c_str(),
                format_ns(static_cast<double>(h.percentile(50))).c_str(), format_ns(static_cast<double>(h.percentile(99))).c_str(),
                format_ns(static_cast<double>(h.max())).c_str(), r.engine_cpu_cores, r.cpu_cores,
                row.meets ? "yes" : (row.kept_up ? "no" : "no (behind)"));
  }
  std::printf("cpu: cores busy in the workers and the engine (process CPU time less the producer thread's, over wall "
              "time); cpu+prod adds the producer, which spins by design\n");

  // The recommendation: the smallest worker count with a configuration that meets the target;
  // at that count, the configuration that used the least CPU (within 0.05 core: the lower p99).
  auto better = [&](const Row& a, const Row& b) {
    if (a.workers != b.workers) return a.workers < b.workers;
    const double cpu_a = a.result.engine_cpu_cores;
    const double cpu_b = b.result.engine_cpu_cores;
    if (std::abs(cpu_a - cpu_b) > 0.05) return cpu_a < cpu_b;
    return a.result.metric(metric).percentile(99) < b.result.metric(metric).percentile(99);
  };
  const Row* chosen = nullptr;
  for (const Row& row : rows) {
    if (row.meets && (chosen == nullptr || better(row, *chosen))) chosen = &row;
  }
  const Row* best = nullptr;
  for (const Row& row : rows) {
    if (best == nullptr || row.result.metric(metric).percentile(99) < best->result.metric(metric).percentile(99)) best = &row;
  }
  if (chosen != nullptr) {
    std::printf("recommendation: %u worker(s), %s, %s: p99 %s <= %s at %s/s, %.2f cores\n", chosen->workers,
                chosen->engine == Engine::jobq_spin ? "busy_spin" : "spin_then_park",
                chosen->pin ? "pinned" : "unpinned", format_ns(static_cast<double>(chosen->result.metric(metric).percentile(99))).c_str(),
                format_ns(target_ns).c_str(), format_rate(chosen->result.throughput).c_str(), chosen->result.engine_cpu_cores);
  } else {
    std::printf("recommendation: no configuration up to %u workers meets p99 <= %s%s; the lowest p99 was %s (%s)\n",
                max_workers, format_ns(target_ns).c_str(), saturation ? "" : (" at " + format_rate(rate) + "/s").c_str(),
                format_ns(static_cast<double>(best->result.metric(metric).percentile(99))).c_str(), config_name(*best).c_str());
  }

  std::size_t noisy = 0;
  for (const Row& row : rows) noisy += row.result.other_cpu_cores > 0.1 ? 1 : 0;
  if (noisy != 0) {
    std::printf("WARNING: %zu of %zu rows ran while other processes used more than 0.1 core; rerun on a quiet machine "
                "before trusting the recommendation\n", noisy, rows.size());
  }
  if (saturation) {
    // Closed loop, latency mostly measures the in-flight window; what sizes the queue is throughput.
    const Row* fastest = &rows.front();
    for (const Row& row : rows) {
      if (row.result.throughput > fastest->result.throughput) fastest = &row;
    }
    const Row* enough = nullptr;
    for (const Row& row : rows) {
      if (row.result.throughput >= 0.95 * fastest->result.throughput && (enough == nullptr || better(row, *enough))) {
        enough = &row;
      }
    }
    std::printf("saturation: the highest throughput was %s/s (%s); the fewest workers within 5 %% of it: %s (%s/s, "
                "%.2f cores)\n",
                format_rate(fastest->result.throughput).c_str(), config_name(*fastest).c_str(), config_name(*enough).c_str(),
                format_rate(enough->result.throughput).c_str(), enough->result.engine_cpu_cores);
    std::printf("(closed loop: latencies include the wait behind up to %llu jobs in flight; --window sets it)\n",
                static_cast<unsigned long long>(spec.window));
  }

  // CSV, plot data (one gnuplot index per idle × pinning series), script.
  std::string csv = "workers,idle,pinned,offered_rate,throughput,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,cpu_cores,"
                    "engine_cpu_cores,other_cpu_cores,max_producer_lag_ns,kept_up,meets_target,target_ns,metric,problem\n";
  for (const Row& row : rows) {
    const PointResult& r = row.result;
    const LatencyHistogram& h = r.metric(metric);
    csv += std::to_string(row.workers) + "," + (row.engine == Engine::jobq_spin ? "busy_spin" : "spin_then_park") + "," +
           (row.pin ? "1" : "0") + "," + number(saturation ? 0 : rate) + "," + number(r.throughput) + "," +
           number(static_cast<double>(h.percentile(50))) + "," + number(static_cast<double>(h.percentile(90))) + "," +
           number(static_cast<double>(h.percentile(99))) + "," + number(static_cast<double>(h.percentile(99.9))) + "," +
           number(static_cast<double>(h.max())) + "," + number(r.cpu_cores) + "," + number(r.engine_cpu_cores) + "," +
           number(r.other_cpu_cores) + "," + number(static_cast<double>(r.max_producer_lag_ns)) + "," +
           (row.kept_up ? "1" : "0") + "," + (row.meets ? "1" : "0") + "," + number(target_ns) + "," + metric + "," +
           json_string(r.problem) + "\n";
  }
  write_text(out / "tune.csv", csv);
  std::string data = "# workers p99_us cpu_cores throughput, one index per series\n";
  std::string p99_plot = "plot ";
  std::string cpu_plot = "plot ";
  int series = 0;
  for (Engine engine : idles) {
    for (bool pin : pins) {
      const std::string title = std::string(engine == Engine::jobq_spin ? "busy_spin" : "spin_then_park") +
                                (pin ? " pinned" : " unpinned");
      data += "# " + title + "\n";
      for (const Row& row : rows) {
        if (row.engine != engine || row.pin != pin) continue;
        data += std::to_string(row.workers) + " " +
                number(static_cast<double>(row.result.metric(metric).percentile(99)) / 1e3) + " " +
                number(row.result.engine_cpu_cores) + " " + number(row.result.throughput) + "\n";
      }
      data += "\n\n";
      const std::string sep = series == 0 ? "" : ", ";
      p99_plot += sep + "'tune.dat' index " + std::to_string(series) + " using 1:2 with linespoints title '" + title + "'";
      cpu_plot += sep + "'tune.dat' index " + std::to_string(series) + " using 1:3 with linespoints title '" + title + "'";
      ++series;
    }
  }
  p99_plot += ", " + number(target_ns / 1e3) + " with lines dashtype 2 lc rgb 'red' title 'target'";
  write_text(out / "tune.dat", data);
  const std::string script =
      "set terminal svg size 1100,450 dynamic noenhanced font 'sans,10' background rgb 'white'\n"
      "set output 'tune.svg'\n"
      "set multiplot layout 1,2 title 'jobq tune: service " + setup.service.describe() + ", " +
      (saturation ? std::string("saturation") : format_rate(rate) + "/s") + "'\n"
      "set grid\nset key top right\nset xlabel 'workers'\nset xtics 1\n"
      "set xrange [0.5:" + std::to_string(max_workers) + ".5]\n"
      "set logscale y\nset key top left\nset ylabel 'p99 latency (us)'\nset title 'p99, intended dispatch to handler " + metric + "'\n" +
      p99_plot + "\nunset logscale y\nset key bottom right\nset ylabel 'cores'\nset yrange [0:*]\nset title 'CPU used by the workers'\n" +
      cpu_plot + "\nunset multiplot\n";
  write_text(out / "tune.gp", script);
  std::printf("wrote %s, tune.dat, tune.gp\n%s\n", (out / "tune.csv").c_str(),
              run_gnuplot(out / "tune.gp", out / "tune.svg").c_str());
  bool problems = false;
  for (const Row& row : rows) problems |= !row.result.problem.empty() && row.result.problem.find("drain timed out") == std::string::npos;
  return problems ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  cli_tool = "jobq_tune";
  if (argc > 1 && std::string_view(argv[1]) == "advise") {
    cli_tool = "jobq_tune advise";
    return advise(argc, argv);
  }
  return sweep(argc, argv);
}
