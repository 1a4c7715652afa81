// What a user's translation unit compiles to dispatch one typed job: the measured side of
// bench/compile_time/run.
#include <jobq/jobq.hpp>

struct WelcomePayload {
  std::string user_id;
  std::optional<std::string> locale;
};
JOBQ_PAYLOAD(WelcomePayload, user_id, locale);

jobq::Result<jobq::JobId> send_welcome(jobq::Manager& queues, std::string user_id) {
  return queues.dispatch(jobq::Job("emails:welcome"), WelcomePayload{std::move(user_id), std::nullopt});
}
