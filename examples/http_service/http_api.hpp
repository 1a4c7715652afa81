// The service's HTTP routes: each one is a few lines that turn a request into a jobq call and
// the call's Result (or jobq::Error) into a status code and a JSON body.
#pragma once

#include <httplib.h>
#include <jobq/jobq.hpp>

#include <functional>

#include "generate_report.hpp"
#include "send_welcome_email.hpp"

namespace webapp {

class HttpApi {
 public:
  /// `request_stop` is called by POST /shutdown, after the answer is ready; it must not wait for
  /// the server to stop (it runs on one of the server's own threads).
  HttpApi(jobq::Manager& queues, SendWelcomeEmail& welcome_email, GenerateReport& generate_report,
          std::function<void()> request_stop);

  /// Adds every route to `server`. This object must outlive the server's listening.
  void mount(httplib::Server& server);

 private:
  void signup(const httplib::Request& request, httplib::Response& response);
  void group_signup(const httplib::Request& request, httplib::Response& response);
  void batch_status(const httplib::Request& request, httplib::Response& response);
  void report(const httplib::Request& request, httplib::Response& response);
  void metrics(const httplib::Request& request, httplib::Response& response);
  void inspect(const httplib::Request& request, httplib::Response& response);
  void pause_or_resume(const httplib::Request& request, httplib::Response& response);
  void requeue_dead(const httplib::Request& request, httplib::Response& response);
  void purge_dead(const httplib::Request& request, httplib::Response& response);
  void shutdown(const httplib::Request& request, httplib::Response& response);

  jobq::Manager& queues_;
  SendWelcomeEmail& welcome_email_;
  GenerateReport& generate_report_;
  std::function<void()> request_stop_;
};

}  // namespace webapp
