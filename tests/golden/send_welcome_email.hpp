// The job email:send_welcome, run on the queue "emails". Say here why this work runs in the
// background rather than in the caller.
#pragma once

#include <jobq/jobq.hpp>

#include <string>
#include <string_view>

// The payload travels as JSON: give it what the handler needs to find its data (ids rather than
// whole records), and list every member in JOBQ_PAYLOAD.
struct SendWelcomeEmailPayload {
  std::string id;  // placeholder: replace with the job's fields
};
JOBQ_PAYLOAD(SendWelcomeEmailPayload, id);

class SendWelcomeEmail {
 public:
  static constexpr std::string_view type_name = "email:send_welcome";
  static constexpr std::string_view queue_name = "emails";

  // The services the handler calls come in here too, each kept by reference beside queues_.
  explicit SendWelcomeEmail(jobq::Manager& queues) : queues_(queues) {}

  /// Callers pass plain arguments; the payload layout stays private to this class.
  jobq::Result<jobq::JobId> queue(std::string_view id) {
    return queues_.dispatch(jobq::Job(type_name), SendWelcomeEmailPayload{std::string(id)});
  }

  /// Runs on a worker of the queue. A payload that does not bind fails the job with skip_retry;
  /// the Status returned here is the job's outcome, counted and reported.
  jobq::Status handle_task(jobq::Context& /*ctx*/, const jobq::Message& msg) {
    SendWelcomeEmailPayload payload;
    if (jobq::Status bound = msg.bind(payload); !bound) return bound;
    // Call the service here and return its Status. A long job names the Context and polls
    // ctx.stop_requested(), which turns true when shutdown's deadline passes.
    return jobq::Status::success();
  }

 private:
  jobq::Manager& queues_;
};
