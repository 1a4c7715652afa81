// Name → dense id, open addressing over one flat array. Built at configuration time, read-only
// once workers start; lookups hash the name once and usually touch one slot.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "jobq/ids.hpp"

namespace jobq::internal {

/// The eight bytes at `at` as one word (an unaligned load).
inline std::uint64_t load_word(const char* at) noexcept {
  std::uint64_t word;
  std::memcpy(&word, at, 8);
  return word;
}

/// 64-bit hash of short names, eight bytes per step.
inline std::uint64_t hash_name(std::string_view name) noexcept {
  std::uint64_t hash = 0x9E3779B97F4A7C15ull ^ name.size();
  const char* cursor = name.data();
  std::size_t left = name.size();
  auto mix = [&hash](std::uint64_t word) {
    hash = (hash ^ word) * 0xBF58476D1CE4E5B9ull;
    hash ^= hash >> 31;
  };
  for (; left > 8; left -= 8, cursor += 8) mix(load_word(cursor));
  std::uint64_t word = 0;
  if (name.size() >= 8) {
    // The last 8 bytes in one load, overlapping what was already mixed: a byte-by-byte copy of
    // the tail stalls the wide load that follows it.
    word = load_word(name.data() + name.size() - 8);
  } else {
    for (std::size_t index = 0; index < left; ++index) {
      word |= std::uint64_t{static_cast<unsigned char>(cursor[index])} << (8 * index);
    }
  }
  mix(word);
  return hash * 0x94D049BB133111EBull;
}

/// `a == b`, inline: type names are short, and a call to memcmp costs more than comparing them
/// eight bytes at a time, in the steps hash_name() takes (the last word overlapping the one
/// before it).
inline bool same_name(std::string_view a, std::string_view b) noexcept {
  const std::size_t size = a.size();
  if (size != b.size()) return false;
  if (size < 8) return a == b;
  auto differ_at = [&](std::size_t offset) { return load_word(a.data() + offset) ^ load_word(b.data() + offset); };
  std::uint64_t differ = differ_at(size - 8);
  for (std::size_t offset = 0; offset + 8 < size; offset += 8) differ |= differ_at(offset);
  return differ == 0;
}

class FlatNameMap {
 public:
  /// Adds `name` (whose bytes must outlive the map). Returns false if it is already present.
  bool insert(std::string_view name, std::uint32_t value) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    if (!place(name, hash_name(name), value)) return false;
    ++count_;
    return true;
  }

  /// The value stored under `name`, or no_id.
  std::uint32_t find(std::string_view name) const noexcept {
    if (slots_.empty()) return no_id;
    const std::uint64_t hash = hash_name(name);
    for (std::size_t index = hash & mask_;; index = (index + 1) & mask_) {
      const Slot& slot = slots_[index];
      if (slot.value == no_id) return no_id;
      if (slot.hash == hash && same_name(slot.name, name)) [[likely]] return slot.value;
    }
  }

  std::size_t size() const noexcept { return count_; }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::string_view name;
    std::uint32_t value = no_id;
  };

  bool place(std::string_view name, std::uint64_t hash, std::uint32_t value) {
    for (std::size_t index = hash & mask_;; index = (index + 1) & mask_) {
      Slot& slot = slots_[index];
      if (slot.value == no_id) {
        slot = Slot{hash, name, value};
        return true;
      }
      if (slot.hash == hash && slot.name == name) return false;
    }
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.value != no_id) place(slot.name, slot.hash, slot.value);
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t count_ = 0;
};

}  // namespace jobq::internal
