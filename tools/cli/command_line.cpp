#include "cli/command_line.hpp"

#include <optional>

namespace jobq::cli {
namespace {

constexpr std::string_view tool_help_text = R"(usage: jobq <command> [arguments]
       jobq --help | --version

The command-line tool of the jobq job engine.

commands:
  make:job NAME  write a job class header: payload struct, job class, typed dispatch helper and
                 handler (jobq make:job --help)
  inspect        print a running console's queues and dead letters (jobq inspect --help)

exit status: 0 done, 1 nothing written, 2 usage error
)";

constexpr std::string_view make_job_help_text = R"(usage: jobq make:job NAME [--queue QUEUE] [--type TYPE | --class CLASS] [--out DIR] [--force]

Writes DIR/<class_name_in_snake_case>.hpp: a JOBQ_PAYLOAD struct with one placeholder field, and a
job class with type_name, queue_name, a typed queue() helper and handle_task(). It then prints the
lines that register the job.

NAME is a class name (SendWelcomeEmail) or a job type name (emails:welcome); the other name is
derived from it. Words start at capital letters (and at '_' in a class name, '_' or '-' in a type
name); digits stay with the word before them.
  class -> type  the last word is the category; the words before it, joined by '_', are the action:
                 SendWelcomeEmail -> email:send_welcome, Q4SummaryReports -> reports:q4_summary
  type -> class  the action's words, then the category's, each capitalized:
                 reports:generate -> GenerateReports, emails:send-welcome -> SendWelcomeEmails
A class name without acronyms comes back unchanged from class -> type -> class. A type name comes
back unchanged from type -> class -> type when its category is one word and its action's words are
joined by '_'. Otherwise, or to choose other names, pass --type or --class.

options:
  --queue QUEUE  the job's queue_name (default: default)
  --type TYPE    the type name, when NAME is a class name
  --class CLASS  the class name, when NAME is a type name
  --out DIR      the directory to write to, created if missing (default: the current directory)
  --force        overwrite the header if it exists
  -h, --help     show this help

The names follow the registry's rules. A type name is category:action: two non-empty parts of
lower-case letters, digits, '_' and '-', joined by one ':'. A queue name uses the same characters.
A class name is a C++ identifier that is neither a keyword nor reserved.

exit status: 0 written, 1 not written (the file exists and --force is absent, or writing failed),
2 usage error or invalid name
)";

constexpr std::string_view inspect_help_text = R"(usage: jobq inspect --url URL [--json] [--dead N] [--queue QUEUE]

Prints the queues of a running jobq process (state, busy and total workers, depth, scheduled, in
flight, counters, success and failure rates, p99 wait and run) and each queue's oldest dead
letters, read from its console (jobq::console). Reading needs no token.

options:
  --url URL      the console: http://127.0.0.1:9090, or with its prefix, http://host:8080/ops/jobq
  --json         print the console's own JSON: {"overview": ..., "dead_letters": [one page per queue]}
  --dead N       dead letters listed per queue (default 10; 0: none)
  --queue QUEUE  only this queue
  -h, --help     show this help

exit status: 0 printed, 1 the console could not be read, 2 usage error
)";

/// Takes the value of `option` at args[i]: after '=' in the argument, or the next argument.
/// False, with the problem in `line`, when it is given twice or has no value.
bool take_value(std::span<const std::string_view> args, std::size_t& i, std::string_view option,
                std::optional<std::string>& target, CommandLine& line) {
  const std::string_view arg = args[i];
  const std::size_t equals = arg.find('=');
  if (target.has_value()) {
    line.problem = std::string(option) + " is given twice";
    return false;
  }
  if (equals != std::string_view::npos) {
    target = std::string(arg.substr(equals + 1));
  } else if (i + 1 < args.size()) {
    target = std::string(args[++i]);
  } else {
    line.problem = std::string(option) + " needs a value";
    return false;
  }
  return true;
}

