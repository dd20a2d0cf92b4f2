// juice/backends/cuda/pinned_staging.hpp
//
// juice::cuda's upload staging: a small ring of pinned host buffers (cudaMallocHost) with an event
// each. An upload copies the host array into the next slot and enqueues the copy from there, so it
// returns without waiting for the device and the caller may reuse its array at once (the contract
// of a pageable cudaMemcpyAsync, which the driver stages synchronously). A slot is reused only after
// the copy that last read it has finished: cudaEventSynchronize on that slot's event, nothing else.
// Sizes: staging.hpp (every slot grows together, only on demand; uploads above
// staging_limit_bytes bypass the ring with a plain cudaMemcpyAsync). Owned by the backend's
// context; freed by it after its stream has finished.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <utility>

#include <cuda_runtime.h>

#include "juice/backends/cuda/error.hpp"
#include "juice/backends/cuda/staging.hpp"

namespace juice::cuda_detail {

class pinned_staging {
public:
  pinned_staging() = default;
  pinned_staging(const pinned_staging&) = delete;
  pinned_staging& operator=(const pinned_staging&) = delete;
  ~pinned_staging() { release(); }

  // dst[0, bytes) = src[0, bytes) on `stream` (the current device's), src copied before return;
  // returns the bytes of pinned memory newly allocated (0 unless the slots grew).
  std::size_t upload(void* dst, const void* src, std::size_t bytes, cudaStream_t stream) {
    if (!staged(bytes)) {
      if (bytes > 0) JUICE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
      return 0;
    }
    const std::size_t grown = grow(staging_capacity(capacity_, bytes));
    slot& s = slots_[next_];
    next_ = (next_ + 1) % slots_.size();
    JUICE_CUDA_CHECK(cudaEventSynchronize(s.read));  // the copy that last read this slot is done
    std::memcpy(s.host, src, bytes);
    JUICE_CUDA_CHECK(cudaMemcpyAsync(dst, s.host, bytes, cudaMemcpyHostToDevice, stream));
    JUICE_CUDA_CHECK(cudaEventRecord(s.read, stream));
    return grown;
  }

  [[nodiscard]] std::size_t capacity() const { return capacity_; }  // bytes per slot

  // Waits for the copies still reading the slots, then frees them (errors ignored: called from
  // destructors, where the memory goes anyway).
  void release() noexcept {
    for (slot& s : slots_) {
      if (s.read) {
        cudaEventSynchronize(s.read);
        cudaEventDestroy(s.read);
      }
      if (s.host) cudaFreeHost(s.host);
      s = {};
    }
    capacity_ = 0;
  }

private:
  struct slot {
    void* host = nullptr;
    cudaEvent_t read = nullptr;  // recorded after the copy that reads `host`
  };

  // Every slot reallocated to `capacity` bytes when that is more than they have; returns the bytes
  // allocated. A failure leaves capacity_ 0, so the next upload tries again from scratch.
  std::size_t grow(std::size_t capacity) {
    if (capacity == capacity_) return 0;
    capacity_ = 0;
    for (slot& s : slots_) {
      if (s.read) JUICE_CUDA_CHECK(cudaEventSynchronize(s.read));
      else JUICE_CUDA_CHECK(cudaEventCreateWithFlags(&s.read, cudaEventDisableTiming));
      if (s.host) JUICE_CUDA_CHECK(cudaFreeHost(std::exchange(s.host, nullptr)));
      JUICE_CUDA_CHECK(cudaMallocHost(&s.host, capacity));
    }
    capacity_ = capacity;
    return capacity * slots_.size();
  }

  std::array<slot, staging_slots> slots_{};
  std::size_t capacity_ = 0, next_ = 0;
};

}  // namespace juice::cuda_detail
