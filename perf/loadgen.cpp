// jobq_loadgen: an open-loop, fixed-rate load generator, run in-process against jobq (busy_spin
// and spin_then_park) and against a mutex + condition-variable thread pool.
//
// It first measures the saturation throughput of the workload on each implementation with a short
// closed-loop burst, then offers each implementation the same fixed rates, by default 10/50/80/95 %
// of the lowest saturation of the three (so that every implementation can keep up at every level,
// and all are compared at the same absolute rates). Latencies are measured from each job's
// intended dispatch time (see pacer.hpp) to its handler's start and end. Results: a table on
// stdout, CSV + JSON, and a latency-by-percentile plot (gnuplot, SVG) in --out.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "affinity.hpp"
#include "cli.hpp"
#include "clock.hpp"
#include "engines.hpp"
#include "open_loop.hpp"
#include "report.hpp"
#include "units.hpp"

namespace {

using namespace jobq_perf;

constexpr const char* usage = R"(usage: jobq_loadgen [options]

Open-loop latency of jobq (busy_spin, spin_then_park) against a condvar thread pool, at fixed
rates: 10/50/80/95 % of the measured saturation throughput by default.

  --workers N           worker threads per implementation (default 1)
  --service SPEC        handler service time: fixed:10us, exp:10us or uniform:5us..15us
                        (default fixed:10us); the handler busy-spins for it
  --service-ns NS       shorthand for --service fixed:NSns
  --payload-bytes B     JSON payload size (default 64; over 256 jobq spills it to the heap)
  --duration-s S        seconds per measured point (default 3)
  --saturation-s S      seconds of each closed-loop saturation burst (default 1)
  --saturation RATE     skip the bursts and take RATE jobs/s as saturation (e.g. 90k)
  --rates LIST          load levels, each a percentage of saturation or an absolute rate
                        (default 10%,50%,80%,95%; e.g. 20%,40k,1.2M)
  --engines LIST        any of jobq-spin,jobq-park,pool (default all three)
  --pin on|off          pin the producer to the first allowed CPU and the workers to the others
                        (default on when there are at least 2 CPUs)
  --capacity N          jobq queue capacity (default 262144)
  --batch N             jobq dequeue_batch (default 8)
  --spin-iterations N   jobq spin_then_park polls before parking (default 4096)
  --warmup-jobs N       unrecorded jobs before each point (default 2000)
  --out DIR             where the CSV, JSON and plot go (default build/perf)
  --help                this text

Latency "start" is intended dispatch → handler start (queueing + handoff), "end" is intended
dispatch → handler end (adds the bind and the service time). "lag max" on a progress line is the
longest the producer (which never blocks) was late releasing a job: how long the machine took its
CPU away, a floor under every implementation's tail. A WARNING marks points during which other
processes used more than 0.1 core.
)";

struct Level {
  std::string label;  // "50%" or "40000/s"
  double rate = 0;
};

struct Options {
  Setup setup;
  double duration_s = 3;
  double saturation_s = 1;
  std::optional<double> saturation;
  std::vector<std::string> rates = {"10%", "50%", "80%", "95%"};
  std::vector<Engine> engines = {Engine::jobq_spin, Engine::jobq_park, Engine::pool};
  std::uint64_t warmup_jobs = 2000;
  std::filesystem::path out = "build/perf";
};

