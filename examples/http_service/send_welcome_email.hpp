// POST /signup must answer before the mail relay does: the request queues the welcome email and
// returns 202 with the job's id.
#pragma once

#include <jobq/jobq.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "services.hpp"

namespace webapp {

struct SendWelcomeEmailPayload {
  std::string user_id;
};
JOBQ_PAYLOAD(SendWelcomeEmailPayload, user_id);

class SendWelcomeEmail {
 public:
  static constexpr std::string_view type_name = "emails:welcome";
  static constexpr std::string_view queue_name = "emails";

  SendWelcomeEmail(jobq::Manager& queues, Mailer& mailer) : queues_(queues), mailer_(mailer) {}

  /// Callers pass plain arguments; the payload layout stays private to this class.
  jobq::Result<jobq::JobId> queue(std::string_view user_id) {
    return queues_.dispatch(jobq::Job(type_name), SendWelcomeEmailPayload{std::string(user_id)});
  }

  /// A group's welcome emails as one batch: when every email has been sent or has failed for
  /// good, `on_welcomed` runs once with the counts. Returns the batch's id.
  jobq::Result<std::string> queue_group(std::span<const std::string> user_ids, std::string_view on_welcomed) {
    std::vector<std::string> payloads;
    for (const std::string& user_id : user_ids) {
      jobq::Result<std::string> json = jobq::to_json(SendWelcomeEmailPayload{user_id});
      if (!json) return json.error();
      payloads.push_back(*json);
    }
    std::vector<jobq::Job> jobs;
    for (const std::string& payload : payloads) jobs.push_back(jobq::Job(type_name).payload(payload));
    return queues_.batch(jobs, {.on_complete = jobq::Job(on_welcomed)});
  }

  /// The relay's refusals come back as error Statuses: jobq counts them, retries under the
  /// type's policy (main.cpp) and dead-letters the job when its attempts are used up.
  jobq::Status handle_task(jobq::Context& /*ctx*/, const jobq::Message& msg) {
    SendWelcomeEmailPayload payload;
    if (jobq::Status bound = msg.bind(payload); !bound) return bound;
    return mailer_.send_welcome(payload.user_id);
  }

 private:
  jobq::Manager& queues_;
  Mailer& mailer_;
};

}  // namespace webapp
