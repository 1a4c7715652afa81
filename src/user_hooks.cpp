// The user's log sink, or stderr, behind a call that cannot throw.
#include "jobq/internal/user_hooks.hpp"

#include "jobq/internal/stderr_log.hpp"

namespace jobq::internal {

void UserHooks::log(LogLevel level, const std::string& message) const noexcept {
  if (!logs(level)) return;
  try {
    if (log_sink_) {
      log_sink_(level, message);
      return;
    }
    log_to_stderr(level, message);
  } catch (...) {  // NOLINT(bugprone-empty-catch): logging must never take a thread down
  }
}

}  // namespace jobq::internal
