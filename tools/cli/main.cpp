// jobq: the command-line tool. `jobq make:job SendWelcomeEmail --queue emails` writes a job class;
// `jobq inspect --url http://127.0.0.1:9090` prints a running console's queues.
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <jobq/version.hpp>

#include "cli/command_line.hpp"
#include "cli/make_job.hpp"

int main(int argc, char** argv) {
  using namespace jobq::cli;
  const std::vector<std::string_view> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  const CommandLine line = parse_command_line(args);
  if (!line.ok()) {
    const std::string prefix = line.help_for_problem == Command::make_job_help ? "jobq make:job"
                               : line.help_for_problem == Command::inspect_help ? "jobq inspect"
                                                                                 : "jobq";
    std::cerr << prefix << ": " << line.problem << "\nrun '" << prefix << " --help' for usage\n";
    return exit_usage;
  }
  switch (line.command) {
    case Command::help: std::cout << tool_help(); return exit_ok;
    case Command::version: std::cout << "jobq " << JOBQ_VERSION_STRING << '\n'; return exit_ok;
    case Command::make_job_help: std::cout << make_job_help(); return exit_ok;
    case Command::make_job: return make_job(line.make_job, std::cout, std::cerr);
    case Command::inspect_help: std::cout << inspect_help(); return exit_ok;
    case Command::inspect: return inspect(line.inspect, std::cout, std::cerr);
  }
  return exit_usage;
}
