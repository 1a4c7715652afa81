// The counting operator new and delete of jobq_bench_cost_per_job (allocation_counter.hpp).
#include "allocation_counter.hpp"

#include <cstddef>
#include <cstdlib>
#include <new>

#include <benchmark/benchmark.h>

#include <jobq/internal/allocator.hpp>

namespace counting {

Counter news;
Counter mallocs;

namespace {

void* allocate(std::size_t size) {
  count(news);
  if (void* block = std::malloc(size == 0 ? 1 : size)) return block;
  throw std::bad_alloc();
}
void* allocate(std::size_t size, std::align_val_t alignment) {
  count(news);
  const auto align = static_cast<std::size_t>(alignment);
  void* block = nullptr;
  if (posix_memalign(&block, align < sizeof(void*) ? sizeof(void*) : align, size == 0 ? 1 : size) == 0) return block;
  throw std::bad_alloc();
}

}  // namespace
}  // namespace counting

void* operator new(std::size_t size) { return counting::allocate(size); }
void* operator new[](std::size_t size) { return counting::allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counting::allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counting::allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t alignment) { return counting::allocate(size, alignment); }
void* operator new[](std::size_t size, std::align_val_t alignment) { return counting::allocate(size, alignment); }
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  try {
    return counting::allocate(size, alignment);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  try {
    return counting::allocate(size, alignment);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* block) noexcept { std::free(block); }
void operator delete[](void* block) noexcept { std::free(block); }
void operator delete(void* block, std::size_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t) noexcept { std::free(block); }
void operator delete(void* block, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete[](void* block, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete(void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, std::align_val_t, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete[](void* block, std::align_val_t, const std::nothrow_t&) noexcept { std::free(block); }

#if JOBQ_BENCH_WRAP_MIMALLOC
// -Wl,--wrap=mi_malloc sends this program's (and libjobq.a's) calls to mi_malloc here, and
// __real_mi_malloc to the real mi_malloc in libmimalloc.
extern "C" {
void* __real_mi_malloc(std::size_t size) noexcept;
void* __wrap_mi_malloc(std::size_t size) noexcept {
  counting::count(counting::mallocs);
  return __real_mi_malloc(size);
}
}
#endif

/// A block from the engine's allocator and one from operator new, each counted exactly once.
const char* counting::problem() {
#if JOBQ_BENCH_WRAP_MIMALLOC
  const std::uint64_t mallocs_before = read(mallocs);
  const std::uint64_t news_before = read(news);
  void* engine_block = jobq::internal::allocate(64);
  benchmark::DoNotOptimize(engine_block);
  jobq::internal::deallocate(engine_block);
  void* block = ::operator new(64);
  benchmark::DoNotOptimize(block);
  ::operator delete(block);
  if (read(mallocs) - mallocs_before != 1) return "jobq::internal::allocate was not counted once";
  if (read(news) - news_before != 1) return "operator new was not counted once";
  return nullptr;
#else
  return "built without -Wl,--wrap=mi_malloc (JOBQ_SYSTEM_ALLOCATOR?): engine allocations cannot be counted";
#endif
}
