// juice/backends/cuda/nccl.hpp
//
// juice::nccl_communicator: one rank of an NCCL communicator (an RAII ncclComm_t) bound to the
// juice::cuda backend object whose stream it enqueues on. It satisfies juice::GradientReducer for
// juice::cuda views of float and double, so `juice::all_reduced<juice::adamw, nccl_communicator>`
// trains data-parallel replicas of transformer<cuda, T> (juice/optim/data_parallel.hpp;
// docs/scaling.md). all_reduce_mean is one ncclAllReduce with ncclAvg (NCCL >= 2.10) over the
// whole flat gradient block, in place, on the backend's stream: it is ordered after the backward
// pass and before the optimizer's kernels without any host synchronisation. all_reduce_sum (the
// trainers' finiteness flags: a few host doubles) goes through a small device buffer and waits for
// the result. Two ways to build the group:
//   - one process per GPU (mpirun/srun): rank 0 calls nccl_communicator::unique_id(), broadcasts
//     the id's bytes over the launcher's channel (MPI_Bcast; juice/backends/cuda/mpi_nccl.hpp does
//     this), and every rank constructs nccl_communicator(backend, id, rank, size) with its
//     backend's device current;
//   - one process driving several local GPUs: for_devices(devices) creates a backend on each
//     device and builds the whole group at once (ncclCommInitAll), rank i on devices[i]; then run
//     each rank in its own host thread (an NCCL collective called from one thread for several ranks
//     of a group must be wrapped in ncclGroupStart/End, which an optimizer step, launching kernels
//     after the reduce, cannot be).
// The device is recorded when the communicator is made (the current device, which must be the
// backend's), never asked of the stream, so every CUDA 12 and 13 runtime builds it. A communicator
// whose NCCL call failed, or that is destroyed while an exception unwinds the stack (another rank
// may never arrive at the next collective), is aborted (ncclCommAbort: pending operations are
// cancelled, nothing waits for the peers); otherwise ncclCommDestroy releases it. Every NCCL call
// is checked (juice/backends/cuda/nccl_error.hpp). Target juice::nccl; nvcc.
#pragma once

#include <concepts>
#include <cstddef>
#include <exception>
#include <span>
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

