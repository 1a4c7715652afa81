// `jobq make:job`: resolves a job's names, then writes its header.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>

#include "cli/names.hpp"

namespace jobq::cli {

/// Exit codes of the `jobq` tool.
enum ExitCode : int {
  exit_ok = 0,
  exit_not_written = 1,  ///< the file exists (without --force) or could not be written
  exit_usage = 2,        ///< unknown command or option, missing value, invalid name
};

struct MakeJobOptions {
  NameRequest names;
  std::string queue_name = "default";  ///< --queue
  std::filesystem::path out_dir = ".";  ///< --out; created when missing
  bool force = false;                   ///< --force: overwrite an existing header
};

/// Runs the command: prints the path written and the lines that register the job on `out`,
/// problems on `err` (prefixed "jobq make:job: "), and returns the exit code.
int make_job(const MakeJobOptions& options, std::ostream& out, std::ostream& err);

}  // namespace jobq::cli
