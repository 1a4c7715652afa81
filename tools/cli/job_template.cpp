#include "cli/job_template.hpp"

namespace jobq::cli {
namespace {

// Placeholders: @Class@, @type@, @queue@. Each is replaced wherever it appears.
constexpr std::string_view job_header_template = R"(// The job @type@, run on the queue "@queue@". Say here why this work runs in the
// background rather than in the caller.
#pragma once

#include <jobq/jobq.hpp>

#include <string>
#include <string_view>

// The payload travels as JSON: give it what the handler needs to find its data (ids rather than
// whole records), and list every member in JOBQ_PAYLOAD.
struct @Class@Payload {
  std::string id;  // placeholder: replace with the job's fields
};
JOBQ_PAYLOAD(@Class@Payload, id);

class @Class@ {
 public:
  static constexpr std::string_view type_name = "@type@";
  static constexpr std::string_view queue_name = "@queue@";

  // The services the handler calls come in here too, each kept by reference beside queues_.
  explicit @Class@(jobq::Manager& queues) : queues_(queues) {}

  /// Callers pass plain arguments; the payload layout stays private to this class.
  jobq::Result<jobq::JobId> queue(std::string_view id) {
    return queues_.dispatch(jobq::Job(type_name), @Class@Payload{std::string(id)});
  }

  /// Runs on a worker of the queue. A payload that does not bind fails the job with skip_retry;
  /// the Status returned here is the job's outcome, counted and reported.
  jobq::Status handle_task(jobq::Context& /*ctx*/, const jobq::Message& msg) {
    @Class@Payload payload;
    if (jobq::Status bound = msg.bind(payload); !bound) return bound;
    // Call the service here and return its Status. A long job names the Context and polls
    // ctx.stop_requested(), which turns true when shutdown's deadline passes.
    return jobq::Status::success();
  }

 private:
  jobq::Manager& queues_;
};
)";

void replace_all(std::string& text, std::string_view placeholder, std::string_view value) {
  for (std::size_t at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
}

}  // namespace

std::string render_job_header(const JobNames& names, std::string_view queue_name) {
  std::string text(job_header_template);
  replace_all(text, "@Class@", names.class_name);
  replace_all(text, "@type@", names.type_name);
  replace_all(text, "@queue@", queue_name);
  return text;
}

}  // namespace jobq::cli
