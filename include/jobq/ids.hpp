// Identifier types shared across the engine.
#pragma once

#include <cstdint>
#include <limits>

namespace jobq {

/// A job's id, unique within one Manager's in-memory queues; ids from one producing thread
/// increase. A durable queue's ids come from a counter in Redis: unique within that queue across
/// every process that shares it, and independent of the in-memory ids.
using JobId = std::uint64_t;
/// A registered job type's interned id: dense, from 0, in registration order.
using TypeId = std::uint32_t;
/// A queue's index in Config::queues.
using QueueId = std::uint32_t;

inline constexpr std::uint32_t no_id = std::numeric_limits<std::uint32_t>::max();

}  // namespace jobq