Options parse_options(int argc, char** argv) {
  const Args args(argc, argv, 1,
                  {"workers", "service", "service-ns", "payload-bytes", "duration-s", "saturation-s", "saturation",
                   "rates", "engines", "pin", "capacity", "batch", "spin-iterations", "warmup-jobs", "out"},
                  {"help"});
  if (!args.error().empty()) cli_fail(args.error());
  if (args.has("help")) {
    std::fputs(usage, stdout);
    std::exit(0);
  }
  Options o;
  if (auto v = args.get("workers")) o.setup.workers = count_option<unsigned>("workers", *v, 1);
  if (auto v = args.get("service")) {
    auto service = ServiceTime::parse(*v);
    if (!service) cli_fail("bad --service '" + *v + "'");
    o.setup.service = *service;
  }
  if (auto v = args.get("service-ns")) o.setup.service = ServiceTime::fixed(count_option<double>("service-ns", *v, 0));
  if (auto v = args.get("payload-bytes")) o.setup.payload_bytes = count_option<std::size_t>("payload-bytes", *v, 0);
  if (auto v = args.get("duration-s")) o.duration_s = positive_option("duration-s", *v);
  if (auto v = args.get("saturation-s")) o.saturation_s = positive_option("saturation-s", *v);
  if (auto v = args.get("saturation")) {
    o.saturation = parse_rate(*v);
    if (!o.saturation) cli_fail("bad --saturation '" + *v + "'");
  }
  if (auto v = args.get("rates")) o.rates = split_list(*v);
  if (auto v = args.get("engines")) {
    o.engines.clear();
    for (const std::string& name : split_list(*v)) {
      auto engine = parse_engine(name);
      if (!engine) cli_fail("unknown engine '" + name + "' (jobq-spin, jobq-park, pool)");
      o.engines.push_back(*engine);
    }
  }
  o.setup.pin = allowed_cpus().size() >= 2;
  if (auto v = args.get("pin")) {
    if (*v != "on" && *v != "off") cli_fail("--pin takes on or off");
    o.setup.pin = *v == "on";
  }
  if (auto v = args.get("capacity")) o.setup.capacity = count_option<std::size_t>("capacity", *v, 1);
  if (auto v = args.get("batch")) o.setup.dequeue_batch = count_option<unsigned>("batch", *v, 1);
  if (auto v = args.get("spin-iterations")) o.setup.spin_iterations = count_option<unsigned>("spin-iterations", *v, 1);
  if (auto v = args.get("warmup-jobs")) o.warmup_jobs = count_option<std::uint64_t>("warmup-jobs", *v, 0);
  if (auto v = args.get("out")) o.out = *v;
  if (o.rates.empty() || o.engines.empty()) cli_fail("--rates and --engines need at least one item");
  return o;
}

std::vector<Level> resolve_levels(const std::vector<std::string>& items, double saturation) {
  std::vector<Level> levels;
  for (const std::string& item : items) {
    if (!item.empty() && item.back() == '%') {
      std::string_view number = std::string_view(item).substr(0, item.size() - 1);
      const std::optional<double> percent = take_number(number);
      if (!percent || !number.empty() || *percent <= 0) cli_fail("bad rate '" + item + "'");
      levels.push_back({item, saturation * *percent / 100});
    } else {
      const std::optional<double> rate = parse_rate(item);
      if (!rate) cli_fail("bad rate '" + item + "'");
      levels.push_back({format_rate(*rate) + "/s", *rate});
    }
  }
  return levels;
}

constexpr double table_percentiles[] = {50, 90, 99, 99.9, 99.99, 100};
constexpr const char* table_names[] = {"p50", "p90", "p99", "p99.9", "p99.99", "max"};

double elapsed_s(std::int64_t since) { return static_cast<double>(now_ns() - since) / 1e9; }

