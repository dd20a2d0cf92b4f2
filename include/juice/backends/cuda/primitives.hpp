// juice/backends/cuda/primitives.hpp
//
// juice::device_primitives<Derived>: the Backend and TransformerBackend primitives that are the same
// on every Thrust system, written once over the portable functors of the .cuh files. A device
// backend (juice::cuda on a GPU, juice::thrust_omp_backend on the CPU through Thrust's OpenMP system)
// derives from it (CRTP) and supplies only what differs between systems:
//   d.exec()                        the Thrust execution policy (a stream for CUDA)
//   d.allocate<E>(n), d.data(buf)   zero-filled owning buffers and their raw device pointers
//   d.gemm_forward(out, inp, w, bias, N, C, OC), d.gemm_backward(dinp, dw, dbias, dout, inp, w, N, C, OC)
//                                   the linear layer with matmul_forward/matmul_backward semantics
//                                   (cuBLAS, or the CPU GEMM of juice/backends/cpu/gemm.hpp)
//   d.gemm_batched(trans_a, trans_b, M, N, K, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc,
//                  stride_c, batch)   row-major strided-batched GEMM in the backend's precision
//                                   (cpu_kernels::gemm_strided_batched's contract), for attention_gemm.hpp
//   d.log_softmax_gather_rows(...), d.logits_to_dlogits_rows(...)
//                                   optional: the LM head's row-wise halves; the portable functors
//                                   unless the backend hides them (juice::cuda's block-per-row kernels)
//   d.attention()                   the attention_options (attention_impl.hpp): which path attention's
//                                   training passes take, and the gemm path's scratch bound
//   d.run_primitive(name, dims, where, work)
//                                   runs one primitive's launches (juice::cuda: on its device, errors
//                                   named after the primitive, its shape and the caller's source
//                                   location, optionally synchronised and checked: sync_check.hpp)
// Views are juice::device_span, handles raw pointers. With attention (attention.cuh) every
// TransformerBackend primitive is here, so a derived backend satisfies juice::TransformerBackend;
// attention_forward and attention_backward run the row functors or, with attention_impl::gemm,
// the GEMM decomposition of attention_gemm.hpp; attention_cached always runs the functors;
// with RMSNorm, rotary embedding, SwiGLU (rmsnorm.cuh, rotary.cuh, swiglu.cuh) and attention with
// NKV key/value heads it satisfies juice::FamilyTransformerBackend too, and it has the exact GELU
// of GPT-NeoX (gelu_exact_forward/backward, gelu.cuh) beside GPT-2's.
// Every primitive takes, last, a defaulted std::source_location: where it was called from, which an
// error names. Scratch that a primitive needs (the partial sums of a reduction, attention's row
// statistics D, sampling's selection) lives in persistent per-slot buffers shared by the backend's
// copies, grown when a larger shape first arrives and never freed inside a step; device_stats
// counts every allocation (the model's buffers, scratch growth) and every host synchronisation, so a
// test can assert that a steady-state training step does neither allocate nor wait more than it says.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <source_location>
#include <string>
#include <utility>

#include "juice/backends/cuda/attention.cuh"
#include "juice/backends/cuda/attention_gemm.hpp"
#include "juice/backends/cuda/attention_impl.hpp"
#include "juice/backends/cuda/device_span.hpp"
#include "juice/backends/cuda/elementwise.cuh"
#include "juice/backends/cuda/embedding.cuh"
#include "juice/backends/cuda/gelu.cuh"
#include "juice/backends/cuda/layernorm.cuh"
#include "juice/backends/cuda/linear.cuh"
#include "juice/backends/cuda/lm_head.cuh"
#include "juice/backends/cuda/primitive_site.hpp"
#include "juice/backends/cuda/reduce.cuh"
#include "juice/backends/cuda/residual.cuh"
#include "juice/backends/cuda/rmsnorm.cuh"
#include "juice/backends/cuda/rotary.cuh"
#include "juice/backends/cuda/sampling.cuh"
#include "juice/backends/cuda/swiglu.cuh"
#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"
#include "juice/core/sampling.hpp"

