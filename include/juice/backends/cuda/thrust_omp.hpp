// juice/backends/cuda/thrust_omp.hpp
//
// juice::thrust_omp_backend: the CUDA backend's portable device code run on the CPU through
// Thrust's OpenMP system. Every primitive but the GEMM is the same functor juice::cuda launches on
// the GPU (juice/backends/cuda/*.cuh, through juice::device_primitives); the GEMMs are the CPU
// backend's (juice/backends/cpu/gemm.hpp). It exists so that machines without a GPU (development,
// CI) run and test the device code against juice::cpu; use juice::cpu for real work on the host.
// Build with an OpenMP-enabled C++ compiler and the CCCL headers of the CUDA toolkit
// (the juice::thrust_omp CMake target sets both); no CUDA compiler or runtime is involved.
#pragma once

#include <cstddef>
#include <string_view>

#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>

#include "juice/backends/cpu/gemm.hpp"
#include "juice/backends/cuda/primitives.hpp"
#include "juice/concepts/backend.hpp"
#include "juice/concepts/transformer_backend.hpp"

namespace juice {

class thrust_omp_backend : public device_primitives<thrust_omp_backend> {
public:
  static constexpr std::string_view name = "thrust_omp";
  template <class T> using buffer = thrust::omp::vector<T>;

  // The Thrust policy every primitive runs under.
  [[nodiscard]] auto exec() const { return thrust::omp::par; }

  template <class T>
  buffer<T> allocate(std::size_t n) { return buffer<T>(n, T(0)); }
  template <class T>
  view<T> view_of(buffer<T>& b) { return {data(b), b.size()}; }
  template <class T>
  T* data(buffer<T>& b) { return thrust::raw_pointer_cast(b.data()); }
  template <class T>
  const T* data(const buffer<T>& b) { return thrust::raw_pointer_cast(b.data()); }

  // Transfers: the OpenMP system's memory is the host's, so these are copies.
  template <class T>
  void upload(const T* host_src, T* dst, std::size_t n) { device_kernels::copy(exec(), host_src, dst, static_cast<index>(n)); }
  template <class T>
  void download(const T* src, T* host_dst, std::size_t n) { device_kernels::copy(exec(), src, host_dst, static_cast<index>(n)); }
  // Everything runs synchronously on this system.
  void synchronize() {}

  // The linear layer on the CPU GEMM.
  template <class T>
  void gemm_forward(T* out, const T* inp, const T* w, const T* bias, index N, index C, index OC) {
    cpu_kernels::matmul_forward(out, inp, w, bias, N, C, OC);
  }
  template <class T>
  void gemm_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, index N, index C, index OC) {
    cpu_kernels::matmul_backward(dinp, dw, dbias, dout, inp, w, N, C, OC);
  }
};

static_assert(Backend<thrust_omp_backend>, "juice::thrust_omp_backend must satisfy juice::Backend");
static_assert(TransformerBackend<thrust_omp_backend, float> && TransformerBackend<thrust_omp_backend, double>,
              "juice::thrust_omp_backend must satisfy juice::TransformerBackend");

}  // namespace juice
