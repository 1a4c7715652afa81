// Reports are requested by humans and by other systems (a nightly cron, an admin tool) that send
// JSON rather than C++ structs, so this job is also dispatched raw in main().
#pragma once

#include <jobq/jobq.hpp>

#include <string>
#include <string_view>

#include "services.hpp"

namespace shop {

struct GenerateReportPayload {
  std::string name;
  std::string day;  // "YYYY-MM-DD"
};
JOBQ_PAYLOAD(GenerateReportPayload, name, day);

class GenerateReport {
 public:
  static constexpr std::string_view type_name = "reports:generate";
  static constexpr std::string_view queue_name = "default";

  GenerateReport(jobq::Manager& queues, Reports& reports) : queues_(queues), reports_(reports) {}

  jobq::Result<jobq::JobId> queue(std::string_view name, std::string_view day) {
    return queues_.dispatch(jobq::Job(type_name), GenerateReportPayload{std::string(name), std::string(day)});
  }

  jobq::Status handle_task(jobq::Context& ctx, const jobq::Message& msg) {
    GenerateReportPayload payload;
    if (jobq::Status bound = msg.bind(payload); !bound) return bound;
    for (int chunk = 0; chunk < Reports::chunks_per_report; ++chunk) {
      // A long job polls its stop token so that shutdown's deadline can cut it short instead of
      // waiting for the whole report.
      if (ctx.stop_requested()) return jobq::Status::error("interrupted by shutdown");
      reports_.build_chunk(payload.name, payload.day, chunk);
    }
    reports_.publish(payload.name, payload.day);
    return jobq::Status::success();
  }

 private:
  jobq::Manager& queues_;
  Reports& reports_;
};

}  // namespace shop
