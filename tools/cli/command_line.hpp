// The `jobq` command line: which command to run, with which options, and the help texts.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "cli/inspect.hpp"
#include "cli/make_job.hpp"

namespace jobq::cli {

enum class Command {
  help,           ///< jobq --help
  version,        ///< jobq --version
  make_job_help,  ///< jobq make:job --help
  make_job,       ///< jobq make:job NAME [options]
  inspect_help,   ///< jobq inspect --help
  inspect,        ///< jobq inspect --url URL [options]
};

struct CommandLine {
  Command command = Command::help;
  MakeJobOptions make_job;
  InspectOptions inspect;
  /// Empty when the arguments parse, else what is wrong (an exit_usage error).
  std::string problem;
  /// The help that explains `problem`: the tool's or make:job's.
  Command help_for_problem = Command::help;
  bool ok() const noexcept { return problem.empty(); }
};

/// Parses the arguments after the program name. Options take their value as the next argument
/// or after '=' (--queue emails, --queue=emails).
CommandLine parse_command_line(std::span<const std::string_view> args);

/// The text of `jobq --help`.
std::string_view tool_help();
/// The text of `jobq make:job --help`, including the name rules.
std::string_view make_job_help();
/// The text of `jobq inspect --help`.
std::string_view inspect_help();

}  // namespace jobq::cli
