// Where the engine allocates: mimalloc, or the system allocator in sanitizer builds so that
// AddressSanitizer and ThreadSanitizer see every allocation.
#pragma once

#include <cstddef>
#include <cstdlib>

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

}  // namespace jobq::internal