namespace juice {

// What a device backend and its copies have allocated and waited for since the last reset.
struct device_stats {
  std::size_t allocations = 0;  // buffers created: the model's, the backend's scratch, juice::cuda's upload staging
  std::size_t allocated_bytes = 0;
  std::size_t syncs = 0;  // host synchronisations: downloads, dot products, synchronize()
};

// The persistent scratch buffers of a device backend, one per use, so that concurrent uses within
// one primitive never share memory.
enum class scratch_slot : std::size_t {
  reduce,         // partial sums of column and dot reductions (T, or double for dot)
  reduce_result,  // the dot product's result, downloaded
  attention,      // attention_backward's D(B,NH,T)
  sampling,       // sample_tokens' selection (R, k) for top_k, (R, V) for top_p
  embedding,      // embedding_backward's rows sorted by id (2N 64-bit keys)
  bf16_a,         // bf16-rounded GEMM inputs of the OpenMP emulation
  bf16_b,
  bf16_c,
  attention_scores,  // the gemm attention's block of T x T scores / probabilities P
  attention_grads,   // ... and of dP / dS (backward)
  count
};

template <class Derived>
class device_primitives {
  using where = std::source_location;

public:
  template <class T> using view = device_span<T>;
  template <class T> using const_view = device_span<const T>;
  template <class T> using pointer = T*;
  template <class T> using const_pointer = const T*;
  using index = std::ptrdiff_t;

  template <class T>
  static view<T> view_at(T* p, std::size_t n) { return {p, n}; }
  template <class T>
  static const_view<T> const_view_at(const T* p, std::size_t n) { return {p, n}; }

  // Allocations and host synchronisations since the last reset_stats(), over all copies.
  [[nodiscard]] const device_stats& stats() const { return state()->stats; }
  void reset_stats() { state()->stats = {}; }

  // --- juice::Backend ---
  template <class T>
  void fill(view<T> x, T a, where w = where::current()) {
    run("fill", {{"n", size(x)}}, w, [&] { device_kernels::fill(self().exec(), x.data(), size(x), a); });
  }
  template <class T>
  void scale(view<T> x, T a, where w = where::current()) {
    run("scale", {{"n", size(x)}}, w, [&] { device_kernels::scale(self().exec(), x.data(), size(x), a); });
  }
  template <class T>
  void axpy(T a, const_view<T> y, view<T> x, where w = where::current()) {
    same_size(x.size(), y.size(), "axpy");
    run("axpy", {{"n", size(x)}}, w, [&] { device_kernels::axpy(self().exec(), a, y.data(), x.data(), size(x)); });
  }
  template <class T>
  void copy(const_view<T> y, view<T> x, where w = where::current()) {
    same_size(x.size(), y.size(), "copy");
    run("copy", {{"n", size(x)}}, w, [&] { device_kernels::copy(self().exec(), y.data(), x.data(), size(x)); });
  }
  // The sum in double on the device (deterministic: reduce.cuh), then one value downloaded.
  template <class T>
  double dot(const_view<T> y, const_view<T> z, where w = where::current()) {
    same_size(y.size(), z.size(), "dot");
    const index n = size(y);
    if (n == 0) return 0.0;
    double* result = scratch<double>(scratch_slot::reduce_result, 1);
    double* partial = scratch<double>(scratch_slot::reduce, static_cast<std::size_t>(device_kernels::reduce_scratch_size(n)));
    run("dot", {{"n", n}}, w, [&] { device_kernels::dot(self().exec(), result, partial, y.data(), z.data(), n); });
    double out = 0;
    self().download(static_cast<const double*>(result), &out, 1);
    return out;
  }
  template <class T>
  void sgd_update(view<T> value, const_view<T> grad, const sgd_hyper& h, where w = where::current()) {
    same_size(value.size(), grad.size(), "sgd_update");
    run("sgd_update", {{"n", size(value)}}, w,
        [&] { device_kernels::sgd_update(self().exec(), value.data(), grad.data(), size(value), h); });
  }
  template <class T>
  void adamw_update(view<T> value, const_view<T> grad, view<T> m, view<T> v, const adamw_hyper& h,
                    where w = where::current()) {
    same_size(value.size(), grad.size(), "adamw_update");
    same_size(value.size(), m.size(), "adamw_update");
    same_size(value.size(), v.size(), "adamw_update");
    run("adamw_update", {{"n", size(value)}}, w, [&] {
      device_kernels::adamw_update(self().exec(), value.data(), grad.data(), m.data(), v.data(), size(value), h);
    });
  }

