// The Prometheus text exposition of a metrics snapshot.
#include <array>
#include <cstdio>
#include <functional>
#include <string>

#include "jobq/metrics.hpp"

namespace jobq {
namespace {

/// Histogram bucket bounds in seconds: 1 µs to 10 s, roughly three per decade.
constexpr std::array<double, 22> bucket_bounds = {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4,
                                                  5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1,
                                                  0.25, 0.5, 1.0,  2.5,  5.0,  10.0};

/// A label value with \, " and newline escaped, as the format requires.
std::string escaped(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void histogram(std::string_view name, const std::string& labels, const Latency& latency) {
    const std::string prefix = labels.empty() ? "" : labels + ",";
    for (double bound : bucket_bounds) {
      sample(std::string(name) + "_bucket", prefix + "le=\"" + number(bound) + "\"",
             std::to_string(latency.count_at_most(bound)));
    }
    sample(std::string(name) + "_bucket", prefix + "le=\"+Inf\"", std::to_string(latency.count()));
    sample(std::string(name) + "_sum", labels, number(latency.sum_seconds()));
    sample(std::string(name) + "_count", labels, std::to_string(latency.count()));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

struct CounterField {
  const char* suffix;
  const char* help;
  std::uint64_t JobCounters::*field;
};

constexpr std::array<CounterField, 10> counter_fields = {{
    {"accepted", "Dispatches accepted.", &JobCounters::accepted},
    {"rejected", "Dispatches refused after routing.", &JobCounters::rejected},
    {"started", "Runs begun (attempts and snoozed runs).", &JobCounters::started},
    {"succeeded", "Jobs whose handler returned success.", &JobCounters::succeeded},
    {"failed", "Attempts that returned an error or threw.", &JobCounters::failed},
    {"retried", "Failed attempts scheduled to run again.", &JobCounters::retried},
    {"dead_lettered", "Jobs moved to the dead letters.", &JobCounters::dead_lettered},
    {"revoked", "Jobs whose handler revoked them.", &JobCounters::revoked},
    {"snoozed", "Runs that asked to run again later.", &JobCounters::snoozed},
    {"debounced", "Debounced dispatches folded into the job waiting under their key.", &JobCounters::debounced},
}};

/// Writes the counter families of `rows` (queues or types) under `prefix`, labelled by `label`.
template <class Row>
void write_counters(Writer& writer, std::string_view prefix, std::string_view label, const std::vector<Row>& rows,
                    const std::function<std::string(const Row&)>& key, std::uint32_t sample_every) {
  for (const CounterField& field : counter_fields) {
    const std::string name = std::string(prefix) + "_" + field.suffix + "_total";
    writer.family(name, "counter", field.help);
    for (const Row& row : rows) {
      writer.sample(name, std::string(label) + "=\"" + escaped(key(row)) + "\"", std::to_string(row.jobs.*field.field));
    }
  }
  // The histograms time a sample of jobs, so their _count is not a job count: a rate() over it
  // would under-report throughput by the sampling factor. The name and the help say so; rates
  // come from the exact counters above.
  const std::string sampled = sample_every == 1 ? std::string("every job")
                                                : "about 1 in " + std::to_string(sample_every) + " jobs";
  const std::string caveat = " Sampled (" + sampled + ", and every job from the timer): quantiles hold, _count counts "
                             "samples; for rates use " + std::string(prefix) + "_started_total.";
  const std::string wait = std::string(prefix) + "_sampled_wait_seconds";
  writer.family(wait, "histogram", "Time from dispatch (or due time) to start." + caveat);
  for (const Row& row : rows) writer.histogram(wait, std::string(label) + "=\"" + escaped(key(row)) + "\"", row.wait);
  const std::string run = std::string(prefix) + "_sampled_run_seconds";
  writer.family(run, "histogram", "Time a handler ran." + caveat);
  for (const Row& row : rows) writer.histogram(run, std::string(label) + "=\"" + escaped(key(row)) + "\"", row.run);
}

}  // namespace

/// Durable queues' families; none when no queue is durable. A figure Redis could not give (it
/// was unreachable) is left out.
void write_durable(Writer& writer, const std::vector<QueueMetrics>& queues) {
  struct Figure {
    const char* name;
    const char* type;
    const char* help;
    std::function<double(const QueueMetrics&)> value;
  };
  const Figure figures[] = {
      {"jobq_durable_ready", "gauge", "Jobs in Redis not yet fetched by any process.",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.stream_length); }},
      {"jobq_durable_pending", "gauge", "Jobs fetched by some process and not yet settled (leased).",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.pending); }},
      {"jobq_durable_scheduled", "gauge", "Jobs in Redis waiting for their time (delayed, retries, snoozes).",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.scheduled); }},
      {"jobq_durable_dead_letters", "gauge", "Dead letters kept in Redis.",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.dead); }},
      {"jobq_durable_appended_total", "counter", "Jobs this process stored in Redis.",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.appended); }},
      {"jobq_durable_append_failed_total", "counter", "Dispatches Redis refused or could not be reached for.",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.append_failed); }},
      {"jobq_durable_delivered_total", "counter", "Jobs fetched into this process.",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.delivered); }},
      {"jobq_durable_acknowledged_total", "counter", "Outcomes of this process's jobs stored in Redis.",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.acknowledged); }},
      {"jobq_durable_recovered_total", "counter", "Jobs of dead processes this process claimed (leases lapsed).",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.recovered); }},
      {"jobq_durable_promoted_total", "counter", "Due delayed jobs, retries and snoozes this process moved to ready.",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.promoted); }},
      {"jobq_durable_reconnects_total", "counter", "Connections to Redis re-established after a loss.",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.reconnects); }},
      {"jobq_durable_settle_lost_total", "counter",
       "Outcomes that could not be stored (Redis unreachable, or the lease had lapsed): the job runs again.",
       [](const QueueMetrics& q) { return static_cast<double>(q.lane.settle_lost); }},
      {"jobq_durable_handed_back_total", "counter", "Jobs this process put back in Redis (retries, snoozes, shutdown).",
       [](const QueueMetrics& q) { return static_cast<double>(q.handed_back); }},
  };
  bool any = false;
  for (const QueueMetrics& queue : queues) any |= queue.durable;
  if (!any) return;
  for (const Figure& figure : figures) {
    writer.family(figure.name, figure.type, figure.help);
    for (const QueueMetrics& queue : queues) {
      if (!queue.durable) continue;
      const double value = figure.value(queue);
      if (value < 0) continue;
      writer.sample(figure.name, "queue=\"" + escaped(queue.name) + "\"", number(value));
    }
  }
}

