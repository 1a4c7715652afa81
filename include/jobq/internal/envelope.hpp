// What travels through a queue's ring: a job by value, with a small payload inline.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <string_view>

#include "jobq/ids.hpp"
#include "jobq/internal/allocator.hpp"

namespace jobq::internal {

/// Payloads up to this size travel inside the envelope. A block allocated on the producer's core
/// and freed on the worker's costs more than the ring itself, so small payloads never allocate.
inline constexpr std::size_t inline_payload_bytes = 256;

/// Payload bytes followed by SIMDJSON_PADDING bytes, so that simdjson parses them in place.
/// Moving copies only the bytes in use (inline) or the pointer (spilled).
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
    char* target = inline_;
    if (bytes.size() > inline_payload_bytes) {
      target = static_cast<char*>(allocate(bytes.size() + simdjson::SIMDJSON_PADDING));
      if (target == nullptr) return false;
      heap_ = target;
    }
    std::memcpy(target, bytes.data(), bytes.size());
    size_ = static_cast<std::uint32_t>(bytes.size());
    return true;
  }

  const char* data() const noexcept { return heap_ != nullptr ? heap_ : inline_; }
  std::size_t size() const noexcept { return size_; }
  /// Readable bytes from data(): always at least size() + SIMDJSON_PADDING.
  std::size_t capacity() const noexcept {
    return heap_ != nullptr ? size_ + simdjson::SIMDJSON_PADDING : sizeof inline_;
  }
  std::string_view view() const noexcept { return {data(), size_}; }

  void release() noexcept {
    if (heap_ != nullptr) deallocate(heap_);
    heap_ = nullptr;
    size_ = 0;
  }

 private:
  void take(PayloadBuffer& other) noexcept {
    heap_ = other.heap_;
    size_ = other.size_;
    if (heap_ == nullptr) std::memcpy(inline_, other.inline_, size_);
    other.heap_ = nullptr;
    other.size_ = 0;
  }

  char* heap_ = nullptr;
  std::uint32_t size_ = 0;
  char inline_[inline_payload_bytes + simdjson::SIMDJSON_PADDING];
};

struct Envelope {
  JobId id = 0;
  TypeId type = 0;
  std::uint32_t attempt = 0;
  PayloadBuffer payload;
};

static_assert(alignof(Envelope) <= alignof(std::max_align_t),
              "the ring allocates blocks with malloc's alignment: Envelope must not be over-aligned");

}  // namespace jobq::internal
