// `jobq inspect --url URL`: a running console's queues and dead letters, for an operator at a
// terminal: a table, or the console's JSON with --json.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>

namespace jobq::cli {

struct InspectOptions {
  std::string url;                   ///< the console: http://127.0.0.1:9090 or http://host/ops/jobq
  bool json = false;                 ///< --json
  std::size_t dead = 10;             ///< --dead N: letters listed per queue
  std::optional<std::string> queue;  ///< --queue: only this one
};

/// Prints the queue table and each queue's dead letters on `out`, problems on `err` (prefixed
/// "jobq inspect: "); returns 0, 1 when the console cannot be read, 2 for a bad URL.
int inspect(const InspectOptions& options, std::ostream& out, std::ostream& err);

}  // namespace jobq::cli