std::string prometheus_text(const MetricsSnapshot& snapshot) {
  Writer writer;
  write_counters<QueueMetrics>(writer, "jobq_queue", "queue", snapshot.queues,
                               [](const QueueMetrics& queue) { return queue.name; }, snapshot.latency_sample_every);
  struct Gauge {
    const char* name;
    const char* help;
    std::function<double(const QueueMetrics&)> value;
  };
  const Gauge gauges[] = {
      {"jobq_queue_depth", "Jobs waiting in the queue.", [](const QueueMetrics& q) { return static_cast<double>(q.depth); }},
      {"jobq_queue_scheduled", "Jobs waiting in the timer (delayed, retry or snooze).",
       [](const QueueMetrics& q) { return static_cast<double>(q.scheduled); }},
      {"jobq_queue_in_flight", "Jobs taken by workers and not finished.",
       [](const QueueMetrics& q) { return static_cast<double>(q.in_flight); }},
      {"jobq_queue_busy_workers", "Workers running a handler.",
       [](const QueueMetrics& q) { return static_cast<double>(q.busy_workers); }},
      {"jobq_queue_workers", "Worker threads.", [](const QueueMetrics& q) { return static_cast<double>(q.workers); }},
      {"jobq_queue_paused", "1 while the queue is paused.", [](const QueueMetrics& q) { return q.paused ? 1.0 : 0.0; }},
      {"jobq_queue_busy_spin", "1 when the queue's idle workers busy-spin: each worker holds a CPU.",
       [](const QueueMetrics& q) { return q.idle == IdleStrategy::busy_spin ? 1.0 : 0.0; }},
      {"jobq_queue_limit_waiting", "Jobs held by workers waiting for a rate or concurrency limit.",
       [](const QueueMetrics& q) { return static_cast<double>(q.limit_waiting); }},
  };
  for (const Gauge& gauge : gauges) {
    writer.family(gauge.name, "gauge", gauge.help);
    for (const QueueMetrics& queue : snapshot.queues) {
      writer.sample(gauge.name, "queue=\"" + escaped(queue.name) + "\"", number(gauge.value(queue)));
    }
  }
  writer.family("jobq_queue_timed_out_total", "counter", "Runs still going when their timeout fired.");
  for (const QueueMetrics& queue : snapshot.queues) {
    writer.sample("jobq_queue_timed_out_total", "queue=\"" + escaped(queue.name) + "\"", std::to_string(queue.timed_out));
  }
  writer.family("jobq_queue_throttled_total", "counter", "Jobs that waited for a rate or concurrency limit before they started.");
  for (const QueueMetrics& queue : snapshot.queues) {
    writer.sample("jobq_queue_throttled_total", "queue=\"" + escaped(queue.name) + "\"", std::to_string(queue.throttled));
  }
  writer.family("jobq_queue_wakeups_total", "counter", "Futex wakes issued to the queue's parked workers.");
  for (const QueueMetrics& queue : snapshot.queues) {
    writer.sample("jobq_queue_wakeups_total", "queue=\"" + escaped(queue.name) + "\"", std::to_string(queue.wakeups));
  }
  write_durable(writer, snapshot.queues);
  write_counters<TypeMetrics>(writer, "jobq_type", "type", snapshot.types,
                              [](const TypeMetrics& type) { return type.type; }, snapshot.latency_sample_every);
  writer.family("jobq_uptime_seconds", "gauge", "Seconds since start(): with the counters, the mean rates since start.");
  writer.sample("jobq_uptime_seconds", "", number(snapshot.uptime_seconds));
  writer.family("jobq_unrouted_total", "counter", "Dispatches refused for an unknown job type or queue.");
  writer.sample("jobq_unrouted_total", "", std::to_string(snapshot.unrouted));
  writer.family("jobq_dead_letters", "gauge", "Dead letters kept.");
  writer.sample("jobq_dead_letters", "", std::to_string(snapshot.dead_letters));
  writer.family("jobq_dead_letters_dropped_total", "counter",
                "Dead letters dropped because the store was full (dead_letter_capacity or dead_letter_bytes).");
  writer.sample("jobq_dead_letters_dropped_total", "", std::to_string(snapshot.dead_letters_dropped));
  writer.family("jobq_producer_states", "gauge",
                "Producer states: live (a thread that dispatched and is alive) or retired (kept for the next thread).");
  writer.sample("jobq_producer_states", "state=\"live\"", std::to_string(snapshot.producers_live));
  writer.sample("jobq_producer_states", "state=\"retired\"", std::to_string(snapshot.producers_retired));
  writer.family("jobq_dead_letter_bytes", "gauge", "Bytes the kept dead letters count against dead_letter_bytes.");
  writer.sample("jobq_dead_letter_bytes", "", std::to_string(snapshot.dead_letter_bytes));
  writer.family("jobq_idempotency_keys", "gauge", "Idempotency keys held.");
  writer.sample("jobq_idempotency_keys", "", std::to_string(snapshot.idempotency_keys));
  return writer.take();
}

}  // namespace jobq
