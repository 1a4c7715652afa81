// Sign-up must not wait on the mail relay: the web request queues the email and returns.
#pragma once

#include <jobq/jobq.hpp>

#include <string>
#include <string_view>

#include "services.hpp"

namespace shop {

struct SendWelcomeEmailPayload {
  std::string user_id;
  std::string locale;
};
JOBQ_PAYLOAD(SendWelcomeEmailPayload, user_id, locale);

class SendWelcomeEmail {
 public:
  static constexpr std::string_view type_name = "emails:welcome";
  static constexpr std::string_view queue_name = "emails";

  SendWelcomeEmail(jobq::Manager& queues, Mailer& mailer) : queues_(queues), mailer_(mailer) {}

  /// Callers pass plain arguments; the payload layout stays private to this class.
  jobq::Result<jobq::JobId> queue(std::string_view user_id, std::string_view locale) {
    return queues_.dispatch(jobq::Job(type_name), SendWelcomeEmailPayload{std::string(user_id), std::string(locale)});
  }

  jobq::Status handle_task(jobq::Context& /*ctx*/, const jobq::Message& msg) {
    SendWelcomeEmailPayload payload;
    if (jobq::Status bound = msg.bind(payload); !bound) return bound;
    return mailer_.send_welcome(payload.user_id, payload.locale);
  }

 private:
  jobq::Manager& queues_;
  Mailer& mailer_;
};

}  // namespace shop
