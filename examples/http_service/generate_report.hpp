// Reports are slow and can wait: they get their own queue with one worker and a small capacity,
// so that a burst of report requests is refused with 503 instead of piling up behind sign-ups.
#pragma once

#include <jobq/jobq.hpp>

#include <string>
#include <string_view>

#include "services.hpp"

namespace webapp {

struct GenerateReportPayload {
  std::string name;
  std::string day;
};
JOBQ_PAYLOAD(GenerateReportPayload, name, day);

class GenerateReport {
 public:
  static constexpr std::string_view type_name = "reports:generate";
  static constexpr std::string_view queue_name = "reports";

  GenerateReport(jobq::Manager& queues, ReportBuilder& builder) : queues_(queues), builder_(builder) {}

  jobq::Result<jobq::JobId> queue(std::string_view name, std::string_view day) {
    return queues_.dispatch(jobq::Job(type_name), GenerateReportPayload{std::string(name), std::string(day)});
  }

  /// The context's stop token fires when shutdown's deadline passes with this job still running.
  jobq::Status handle_task(jobq::Context& ctx, const jobq::Message& msg) {
    GenerateReportPayload payload;
    if (jobq::Status bound = msg.bind(payload); !bound) return bound;
    return builder_.build(payload.name, payload.day, ctx.stop_token());
  }

 private:
  jobq::Manager& queues_;
  ReportBuilder& builder_;
};

}  // namespace webapp
