// What travels through a queue's ring: a job by value, with a small payload inline.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <exception>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "jobq/ids.hpp"
#include "jobq/internal/cpu.hpp"
#include "jobq/internal/allocator.hpp"
#include "jobq/internal/job_extras.hpp"
#include "jobq/internal/payload_type.hpp"

namespace jobq::internal {

/// Payloads up to this size travel inside the envelope. A block allocated on the producer's core
/// and freed on the worker's costs more than the ring itself, so small payloads never allocate.
inline constexpr std::size_t inline_payload_bytes = 256;

/// A job's payload: JSON bytes followed by SIMDJSON_PADDING bytes (so that simdjson parses them
/// in place), or a typed payload object, moved in from a typed dispatch. Either lives inline up to
/// inline_payload_bytes, else in one heap block. Moving copies only the bytes in use (JSON), moves
/// the object (inline object) or takes the pointer (spilled). A spilled buffer keeps its heap
/// pointer in the first bytes of the inline storage.
class PayloadBuffer {
 public:
  /// Zero bytes that follow JSON text in every buffer: the whole of simdjson's padding. What
  /// simdjson reports for a malformed document can depend on those bytes (an array left open
  /// before the object's next key: TAPE_ERROR when zeros or spaces follow, INCOMPLETE_ARRAY_OR_OBJECT
  /// when a '}' does). Zeroed, the report is the same wherever the payload has been.
  static constexpr std::size_t json_tail_zeros = simdjson::SIMDJSON_PADDING;

  // The heap-pointer slot is zeroed (one store), so that no path reads indeterminate bytes and
  // GCC's flow analysis can see it; the rest of the inline bytes stay unwritten until used.
  PayloadBuffer() noexcept { std::memset(storage_, 0, sizeof(char*)); }
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

  /// Copies JSON `bytes` in; spills to the heap past inline_payload_bytes. False if that
  /// allocation fails.
  bool assign(std::string_view bytes) noexcept {
    release();
    char* target = storage_;
    if (bytes.size() > inline_payload_bytes) {
      target = static_cast<char*>(allocate(bytes.size() + simdjson::SIMDJSON_PADDING));
      if (target == nullptr) return false;
      std::memcpy(storage_, &target, sizeof target);
      spilled_ = true;
    }
    std::memcpy(target, bytes.data(), bytes.size());
    std::memset(target + bytes.size(), 0, json_tail_zeros);
    size_ = static_cast<std::uint32_t>(bytes.size());
    return true;
  }

  /// Copies (`move` false) or moves a payload object of `type` in. False if a spill allocation
  /// fails; an exception from the object's copy leaves the buffer empty.
  bool emplace_object(const ObjectType& type, void* from, bool move) {
    release();
    void* target = storage_;
    const bool spill = type.size > inline_payload_bytes || type.align > alignof(std::max_align_t);
    if (spill) {
      target = allocate_aligned(type.size, type.align);
      if (target == nullptr) return false;
    }
    if (type.trivial) {
      copy_exact(target, from, type.size);
    } else if (move) {
      type.move_construct(target, from);
    } else {
      try {
        type.copy_construct(target, from);
      } catch (...) {
        if (spill) deallocate(target);
        throw;
      }
    }
    if (spill) std::memcpy(storage_, &target, sizeof target);
    spilled_ = spill;
    object_type_ = &type;
    return true;
  }

  /// The object's type, or null for JSON bytes.
  const ObjectType* object_type() const noexcept { return object_type_; }
  const void* object() const noexcept { return spilled_ ? heap() : storage_; }

  const char* data() const noexcept { return spilled_ ? heap() : storage_; }
  std::size_t size() const noexcept { return size_; }
  /// Readable bytes from data(): always at least size() + SIMDJSON_PADDING.
  std::size_t capacity() const noexcept { return spilled_ ? size_ + simdjson::SIMDJSON_PADDING : sizeof storage_; }
  /// The JSON bytes; empty for an object.
  std::string_view view() const noexcept { return {data(), size_}; }

  void release() noexcept {
    if (object_type_ != nullptr) [[unlikely]] {
      if (!object_type_->trivial) object_type_->destroy(spilled_ ? heap() : storage_);
      object_type_ = nullptr;
    }
    if (spilled_) [[unlikely]] deallocate(heap());
    spilled_ = false;
    size_ = 0;
  }