  // --- linear layers and rows (juice/concepts/transformer_backend.hpp, 3.) ---
  template <class T>
  void matmul_forward(T* out, const T* inp, const T* w, const T* bias, index N, index C, index OC,
                      where at = where::current()) {
    run("matmul_forward", {{"N", N}, {"C", C}, {"OC", OC}}, at,
        [&] { self().gemm_forward(out, inp, w, bias, N, C, OC); });
  }
  template <class T>
  void matmul_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, index N, index C, index OC,
                       where at = where::current()) {
    run("matmul_backward", {{"N", N}, {"C", C}, {"OC", OC}}, at,
        [&] { self().gemm_backward(dinp, dw, dbias, dout, inp, w, N, C, OC); });
  }
  template <class T>
  void embedding_forward(T* out, const int* tok, const int* pos, const T* wte, const T* wpe, index N, index C,
                         where w = where::current()) {
    run("embedding_forward", {{"N", N}, {"C", C}}, w,
        [&] { device_kernels::embedding_forward(self().exec(), out, tok, pos, wte, wpe, N, C); });
  }
  template <class T>
  void embedding_backward(T* dwte, T* dwpe, const T* dout, const int* tok, const int* pos, index N, index C,
                          where w = where::current()) {
    if (N <= 0 || C <= 0) return;
    if (N > index{4294967295})
      throw invalid_argument(std::string("juice::") + std::string(Derived::name) + "::embedding_backward: N = " +
                             std::to_string(N) + " rows do not fit the 32-bit row index of the grouping by token.");
    auto* keys = scratch<std::uint64_t>(scratch_slot::embedding,
                                        static_cast<std::size_t>(device_kernels::embedding_scratch_size(N)));
    run("embedding_backward", {{"N", N}, {"C", C}}, w,
        [&] { device_kernels::embedding_backward(self().exec(), dwte, dwpe, dout, tok, pos, N, C, keys); });
  }
  template <class T>
  void gather_rows(T* out, const T* inp, const int* idx, index M, index C, where w = where::current()) {
    run("gather_rows", {{"M", M}, {"C", C}}, w, [&] { device_kernels::gather_rows(self().exec(), out, inp, idx, M, C); });
  }
  template <class T>
  void scatter_add_rows(T* dinp, const T* dout, const int* idx, index M, index C, where w = where::current()) {
    run("scatter_add_rows", {{"M", M}, {"C", C}}, w,
        [&] { device_kernels::scatter_add_rows(self().exec(), dinp, dout, idx, M, C); });
  }

