// The store behind keep_allocate (kept_memory.hpp): size classes of 128-byte steps up to 16 KiB and
// powers of two up to 256 KiB, carved from 1 MiB mappings, each class with a free list; a larger
// block is a mapping of its own. Every block carries a 128-byte header that names its class.
//
// Why 128 and not 64: a ring producer is written by its producer thread and by the workers, and
// the one beside it may be another thread's. Two objects in the two lines of one 128-byte pair
// are fetched together by the adjacent-line prefetcher, and with 64-byte spacing that made raw
// 1->1 dispatch about 25 % slower (bench/end_to_end_1to1.cpp).
#include "jobq/internal/kept_memory.hpp"

#include <sys/mman.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace jobq::internal {

#ifdef JOBQ_SYSTEM_ALLOCATOR
// Sanitizer builds: the system allocator, so that AddressSanitizer and ThreadSanitizer see every
// block (what is resident is not measured there).
void* keep_allocate(std::size_t size) noexcept { return std::aligned_alloc(128, (size + 127) / 128 * 128); }
void keep_release(void* block) noexcept { std::free(block); }
#else
namespace {

constexpr std::size_t header_bytes = 128;
constexpr std::size_t step = 128;
constexpr std::size_t step_classes = 128;  // 128 B, 256 B, ... 16 KiB
constexpr std::size_t power_classes = 4;   // 32, 64, 128, 256 KiB
constexpr std::size_t classes = step_classes + power_classes;
constexpr std::size_t chunk_bytes = std::size_t{1} << 20;
constexpr std::uint32_t mapped_alone = classes;  // the class of a block with a mapping of its own

struct Header {
  std::uint32_t size_class;
  std::size_t mapped;  // for a block mapped alone: the bytes mapped, header included
};
static_assert(sizeof(Header) <= header_bytes);

std::size_t class_bytes(std::size_t size_class) noexcept {
  if (size_class < step_classes) return (size_class + 1) * step;
  return (std::size_t{16} << 10) << (size_class - step_classes + 1);
}

/// The class whose blocks hold `bytes` (header included), or mapped_alone.
std::uint32_t class_of(std::size_t bytes) noexcept {
  if (bytes <= step_classes * step) return static_cast<std::uint32_t>((bytes + step - 1) / step - 1);
  for (std::size_t size_class = step_classes; size_class < classes; ++size_class) {
    if (bytes <= class_bytes(size_class)) return static_cast<std::uint32_t>(size_class);
  }
  return mapped_alone;
}

void write_header(char* block, const Header& header) noexcept { std::memcpy(block, &header, sizeof header); }

void* map(std::size_t bytes) noexcept {
  void* mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return mapping == MAP_FAILED ? nullptr : mapping;
}

struct Store {
  std::mutex mutex;
  std::array<void*, classes> free_blocks{};  // each links to the next through its first word
  std::array<char*, classes> unused{};       // the rest of the class's newest mapping
  std::array<char*, classes> unused_end{};
};

/// Never destroyed: blocks may come back while the process exits, after static destructors ran.
Store& store() {
  static Store* const kept = new Store();
  return *kept;
}

}  // namespace

void* keep_allocate(std::size_t size) noexcept {
  const std::size_t bytes = size + header_bytes;
  const std::uint32_t size_class = class_of(bytes);
  char* block = nullptr;
  if (size_class == mapped_alone) {
    const std::size_t mapped = (bytes + 4095) / 4096 * 4096;
    block = static_cast<char*>(map(mapped));
    if (block == nullptr) return nullptr;
    write_header(block, Header{size_class, mapped});
    return block + header_bytes;
  }
  Store& kept = store();
  const std::size_t block_bytes = class_bytes(size_class);
  {
    const std::lock_guard lock(kept.mutex);
    if (void* reused = kept.free_blocks[size_class]) {
      std::memcpy(&kept.free_blocks[size_class], reused, sizeof(void*));
      block = static_cast<char*>(reused);
    } else {
      if (kept.unused_end[size_class] - kept.unused[size_class] < static_cast<std::ptrdiff_t>(block_bytes)) {
        const std::size_t mapped = block_bytes > chunk_bytes ? block_bytes : chunk_bytes;
        char* mapping = static_cast<char*>(map(mapped));
        if (mapping == nullptr) return nullptr;
        kept.unused[size_class] = mapping;  // the old mapping's tail, under one block, is left
        kept.unused_end[size_class] = mapping + mapped;
      }
      block = kept.unused[size_class];
      kept.unused[size_class] += block_bytes;
    }
  }
  write_header(block, Header{size_class, 0});
  return block + header_bytes;
}

void keep_release(void* given) noexcept {
  if (given == nullptr) return;
  char* block = static_cast<char*>(given) - header_bytes;
  Header header;
  std::memcpy(&header, block, sizeof header);
  if (header.size_class == mapped_alone) {
    munmap(block, header.mapped);
    return;
  }
  Store& kept = store();
  const std::lock_guard lock(kept.mutex);
  std::memcpy(block, &kept.free_blocks[header.size_class], sizeof(void*));
  kept.free_blocks[header.size_class] = block;
}
#endif

}  // namespace jobq::internal
