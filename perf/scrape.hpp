// A Prometheus text scrape of a running jobq (its /metrics page, or a file saved from one), and
// what it says of each queue's load: runs per second and the mean time a handler runs.
//
// One scrape gives the means since start() (jobq_uptime_seconds); two, taken a while apart, the
// means between them, which follow the load of the last minutes rather than of the whole life.
#pragma once

#include <httplib.h>

#include "jobq/internal/authority.hpp"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace jobq_perf {

/// name{labels} → value, for the samples a plan needs.
class Scrape {
 public:
  /// Parses the text exposition format; `error` says what was wrong with the first bad line.
  static std::optional<Scrape> parse(std::string_view text, std::string& error) {
    Scrape scrape;
    std::size_t line_number = 0;
    while (!text.empty()) {
      const std::size_t end = text.find('\n');
      std::string_view line = text.substr(0, end);
      text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
      ++line_number;
      if (line.ends_with('\r')) line.remove_suffix(1);  // a file saved with CRLF
      if (line.empty() || line.front() == '#') continue;
      std::string key;
      std::size_t at = 0;
      while (at < line.size() && line[at] != '{' && line[at] != ' ' && line[at] != '\t') key += line[at++];
      if (at < line.size() && line[at] == '{') {
        // Labels, kept verbatim but for escapes: a key is name{a="x",b="y"}.
        key += '{';
        ++at;
        bool quoted = false;
        while (at < line.size() && (quoted || line[at] != '}')) {
          if (line[at] == '\\' && at + 1 < line.size()) {
            key += line[at + 1] == 'n' ? '\n' : line[at + 1];
            at += 2;
            continue;
          }
          if (line[at] == '"') quoted = !quoted;
          key += line[at++];
        }
        if (at == line.size()) {
          error = "line " + std::to_string(line_number) + ": unterminated labels";
          return std::nullopt;
        }
        key += '}';
        ++at;
      }
      while (at < line.size() && (line[at] == ' ' || line[at] == '\t')) ++at;
      const std::string value(line.substr(at, line.find_first_of(" \t", at) - at));
      char* parsed_end = nullptr;
      const double number = std::strtod(value.c_str(), &parsed_end);
      if (key.empty() || value.empty() || parsed_end != value.c_str() + value.size()) {
        error = "line " + std::to_string(line_number) + ": not a sample: '" + std::string(line) + "'";
        return std::nullopt;
      }
      scrape.samples_[key] = number;
    }
    return scrape;
  }

  /// Reads `source`: an http:// URL (its /metrics page) or a file.
  static std::optional<Scrape> load(const std::string& source, std::string& error) {
    std::string text;
    if (source.rfind("http://", 0) == 0) {
      const std::size_t path_at = source.find('/', 7);
      const std::string host = source.substr(0, path_at);
      if (!jobq::internal::valid_authority_port(host.substr(7))) {
        error = source + ": the port is not a number from 1 to 65535";
        return std::nullopt;
      }
      const std::string path = path_at == std::string::npos ? "/metrics" : source.substr(path_at);
      httplib::Client client(host);
      client.set_connection_timeout(5, 0);
      client.set_read_timeout(10, 0);
      const httplib::Result answer = client.Get(path);
      if (!answer) {
        error = "cannot reach " + source + ": " + httplib::to_string(answer.error());
        return std::nullopt;
      }
      if (answer->status != 200) {
        error = source + " answered " + std::to_string(answer->status);
        return std::nullopt;
      }
      text = answer->body;
    } else {
      std::ifstream in(source, std::ios::binary);
      if (!in) {
        error = "cannot read " + source;
        return std::nullopt;
      }
      std::ostringstream buffer;
      buffer << in.rdbuf();
      text = buffer.str();
    }
    std::optional<Scrape> scrape = parse(text, error);
    if (scrape && !scrape->find("jobq_uptime_seconds")) {
      error = source + " has no jobq_uptime_seconds: is it a jobq /metrics page?";
      return std::nullopt;
    }
    if (!scrape) error = source + ": " + error;
    return scrape;
  }

  std::optional<double> find(const std::string& key) const {
    const auto found = samples_.find(key);
    if (found == samples_.end()) return std::nullopt;
    return found->second;
  }
  /// A queue's sample: name{queue="…"}.
  double queue_value(const std::string& name, const std::string& queue) const {
    return find(name + "{queue=\"" + queue + "\"}").value_or(0);
  }
  /// The queues, from jobq_queue_workers.
  std::vector<std::string> queues() const {
    std::vector<std::string> out;
    const std::string prefix = "jobq_queue_workers{queue=\"";
    for (auto it = samples_.lower_bound(prefix); it != samples_.end() && it->first.rfind(prefix, 0) == 0; ++it) {
      out.push_back(it->first.substr(prefix.size(), it->first.size() - prefix.size() - 2));
    }
    return out;
  }

 private:
  std::map<std::string, double> samples_;
};

/// One queue's measured load.
struct QueueLoad {
  std::string queue;
  double runs_per_second = 0;  ///< λ: runs begun (retries and snoozed runs included), per second
  double service_mean_s = 0;   ///< S: the mean time a handler ran (from the sampled run histogram)
  double window_s = 0;         ///< the time the figures cover
  double runs = 0;             ///< runs in that window
  unsigned workers = 0;        ///< configured now
  bool busy_spin = false;      ///< its idle workers spin: each holds a CPU
};

/// The load of every queue between `earlier` (none: since start) and `later`; empty, with the
/// reason in `error`, when the figures cannot be a load (not finite, or counters that went back:
/// the process restarted between the scrapes).
inline std::vector<QueueLoad> queue_loads(const Scrape* earlier, const Scrape& later, std::string& error) {
  std::vector<QueueLoad> out;
  const double uptime = *later.find("jobq_uptime_seconds") - (earlier ? *earlier->find("jobq_uptime_seconds") : 0.0);
  for (const std::string& queue : later.queues()) {
    auto delta = [&](const std::string& name) {
      return later.queue_value(name, queue) - (earlier ? earlier->queue_value(name, queue) : 0.0);
    };
    QueueLoad load{.queue = queue, .window_s = uptime};
    load.runs = delta("jobq_queue_started_total");
    load.runs_per_second = uptime > 0 ? load.runs / uptime : 0;
    double sum = delta("jobq_queue_sampled_run_seconds_sum");
    double count = delta("jobq_queue_sampled_run_seconds_count");
    if (count <= 0) {  // no timed run in the window: the whole life's mean is the best there is
      sum = later.queue_value("jobq_queue_sampled_run_seconds_sum", queue);
      count = later.queue_value("jobq_queue_sampled_run_seconds_count", queue);
    }
    load.service_mean_s = count > 0 ? sum / count : 0;
    const double workers = later.queue_value("jobq_queue_workers", queue);
    if (!std::isfinite(load.runs) || !std::isfinite(load.service_mean_s) || !std::isfinite(workers) || workers < 0 ||
        workers > 1e6) {
      error = "queue '" + queue + "': its figures are not finite numbers";
      return {};
    }
    if (load.runs < 0 || sum < 0 || count < 0 || uptime < 0) {
      error = "queue '" + queue + "': its counters went back between the scrapes (did the process restart?)";
      return {};
    }
    load.workers = static_cast<unsigned>(workers);
    load.busy_spin = later.queue_value("jobq_queue_busy_spin", queue) > 0;
    out.push_back(load);
  }
  return out;
}

}  // namespace jobq_perf
