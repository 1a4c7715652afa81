// What a durable lane counts, as the Manager's metrics report it.
#pragma once

#include <cstdint>

namespace jobq {

/// Counters a lane keeps; merged into the Manager's metrics.
struct LaneStats {
  std::uint64_t appended = 0;        ///< jobs this process stored (dispatch)
  std::uint64_t append_failed = 0;   ///< dispatches the store refused or could not reach
  std::uint64_t delivered = 0;       ///< jobs fetched into this process
  std::uint64_t acknowledged = 0;    ///< terminal outcomes stored
  std::uint64_t recovered = 0;       ///< jobs of a dead process this process claimed
  std::uint64_t promoted = 0;        ///< delayed jobs, retries and snoozes this process moved to ready
  std::uint64_t reconnects = 0;      ///< connections re-established after a loss
  std::uint64_t settle_lost = 0;     ///< outcomes that could not be stored (the job runs again later)
  std::uint64_t debounced = 0;       ///< debounced dispatches that took a waiting job's place
  std::int64_t stream_length = -1;   ///< jobs ready in the store, not yet fetched by any process (-1: unknown)
  std::int64_t pending = -1;         ///< jobs fetched by some process and not yet settled
  std::int64_t scheduled = -1;       ///< jobs waiting for their time (delayed, retries, snoozes)
  std::int64_t dead = -1;            ///< dead letters stored
};

}  // namespace jobq
