#include "cli/inspect.hpp"

#include <httplib.h>

#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <vector>

#include "cli/make_job.hpp"
#include "jobq/console_api.hpp"
#include "jobq/internal/authority.hpp"
#include "jobq/internal/printable.hpp"
#include "jobq/json.hpp"

namespace jobq::cli {
namespace {

/// The console's address split for httplib: scheme://host[:port] and the path prefix.
struct Console {
  std::string origin;
  std::string prefix;
};

std::optional<Console> split_url(std::string url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string::npos || (url.compare(0, scheme, "http") != 0 && url.compare(0, scheme, "https") != 0)) {
    return std::nullopt;
  }
  while (url.size() > scheme + 3 && url.back() == '/') url.pop_back();
  const std::size_t path = url.find('/', scheme + 3);
  Console console{url.substr(0, path), path == std::string::npos ? "" : url.substr(path)};
  if (console.origin.size() == scheme + 3) return std::nullopt;
  // httplib's client reads the port with std::stoi: check it here rather than let it throw.
  if (!internal::valid_authority_port(std::string_view(console.origin).substr(scheme + 3))) return std::nullopt;
  return console;
}

/// GETs `path` and binds it; the raw body into `raw`. Empty on success, else the problem.
template <class Body>
std::string fetch(httplib::Client& client, const Console& console, const std::string& path, Body& body,
                  std::string& raw) {
  const httplib::Result answer = client.Get(console.prefix + path);
  if (!answer) return "cannot reach " + console.origin + ": " + httplib::to_string(answer.error());
  raw = answer->body;
  if (answer->status != 200) {
    console::api::ActionResult refusal;
    const bool explained = from_json(answer->body, refusal).ok() && !refusal.message.empty();
    return console.origin + console.prefix + path + " answered " + std::to_string(answer->status) +
           (explained ? ": " + refusal.message : " (is this a jobq console?)");
  }
  const Status bound = from_json(answer->body, body);
  if (!bound.ok()) return console.origin + console.prefix + path + " is not a jobq console's answer: " + bound.message();
  return {};
}

using internal::printable;

std::string seconds(double s) {
  char text[32];
  if (s == 0) return "0";
  if (s < 1e-3) std::snprintf(text, sizeof text, "%.3gus", s * 1e6);
  else if (s < 1) std::snprintf(text, sizeof text, "%.3gms", s * 1e3);
  else std::snprintf(text, sizeof text, "%.3gs", s);
  return text;
}

std::string rate(double r) {
  char text[32];
  std::snprintf(text, sizeof text, r < 10 ? "%.1f" : "%.0f", r);
  return text;
}

std::string uptime(double s) {
  const auto total = static_cast<long long>(s);
  std::ostringstream text;
  if (total >= 3600) text << total / 3600 << "h ";
  if (total >= 60) text << (total / 60) % 60 << "m ";
  text << total % 60 << "s";
  return text.str();
}

/// Text columns left-aligned, numbers right-aligned, each as wide as its widest cell; the last
/// column (a free text such as an error) is not padded.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows, const std::string& indent = "") {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    out << indent;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i > 0) out << "  ";
      const std::string& header = rows.front()[i];
      const bool text = i == 0 || header == "STATE" || header == "TYPE" || header == "REASON" || header == "LAST ERROR";
      if (text) {
        out << std::left << std::setw(i + 1 == row.size() ? 0 : static_cast<int>(widths[i])) << row[i];
      } else {
        out << std::right << std::setw(static_cast<int>(widths[i])) << row[i];
      }
    }
    out << '\n';
  }
}

}  // namespace

