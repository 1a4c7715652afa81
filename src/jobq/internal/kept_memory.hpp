// Memory for what outlives the thread that made it: producer states and what the rings keep for
// them (ring producers, their block indexes, ring blocks). A producer state is made by the thread
// that first dispatches and kept after it exits, for the next thread to adopt. Taken from that
// thread's own heap (mimalloc's is per thread), each such block would keep a page of the exited
// thread's heap resident for as long as it lives: about 120 KiB per thread of a burst, where the
// blocks themselves are 14. So they come from here instead: one process-wide store, in size
// classes, taken under a lock (states and ring blocks are made rarely: a ring recycles its blocks).
// Its memory is reused, not given back to the system: it follows the most producers there were.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

namespace jobq::internal {

/// `size` bytes, aligned to 128 (no two blocks share a 128-byte pair of lines); null when no
/// memory can be had.
void* keep_allocate(std::size_t size) noexcept;
/// Gives back a block from keep_allocate (null is ignored).
void keep_release(void* block) noexcept;

/// A std allocator over keep_allocate.
template <class T>
struct KeptAllocator {
  using value_type = T;
  static_assert(alignof(T) <= 128, "kept memory is aligned to 128 bytes");
  KeptAllocator() noexcept = default;
  template <class U>
  KeptAllocator(const KeptAllocator<U>&) noexcept {}  // NOLINT: converting, as allocators are
  T* allocate(std::size_t count) {
    if (void* block = keep_allocate(count * sizeof(T))) return static_cast<T*>(block);
    throw std::bad_alloc();
  }
  void deallocate(T* block, std::size_t) noexcept { keep_release(block); }
  template <class U>
  bool operator==(const KeptAllocator<U>&) const noexcept {
    return true;
  }
};

/// An array of `count` value-initialized T in kept memory, owned like unique_ptr<T[]>.
template <class T>
struct KeptArrayDelete {
  std::size_t count = 0;
  void operator()(T* items) const noexcept {
    for (std::size_t index = count; index != 0;) items[--index].~T();
    keep_release(items);
  }
};
template <class T>
using KeptArray = std::unique_ptr<T[], KeptArrayDelete<T>>;

template <class T>
KeptArray<T> make_kept_array(std::size_t count) {
  static_assert(alignof(T) <= 128, "kept memory is aligned to 128 bytes");
  static_assert(std::is_nothrow_default_constructible_v<T>);
  void* block = keep_allocate((count == 0 ? 1 : count) * sizeof(T));
  if (block == nullptr) throw std::bad_alloc();
  T* items = static_cast<T*>(block);
  for (std::size_t index = 0; index < count; ++index) ::new (static_cast<void*>(items + index)) T();
  return KeptArray<T>(items, KeptArrayDelete<T>{count});
}

}  // namespace jobq::internal