  // --- normalisation and element-wise (4.) ---
  template <class T>
  void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, index N, index C,
                         where at = where::current()) {
    run("layernorm_forward", {{"N", N}, {"C", C}}, at,
        [&] { device_kernels::layernorm_forward(self().exec(), out, mean, rstd, inp, w, b, N, C); });
  }
  template <class T>
  void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                          const T* rstd, index N, index C, where at = where::current()) {
    if (N <= 0 || C <= 0) return;
    T* partial = scratch<T>(scratch_slot::reduce, static_cast<std::size_t>(device_kernels::column_scratch_size(N, C)));
    run("layernorm_backward", {{"N", N}, {"C", C}}, at, [&] {
      device_kernels::layernorm_backward(self().exec(), dinp, dw, db, dout, inp, w, mean, rstd, N, C, partial);
    });
  }
  template <class T>
  void gelu_forward(T* out, const T* inp, index n, where w = where::current()) {
    run("gelu_forward", {{"n", n}}, w, [&] { device_kernels::gelu_forward(self().exec(), out, inp, n); });
  }
  template <class T>
  void gelu_backward(T* dinp, const T* inp, const T* dout, index n, where w = where::current()) {
    run("gelu_backward", {{"n", n}}, w, [&] { device_kernels::gelu_backward(self().exec(), dinp, inp, dout, n); });
  }
  template <class T>
  void gelu_exact_forward(T* out, const T* inp, index n, where w = where::current()) {
    run("gelu_exact_forward", {{"n", n}}, w, [&] { device_kernels::gelu_exact_forward(self().exec(), out, inp, n); });
  }
  template <class T>
  void gelu_exact_backward(T* dinp, const T* inp, const T* dout, index n, where w = where::current()) {
    run("gelu_exact_backward", {{"n", n}}, w,
        [&] { device_kernels::gelu_exact_backward(self().exec(), dinp, inp, dout, n); });
  }
  template <class T>
  void residual_forward(T* out, const T* a, const T* b, index n, where w = where::current()) {
    run("residual_forward", {{"n", n}}, w, [&] { device_kernels::residual_forward(self().exec(), out, a, b, n); });
  }
  template <class T>
  void add_inplace(T* x, const T* y, index n, where w = where::current()) {
    run("add_inplace", {{"n", n}}, w, [&] { device_kernels::add_inplace(self().exec(), x, y, n); });
  }

  // --- attention, causal, packed qkv (5.) ---
  template <class T>
  void attention_forward(T* out, T* lse, const T* qkv, index B, index T_, index C, index NH, where w = where::current()) {
    check_heads(C, NH, "attention_forward");
    if (self().attention().impl == attention_impl::gemm) {
      gemm_attention_forward(out, lse, qkv, B, T_, C, NH, NH, {{"B", B}, {"T", T_}, {"C", C}, {"NH", NH}}, w);
      return;
    }
    run("attention_forward", {{"B", B}, {"T", T_}, {"C", C}, {"NH", NH}}, w,
        [&] { device_kernels::attention_forward(self().exec(), out, lse, qkv, B, T_, C, NH); });
  }
  template <class T>
  void attention_backward(T* dqkv, const T* dout, const T* out, const T* lse, const T* qkv, index B, index T_, index C,
                          index NH, where w = where::current()) {
    check_heads(C, NH, "attention_backward");
    if (B * NH * T_ <= 0) return;
    if (self().attention().impl == attention_impl::gemm) {
      gemm_attention_backward(dqkv, dout, out, lse, qkv, B, T_, C, NH, NH, {{"B", B}, {"T", T_}, {"C", C}, {"NH", NH}}, w);
      return;
    }
    // D = rowsum(dout * out) per (b, h, t), in the persistent attention scratch.
    T* D = scratch<T>(scratch_slot::attention, static_cast<std::size_t>(B * NH * T_));
    run("attention_backward", {{"B", B}, {"T", T_}, {"C", C}, {"NH", NH}}, w,
        [&] { device_kernels::attention_backward(self().exec(), dqkv, D, dout, out, lse, qkv, B, T_, C, NH); });
  }
  template <class T>
  void attention_cached(T* out, const T* qkv, T* kcache, T* vcache, const int* pos0, index B, index Tn, index Tmax,
                        index C, index NH, where w = where::current()) {
    check_heads(C, NH, "attention_cached");
    run("attention_cached", {{"B", B}, {"Tn", Tn}, {"Tmax", Tmax}, {"C", C}, {"NH", NH}}, w, [&] {
      device_kernels::attention_cached(self().exec(), out, qkv, kcache, vcache, pos0, B, Tn, Tmax, C, NH);
    });
  }

  // --- the families' layers (juice/concepts/family_transformer_backend.hpp, 1.-3.) ---
  template <class T>
  void rmsnorm_forward(T* out, T* rstd, const T* inp, const T* w, index N, index C, double eps,
                       where at = where::current()) {
    run("rmsnorm_forward", {{"N", N}, {"C", C}}, at,
        [&] { device_kernels::rmsnorm_forward(self().exec(), out, rstd, inp, w, N, C, eps); });
  }
  template <class T>
  void rmsnorm_backward(T* dinp, T* dw, const T* dout, const T* inp, const T* w, const T* rstd, index N, index C,
                        where at = where::current()) {
    if (N <= 0 || C <= 0) return;
    T* partial = scratch<T>(scratch_slot::reduce, static_cast<std::size_t>(device_kernels::column_scratch_size(N, C)));
    run("rmsnorm_backward", {{"N", N}, {"C", C}}, at, [&] {
      device_kernels::rmsnorm_backward(self().exec(), dinp, dw, dout, inp, w, rstd, N, C, partial);
    });
  }
  template <class T>
  void rotary_forward(T* qkv, const int* pos, index N, index C, index NH, index NKV, index rot_dim, double theta,
                      where w = where::current()) {
    check_rotary(C, NH, NKV, rot_dim, "rotary_forward");
    run("rotary_forward", {{"N", N}, {"C", C}, {"NH", NH}, {"NKV", NKV}, {"rot_dim", rot_dim}}, w,
        [&] { device_kernels::rotary_forward(self().exec(), qkv, pos, N, C, NH, NKV, rot_dim, theta); });
  }
  template <class T>
  void rotary_backward(T* dqkv, const int* pos, index N, index C, index NH, index NKV, index rot_dim, double theta,
                       where w = where::current()) {
    check_rotary(C, NH, NKV, rot_dim, "rotary_backward");
    run("rotary_backward", {{"N", N}, {"C", C}, {"NH", NH}, {"NKV", NKV}, {"rot_dim", rot_dim}}, w,
        [&] { device_kernels::rotary_backward(self().exec(), dqkv, pos, N, C, NH, NKV, rot_dim, theta); });
  }
  template <class T>
  void swiglu_forward(T* out, const T* inp, index N, index H, where w = where::current()) {
    run("swiglu_forward", {{"N", N}, {"H", H}}, w, [&] { device_kernels::swiglu_forward(self().exec(), out, inp, N, H); });
  }
  template <class T>
  void swiglu_backward(T* dinp, const T* inp, const T* dout, index N, index H, where w = where::current()) {
    run("swiglu_backward", {{"N", N}, {"H", H}}, w,
        [&] { device_kernels::swiglu_backward(self().exec(), dinp, inp, dout, N, H); });
  }

  // --- grouped-query attention: NKV key/value heads, qkv(B,T,C+2Ckv), caches (B,Tmax,Ckv) (4.) ---
  template <class T>
  void attention_forward(T* out, T* lse, const T* qkv, index B, index T_, index C, index NH, index NKV,
                         where w = where::current()) {
    check_groups(C, NH, NKV, "attention_forward");
    if (self().attention().impl == attention_impl::gemm) {
      gemm_attention_forward(out, lse, qkv, B, T_, C, NH, NKV, {{"B", B}, {"T", T_}, {"C", C}, {"NH", NH}, {"NKV", NKV}}, w);
      return;
    }
    run("attention_forward", {{"B", B}, {"T", T_}, {"C", C}, {"NH", NH}, {"NKV", NKV}}, w,
        [&] { device_kernels::attention_forward(self().exec(), out, lse, qkv, B, T_, C, NH, NKV); });
  }
  template <class T>
  void attention_backward(T* dqkv, const T* dout, const T* out, const T* lse, const T* qkv, index B, index T_, index C,
                          index NH, index NKV, where w = where::current()) {
    check_groups(C, NH, NKV, "attention_backward");
    if (B * NH * T_ <= 0) return;
    if (self().attention().impl == attention_impl::gemm) {
      gemm_attention_backward(dqkv, dout, out, lse, qkv, B, T_, C, NH, NKV,
                              {{"B", B}, {"T", T_}, {"C", C}, {"NH", NH}, {"NKV", NKV}}, w);
      return;
    }
    T* D = scratch<T>(scratch_slot::attention, static_cast<std::size_t>(B * NH * T_));
    run("attention_backward", {{"B", B}, {"T", T_}, {"C", C}, {"NH", NH}, {"NKV", NKV}}, w,
        [&] { device_kernels::attention_backward(self().exec(), dqkv, D, dout, out, lse, qkv, B, T_, C, NH, NKV); });
  }
  template <class T>
  void attention_cached(T* out, const T* qkv, T* kcache, T* vcache, const int* pos0, index B, index Tn, index Tmax,
                        index C, index NH, index NKV, where w = where::current()) {
    check_groups(C, NH, NKV, "attention_cached");
    run("attention_cached", {{"B", B}, {"Tn", Tn}, {"Tmax", Tmax}, {"C", C}, {"NH", NH}, {"NKV", NKV}}, w, [&] {
      device_kernels::attention_cached(self().exec(), out, qkv, kcache, vcache, pos0, B, Tn, Tmax, C, NH, NKV);
    });
  }

  // --- LM head, tied to wte (6.) ---
  template <class T>
  void lm_logits(T* logits, const T* h, const T* wte, index M, index C, index V, where w = where::current()) {
    run("lm_logits", {{"M", M}, {"C", C}, {"V", V}}, w,
        [&] { self().gemm_forward(logits, h, wte, static_cast<const T*>(nullptr), M, C, V); });
  }
  template <class T>
  void lm_logprob_forward(T* logits, T* logp, const T* h, const T* wte, const int* target, index M, index C, index V,
                          where w = where::current()) {
    run("lm_logprob_forward", {{"M", M}, {"C", C}, {"V", V}}, w, [&] {
      self().gemm_forward(logits, h, wte, static_cast<const T*>(nullptr), M, C, V);
      self().log_softmax_gather_rows(logits, logp, target, M, V);
    });
  }
  template <class T>
  void lm_logprob_backward(T* dh, T* dwte, T* logits, const T* h, const T* wte, const int* target, const T* g, index M,
                           index C, index V, where w = where::current()) {
    run("lm_logprob_backward", {{"M", M}, {"C", C}, {"V", V}}, w, [&] {
      self().logits_to_dlogits_rows(logits, target, g, M, V);
      self().gemm_backward(dh, dwte, static_cast<T*>(nullptr), logits, h, wte, M, C, V);
    });
  }
  // The LM head's row-wise halves (lm_head.cuh), for lm_logprob_forward and lm_logprob_backward:
  // the portable one-thread-per-row functors. A derived backend may hide them with kernels of the
  // same contract (juice::cuda: one thread block per row).
  template <class T>
  void log_softmax_gather_rows(T* logits, T* logp, const int* target, index M, index V) {
    device_kernels::log_softmax_gather(self().exec(), logits, logp, target, M, V);
  }
  template <class T>
  void logits_to_dlogits_rows(T* logits, const int* target, const T* g, index M, index V) {
    device_kernels::logits_to_dlogits(self().exec(), logits, target, g, M, V);
  }

  // --- sampling (7.) ---
  template <class T>
  void sample_tokens(int* out, const T* logits, const double* u, index R, index V, const sampling_options& o,
                     where w = where::current()) {
    validate(o);
    if (V <= 0) throw invalid_argument(std::string("juice::") + std::string(Derived::name) + "::sample_tokens: the rows of logits are empty.");
    if (R <= 0) return;
    if (!device_kernels::sampling_needs_order(o, V)) {
      run("sample_tokens", {{"R", R}, {"V", V}}, w, [&] {
        device_kernels::sample_rows(self().exec(), out, logits, u, R, V, o);
      });
      return;
    }
    int* sel = scratch<int>(scratch_slot::sampling,
                            static_cast<std::size_t>(R * device_kernels::sampling_selection_capacity(o, V)));
    run("sample_tokens", {{"R", R}, {"V", V}}, w,
        [&] { device_kernels::sample_rows_selected(self().exec(), out, sel, logits, u, R, V, o); });
  }