/// Parses the arguments after "inspect".
void parse_inspect(std::span<const std::string_view> args, CommandLine& line) {
  line.command = Command::inspect;
  line.help_for_problem = Command::inspect_help;
  InspectOptions& options = line.inspect;
  std::optional<std::string> url, dead, queue;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      line.command = Command::inspect_help;
      return;
    }
    const std::size_t equals = arg.find('=');
    const std::string_view option = arg.substr(0, equals);
    if (option == "--json") {
      options.json = true;
      continue;
    }
    std::optional<std::string>* target = option == "--url"     ? &url
                                         : option == "--dead"  ? &dead
                                         : option == "--queue" ? &queue
                                                               : nullptr;
    if (target == nullptr) {
      line.problem = arg.starts_with("-") ? "unknown option '" + std::string(option) + "'"
                                          : "unexpected argument '" + std::string(arg) + "'";
      return;
    }
    if (!take_value(args, i, option, *target, line)) return;
  }
  if (!url || url->empty()) {
    line.problem = "inspect needs --url: the console's address, such as http://127.0.0.1:9090";
    return;
  }
  options.url = *url;
  options.queue = queue;
  if (dead) {
    const bool digits = !dead->empty() && dead->size() < 7 && dead->find_first_not_of("0123456789") == std::string::npos;
    if (!digits) {
      line.problem = "--dead takes a count of letters, 0 to 999999; got '" + *dead + "'";
      return;
    }
    options.dead = std::stoul(*dead);
  }
}

/// Parses the arguments after "make:job".
void parse_make_job(std::span<const std::string_view> args, CommandLine& line) {
  line.command = Command::make_job;
  line.help_for_problem = Command::make_job_help;
  MakeJobOptions& options = line.make_job;
  std::optional<std::string> name, queue, out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      line.command = Command::make_job_help;
      return;
    }
    if (!arg.starts_with("-")) {
      if (name) {
        line.problem = "unexpected argument '" + std::string(arg) + "': make:job takes one NAME";
        return;
      }
      name = std::string(arg);
      continue;
    }
    const std::size_t equals = arg.find('=');
    const std::string_view option = arg.substr(0, equals);
    if (option == "--force") {
      if (equals != std::string_view::npos) {
        line.problem = "--force takes no value";
        return;
      }
      options.force = true;
      continue;
    }
    std::optional<std::string>* target = option == "--queue"   ? &queue
                                         : option == "--type"  ? &options.names.type_name
                                         : option == "--class" ? &options.names.class_name
                                         : option == "--out"   ? &out
                                                               : nullptr;
    if (target == nullptr) {
      line.problem = "unknown option '" + std::string(option) + "'";
      return;
    }
    if (!take_value(args, i, option, *target, line)) return;
  }
  if (!name) {
    line.problem = "make:job needs a NAME: a class name (SendWelcomeEmail) or a type name (emails:welcome)";
    return;
  }
  if (out && out->empty()) {
    line.problem = "--out needs a directory";
    return;
  }
  options.names.name = std::move(*name);
  if (queue) options.queue_name = std::move(*queue);
  if (out) options.out_dir = std::move(*out);
}

}  // namespace

CommandLine parse_command_line(std::span<const std::string_view> args) {
  CommandLine line;
  if (args.empty()) {
    line.problem = "no command given";
    return line;
  }
  const std::string_view first = args.front();
  if (first == "-h" || first == "--help") {
    line.command = Command::help;
  } else if (first == "--version") {
    line.command = Command::version;
  } else if (first == "make:job") {
    parse_make_job(args.subspan(1), line);
  } else if (first == "inspect") {
    parse_inspect(args.subspan(1), line);
  } else if (first.starts_with("-")) {
    line.problem = "unknown option '" + std::string(first) + "'";
  } else {
    line.problem = "unknown command '" + std::string(first) + "'";
  }
  const bool takes_arguments = line.command == Command::make_job || line.command == Command::make_job_help ||
                               line.command == Command::inspect || line.command == Command::inspect_help;
  if (line.ok() && !takes_arguments && args.size() > 1) {
    line.problem = "unexpected argument '" + std::string(args[1]) + "' after " + std::string(first);
  }
  return line;
}

std::string_view tool_help() { return tool_help_text; }
std::string_view make_job_help() { return make_job_help_text; }
std::string_view inspect_help() { return inspect_help_text; }

}  // namespace jobq::cli
