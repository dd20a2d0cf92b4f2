// juice/backends/cuda/cuda_backend.hpp
//
// juice::cuda, the backend on an NVIDIA GPU. An object owning, through a shared context, one CUDA
// stream and one cuBLAS handle bound to it (copies of the backend share them; nothing is global).
// Every primitive is enqueued on that stream and may run asynchronously; a download, a dot product
// and synchronize() wait for it. Memory: cuda::buffer<T> owns device memory from the stream-ordered
// allocator (cudaMallocAsync, zero-filled; freed with cudaFreeAsync on the same stream), handles are
// raw device pointers, views juice::device_span. The element-wise and row-wise primitives are the
// portable functors of juice/backends/cuda/*.cuh, launched through Thrust (the same code the OpenMP
// backend runs in CI); the GEMMs are cuBLAS (row-major through the usual transposition: a row-major
// (R,C) matrix is a column-major (C,R) one, so out = inp w^T is computed as out^T = w inp^T).
// The float GEMMs run in fp32 or, with gemm_precision::bf16 or ::tf32, on tensor cores with float
// accumulation (cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_16BF or _FAST_TF32); all storage stays float
// either way. With cuda_options::attention.impl = attention_impl::gemm, attention's training passes
// are strided-batched cuBLAS GEMMs around a causal softmax functor (attention_gemm.hpp) instead of
// the row functors of attention.cuh. The LM head's log-softmax and its backward run as CUDA kernels
// with one thread block per row (lm_head.cuh) instead of the portable one-thread-per-row functors.
// Every CUDA and cuBLAS call is checked (juice/backends/cuda/error.hpp), and every primitive runs
// through cuda_detail::run_checked (juice/backends/cuda/sync_check.hpp): on the backend's device
// (set on entry when another one is current, restored after), a failure named after the primitive,
// its shape and the caller's source location; with cuda_options::sync_check or
// JUICE_CUDA_SYNC_CHECK=1, synchronised and checked after every primitive. The stream-ordered
// pool keeps freed memory (release threshold raised to the maximum), and the backend's own scratch
// is persistent (juice::device_primitives), so a steady-state step neither allocates from the
// driver nor waits except where it asks for a number. Uploads go through a ring of pinned staging
// buffers (pinned_staging.hpp), so they return without waiting for the device. Compile with nvcc
// (-std=c++20); link CUDA::cudart and CUDA::cublas (the juice::cuda target does all this).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <source_location>
#include <string_view>
#include <type_traits>
#include <utility>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <thrust/system/cuda/execution_policy.h>

#include "juice/backends/cuda/attention_impl.hpp"
#include "juice/backends/cuda/error.hpp"
#include "juice/backends/cuda/gemm_precision.hpp"
#include "juice/backends/cuda/linear.cuh"
#include "juice/backends/cuda/pinned_staging.hpp"
#include "juice/backends/cuda/primitives.hpp"
#include "juice/backends/cuda/staging.hpp"
#include "juice/backends/cuda/sync_check.hpp"
#include "juice/concepts/backend.hpp"
#include "juice/concepts/family_transformer_backend.hpp"
#include "juice/concepts/transformer_backend.hpp"

