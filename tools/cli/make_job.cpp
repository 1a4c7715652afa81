#include "cli/make_job.hpp"

#include <fstream>
#include <ostream>
#include <system_error>

#include <jobq/registry.hpp>

#include "cli/job_template.hpp"

namespace jobq::cli {

int make_job(const MakeJobOptions& options, std::ostream& out, std::ostream& err) {
  const std::string_view prefix = "jobq make:job: ";
  const NameResolution resolved = resolve_names(options.names);
  if (!resolved.ok()) {
    err << prefix << resolved.problem << '\n';
    return exit_usage;
  }
  if (std::string problem = queue_name_problem(options.queue_name); !problem.empty()) {
    err << prefix << "invalid queue name '" << options.queue_name << "': " << problem << '\n';
    return exit_usage;
  }
  const JobNames& names = resolved.names;

  std::error_code error;
  std::filesystem::create_directories(options.out_dir, error);
  if (error) {
    err << prefix << "cannot create " << options.out_dir.string() << ": " << error.message() << '\n';
    return exit_not_written;
  }
  const std::filesystem::path path = options.out_dir / (names.file_stem + ".hpp");
  const auto status = std::filesystem::status(path, error);
  if (std::filesystem::is_directory(status)) {
    err << prefix << path.string() << " is a directory\n";
    return exit_not_written;
  }
  if (std::filesystem::exists(status) && !options.force) {
    err << prefix << path.string() << " already exists; pass --force to overwrite it\n";
    return exit_not_written;
  }

  const std::string text = render_job_header(names, options.queue_name);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(text.data(), static_cast<std::streamsize>(text.size()));
  file.close();
  if (!file) {
    err << prefix << "cannot write " << path.string() << '\n';
    return exit_not_written;
  }

  out << "wrote " << path.string() << " (" << names.class_name << ", type " << names.type_name << ", queue "
      << options.queue_name << ")\n"
      << "register it before queues.start():\n"
      << "  #include \"" << names.file_stem << ".hpp\"\n"
      << "  auto& " << names.variable << " = queues.emplace_job<" << names.class_name << ">();\n";
  if (options.queue_name != "default") {
    out << "The Manager needs a queue named \"" << options.queue_name << "\" (a jobq::QueueConfig in Config::queues).\n";
  }
  return exit_ok;
}

}  // namespace jobq::cli