 private:
  /// memcpy of a caller's object, in two overlapping words when it is 8 to 16 bytes (most
  /// structs of scalars), which a call to memcpy would cost more than.
  static void copy_exact(void* to, const void* from, std::size_t size) noexcept {
    if (size >= 8 && size <= 16) {
      std::memcpy(to, from, 8);
      std::memcpy(static_cast<char*>(to) + size - 8, static_cast<const char*>(from) + size - 8, 8);
    } else {
      std::memcpy(to, from, size);
    }
  }
  /// Copies `size` bytes between two inline storages in whole 16-byte steps, which small JSON or
  /// a small trivially copyable object takes in one or two moves rather than a call to memcpy.
  /// Rounding up stays inside both storages: a payload is inline only if it fits.
  static void copy_steps(char* to, const char* from, std::size_t size) noexcept {
    std::memcpy(to, from, 16);
    for (std::size_t offset = 16; offset < size; offset += 16) std::memcpy(to + offset, from + offset, 16);
  }
  char* heap() const noexcept {
    char* pointer;
    std::memcpy(&pointer, storage_, sizeof pointer);
    return pointer;
  }
  void take(PayloadBuffer& other) noexcept {
    size_ = other.size_;
    spilled_ = other.spilled_;
    object_type_ = other.object_type_;
    if (spilled_) {
      std::memcpy(storage_, other.storage_, sizeof(char*));
    } else if (object_type_ != nullptr) {
      if (object_type_->trivial) {
        copy_steps(storage_, other.storage_, object_type_->size);
      } else {
        object_type_->move_construct(storage_, other.storage_);
        object_type_->destroy(other.storage_);
      }
    } else {
      copy_steps(storage_, other.storage_, size_ + json_tail_zeros);
    }
    other.object_type_ = nullptr;
    other.spilled_ = false;
    other.size_ = 0;
  }

  const ObjectType* object_type_ = nullptr;
  std::uint32_t size_ = 0;
  bool spilled_ = false;
  alignas(alignof(std::max_align_t)) char storage_[inline_payload_bytes + simdjson::SIMDJSON_PADDING];
};

/// What a job carries through its ring slot. Its moves are its members' own; Envelope adds the
/// prefetches to them.
struct EnvelopeFields {
  JobId id = 0;
  TypeId type = 0;
  std::uint32_t attempt = 0;
  std::unique_ptr<JobExtras> extras;  ///< null for a job without per-job options
  std::uint64_t stamped = 0;          ///< ticks when it entered the ring; 0 when metrics are off
  PayloadBuffer payload;
};

/// One job in a ring slot. Cache-line aligned, so that a job whose payload is up to 16 bytes
/// crosses the cores in a single line.
struct alignas(64) Envelope : EnvelopeFields {
  /// Slots ahead of the one being filled whose first two lines a producer asks for.
  static constexpr std::size_t write_ahead_slots = 4;
  /// Slots ahead of the one being read whose first two lines a worker asks for.
  static constexpr std::size_t read_ahead_slots = 8;

  Envelope() = default;
  /// The ring builds each slot's envelope with this move, so `this` is the slot being filled.
  /// A slot's lines were last written by a worker's core (it moved the job out), so a
  /// producer's stores to them miss; once a few misses are outstanding the store buffer is full
  /// and every later store of the dispatch waits for them. Asking for a later slot's header and
  /// payload lines now overlaps that wait with the dispatches in between (1 → 1 typed, busy_spin:
  /// 136 → 80 ns a job, bench/throughput.cpp). A move elsewhere (the timer, a bulk batch's
  /// staging) asks for lines it does not need, which costs two instructions.
  Envelope(Envelope&& other) noexcept : EnvelopeFields(std::move(other)) {
    const std::uintptr_t ahead = address_ahead(this, write_ahead_slots);
    prefetch_for_write(reinterpret_cast<const void*>(ahead));
    prefetch_for_write(reinterpret_cast<const void*>(ahead + 64));
  }
  /// The ring moves each job out of its slot into a worker's batch with this assignment, so
  /// `other` is the slot being read. Its lines were written by a producer's core, and the
  /// worker's loads of them miss; asking for the slot a whole batch further on (dequeue_batch
  /// is 8 by default) while this batch runs hides that for a queue with work waiting (2
  /// producers → 1 worker, spin_then_park: 127 → 86 ns a job). A nearer slot would often be the
  /// one a producer is about to fill, and the two cores would pass its lines back and forth.
  Envelope& operator=(Envelope&& other) noexcept {
    EnvelopeFields::operator=(std::move(other));
    const std::uintptr_t ahead = address_ahead(&other, read_ahead_slots);
    prefetch_for_read(reinterpret_cast<const void*>(ahead));
    prefetch_for_read(reinterpret_cast<const void*>(ahead + 64));
    return *this;
  }
  Envelope(const Envelope&) = delete;
  Envelope& operator=(const Envelope&) = delete;
  ~Envelope() = default;

 private:
  /// The address `slots` envelopes past `slot`: an integer, not a pointer into `slot`, so that no
  /// bounds are implied (the slot ahead belongs to the ring's block, or lies past it).
  static std::uintptr_t address_ahead(const Envelope* slot, std::size_t slots) noexcept {
    return reinterpret_cast<std::uintptr_t>(slot) + slots * sizeof(Envelope);
  }
};

static_assert(offsetof(Envelope, payload) == 32, "the envelope header is 32 bytes; the payload follows it");
static_assert(sizeof(PayloadBuffer) == 16 + inline_payload_bytes + simdjson::SIMDJSON_PADDING,
              "the payload's own header (type, size, spill flag) is 16 bytes, then the inline storage");
static_assert(sizeof(Envelope) == 384, "an envelope is six cache lines");

}  // namespace jobq::internal
