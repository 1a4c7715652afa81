// The growable byte buffer that payloads are serialized into. std::string's append pays for
// aliasing checks and exception-safe reallocation on every call; serializing a small payload
// makes dozens of appends, so this buffer keeps the common append to a bounds check and a copy.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>

#include "jobq/internal/allocator.hpp"

namespace jobq::internal {

class JsonBuffer {
 public:
  JsonBuffer() = default;
  ~JsonBuffer() { deallocate(data_); }
  JsonBuffer(const JsonBuffer&) = delete;
  JsonBuffer& operator=(const JsonBuffer&) = delete;

  void clear() noexcept { size_ = 0; }
  /// Drops the bytes past `size` (never grows).
  void truncate(std::size_t size) noexcept { size_ = size < size_ ? size : size_; }
  std::size_t size() const noexcept { return size_; }
  std::string_view view() const noexcept { return {data_, size_}; }

  /// Makes room for `count` more bytes and returns where they go; the caller fills them all.
  char* extend(std::size_t count) {
    if (size_ + count > capacity_) [[unlikely]] grow(size_ + count);
    char* at = data_ + size_;
    size_ += count;
    return at;
  }
  void append(std::string_view bytes) {
    if (!bytes.empty()) std::memcpy(extend(bytes.size()), bytes.data(), bytes.size());
  }
  void push_back(char c) { *extend(1) = c; }

 private:
  void grow(std::size_t needed) {
    std::size_t capacity = capacity_ == 0 ? 256 : capacity_ * 2;
    while (capacity < needed) capacity *= 2;
    auto* bigger = static_cast<char*>(allocate(capacity));
    if (bigger == nullptr) throw std::bad_alloc();
    if (size_ != 0) std::memcpy(bigger, data_, size_);
    deallocate(data_);
    data_ = bigger;
    capacity_ = capacity;
  }

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace jobq::internal
