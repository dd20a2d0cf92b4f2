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

// Runs f(begin, end) over [0, extent) split into one contiguous block per thread (boundaries on
// multiples of 16), or once over everything on one thread for small products (below 2^19
// multiply-adds). Each block is an independent single-threaded Eigen product, so the threads meet
// only at the end: unlike Eigen's own parallel GEMM, which synchronises its threads inside every
// product by spinning, this stays efficient when the cores are shared with other processes. Eigen
// never threads a product of this backend by itself (serial_eigen).
template <class F>
void parallel_blocks(std::ptrdiff_t extent, double work, F&& f) {
  const int threads = num_threads();
  if (threads <= 1 || work < double(1 << 19) || extent < 32) {
    const serial_eigen serial;
    f(std::ptrdiff_t{0}, extent);
    return;
  }
  JUICE_OMP(omp parallel num_threads(threads))
  {
    const serial_eigen serial;
#if defined(_OPENMP)
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int t = 0, nt = 1;
#endif
    auto edge = [&](int k) { return k >= nt ? extent : (extent * k / nt) / 16 * 16; };
    const std::ptrdiff_t b0 = edge(t), b1 = edge(t + 1);
    if (b1 > b0) f(b0, b1);
  }
}

template <class T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, std::ptrdiff_t N, std::ptrdiff_t C,
                    std::ptrdiff_t OC) {
  using bias_map = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>;
  using vec = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
  if (N == 1) {  // one row: Eigen's matrix-vector kernel on each block of weight rows
    parallel_blocks(OC, double(C) * double(OC), [&](std::ptrdiff_t j0, std::ptrdiff_t j1) {
      Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> o(out + j0, j1 - j0);
      o.noalias() = cmap<T>(weight + j0 * C, j1 - j0, C) * vec(inp, C);
      if (bias) o += vec(bias + j0, j1 - j0);
    });
    return;
  }
  if (N <= 8) {
    // Few rows (decoding a batch): a GEMM would pack the whole weight matrix on every call,
    // tripling the memory traffic of a product that is bound by reading the weights; stream each
    // weight row once and take its dot product with every input row instead.
    parallel_blocks(OC, double(N) * double(C) * double(OC), [&](std::ptrdiff_t j0, std::ptrdiff_t j1) {
      for (std::ptrdiff_t o = j0; o < j1; ++o) {
        const vec w(weight + o * C, C);
        for (std::ptrdiff_t n = 0; n < N; ++n) out[n * OC + o] = w.dot(vec(inp + n * C, C)) + (bias ? bias[o] : T(0));
      }
    });
    return;
  }
  parallel_blocks(OC, double(N) * double(C) * double(OC), [&](std::ptrdiff_t j0, std::ptrdiff_t j1) {
    auto o = mmap<T>(out, N, OC).middleCols(j0, j1 - j0);
    o.noalias() = cmap<T>(inp, N, C) * cmap<T>(weight + j0 * C, j1 - j0, C).transpose();
    if (bias) o.rowwise() += bias_map(bias + j0, j1 - j0);
  });
}

template <class T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, std::ptrdiff_t N,
                     std::ptrdiff_t C, std::ptrdiff_t OC) {
  cmap<T> d(dout, N, OC);
  const double work = double(N) * double(C) * double(OC);
  if (dinp)
    parallel_blocks(C, work, [&](std::ptrdiff_t c0, std::ptrdiff_t c1) {
      mmap<T>(dinp, N, C).middleCols(c0, c1 - c0).noalias() = d * cmap<T>(weight, OC, C).middleCols(c0, c1 - c0);
    });
  if (dweight || dbias)
    parallel_blocks(OC, work, [&](std::ptrdiff_t j0, std::ptrdiff_t j1) {
      if (dweight)
        mmap<T>(dweight + j0 * C, j1 - j0, C).noalias() += d.middleCols(j0, j1 - j0).transpose() * cmap<T>(inp, N, C);
      if (dbias)
        Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(dbias + j0, j1 - j0) += d.middleCols(j0, j1 - j0).colwise().sum();
    });
}

// Strided batched GEMM, row-major: A_i at a + i*stride_a is (M,K) (or (K,M) if trans_a), B_i is
// (K,N) (or (N,K) if trans_b), C_i is (M,N) with leading dimensions lda, ldb, ldc.
template <class T>
void gemm_strided_batched(bool trans_a, bool trans_b, std::ptrdiff_t M, std::ptrdiff_t N, std::ptrdiff_t K, T alpha,
                          const T* a, std::ptrdiff_t lda, std::ptrdiff_t stride_a, const T* b, std::ptrdiff_t ldb,
                          std::ptrdiff_t stride_b, T beta, T* c, std::ptrdiff_t ldc, std::ptrdiff_t stride_c,
                          std::ptrdiff_t batch) {
  using stride = Eigen::OuterStride<>;
  const serial_eigen serial;
  for (std::ptrdiff_t i = 0; i < batch; ++i) {
    Eigen::Map<row_matrix<T>, 0, stride> ci(c + i * stride_c, M, N, stride(ldc));
    Eigen::Map<const row_matrix<T>, 0, stride> ai(a + i * stride_a, trans_a ? K : M, trans_a ? M : K, stride(lda));
    Eigen::Map<const row_matrix<T>, 0, stride> bi(b + i * stride_b, trans_b ? N : K, trans_b ? K : N, stride(ldb));
    if (beta == T(0)) ci.setZero();
    else if (beta != T(1)) ci *= beta;
    if (!trans_a && !trans_b) ci.noalias() += alpha * ai * bi;
    else if (trans_a && !trans_b) ci.noalias() += alpha * ai.transpose() * bi;
    else if (!trans_a && trans_b) ci.noalias() += alpha * ai * bi.transpose();
    else ci.noalias() += alpha * ai.transpose() * bi.transpose();
  }
}

}  // namespace juice::cpu_kernels
