// juice/backends/cuda/nccl.hpp
//
// juice::nccl_communicator: one rank of an NCCL communicator (an RAII ncclComm_t) bound to the
// juice::cuda backend object whose stream it enqueues on. It satisfies juice::GradientReducer for
// juice::cuda views of float and double, so `juice::all_reduced<juice::adamw, nccl_communicator>`
// trains data-parallel replicas of transformer<cuda, T> (juice/optim/data_parallel.hpp;
// docs/scaling.md). all_reduce_mean is one ncclAllReduce with ncclAvg (NCCL >= 2.10) over the
// whole flat gradient block, in place, on the backend's stream: it is ordered after the backward
// pass and before the optimizer's kernels without any host synchronisation. Two ways to build the
// group:
//   - one process per GPU (mpirun/srun): rank 0 calls nccl_communicator::unique_id(), broadcasts
//     the id's bytes over the launcher's channel (MPI_Bcast), and every rank constructs
//     nccl_communicator(backend, id, rank, size) with its backend on its own device;
//   - one process driving all local GPUs: for_backends(backends) builds the whole group at once
//     (ncclCommInitAll), rank i on backends[i]'s device; then run each rank in its own host thread
//     (an NCCL collective called from one thread for several ranks of a group must be wrapped in
//     ncclGroupStart/End, which an optimizer step, launching kernels after the reduce, cannot be).
// Every NCCL call is checked (juice/backends/cuda/nccl_error.hpp). Target juice::nccl; nvcc.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <cuda_runtime.h>
#include <nccl.h>

#include "juice/backends/cuda/cuda_backend.hpp"
#include "juice/backends/cuda/error.hpp"
#include "juice/backends/cuda/nccl_error.hpp"
#include "juice/concepts/gradient_reducer.hpp"
#include "juice/core/error.hpp"

#if NCCL_VERSION_CODE < NCCL_VERSION(2, 10, 0)
#error "juice/backends/cuda/nccl.hpp needs NCCL 2.10 or newer (ncclAvg)"
#endif

namespace juice {

namespace nccl_detail {

template <class T>
constexpr ncclDataType_t data_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "juice::nccl_communicator reduces float and double gradients (fp32 master gradients under bf16)");
  if constexpr (std::is_same_v<T, float>)
    return ncclFloat32;
  else
    return ncclFloat64;
}

// The device a backend's stream belongs to (the device it was created on).
inline int device_of(const cuda& backend) {
  int device = 0;
  JUICE_CUDA_CHECK(cudaStreamGetDevice(backend.stream(), &device));
  return device;
}

// Makes `device` current for a scope and restores the previous one (NCCL initialises on the current device).
class device_scope {
public:
  explicit device_scope(int device) {
    JUICE_CUDA_CHECK(cudaGetDevice(&previous_));
    JUICE_CUDA_CHECK(cudaSetDevice(device));
  }
  device_scope(const device_scope&) = delete;
  device_scope& operator=(const device_scope&) = delete;
  ~device_scope() { cudaSetDevice(previous_); }  // no throw from a destructor; setting back cannot fail here

private:
  int previous_ = 0;
};

}  // namespace nccl_detail

class nccl_communicator {
public:
  // A fresh group id; create it on one rank and send its bytes (sizeof(ncclUniqueId)) to the others.
  static ncclUniqueId unique_id() {
    ncclUniqueId id{};
    JUICE_NCCL_CHECK(ncclGetUniqueId(&id));
    return id;
  }

  // Rank `rank` of a group of `size` ranks named `id`, on `backend`'s device and stream. Collective:
  // blocks until all `size` ranks have joined.
  nccl_communicator(cuda backend, const ncclUniqueId& id, int rank, int size) : backend_(std::move(backend)) {
    if (size < 1 || rank < 0 || rank >= size)
      throw invalid_argument("juice::nccl_communicator: rank " + std::to_string(rank) + " is not in a group of " +
                             std::to_string(size) + " ranks (need 0 <= rank < size).");
    nccl_detail::device_scope on(nccl_detail::device_of(backend_));
    JUICE_NCCL_CHECK(ncclCommInitRank(&comm_, size, id, rank));
    rank_ = rank;
    size_ = size;
  }

  // The whole group in this process: rank i on backends[i]'s device (distinct devices, as NCCL
  // requires). Returns the communicators in rank order.
  static std::vector<nccl_communicator> for_backends(const std::vector<cuda>& backends) {
    if (backends.empty()) throw invalid_argument("juice::nccl_communicator::for_backends: no backends given.");
    std::vector<int> devices;
    for (const auto& b : backends) devices.push_back(nccl_detail::device_of(b));
    std::vector<ncclComm_t> comms(backends.size(), nullptr);
    JUICE_NCCL_CHECK(ncclCommInitAll(comms.data(), static_cast<int>(comms.size()), devices.data()));
    std::vector<nccl_communicator> out;
    out.reserve(comms.size());
    for (std::size_t i = 0; i < comms.size(); ++i)
      out.push_back(nccl_communicator(backends[i], comms[i], static_cast<int>(i), static_cast<int>(comms.size())));
    return out;
  }

  nccl_communicator(const nccl_communicator&) = delete;
  nccl_communicator& operator=(const nccl_communicator&) = delete;
  nccl_communicator(nccl_communicator&& o) noexcept
      : backend_(o.backend_), comm_(std::exchange(o.comm_, nullptr)), rank_(o.rank_), size_(o.size_) {}
  nccl_communicator& operator=(nccl_communicator&& o) noexcept {
    if (this != &o) {
      release();
      backend_ = o.backend_;
      comm_ = std::exchange(o.comm_, nullptr);
      rank_ = o.rank_;
      size_ = o.size_;
    }
    return *this;
  }
  ~nccl_communicator() { release(); }

  // --- juice::GradientReducer<nccl_communicator, cuda, T> for T = float, double ---
  // Replaces v by the mean of every rank's v, enqueued on the backend's stream (ncclAvg: NCCL sums
  // and scales by 1/size, the same result on every rank).
  template <class T>
  void all_reduce_mean(device_span<T> v) {
    if (v.size() == 0) return;
    JUICE_NCCL_CHECK(ncclAllReduce(v.data(), v.data(), v.size(), nccl_detail::data_type<T>(), ncclAvg, comm_, backend_.stream()));
  }
  [[nodiscard]] std::size_t rank() const { return static_cast<std::size_t>(rank_); }  // in [0, size())
  [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(size_); }  // number of ranks

  // The raw communicator, for further NCCL calls (broadcasting parameters, reducing metrics).
  [[nodiscard]] ncclComm_t get() const { return comm_; }
  // The backend whose stream the collectives are enqueued on.
  [[nodiscard]] const cuda& backend() const { return backend_; }

private:
  nccl_communicator(cuda backend, ncclComm_t comm, int rank, int size)
      : backend_(std::move(backend)), comm_(comm), rank_(rank), size_(size) {}

  void release() noexcept {
    // Errors are ignored: no throw from a destructor, and the communicator goes anyway. The
    // backend (and its stream) outlives the communicator: members are destroyed after this body.
    if (comm_) ncclCommDestroy(comm_);
    comm_ = nullptr;
  }

  cuda backend_;
  ncclComm_t comm_ = nullptr;
  int rank_ = 0;
  int size_ = 1;
};

static_assert(GradientReducer<nccl_communicator, cuda, float> && GradientReducer<nccl_communicator, cuda, double>,
              "juice::nccl_communicator must satisfy juice::GradientReducer for juice::cuda");

}  // namespace juice
