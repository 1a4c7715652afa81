// The baseline of bench/compile_time/run: the standard headers a job-queue user's file has anyway.
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

std::function<void()> send_welcome(std::string user_id) {
  return [id = std::move(user_id)] { (void)id.size(); };
}