void print_progress(std::int64_t since, const std::string& label, const PointResult& r) {
  std::printf("[%6.1fs] %-8s %-9s ", elapsed_s(since), label.c_str(), std::string(engine_name(r.engine)).c_str());
  if (!r.closed_loop) std::printf("offered %-7s ", format_rate(r.offered_rate).c_str());
  std::printf("sent %-7s done %-7s jobs %-8llu end p50 %-7s p99 %-7s start p99 %-7s cpu %.2f (+%.2f producer)",
              format_rate(r.dispatch_rate).c_str(), format_rate(r.throughput).c_str(),
              static_cast<unsigned long long>(r.jobs), format_ns(static_cast<double>(r.to_end.percentile(50))).c_str(),
              format_ns(static_cast<double>(r.to_end.percentile(99))).c_str(),
              format_ns(static_cast<double>(r.to_start.percentile(99))).c_str(), r.engine_cpu_cores,
              r.producer_cpu_cores);
  // The producer never blocks, so its worst lag behind the schedule is the longest time this
  // machine took its CPU away: a floor under the tail that no implementation can beat.
  if (!r.closed_loop) std::printf(" lag max %s", format_ns(static_cast<double>(r.max_producer_lag_ns)).c_str());
  if (r.full_retries != 0) std::printf("  queue-full retries %llu", static_cast<unsigned long long>(r.full_retries));
  if (r.other_cpu_cores > 0.1) {
    std::printf("\n          WARNING: other processes used %.2f cores during this point (the producer ran %.0f %% of the "
                "time): the latencies include their interference", r.other_cpu_cores, r.producer_cpu_cores * 100);
  }
  if (!r.problem.empty()) std::printf("\n          PROBLEM: %s", r.problem.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

struct Measured {
  Level level;
  PointResult result;
};

std::string percentiles_json(const LatencyHistogram& h) {
  std::string out = "{";
  for (std::size_t i = 0; i < std::size(table_percentiles); ++i) {
    out += json_string(table_names[i]) + ":" + number(static_cast<double>(h.percentile(table_percentiles[i]))) + ",";
  }
  return out + "\"mean\":" + number(h.mean()) + ",\"count\":" + number(static_cast<double>(h.count())) + "}";
}

std::string setup_json(const Options& o) {
  return "{\"workers\":" + number(o.setup.workers) + ",\"service\":" + json_string(o.setup.service.describe()) +
         ",\"service_mean_ns\":" + number(o.setup.service.mean_ns()) +
         ",\"payload_bytes\":" + number(static_cast<double>(o.setup.payload_bytes)) +
         ",\"pinned\":" + (o.setup.pin ? "true" : "false") + ",\"capacity\":" + number(static_cast<double>(o.setup.capacity)) +
         ",\"dequeue_batch\":" + number(o.setup.dequeue_batch) + ",\"spin_iterations\":" + number(o.setup.spin_iterations) +
         ",\"duration_s\":" + number(o.duration_s) + ",\"cpus\":" + number(static_cast<double>(allowed_cpus().size())) + "}";
}

/// Sample points for the plot: percentiles 1 − 10^(−k/10), k = 0, 1, ... while the histogram
/// holds enough values to tell them apart; x = 1 / (1 − p), so log x reads as "nines".
std::vector<double> plot_percentiles(std::uint64_t count) {
  std::vector<double> points;
  for (int k = 0; k <= 60; ++k) {
    const double tail = std::pow(10.0, -k / 10.0);
    if (1.0 / tail > static_cast<double>(count)) break;
    points.push_back(100.0 * (1.0 - tail));
  }
  points.push_back(100.0);  // the max, plotted at x = count
  return points;
}

}  // namespace

int main(int argc, char** argv) {
  cli_tool = "jobq_loadgen";
  const Options o = parse_options(argc, argv);
  const std::int64_t since = now_ns();
  if (std::string error = make_output_dir(o.out); !error.empty()) cli_fail(error);

  const CpuPlan plan = plan_cpus(o.setup.pin);
  std::printf("jobq_loadgen: %u worker(s), service %s, payload %zu bytes, %.1f s per point, %zu CPUs allowed, %s\n",
              o.setup.workers, o.setup.service.describe().c_str(), o.setup.payload_bytes, o.duration_s,
              allowed_cpus().size(),
              plan.producer < 0 ? "not pinned"
                                : ("producer on CPU " + std::to_string(plan.producer) + ", workers on CPUs " +
                                   [&] {
                                     std::string cpus;
                                     for (unsigned cpu : plan.workers) cpus += (cpus.empty() ? "" : ",") + std::to_string(cpu);
                                     return cpus;
                                   }())
                                      .c_str());
  if (plan.producer >= 0 && o.setup.workers > plan.workers.size()) {
    std::printf("note: %u workers share %zu CPUs; busy_spin workers will time-slice\n", o.setup.workers, plan.workers.size());
  }

  bool problems = false;
  RunSpec spec;
  spec.warmup_jobs = o.warmup_jobs;

  // 1. Saturation: a closed-loop burst per implementation.
  std::vector<std::pair<Engine, double>> saturation;
  double base = 0;
  if (o.saturation) {
    base = *o.saturation;
    std::printf("saturation given: %s jobs/s\n", format_rate(base).c_str());
  } else {
    spec.rate = 0;
    spec.seconds = o.saturation_s;
    spec.window = std::min<std::uint64_t>(o.setup.capacity, 4096);
    for (Engine engine : o.engines) {
      PointResult r = run_point(engine, o.setup, spec);
      print_progress(since, "saturate", r);
      problems |= !r.problem.empty();
      saturation.emplace_back(engine, r.throughput);
      base = base == 0 ? r.throughput : std::min(base, r.throughput);
    }
    std::printf("saturation (closed loop, %llu in flight):", static_cast<unsigned long long>(spec.window));
    for (auto [engine, rate] : saturation) std::printf(" %s %s/s", std::string(engine_name(engine)).c_str(), format_rate(rate).c_str());
    std::printf("; load levels are percentages of the lowest, %s/s\n", format_rate(base).c_str());
  }

  // 2. The open-loop points, the implementations interleaved at each level.
  const std::vector<Level> levels = resolve_levels(o.rates, base);
  std::vector<Measured> measured;
  spec.seconds = o.duration_s;
  for (const Level& level : levels) {
    spec.rate = level.rate;
    for (Engine engine : o.engines) {
      PointResult r = run_point(engine, o.setup, spec);
      print_progress(since, level.label, r);
      problems |= !r.problem.empty();
      measured.push_back({level, std::move(r)});
    }
  }

  // 3. The table.
  std::printf("\nlatency from intended dispatch (start: to handler start; end: to handler end)\n");
  std::printf("%-8s %-9s %-10s %-6s", "load", "rate/s", "engine", "metric");
  for (const char* name : table_names) std::printf(" %9s", name);
  std::printf("\n");
  for (const Measured& m : measured) {
    for (const char* which : {"start", "end"}) {
      std::printf("%-8s %-9s %-10s %-6s", m.level.label.c_str(), format_rate(m.level.rate).c_str(),
                  std::string(engine_name(m.result.engine)).c_str(), which);
      for (double p : table_percentiles) {
        std::printf(" %9s", format_ns(static_cast<double>(m.result.metric(which).percentile(p))).c_str());
      }
      std::printf("\n");
    }
  }

  // 4. p99 ratios: the pool against each jobq strategy, at each level.
  std::string ratios_json = "[";
  auto find = [&](const Level& level, Engine engine) -> const PointResult* {
    for (const Measured& m : measured) {
      if (m.level.label == level.label && m.result.engine == engine) return &m.result;
    }
    return nullptr;
  };
  bool any_ratio = false;
  for (const Level& level : levels) {
    const PointResult* pool = find(level, Engine::pool);
    if (pool == nullptr) continue;
    for (Engine engine : {Engine::jobq_spin, Engine::jobq_park}) {
      const PointResult* jobq = find(level, engine);
      if (jobq == nullptr) continue;
      if (!any_ratio) std::printf("\np99 ratio pool / jobq (higher: jobq better)\n");
      any_ratio = true;
      const double end = static_cast<double>(pool->to_end.percentile(99)) / static_cast<double>(std::max<std::uint64_t>(1, jobq->to_end.percentile(99)));
      const double start = static_cast<double>(pool->to_start.percentile(99)) / static_cast<double>(std::max<std::uint64_t>(1, jobq->to_start.percentile(99)));
      std::printf("  %-8s pool / %-9s  end %6.2fx   start %6.2fx\n", level.label.c_str(), std::string(engine_name(engine)).c_str(), end, start);
      ratios_json += std::string(ratios_json.size() > 1 ? "," : "") + "{\"load\":" + json_string(level.label) +
                     ",\"jobq\":" + json_string(engine_name(engine)) + ",\"p99_end_ratio\":" + number(end) +
                     ",\"p99_start_ratio\":" + number(start) + "}";
    }
  }
  ratios_json += "]";

  // 5. Files: CSV, JSON, plot data and script.
  std::string csv =
      "load,offered_rate,engine,metric,jobs,dispatch_rate,throughput,p50_ns,p90_ns,p99_ns,p999_ns,p9999_ns,max_ns,mean_ns,"
      "cpu_cores,engine_cpu_cores,other_cpu_cores,full_retries,max_producer_lag_ns,problem\n";
  std::string json = "{\"setup\":" + setup_json(o) + ",\"saturation\":{";
  for (std::size_t i = 0; i < saturation.size(); ++i) {
    json += std::string(i ? "," : "") + json_string(engine_name(saturation[i].first)) + ":" + number(saturation[i].second);
  }
  json += "},\"base_rate\":" + number(base) + ",\"points\":[";
  for (std::size_t i = 0; i < measured.size(); ++i) {
    const Measured& m = measured[i];
    const PointResult& r = m.result;
    for (const char* which : {"start", "end"}) {
      const LatencyHistogram& h = r.metric(which);
      csv += m.level.label + "," + number(m.level.rate) + "," + std::string(engine_name(r.engine)) + "," + which + "," +
             number(static_cast<double>(r.jobs)) + "," + number(r.dispatch_rate) + "," + number(r.throughput);
      for (double p : table_percentiles) csv += "," + number(static_cast<double>(h.percentile(p)));
      csv += "," + number(h.mean()) + "," + number(r.cpu_cores) + "," + number(r.engine_cpu_cores) + "," +
             number(r.other_cpu_cores) + "," +
             number(static_cast<double>(r.full_retries)) + "," + number(static_cast<double>(r.max_producer_lag_ns)) + "," +
             json_string(r.problem) + "\n";
    }
    json += std::string(i ? "," : "") + "{\"load\":" + json_string(m.level.label) + ",\"rate\":" + number(m.level.rate) +
            ",\"engine\":" + json_string(engine_name(r.engine)) + ",\"jobs\":" + number(static_cast<double>(r.jobs)) +
            ",\"dispatch_rate\":" + number(r.dispatch_rate) + ",\"throughput\":" + number(r.throughput) +
            ",\"cpu_cores\":" + number(r.cpu_cores) + ",\"engine_cpu_cores\":" + number(r.engine_cpu_cores) + ",\"other_cpu_cores\":" + number(r.other_cpu_cores) +
            ",\"full_retries\":" + number(static_cast<double>(r.full_retries)) +
            ",\"max_producer_lag_ns\":" + number(static_cast<double>(r.max_producer_lag_ns)) +
            ",\"latency_ns\":{\"start\":" + percentiles_json(r.to_start) + ",\"end\":" + percentiles_json(r.to_end) +
            "},\"problem\":" + json_string(r.problem) + "}";
  }
  json += "],\"p99_ratios\":" + ratios_json + "}\n";
  write_text(o.out / "loadgen.csv", csv);
  write_text(o.out / "loadgen.json", json);

  // One data file per level: x = 1/(1−p), then each implementation's end latency in µs.
  // Each implementation has its own x column, since their counts (and so their last points) differ.
  const std::size_t columns = std::min<std::size_t>(2, levels.size());
  const std::size_t rows = (levels.size() + columns - 1) / columns;
  std::string script = "set terminal svg size " + std::to_string(620 * columns) + "," + std::to_string(430 * rows) +
                       " dynamic noenhanced font 'sans,10' background rgb 'white'\n"
                       "set output 'loadgen.svg'\n"
                       "set datafile separator whitespace\n"
                       "set multiplot layout " + std::to_string(rows) + "," + std::to_string(columns) +
                       " title 'jobq loadgen: intended dispatch to handler end, service " + o.setup.service.describe() +
                       ", " + std::to_string(o.setup.workers) + " worker(s)'\n"
                       "set logscale xy\nset grid\nset key bottom right\n"
                       "set xlabel 'percentile'\nset ylabel 'latency (us)'\n"
                       "set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000, '99.9999%%' 1000000)\n";
  for (std::size_t l = 0; l < levels.size(); ++l) {
    const std::string file = "loadgen_level" + std::to_string(l + 1) + ".dat";
    std::string data = "# level " + levels[l].label + " (" + format_rate(levels[l].rate) + "/s): per engine, x = 1/(1-p) and end latency in us\n";
    std::vector<const PointResult*> results;
    for (Engine engine : o.engines) results.push_back(find(levels[l], engine));
    std::string plot = "set title '" + levels[l].label + " load (" + format_rate(levels[l].rate) + "/s)'\nplot ";
    for (std::size_t e = 0; e < results.size(); ++e) {
      data += "# " + std::string(engine_name(o.engines[e])) + "\n";
      const LatencyHistogram& h = results[e]->to_end;
      for (double p : plot_percentiles(h.count())) {
        const double x = p >= 100.0 ? static_cast<double>(h.count()) : 1.0 / (1.0 - p / 100.0);
        data += number(x) + " " + number(static_cast<double>(h.percentile(p)) / 1e3) + "\n";
      }
      data += "\n\n";  // the next engine is the next gnuplot index
      plot += std::string(e ? ", " : "") + "'" + file + "' index " + std::to_string(e) + " using 1:2 with linespoints pt 7 ps 0.4 title '" +
              std::string(engine_name(o.engines[e])) + "'";
    }
    write_text(o.out / file, data);
    script += plot + "\n";
  }
  script += "unset multiplot\n";
  write_text(o.out / "loadgen.gp", script);
  std::printf("\nwrote %s, %s, loadgen_level*.dat, loadgen.gp\n%s\n", (o.out / "loadgen.csv").c_str(),
              (o.out / "loadgen.json").c_str(), run_gnuplot(o.out / "loadgen.gp", o.out / "loadgen.svg").c_str());
  std::printf("total %.1f s\n", elapsed_s(since));
  std::size_t noisy = 0;
  for (const Measured& m : measured) noisy += m.result.other_cpu_cores > 0.1 ? 1 : 0;
  if (noisy != 0) {
    std::printf("WARNING: %zu of %zu points ran while other processes used more than 0.1 core; rerun on a quiet "
                "machine before reading their tails\n", noisy, measured.size());
  }
  if (problems) {
    std::printf("PROBLEMS were reported above: some counts did not match\n");
    return 1;
  }
  return 0;
}