protected:
  Derived& self() { return static_cast<Derived&>(*this); }
  template <class S>
  static index size(const S& s) { return static_cast<index>(s.size()); }
  static void check_heads(index C, index NH, const char* what) {
    if (NH <= 0 || C % NH != 0)
      throw invalid_argument(std::string("juice::") + std::string(Derived::name) + "::" + what + ": C = " +
                             std::to_string(C) + " is not a positive multiple of the head count NH = " +
                             std::to_string(NH) + ".");
  }
  static void check_groups(index C, index NH, index NKV, const char* what) {
    check_heads(C, NH, what);
    if (NKV <= 0 || NH % NKV != 0)
      throw invalid_argument(std::string("juice::") + std::string(Derived::name) + "::" + what +
                             ": the key/value head count NKV = " + std::to_string(NKV) +
                             " does not divide the query head count NH = " + std::to_string(NH) + ".");
  }
  static void check_rotary(index C, index NH, index NKV, index rot_dim, const char* what) {
    check_groups(C, NH, NKV, what);
    if (rot_dim < 0 || rot_dim % 2 != 0 || rot_dim > C / NH)
      throw invalid_argument(std::string("juice::") + std::string(Derived::name) + "::" + what + ": rot_dim = " +
                             std::to_string(rot_dim) + " is not an even number of channels up to the head size " +
                             std::to_string(C / NH) + ".");
  }
  static void same_size(std::size_t a, std::size_t b, const char* what) {
    if (a != b)
      throw invalid_argument(std::string("juice::") + std::string(Derived::name) + "::" + what +
                             ": the views have different sizes (" + std::to_string(a) + " and " + std::to_string(b) + ").");
  }

  // attention_impl::gemm (attention_gemm.hpp): blocks of (b, h) pairs sized to the scratch bound, the
  // derived backend's strided-batched GEMM, the scores in persistent scratch.
  template <class T>
  void gemm_attention_forward(T* out, T* lse, const T* qkv, index B, index T_, index C, index NH, index NKV,
                              std::initializer_list<device_kernels::dim> dims, const where& w) {
    if (B * NH * T_ <= 0) return;
    const index pairs = device_kernels::attention_gemm_pairs(NKV, T_, sizeof(T), self().attention().scratch_bytes);
    T* S = scratch<T>(scratch_slot::attention_scores, static_cast<std::size_t>(pairs * T_ * T_));
    run("attention_forward", dims, w, [&] {
      device_kernels::attention_gemm_forward(self().exec(), batched_gemm<T>(), out, lse, qkv, B, T_, C, NH, NKV, S, pairs);
    });
  }
  template <class T>
  void gemm_attention_backward(T* dqkv, const T* dout, const T* out, const T* lse, const T* qkv, index B, index T_,
                               index C, index NH, index NKV, std::initializer_list<device_kernels::dim> dims,
                               const where& w) {
    const index pairs = device_kernels::attention_gemm_pairs(NKV, T_, sizeof(T), self().attention().scratch_bytes);
    T* D = scratch<T>(scratch_slot::attention, static_cast<std::size_t>(B * NH * T_));
    T* P = scratch<T>(scratch_slot::attention_scores, static_cast<std::size_t>(pairs * T_ * T_));
    T* dP = scratch<T>(scratch_slot::attention_grads, static_cast<std::size_t>(pairs * T_ * T_));
    run("attention_backward", dims, w, [&] {
      device_kernels::attention_gemm_backward(self().exec(), batched_gemm<T>(), dqkv, D, dout, out, lse, qkv, B, T_, C,
                                              NH, NKV, P, dP, pairs);
    });
  }
  // The derived backend's gemm_batched as the callable attention_gemm.hpp takes.
  template <class T>
  auto batched_gemm() {
    return [this](bool ta, bool tb, index M, index N, index K, T alpha, const T* a, index lda, index sa, const T* b,
                  index ldb, index sb, T beta, T* c, index ldc, index sc, index batch) {
      self().gemm_batched(ta, tb, M, N, K, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch);
    };
  }

  // One primitive's launches, through the derived backend (device, error context, sync check).
  template <class F>
  void run(const char* what, std::initializer_list<device_kernels::dim> dims, const where& w, F&& work) {
    self().run_primitive(what, dims, w, std::forward<F>(work));
  }

  // The persistent buffer of `slot` as at least n elements of E (grown, and counted, when smaller).
  template <class E>
  E* scratch(scratch_slot slot, std::size_t n) {
    auto& b = state()->scratch[static_cast<std::size_t>(slot)];
    const std::size_t words = (n * sizeof(E) + sizeof(double) - 1) / sizeof(double);
    if (b.size() < words) {
      b = {};  // released before the larger one is made (stream-ordered on a GPU)
      b = self().template allocate<double>(words);
    }
    // Raw device memory (double-aligned) reused as E; never read as double.
    return reinterpret_cast<E*>(self().data(b));
  }

  // For the derived backend's allocate() and its waits.
  void count_allocation(std::size_t bytes) {
    ++state()->stats.allocations;
    state()->stats.allocated_bytes += bytes;
  }
  void count_sync() { ++state()->stats.syncs; }

private:
  struct shared_state {
    device_stats stats;
    std::array<typename Derived::template buffer<double>, static_cast<std::size_t>(scratch_slot::count)> scratch;
  };
  [[nodiscard]] shared_state* state() const { return state_.get(); }

  // Only the backend that derives from it constructs it (CRTP); Derived is complete by then.
  device_primitives() : state_(std::make_shared<shared_state>()) {}
  friend Derived;

  std::shared_ptr<shared_state> state_;  // copies share it, as they share the stream
};

}  // namespace juice
