// juice/backends/cuda/thrust_omp.hpp
//
// juice::thrust_omp_backend: the CUDA backend's portable device code run on the CPU through
// Thrust's OpenMP system. Every primitive but the GEMM is the same functor juice::cuda launches on
// the GPU (juice/backends/cuda/*.cuh, through juice::device_primitives); the GEMMs are the CPU
// backend's (juice/backends/cpu/gemm.hpp). It exists so that machines without a GPU (development,
// CI) run and test the device code against juice::cpu; use juice::cpu for real work on the host.
// With gemm_precision::bf16 its float GEMMs emulate a GPU's bf16 compute: both inputs of every
// product are rounded to bf16 (juice::round_to_bf16, a Thrust transform into scratch buffers), then
// multiplied by the CPU float GEMM; this is the reference of the mode that CI runs.
// Build with an OpenMP-enabled C++ compiler and the CCCL headers of the CUDA toolkit
// (the juice::thrust_omp CMake target sets both); no CUDA compiler or runtime is involved.
#pragma once

#include <cstddef>
#include <string_view>
#include <type_traits>

#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>

#include "juice/backends/cpu/gemm.hpp"
#include "juice/backends/cuda/bf16.hpp"
#include "juice/backends/cuda/gemm_precision.hpp"
#include "juice/backends/cuda/primitives.hpp"
#include "juice/concepts/backend.hpp"
#include "juice/concepts/transformer_backend.hpp"

namespace juice {

class thrust_omp_backend : public device_primitives<thrust_omp_backend> {
public:
  static constexpr std::string_view name = "thrust_omp";
  template <class T> using buffer = thrust::omp::vector<T>;

  thrust_omp_backend() = default;
  // The compute precision of the float GEMMs (juice/backends/cuda/gemm_precision.hpp).
  explicit thrust_omp_backend(gemm_precision precision) : precision_(precision) {}
  [[nodiscard]] gemm_precision precision() const { return precision_; }

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

  // The linear layer on the CPU GEMM; in bf16 mode (float only) on bf16-rounded copies of the
  // GEMM inputs. The bias and its gradient are not GEMM inputs and stay float, as on cuBLAS, where
  // add_bias and bias_grad run beside the GEMM.
  template <class T>
  void gemm_forward(T* out, const T* inp, const T* w, const T* bias, index N, index C, index OC) {
    if constexpr (std::is_same_v<T, float>) {
      if (precision_ == gemm_precision::bf16) {
        const auto ri = rounded(inp, N * C), rw = rounded(w, OC * C);
        cpu_kernels::matmul_forward(out, data(ri), data(rw), bias, N, C, OC);
        return;
      }
    }
    cpu_kernels::matmul_forward(out, inp, w, bias, N, C, OC);
  }
  template <class T>
  void gemm_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, index N, index C, index OC) {
    if constexpr (std::is_same_v<T, float>) {
      if (precision_ == gemm_precision::bf16) {
        const auto rd = rounded(dout, N * OC);
        const auto ri = dw ? rounded(inp, N * C) : buffer<float>();
        const auto rw = dinp ? rounded(w, OC * C) : buffer<float>();
        if (dinp || dw)
          cpu_kernels::matmul_backward(dinp, dw, static_cast<float*>(nullptr), data(rd), dw ? data(ri) : inp,
                                       dinp ? data(rw) : w, N, C, OC);
        if (dbias)  // from the unrounded dout, in float
          cpu_kernels::matmul_backward(static_cast<float*>(nullptr), static_cast<float*>(nullptr), dbias, dout, inp, w,
                                       N, C, OC);
        return;
      }
    }
    cpu_kernels::matmul_backward(dinp, dw, dbias, dout, inp, w, N, C, OC);
  }

private:
  // A bf16-rounded copy of x[0, n): scratch that the CPU GEMM reads before it goes.
  buffer<float> rounded(const float* x, index n) {
    buffer<float> r(static_cast<std::size_t>(n));
    device_kernels::round_to_bf16(exec(), x, data(r), n);
    return r;
  }

  gemm_precision precision_ = gemm_precision::fp32;
};

static_assert(Backend<thrust_omp_backend>, "juice::thrust_omp_backend must satisfy juice::Backend");
static_assert(TransformerBackend<thrust_omp_backend, float> && TransformerBackend<thrust_omp_backend, double>,
              "juice::thrust_omp_backend must satisfy juice::TransformerBackend");

}  // namespace juice
