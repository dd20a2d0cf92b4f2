// juice/backends/cuda/staging.hpp
//
// The sizes of juice::cuda's pinned upload staging (pinned_staging.hpp), host-only so that a test
// backend can model them (tests/support/checked_device.hpp). An upload of at most
// staging_limit_bytes is copied into one of staging_slots pinned host buffers, which all have the
// same capacity; an upload that does not fit grows every slot to staging_capacity(capacity, bytes)
// at once, so that which slot the next upload lands in never decides whether it allocates: after
// the uploads of a first training step, later steps of the same shape grow nothing. Larger uploads
// (a model's parameters, a checkpoint) bypass the staging.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>

namespace juice {

inline constexpr std::size_t staging_slots = 4;
inline constexpr std::size_t staging_limit_bytes = std::size_t{4} << 20;  // 4 MiB per slot at most
inline constexpr std::size_t staging_min_bytes = std::size_t{64} << 10;   // the first capacity at least

// Whether an upload of `bytes` goes through the staging slots.
[[nodiscard]] constexpr bool staged(std::size_t bytes) { return bytes > 0 && bytes <= staging_limit_bytes; }

// Every slot's capacity after an upload of `bytes` when it was `capacity`: unchanged when the upload
// fits or bypasses the staging, else the next power of two of `bytes` (at least staging_min_bytes).
[[nodiscard]] constexpr std::size_t staging_capacity(std::size_t capacity, std::size_t bytes) {
  if (!staged(bytes) || bytes <= capacity) return capacity;
  return std::max(staging_min_bytes, std::bit_ceil(bytes));
}

}  // namespace juice