namespace juice {

// How a juice::cuda is made. The sync check is also on when JUICE_CUDA_SYNC_CHECK=1 is in the
// environment at construction (juice::sync_check_from_environment).
struct cuda_options {
  gemm_precision precision = gemm_precision::fp32;  // the float GEMMs' compute (gemm_precision.hpp)
  bool sync_check = false;                          // synchronise and check after every primitive
  int device = -1;                                  // the CUDA device; -1: the current one
  attention_options attention{};                    // attention's path and its scratch bound (attention_impl.hpp)
};

namespace cuda_detail {

// Makes `device` current for the scope if it is not, and restores the previous one after.
class device_scope {
public:
  explicit device_scope(int device) {
    JUICE_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) JUICE_CUDA_CHECK(cudaSetDevice(device));
    else previous_ = -1;
  }
  device_scope(const device_scope&) = delete;
  device_scope& operator=(const device_scope&) = delete;
  ~device_scope() {
    if (previous_ >= 0) cudaSetDevice(previous_);  // destructors do not throw; the device stays valid
  }

private:
  int previous_ = -1;
};

inline int current_device() {
  int d = 0;
  JUICE_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

// The device state a juice::cuda and its copies share: its device, a stream, a cuBLAS handle, and
// the pinned staging of uploads (pinned_staging.hpp).
class context {
public:
  explicit context(int device) : device_(device < 0 ? current_device() : device) {
    const device_scope on(device_);
    // Freed blocks stay in the stream-ordered pool instead of going back to the driver at every
    // synchronisation, so a step's buffers are reused without cudaMalloc's cost.
    cudaMemPool_t pool = nullptr;
    JUICE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device_));
    std::uint64_t keep = UINT64_MAX;
    JUICE_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    JUICE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    try {  // a throwing constructor runs no destructor: release what exists, then rethrow
      JUICE_CUDA_CHECK(cublasCreate(&blas_));
      JUICE_CUDA_CHECK(cublasSetStream(blas_, stream_));
    } catch (...) {
      if (blas_) cublasDestroy(blas_);
      cudaStreamDestroy(stream_);
      throw;
    }
  }
  context(const context&) = delete;
  context& operator=(const context&) = delete;
  ~context() {  // destructors do not throw: errors here are ignored, as the handles go anyway
    int previous = 0;
    const bool switched = cudaGetDevice(&previous) == cudaSuccess && previous != device_ && cudaSetDevice(device_) == cudaSuccess;
    cudaStreamSynchronize(stream_);
    staging_.release();
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
    if (switched) cudaSetDevice(previous);
  }
  [[nodiscard]] cudaStream_t stream() const { return stream_; }
  [[nodiscard]] cublasHandle_t blas() const { return blas_; }
  [[nodiscard]] int device() const { return device_; }
  [[nodiscard]] pinned_staging& staging() { return staging_; }

private:
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  pinned_staging staging_;
};

