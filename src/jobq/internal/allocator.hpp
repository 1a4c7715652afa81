// Where the engine allocates: mimalloc, or the system allocator in sanitizer builds so that
// AddressSanitizer and ThreadSanitizer see every allocation.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstddef>

#ifndef JOBQ_SYSTEM_ALLOCATOR
#include <mimalloc.h>
#endif

namespace jobq::internal {

inline void* allocate(std::size_t size) noexcept {
#ifdef JOBQ_SYSTEM_ALLOCATOR
  return std::malloc(size);
#else
  return mi_malloc(size);
#endif
}

inline void deallocate(void* block) noexcept {
#ifdef JOBQ_SYSTEM_ALLOCATOR
  std::free(block);
#else
  mi_free(block);
#endif
}

/// A block of `size` bytes aligned to `align` (a power of two); release it with deallocate().
inline void* allocate_aligned(std::size_t size, std::size_t align) noexcept {
#ifdef JOBQ_SYSTEM_ALLOCATOR
  if (align <= alignof(std::max_align_t)) return std::malloc(size);
  return std::aligned_alloc(align, (size + align - 1) / align * align);
#else
  return mi_malloc_aligned(size, align);
#endif
}

}  // namespace jobq::internal
