// A job returned by shutdown, dispatched again.
#include <algorithm>

#include "jobq/stats.hpp"

namespace jobq {

Job ReturnedJob::to_job() const {
  Job job(type);
  job.payload(payload).on_queue(queue);
  if (!idempotency_key.empty()) job.idempotency_key(idempotency_key);
  if (!headers.empty()) job.headers(headers);
  if (!flow.empty()) job.flow_state(flow);
  if (due == std::chrono::system_clock::time_point::max()) {
    job.delay(std::chrono::nanoseconds::max());  // it was to wait forever, and still does
  } else if (due != std::chrono::system_clock::time_point{}) {
    job.delay(std::max(std::chrono::nanoseconds::zero(),
                       std::chrono::duration_cast<std::chrono::nanoseconds>(due - std::chrono::system_clock::now())));
  }
  return job;
}

}  // namespace jobq