// Owning device array, move-only; freed on its context's stream, after the work enqueued before.
template <class T>
class device_buffer {
public:
  device_buffer() = default;
  device_buffer(std::shared_ptr<context> ctx, std::size_t n) : ctx_(std::move(ctx)), n_(n) {
    if (n_ == 0) return;
    const device_scope on(ctx_->device());
    void* p = nullptr;
    JUICE_CUDA_CHECK(cudaMallocAsync(&p, n_ * sizeof(T), ctx_->stream()));
    p_ = static_cast<T*>(p);
    JUICE_CUDA_CHECK(cudaMemsetAsync(p_, 0, n_ * sizeof(T), ctx_->stream()));
  }
  device_buffer(device_buffer&& o) noexcept
      : ctx_(std::move(o.ctx_)), p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  device_buffer& operator=(device_buffer&& o) noexcept {
    if (this != &o) {
      release();
      ctx_ = std::move(o.ctx_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~device_buffer() { release(); }

  [[nodiscard]] std::size_t size() const { return n_; }  // element count (host metadata)
  [[nodiscard]] T* get() const { return p_; }            // device address

private:
  void release() noexcept {
    if (p_) cudaFreeAsync(p_, ctx_->stream());
    p_ = nullptr;
  }
  std::shared_ptr<context> ctx_;
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// cuBLAS GEMM per scalar type and compute precision, column-major: C(m,n) = alpha op(A) op(B) + beta C,
// checked here so that an error names the cuBLAS call that failed. float in gemm_precision::bf16:
// cublasGemmEx on the float arrays as they are (CUDA_R_32F A, B and C) with
// CUBLAS_COMPUTE_32F_FAST_16BF, which lets cuBLAS convert the inputs to bf16 for the tensor cores
// and accumulate in float; no bf16 copy of anything is stored. gemm_precision::tf32 is the same
// call with CUBLAS_COMPUTE_32F_FAST_TF32. The compute type is given per call rather than set on the
// handle (cublasSetMathMode(CUBLAS_TF32_TENSOR_OP_MATH)): the handle is shared by every copy of the
// backend and by the fp32 Sgemm calls, whose result must not depend on what another call set, and
// a per-call type states the precision where the product is. double ignores the precision.
inline cublasComputeType_t fast_compute(gemm_precision p) {
  return p == gemm_precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_FAST_16BF;
}
inline void gemm(gemm_precision p, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                 const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta, float* c,
                 int ldc) {
  if (p != gemm_precision::fp32)
    JUICE_CUDA_CHECK(cublasGemmEx(h, ta, tb, m, n, k, alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, beta, c,
                                  CUDA_R_32F, ldc, fast_compute(p), CUBLAS_GEMM_DEFAULT));
  else
    JUICE_CUDA_CHECK(cublasSgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
}
inline void gemm(gemm_precision, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                 const double* alpha, const double* a, int lda, const double* b, int ldb, const double* beta,
                 double* c, int ldc) {
  JUICE_CUDA_CHECK(cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
}

// The strided-batched GEMM, column-major, batch entries a + i stride_a etc.: the same precisions
// (cublasSgemmStridedBatched, or cublasGemmStridedBatchedEx on the float arrays with the fast
// compute type; cublasDgemmStridedBatched for double).
inline void gemm_strided_batched(gemm_precision p, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                 int n, int k, const float* alpha, const float* a, int lda, long long sa,
                                 const float* b, int ldb, long long sb, const float* beta, float* c, int ldc,
                                 long long sc, int batch) {
  if (p != gemm_precision::fp32)
    JUICE_CUDA_CHECK(cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, a, CUDA_R_32F, lda, sa, b, CUDA_R_32F, ldb,
                                                sb, beta, c, CUDA_R_32F, ldc, sc, batch, fast_compute(p),
                                                CUBLAS_GEMM_DEFAULT));
  else
    JUICE_CUDA_CHECK(cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch));
}
inline void gemm_strided_batched(gemm_precision, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                 int n, int k, const double* alpha, const double* a, int lda, long long sa,
                                 const double* b, int ldb, long long sb, const double* beta, double* c, int ldc,
                                 long long sc, int batch) {
  JUICE_CUDA_CHECK(cublasDgemmStridedBatched(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch));
}

}  // namespace cuda_detail

class cuda : public device_primitives<cuda> {
public:
  static constexpr std::string_view name = "cuda";
  template <class T> using buffer = cuda_detail::device_buffer<T>;

  // A stream and a cuBLAS handle on the current device; throws juice::cuda_error without one.
  cuda() : cuda(cuda_options{}) {}
  // ... with the given compute precision of the float GEMMs (juice/backends/cuda/gemm_precision.hpp).
  explicit cuda(gemm_precision precision) : cuda(cuda_options{precision}) {}
  // ... on options.device (or the current one), with the sync check when options.sync_check or
  // JUICE_CUDA_SYNC_CHECK=1; a bad JUICE_CUDA_SYNC_CHECK value is refused before the device is touched.
  explicit cuda(const cuda_options& options)
      : sync_check_(options.sync_check || sync_check_from_environment()),
        ctx_(std::make_shared<cuda_detail::context>(options.device)),
        precision_(options.precision),
        attention_(options.attention) {}

  [[nodiscard]] gemm_precision precision() const { return precision_; }
  // The path of attention's training passes and its scratch bound (attention_impl.hpp).
  [[nodiscard]] const attention_options& attention() const { return attention_; }
  [[nodiscard]] int device() const { return ctx_->device(); }  // every primitive runs on it
  // Whether every primitive synchronises and checks for errors (the debug mode).
  [[nodiscard]] bool sync_check() const { return sync_check_; }

  [[nodiscard]] cudaStream_t stream() const { return ctx_->stream(); }  // where the primitives run
  [[nodiscard]] cublasHandle_t cublas() const { return ctx_->blas(); }  // bound to stream()
  [[nodiscard]] auto exec() const { return thrust::cuda::par_nosync.on(ctx_->stream()); }
  // Waits for everything enqueued so far.
  void synchronize() {
    count_sync();
    const cuda_detail::device_scope on(device());
    JUICE_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream()));
  }

  template <class T>
  buffer<T> allocate(std::size_t n) {
    if (n != 0) count_allocation(n * sizeof(T));
    return buffer<T>(ctx_, n);
  }

  // One primitive's work (juice::device_primitives): on this backend's device, errors named after
  // the primitive and its caller, synchronised and checked in the debug mode (sync_check.hpp).
  template <class F>
  void run_primitive(std::string_view what, std::initializer_list<device_kernels::dim> dims,
                     const std::source_location& where, F&& work) {
    const cuda_detail::device_scope on(device());
    cuda_detail::run_checked({name, what, dims, where}, stream(), sync_check_, std::forward<F>(work));
  }
  template <class T>
  view<T> view_of(buffer<T>& b) { return {b.get(), b.size()}; }
  template <class T>
  T* data(buffer<T>& b) { return b.get(); }
  template <class T>
  const T* data(const buffer<T>& b) { return b.get(); }

  // host -> device, enqueued on the stream; the host array may be reused as soon as this returns.
  // Up to staging_limit_bytes the data is copied into a pinned staging slot (pinned_staging.hpp)
  // and the copy runs from there, so the call does not wait for the device (only, when the ring
  // comes round, for the copy that last read the slot); a larger upload is a pageable
  // cudaMemcpyAsync, which the driver stages before returning. Growing the slots counts in stats()
  // as one allocation per slot; after a first step of a shape later ones grow nothing (staging.hpp).
  template <class T>
  void upload(const T* host_src, T* dst, std::size_t n) {
    if (n == 0) return;
    const cuda_detail::device_scope on(device());
    const std::size_t grown = ctx_->staging().upload(dst, host_src, n * sizeof(T), ctx_->stream());
    if (grown != 0)
      for (std::size_t s = 0; s < staging_slots; ++s) count_allocation(grown / staging_slots);
  }
  // device -> host; waits for the stream, so host_dst holds the data on return
  template <class T>
  void download(const T* src, T* host_dst, std::size_t n) {
    if (n == 0) return;
    const cuda_detail::device_scope on(device());
    JUICE_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, n * sizeof(T), cudaMemcpyDeviceToHost, ctx_->stream()));
    synchronize();
  }

  // out(N,OC) = inp(N,C) w(OC,C)^T (+ bias), overwritten: column-major out^T(OC,N) = op(w) inp^T
  // with op = T on the column-major (C,OC) view of w and the (C,N) view of inp as it is.
  template <class T>
  void gemm_forward(T* out, const T* inp, const T* w, const T* bias, index N, index C, index OC) {
    const T one = 1, zero = 0;
    cuda_detail::gemm(precision_, cublas(), CUBLAS_OP_T, CUBLAS_OP_N, narrow(OC), narrow(N), narrow(C), &one, w,
                      narrow(C), inp, narrow(C), &zero, out, narrow(OC));
    if (bias) device_kernels::add_bias(exec(), out, bias, N, OC);
  }
  // dinp(N,C) = dout w (overwritten); dw(OC,C) += dout^T inp; dbias(OC) += sum_n dout. Null skips.
  template <class T>
  void gemm_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, index N, index C, index OC) {
    const T one = 1, zero = 0;
    if (dinp)  // column-major dinp^T(C,N) = w^T(C,OC) dout^T(OC,N)
      cuda_detail::gemm(precision_, cublas(), CUBLAS_OP_N, CUBLAS_OP_N, narrow(C), narrow(N), narrow(OC), &one, w,
                        narrow(C), dout, narrow(OC), &zero, dinp, narrow(C));
    if (dw)  // column-major dw^T(C,OC) += inp^T(C,N) dout(N,OC)
      cuda_detail::gemm(precision_, cublas(), CUBLAS_OP_N, CUBLAS_OP_T, narrow(C), narrow(OC), narrow(N), &one, inp,
                        narrow(C), dout, narrow(OC), &one, dw, narrow(C));
    if (dbias)
      device_kernels::bias_grad(exec(), dbias, dout, N, OC,
                                scratch<T>(scratch_slot::reduce,
                                           static_cast<std::size_t>(device_kernels::column_scratch_size(N, OC))));
  }

  // The LM head's row-wise halves as CUDA kernels with one thread block per row (lm_head.cuh),
  // hiding device_primitives' one-thread-per-row functors, which stay their reference.
  template <class T>
  void log_softmax_gather_rows(T* logits, T* logp, const int* target, index M, index V) {
    device_kernels::log_softmax_gather_block_rows(stream(), logits, logp, target, M, V);
  }
  template <class T>
  void logits_to_dlogits_rows(T* logits, const int* target, const T* g, index M, index V) {
    device_kernels::logits_to_dlogits_block_rows(stream(), logits, target, g, M, V);
  }

  // Row-major C_i(M,N) = alpha op(A_i) op(B_i) + beta C_i for i < batch, with leading dimensions and
  // strides (cpu_kernels::gemm_strided_batched's specification, which the OpenMP backend runs).
  // The mapping onto column-major cuBLAS: a row-major (R,X) matrix with leading dimension ld is, read
  // column-major with the same ld, its transpose (X,R). So C_i stored row-major is C_i^T (N,M) to
  // cuBLAS, and C^T = alpha op(B)^T op(A)^T + beta C^T is what it is asked for: m = N, n = M, k = K,
  // first operand B, second A. B stored (K,N) (no trans_b) reads as B^T (N,K) = op(B)^T: CUBLAS_OP_N;
  // B stored (N,K) (trans_b, op(B) = stored^T) reads as stored^T = op(B) (K,N), whose transpose is
  // wanted: CUBLAS_OP_T. Likewise A: stored (M,K) reads as A^T (K,M) = op(A)^T: CUBLAS_OP_N; stored
  // (K,M) with trans_a: CUBLAS_OP_T. Leading dimensions and strides pass through unchanged.
  template <class T>
  void gemm_batched(bool trans_a, bool trans_b, index M, index N, index K, T alpha, const T* a, index lda, index stride_a,
                    const T* b, index ldb, index stride_b, T beta, T* c, index ldc, index stride_c, index batch) {
    if (batch <= 0 || M <= 0 || N <= 0) return;
    cuda_detail::gemm_strided_batched(precision_, cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                      trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, narrow(N), narrow(M), narrow(K), &alpha, b,
                                      narrow(ldb), stride_b, a, narrow(lda), stride_a, &beta, c, narrow(ldc), stride_c,
                                      narrow(batch));
  }

private:
  static int narrow(index n) {
    if (n < 0 || n > 2147483647)
      throw invalid_argument("juice::cuda: a GEMM dimension (" + std::to_string(n) + ") does not fit cuBLAS's int.");
    return static_cast<int>(n);
  }
  bool sync_check_ = false;
  std::shared_ptr<cuda_detail::context> ctx_;
  gemm_precision precision_ = gemm_precision::fp32;
  attention_options attention_;
};

static_assert(Backend<cuda>, "juice::cuda must satisfy juice::Backend");
static_assert(TransformerBackend<cuda, float> && TransformerBackend<cuda, double>,
              "juice::cuda must satisfy juice::TransformerBackend");
static_assert(FamilyTransformerBackend<cuda, float> && FamilyTransformerBackend<cuda, double>,
              "juice::cuda must satisfy juice::FamilyTransformerBackend");

}  // namespace juice