int inspect(const InspectOptions& options, std::ostream& out, std::ostream& err) {
  const std::optional<Console> console = split_url(options.url);
  if (!console) {
    err << "jobq inspect: '" << options.url << "' is not an http:// or https:// URL with a port from 1 to 65535\n";
    return exit_usage;
  }
  httplib::Client client(console->origin);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(15, 0);

  console::api::Overview overview;
  std::string overview_json;
  if (std::string problem = fetch(client, *console, "/api/queues", overview, overview_json); !problem.empty()) {
    err << "jobq inspect: " << problem << '\n';
    return exit_not_written;
  }
  std::vector<console::api::QueueRow> queues;
  for (const auto& queue : overview.queues) {
    if (!options.queue || *options.queue == queue.name) queues.push_back(queue);
  }
  if (options.queue && queues.empty()) {
    err << "jobq inspect: the console has no queue named '" << *options.queue << "'\n";
    return exit_not_written;
  }
  std::vector<console::api::DeadLetters> dead(queues.size());
  std::vector<std::string> dead_json(queues.size());
  for (std::size_t i = 0; i < queues.size() && options.dead > 0; ++i) {
    const std::string path = "/api/dead?queue=" + queues[i].name + "&limit=" + std::to_string(options.dead);
    if (std::string problem = fetch(client, *console, path, dead[i], dead_json[i]); !problem.empty()) {
      err << "jobq inspect: " << problem << '\n';
      return exit_not_written;
    }
  }

  if (options.json) {
    // The console's own answers, side by side: {"overview": …, "dead_letters": [one page per queue]}.
    out << "{\"overview\":" << overview_json << ",\"dead_letters\":[";
    for (std::size_t i = 0; i < dead_json.size() && options.dead > 0; ++i) out << (i ? "," : "") << dead_json[i];
    out << "]}\n";
    return exit_ok;
  }

  out << "jobq " << overview.version << " at " << console->origin << console->prefix << ", up "
      << uptime(overview.uptime_seconds) << "\n\n";
  std::vector<std::vector<std::string>> table = {{"QUEUE", "STATE", "BUSY", "DEPTH", "SCHEDULED", "IN FLIGHT",
                                                  "ACCEPTED", "SUCCEEDED", "FAILED", "DEAD", "OK/S", "FAILED/S",
                                                  "WAIT P99", "RUN P99"}};
  for (const auto& q : queues) {
    table.push_back({q.name, std::string(q.paused ? "paused" : "running") + (q.durable ? ", durable" : ""),
                     std::to_string(q.busy_workers) + "/" + std::to_string(q.workers), std::to_string(q.depth),
                     std::to_string(q.scheduled), std::to_string(q.in_flight), std::to_string(q.counters.accepted),
                     std::to_string(q.counters.succeeded), std::to_string(q.counters.failed),
                     std::to_string(q.counters.dead_lettered), rate(q.rates.succeeded), rate(q.rates.failed),
                     seconds(q.wait.p99), seconds(q.run.p99)});
  }
  print_table(out, table);
  if (overview.latency_sample_every > 1) {
    out << "(latencies sampled, about 1 job in " << overview.latency_sample_every << "; counts exact)\n";
  }
  for (std::size_t i = 0; i < queues.size() && options.dead > 0; ++i) {
    const console::api::DeadLetters& page = dead[i];
    if (page.total == 0) continue;
    out << "\ndead letters of " << queues[i].name << ": " << page.total << " kept";
    if (page.dropped > 0) out << ", " << page.dropped << " dropped";
    if (page.letters.size() < page.total) out << " (the oldest " << page.letters.size() << " shown)";
    out << '\n';
    std::vector<std::vector<std::string>> letters = {{"ID", "TYPE", "ATTEMPTS", "REASON", "FAILED AT", "LAST ERROR"}};
    for (const auto& letter : page.letters) {
      letters.push_back({std::to_string(letter.id), printable(letter.type), std::to_string(letter.attempts),
                         printable(letter.reason), printable(letter.failed_at), printable(letter.last_error)});
    }
    print_table(out, letters, "  ");
  }
  return exit_ok;
}

}  // namespace jobq::cli
