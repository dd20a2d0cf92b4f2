// juice/backends/cuda/thrust_omp.hpp
//
// juice::thrust_omp_backend: the CUDA backend's portable device code run on the CPU through
// Thrust's OpenMP system. Every primitive but the GEMM is the same functor juice::cuda launches on
// the GPU (juice/backends/cuda/*.cuh, through juice::device_primitives); the GEMMs are the CPU
// backend's (juice/backends/cpu/gemm.hpp). It exists so that machines without a GPU (development,
// CI) run and test the device code against juice::cpu; use juice::cpu for real work on the host.
// With gemm_precision::bf16 its float GEMMs emulate a GPU's bf16 compute: both inputs of every
// product are rounded to bf16 (juice::round_to_bf16, a Thrust transform into scratch buffers), then
// multiplied by the CPU float GEMM; this is the reference of the mode that CI runs. gemm_precision::tf32
// is emulated the same way with juice::round_to_tf32 (tf32.hpp). With attention_impl::gemm
// (attention_impl.hpp) attention's training passes run the GEMM decomposition of attention_gemm.hpp
// on gemm_batched, the CPU's strided-batched GEMM under the same row-major specification that
// juice::cuda maps onto cuBLAS, so CI checks that decomposition against the reference functors.
// Build with an OpenMP-enabled C++ compiler and the CCCL headers of the CUDA toolkit
// (the juice::thrust_omp CMake target sets both); no CUDA compiler or runtime is involved.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <source_location>
#include <string_view>
#include <type_traits>

#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>

#include "juice/backends/cpu/gemm.hpp"
#include "juice/backends/cuda/attention_impl.hpp"
#include "juice/backends/cuda/bf16.hpp"
#include "juice/backends/cuda/gemm_precision.hpp"
#include "juice/backends/cuda/primitives.hpp"
#include "juice/backends/cuda/tf32.hpp"
#include "juice/concepts/backend.hpp"
#include "juice/concepts/family_transformer_backend.hpp"
#include "juice/concepts/transformer_backend.hpp"

namespace juice {

class thrust_omp_backend : public device_primitives<thrust_omp_backend> {
public:
  static constexpr std::string_view name = "thrust_omp";
  template <class T> using buffer = thrust::omp::vector<T>;

  thrust_omp_backend() = default;
  // The compute precision of the float GEMMs (juice/backends/cuda/gemm_precision.hpp).
  explicit thrust_omp_backend(gemm_precision precision) : precision_(precision) {}
  // ... and the path of attention's training passes (juice/backends/cuda/attention_impl.hpp).
  thrust_omp_backend(gemm_precision precision, const attention_options& attention)
      : precision_(precision), attention_(attention) {}
  [[nodiscard]] gemm_precision precision() const { return precision_; }
  [[nodiscard]] const attention_options& attention() const { return attention_; }

  // The Thrust policy every primitive runs under.
  [[nodiscard]] auto exec() const { return thrust::omp::par; }

  template <class T>
  buffer<T> allocate(std::size_t n) {
    count_allocation(n * sizeof(T));
    return buffer<T>(n, T(0));
  }
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
  void download(const T* src, T* host_dst, std::size_t n) {
    count_sync();  // where a GPU would wait
    device_kernels::copy(exec(), src, host_dst, static_cast<index>(n));
  }
  // Everything runs synchronously on this system; counted, as a GPU would wait here.
  void synchronize() { count_sync(); }

  // One primitive's work (juice::device_primitives): run as it is, as errors need no translation here.
  template <class F>
  void run_primitive(std::string_view, std::initializer_list<device_kernels::dim>, const std::source_location&, F&& work) {
    work();
  }