// The device of a backend made on the current device: the backend's own record when it keeps one,
// else the current device (asking the stream, cudaStreamGetDevice, needs CUDA 12.8).
template <class B>
int device_of(const B& backend) {
  if constexpr (requires { { backend.device() } -> std::convertible_to<int>; }) {
    return backend.device();
  } else {
    int device = 0;
    JUICE_CUDA_CHECK(cudaGetDevice(&device));
    return device;
  }
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

// The same for a destructor: switches only if it can, never throws.
class device_scope_noexcept {
public:
  explicit device_scope_noexcept(int device) noexcept {
    if (cudaGetDevice(&previous_) == cudaSuccess) switched_ = cudaSetDevice(device) == cudaSuccess;
  }
  device_scope_noexcept(const device_scope_noexcept&) = delete;
  device_scope_noexcept& operator=(const device_scope_noexcept&) = delete;
  ~device_scope_noexcept() {
    if (switched_) cudaSetDevice(previous_);
  }

private:
  int previous_ = 0;
  bool switched_ = false;
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

  // Rank `rank` of a group of `size` ranks named `id`, on `backend`'s stream and device (the
  // current device, on which the backend was made; recorded now). Collective: blocks until all
  // `size` ranks have joined.
  nccl_communicator(cuda backend, const ncclUniqueId& id, int rank, int size)
      : backend_(std::move(backend)), device_(nccl_detail::device_of(backend_)) {
    if (size < 1 || rank < 0 || rank >= size)
      throw invalid_argument("juice::nccl_communicator: rank " + std::to_string(rank) + " is not in a group of " +
                             std::to_string(size) + " ranks (need 0 <= rank < size).");
    nccl_detail::device_scope on(device_);
    ncclComm_t comm = nullptr;
    const ncclResult_t status = ncclCommInitRank(&comm, size, id, rank);
    if (status != ncclSuccess && comm) ncclCommAbort(comm);  // a half-made communicator waits for nobody
    JUICE_NCCL_CHECK(status);
    comm_ = comm;
    rank_ = rank;
    size_ = size;
  }

  // The whole group in this process: a backend on each of `devices` (distinct, as NCCL requires)
  // and rank i on devices[i]. Returns the communicators in rank order; comm.backend() is the rank's
  // backend, to build its model on.
  static std::vector<nccl_communicator> for_devices(const std::vector<int>& devices) {
    if (devices.empty()) throw invalid_argument("juice::nccl_communicator::for_devices: no devices given.");
    std::vector<cuda> backends;
    backends.reserve(devices.size());
    for (const int d : devices) {
      nccl_detail::device_scope on(d);
      backends.emplace_back();
    }
    std::vector<ncclComm_t> comms(devices.size(), nullptr);
    JUICE_NCCL_CHECK(ncclCommInitAll(comms.data(), static_cast<int>(comms.size()), devices.data()));
    std::vector<nccl_communicator> out;
    out.reserve(comms.size());
    for (std::size_t i = 0; i < comms.size(); ++i)
      out.push_back(nccl_communicator(backends[i], devices[i], comms[i], static_cast<int>(i), static_cast<int>(comms.size())));
    return out;
  }

  nccl_communicator(const nccl_communicator&) = delete;
  nccl_communicator& operator=(const nccl_communicator&) = delete;
  nccl_communicator(nccl_communicator&& o) noexcept
      : backend_(o.backend_),
        device_(o.device_),
        comm_(std::exchange(o.comm_, nullptr)),
        rank_(o.rank_),
        size_(o.size_),
        failed_(o.failed_),
        scratch_(std::exchange(o.scratch_, nullptr)),
        scratch_size_(std::exchange(o.scratch_size_, 0)) {}
  nccl_communicator& operator=(nccl_communicator&& o) noexcept {
    if (this != &o) {
      release(false);
      backend_ = o.backend_;
      device_ = o.device_;
      comm_ = std::exchange(o.comm_, nullptr);
      rank_ = o.rank_;
      size_ = o.size_;
      failed_ = o.failed_;
      scratch_ = std::exchange(o.scratch_, nullptr);
      scratch_size_ = std::exchange(o.scratch_size_, 0);
    }
    return *this;
  }
  // Aborted rather than destroyed while an exception unwinds: the peers may never come.
  ~nccl_communicator() { release(std::uncaught_exceptions() > 0); }

  // Cancels whatever this rank has pending in the group and frees the communicator now
  // (ncclCommAbort); for a caller that caught an error and will not run the next collective.
  void abort() noexcept { release(true); }

  // --- juice::GradientReducer<nccl_communicator, cuda, T> for T = float, double ---
  // Replaces v by the mean of every rank's v, enqueued on the backend's stream (ncclAvg: NCCL sums
  // and scales by 1/size, the same result on every rank).
  template <class T>
  void all_reduce_mean(device_span<T> v) {
    if (v.size() == 0) return;
    checked([&] { JUICE_NCCL_CHECK(ncclAllReduce(v.data(), v.data(), v.size(), nccl_detail::data_type<T>(), ncclAvg, comm_, backend_.stream())); });
  }
  // Replaces the host values `s` by their sum over the group (ncclSum in double through a device
  // buffer of this communicator); returns when the sums are back on the host.
  void all_reduce_sum(std::span<double> s) {
    if (s.empty()) return;
    checked([&] {
      nccl_detail::device_scope on(device_);
      const std::size_t bytes = s.size() * sizeof(double);
      if (scratch_size_ < s.size()) {
        if (scratch_) JUICE_CUDA_CHECK(cudaFree(scratch_));
        scratch_ = nullptr;
        scratch_size_ = 0;
        JUICE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&scratch_), bytes));
        scratch_size_ = s.size();
      }
      const cudaStream_t stream = backend_.stream();
      JUICE_CUDA_CHECK(cudaMemcpyAsync(scratch_, s.data(), bytes, cudaMemcpyHostToDevice, stream));
      JUICE_NCCL_CHECK(ncclAllReduce(scratch_, scratch_, s.size(), ncclFloat64, ncclSum, comm_, stream));
      JUICE_CUDA_CHECK(cudaMemcpyAsync(s.data(), scratch_, bytes, cudaMemcpyDeviceToHost, stream));
      JUICE_CUDA_CHECK(cudaStreamSynchronize(stream));
    });
  }
  [[nodiscard]] std::size_t rank() const { return static_cast<std::size_t>(rank_); }  // in [0, size())
  [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(size_); }  // number of ranks

  // The raw communicator, for further NCCL calls (broadcasting parameters, reducing metrics).
  [[nodiscard]] ncclComm_t get() const { return comm_; }
  // The backend whose stream the collectives are enqueued on.
  [[nodiscard]] const cuda& backend() const { return backend_; }
  // The device the communicator was made on (the backend's).
  [[nodiscard]] int device() const { return device_; }

private:
  nccl_communicator(cuda backend, int device, ncclComm_t comm, int rank, int size)
      : backend_(std::move(backend)), device_(device), comm_(comm), rank_(rank), size_(size) {}

  // Runs f; a throw marks the communicator failed, so that it is aborted, not destroyed.
  template <class F>
  void checked(F&& f) {
    try {
      f();
    } catch (...) {
      failed_ = true;
      throw;
    }
  }

  void release(bool abort) noexcept {
    // Errors are ignored: no throw from a destructor, and the communicator goes anyway. The
    // backend (and its stream) outlives the communicator: members are destroyed after this body.
    if (comm_) {
      nccl_detail::device_scope_noexcept on(device_);
      if (abort || failed_) ncclCommAbort(comm_);
      else ncclCommDestroy(comm_);
    }
    comm_ = nullptr;
    if (scratch_) cudaFree(scratch_);
    scratch_ = nullptr;
    scratch_size_ = 0;
  }

  cuda backend_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  int rank_ = 0;
  int size_ = 1;
  bool failed_ = false;        // an NCCL or CUDA call of this communicator failed: abort it
  double* scratch_ = nullptr;  // device buffer of all_reduce_sum
  std::size_t scratch_size_ = 0;
};

static_assert(GradientReducer<nccl_communicator, cuda, float> && GradientReducer<nccl_communicator, cuda, double>,
              "juice::nccl_communicator must satisfy juice::GradientReducer for juice::cuda");

}  // namespace juice
