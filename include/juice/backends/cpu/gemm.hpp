// juice/backends/cpu/gemm.hpp
//
// Matrix products through Eigen (Eigen::Map on the raw buffers; Eigen threads its GEMM with OpenMP
// when the consumer compiles with it). Shapes are written (rows, cols), all row-major:
//   matmul_forward:  out(N,OC) = inp(N,C) weight(OC,C)^T + bias(OC)      (a linear layer)
//   matmul_backward: dinp(N,C) = dout(N,OC) weight(OC,C)                 (overwritten)
//                    dweight(OC,C) += dout^T inp,  dbias(OC) += sum_n dout (accumulated)
//   gemm_strided_batched: C_i = alpha op(A_i) op(B_i) + beta C_i for i < batch (BLAS semantics).
// A bias or dbias pointer may be null.
#pragma once

#include <cstddef>

#include <Eigen/Core>

#include "juice/backends/cpu/parallel.hpp"

namespace juice::cpu_kernels {

template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using cmap = Eigen::Map<const row_matrix<T>>;
template <class T>
using mmap = Eigen::Map<row_matrix<T>>;

template <class T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, std::ptrdiff_t N, std::ptrdiff_t C,
                    std::ptrdiff_t OC) {
  mmap<T> o(out, N, OC);
  const int threads = num_threads();
  if (N <= 32 && threads > 1 && OC * C >= (std::ptrdiff_t{1} << 18)) {
    // Few rows (decoding): Eigen would run this GEMV-like product on one thread; split the output
    // columns across threads instead (Eigen stays single-threaded inside the parallel region).
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int part = 0; part < threads; ++part) {
      const std::ptrdiff_t j0 = OC * part / threads, j1 = OC * (part + 1) / threads;
      o.middleCols(j0, j1 - j0).noalias() = cmap<T>(inp, N, C) * cmap<T>(weight + j0 * C, j1 - j0, C).transpose();
    }
  } else {
    o.noalias() = cmap<T>(inp, N, C) * cmap<T>(weight, OC, C).transpose();
  }
  if (bias) o.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias, OC);
}

template <class T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, std::ptrdiff_t N,
                     std::ptrdiff_t C, std::ptrdiff_t OC) {
  cmap<T> d(dout, N, OC);
  if (dinp) mmap<T>(dinp, N, C).noalias() = d * cmap<T>(weight, OC, C);
  if (dweight) mmap<T>(dweight, OC, C).noalias() += d.transpose() * cmap<T>(inp, N, C);
  if (dbias) Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(dbias, OC) += d.colwise().sum();
}

// Strided batched GEMM, row-major: A_i at a + i*stride_a is (M,K) (or (K,M) if trans_a), B_i is
// (K,N) (or (N,K) if trans_b), C_i is (M,N) with leading dimensions lda, ldb, ldc.
template <class T>
void gemm_strided_batched(bool trans_a, bool trans_b, std::ptrdiff_t M, std::ptrdiff_t N, std::ptrdiff_t K, T alpha,
                          const T* a, std::ptrdiff_t lda, std::ptrdiff_t stride_a, const T* b, std::ptrdiff_t ldb,
                          std::ptrdiff_t stride_b, T beta, T* c, std::ptrdiff_t ldc, std::ptrdiff_t stride_c,
                          std::ptrdiff_t batch) {
  using stride = Eigen::OuterStride<>;
  for (std::ptrdiff_t i = 0; i < batch; ++i) {
    Eigen::Map<row_matrix<T>, 0, stride> ci(c + i * stride_c, M, N, stride(ldc));
    Eigen::Map<const row_matrix<T>, 0, stride> ai(a + i * stride_a, trans_a ? K : M, trans_a ? M : K, stride(lda));
    Eigen::Map<const row_matrix<T>, 0, stride> bi(b + i * stride_b, trans_b ? N : K, trans_b ? K : N, stride(ldb));
    if (beta == T(0)) ci.setZero(); else if (beta != T(1)) ci *= beta;
    if (!trans_a && !trans_b) ci.noalias() += alpha * ai * bi;
    else if (trans_a && !trans_b) ci.noalias() += alpha * ai.transpose() * bi;
    else if (!trans_a && trans_b) ci.noalias() += alpha * ai * bi.transpose();
    else ci.noalias() += alpha * ai.transpose() * bi.transpose();
  }
}

}  // namespace juice::cpu_kernels
