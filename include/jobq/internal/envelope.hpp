// What travels through a queue's ring: a job by value, with a small payload inline.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "jobq/ids.hpp"
#include "jobq/internal/allocator.hpp"
#include "jobq/internal/job_extras.hpp"

namespace jobq::internal {

/// Payloads up to this size travel inside the envelope. A block allocated on the producer's core
/// and freed on the worker's costs more than the ring itself, so small payloads never allocate.
inline constexpr std::size_t inline_payload_bytes = 256;

/// Payload bytes followed by SIMDJSON_PADDING bytes, so that simdjson parses them in place.
/// Moving copies only the bytes in use (inline) or the pointer (spilled). A spilled buffer keeps
/// its heap pointer in the first bytes of the inline storage, so that the inline bytes start
/// right after the size and a small job's header and payload share one cache line.
class PayloadBuffer {
 public:
  PayloadBuffer() noexcept {}  // the inline bytes stay uninitialized until written
  ~PayloadBuffer() { release(); }
  PayloadBuffer(PayloadBuffer&& other) noexcept { take(other); }
  PayloadBuffer& operator=(PayloadBuffer&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  PayloadBuffer(const PayloadBuffer&) = delete;
  PayloadBuffer& operator=(const PayloadBuffer&) = delete;

  /// Copies `bytes` in; spills to the heap past inline_payload_bytes. False if that allocation fails.
  bool assign(std::string_view bytes) noexcept {
    release();
    char* target = storage_;
    if (bytes.size() > inline_payload_bytes) {
      target = static_cast<char*>(allocate(bytes.size() + simdjson::SIMDJSON_PADDING));
      if (target == nullptr) return false;
      std::memcpy(storage_, &target, sizeof target);
    }
    std::memcpy(target, bytes.data(), bytes.size());
    size_ = static_cast<std::uint32_t>(bytes.size());
    return true;
  }

  const char* data() const noexcept { return spilled() ? heap() : storage_; }
  std::size_t size() const noexcept { return size_; }
  /// Readable bytes from data(): always at least size() + SIMDJSON_PADDING.
  std::size_t capacity() const noexcept { return spilled() ? size_ + simdjson::SIMDJSON_PADDING : sizeof storage_; }
  std::string_view view() const noexcept { return {data(), size_}; }

  void release() noexcept {
    if (spilled()) deallocate(heap());
    size_ = 0;
  }

 private:
  bool spilled() const noexcept { return size_ > inline_payload_bytes; }
  char* heap() const noexcept {
    char* pointer;
    std::memcpy(&pointer, storage_, sizeof pointer);
    return pointer;
  }
  void take(PayloadBuffer& other) noexcept {
    size_ = other.size_;
    std::memcpy(storage_, other.storage_, spilled() ? sizeof(char*) : size_);
    other.size_ = 0;
  }

  std::uint32_t size_ = 0;
  char storage_[inline_payload_bytes + simdjson::SIMDJSON_PADDING];
};

/// One job in a ring slot. Cache-line aligned, so that a job whose payload is up to 28 bytes
/// crosses the cores in a single line.
struct alignas(64) Envelope {
  JobId id = 0;
  TypeId type = 0;
  std::uint32_t attempt = 0;
  std::unique_ptr<JobExtras> extras;  ///< null for a job without per-job options
  std::uint64_t stamped = 0;          ///< ticks when it entered the ring; 0 when metrics are off
  PayloadBuffer payload;
};

static_assert(offsetof(Envelope, payload) == 32, "the envelope header is 32 bytes; the payload follows it");
static_assert(sizeof(Envelope) == 384, "an envelope is six cache lines");

}  // namespace jobq::internal