  // The linear layer on the CPU GEMM; in bf16 or tf32 mode (float only) on rounded copies of the
  // GEMM inputs (in persistent scratch). The bias and its gradient are not GEMM inputs and stay
  // float, as on cuBLAS, where add_bias and bias_grad (the two-stage column reduction) run beside
  // the GEMM; the bias gradient here is that same device functor.
  template <class T>
  void gemm_forward(T* out, const T* inp, const T* w, const T* bias, index N, index C, index OC) {
    if constexpr (std::is_same_v<T, float>) {
      if (precision_ != gemm_precision::fp32) {
        cpu_kernels::matmul_forward(out, rounded(scratch_slot::bf16_a, inp, N * C), rounded(scratch_slot::bf16_b, w, OC * C),
                                    bias, N, C, OC);
        return;
      }
    }
    cpu_kernels::matmul_forward(out, inp, w, bias, N, C, OC);
  }
  template <class T>
  void gemm_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, index N, index C, index OC) {
    if constexpr (std::is_same_v<T, float>) {
      if (precision_ != gemm_precision::fp32) {
        if (dinp || dw)
          cpu_kernels::matmul_backward(dinp, dw, static_cast<float*>(nullptr), rounded(scratch_slot::bf16_a, dout, N * OC),
                                       dw ? rounded(scratch_slot::bf16_b, inp, N * C) : inp,
                                       dinp ? rounded(scratch_slot::bf16_c, w, OC * C) : w, N, C, OC);
        if (dbias) bias_grad(dbias, dout, N, OC);  // from the unrounded dout, in float
        return;
      }
    }
    cpu_kernels::matmul_backward(dinp, dw, static_cast<T*>(nullptr), dout, inp, w, N, C, OC);
    if (dbias) bias_grad(dbias, dout, N, OC);
  }

  // C_i(M,N) = alpha op(A_i) op(B_i) + beta C_i for i < batch, row-major with leading dimensions
  // (juice::cpu_kernels::gemm_strided_batched, one single-threaded Eigen product per entry); in bf16
  // or tf32 mode (float only) A and B are first rounded over the whole strided range they span.
  template <class T>
  void gemm_batched(bool trans_a, bool trans_b, index M, index N, index K, T alpha, const T* a, index lda, index stride_a,
                    const T* b, index ldb, index stride_b, T beta, T* c, index ldc, index stride_c, index batch) {
    if (batch <= 0 || M <= 0 || N <= 0) return;
    if constexpr (std::is_same_v<T, float>) {
      if (precision_ != gemm_precision::fp32 && K > 0) {
        a = rounded(scratch_slot::bf16_a, a, span(trans_a ? K : M, trans_a ? M : K, lda, stride_a, batch));
        b = rounded(scratch_slot::bf16_b, b, span(trans_b ? N : K, trans_b ? K : N, ldb, stride_b, batch));
      }
    }
    cpu_kernels::gemm_strided_batched(trans_a, trans_b, M, N, K, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc,
                                      stride_c, batch);
  }

private:
  // Elements from the first to the last one of `batch` (rows, cols) matrices with leading dimension
  // ld, stride apart.
  static index span(index rows, index cols, index ld, index stride, index batch) {
    return (batch - 1) * stride + (rows - 1) * ld + cols;
  }
  template <class T>
  void bias_grad(T* dbias, const T* dout, index N, index OC) {
    T* partial = scratch<T>(scratch_slot::reduce, static_cast<std::size_t>(device_kernels::column_scratch_size(N, OC)));
    device_kernels::bias_grad(exec(), dbias, dout, N, OC, partial);
  }
  // A copy of x[0, n) rounded to the mode's GEMM input format (bf16 or tf32) in `slot`'s scratch,
  // which the CPU GEMM reads next.
  const float* rounded(scratch_slot slot, const float* x, index n) {
    float* r = scratch<float>(slot, static_cast<std::size_t>(n));
    if (precision_ == gemm_precision::tf32) device_kernels::round_to_tf32(exec(), x, r, n);
    else device_kernels::round_to_bf16(exec(), x, r, n);
    return r;
  }

  gemm_precision precision_ = gemm_precision::fp32;
  attention_options attention_;
};

static_assert(Backend<thrust_omp_backend>, "juice::thrust_omp_backend must satisfy juice::Backend");
static_assert(TransformerBackend<thrust_omp_backend, float> && TransformerBackend<thrust_omp_backend, double>,
              "juice::thrust_omp_backend must satisfy juice::TransformerBackend");
static_assert(FamilyTransformerBackend<thrust_omp_backend, float> && FamilyTransformerBackend<thrust_omp_backend, double>,
              "juice::thrust_omp_backend must satisfy juice::FamilyTransformerBackend");

}  // namespace juice
