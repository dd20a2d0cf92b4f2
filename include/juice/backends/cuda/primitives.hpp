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
// Views are juice::device_span, handles raw pointers. With attention (attention.cuh) every
// TransformerBackend primitive is here, so a derived backend satisfies juice::TransformerBackend.
#pragma once

#include <cstddef>
#include <string>

#include "juice/backends/cuda/attention.cuh"
#include "juice/backends/cuda/device_span.hpp"
#include "juice/backends/cuda/elementwise.cuh"
#include "juice/backends/cuda/embedding.cuh"
#include "juice/backends/cuda/gelu.cuh"
#include "juice/backends/cuda/layernorm.cuh"
#include "juice/backends/cuda/lm_head.cuh"
#include "juice/backends/cuda/residual.cuh"
#include "juice/backends/cuda/sampling.cuh"
#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"
#include "juice/core/sampling.hpp"

namespace juice {

template <class Derived>
class device_primitives {
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

  // --- juice::Backend ---
  template <class T>
  void fill(view<T> x, T a) { device_kernels::fill(self().exec(), x.data(), size(x), a); }
  template <class T>
  void scale(view<T> x, T a) { device_kernels::scale(self().exec(), x.data(), size(x), a); }
  template <class T>
  void axpy(T a, const_view<T> y, view<T> x) {
    same_size(x.size(), y.size(), "axpy");
    device_kernels::axpy(self().exec(), a, y.data(), x.data(), size(x));
  }
  template <class T>
  void copy(const_view<T> y, view<T> x) {
    same_size(x.size(), y.size(), "copy");
    device_kernels::copy(self().exec(), y.data(), x.data(), size(x));
  }
  template <class T>
  double dot(const_view<T> y, const_view<T> z) {
    same_size(y.size(), z.size(), "dot");
    return device_kernels::dot(self().exec(), y.data(), z.data(), size(y));
  }
  template <class T>
  void sgd_update(view<T> value, const_view<T> grad, const sgd_hyper& h) {
    same_size(value.size(), grad.size(), "sgd_update");
    device_kernels::sgd_update(self().exec(), value.data(), grad.data(), size(value), h);
  }
  template <class T>
  void adamw_update(view<T> value, const_view<T> grad, view<T> m, view<T> v, const adamw_hyper& h) {
    same_size(value.size(), grad.size(), "adamw_update");
    same_size(value.size(), m.size(), "adamw_update");
    same_size(value.size(), v.size(), "adamw_update");
    device_kernels::adamw_update(self().exec(), value.data(), grad.data(), m.data(), v.data(), size(value), h);
  }

  // --- linear layers and rows (juice/concepts/transformer_backend.hpp, 3.) ---
  template <class T>
  void matmul_forward(T* out, const T* inp, const T* w, const T* bias, index N, index C, index OC) {
    self().gemm_forward(out, inp, w, bias, N, C, OC);
  }
  template <class T>
  void matmul_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, index N, index C, index OC) {
    self().gemm_backward(dinp, dw, dbias, dout, inp, w, N, C, OC);
  }
  template <class T>
  void embedding_forward(T* out, const int* tok, const int* pos, const T* wte, const T* wpe, index N, index C) {
    device_kernels::embedding_forward(self().exec(), out, tok, pos, wte, wpe, N, C);
  }
  template <class T>
  void embedding_backward(T* dwte, T* dwpe, const T* dout, const int* tok, const int* pos, index N, index C) {
    device_kernels::embedding_backward(self().exec(), dwte, dwpe, dout, tok, pos, N, C);
  }
  template <class T>
  void gather_rows(T* out, const T* inp, const int* idx, index M, index C) {
    device_kernels::gather_rows(self().exec(), out, inp, idx, M, C);
  }
  template <class T>
  void scatter_add_rows(T* dinp, const T* dout, const int* idx, index M, index C) {
    device_kernels::scatter_add_rows(self().exec(), dinp, dout, idx, M, C);
  }

  // --- normalisation and element-wise (4.) ---
  template <class T>
  void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, index N, index C) {
    device_kernels::layernorm_forward(self().exec(), out, mean, rstd, inp, w, b, N, C);
  }
  template <class T>
  void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                          const T* rstd, index N, index C) {
    device_kernels::layernorm_backward(self().exec(), dinp, dw, db, dout, inp, w, mean, rstd, N, C);
  }
  template <class T>
  void gelu_forward(T* out, const T* inp, index n) { device_kernels::gelu_forward(self().exec(), out, inp, n); }
  template <class T>
  void gelu_backward(T* dinp, const T* inp, const T* dout, index n) {
    device_kernels::gelu_backward(self().exec(), dinp, inp, dout, n);
  }
  template <class T>
  void residual_forward(T* out, const T* a, const T* b, index n) {
    device_kernels::residual_forward(self().exec(), out, a, b, n);
  }
  template <class T>
  void add_inplace(T* x, const T* y, index n) { device_kernels::add_inplace(self().exec(), x, y, n); }

  // --- attention, causal, packed qkv (5.) ---
  template <class T>
  void attention_forward(T* out, T* lse, const T* qkv, index B, index T_, index C, index NH) {
    check_heads(C, NH, "attention_forward");
    device_kernels::attention_forward(self().exec(), out, lse, qkv, B, T_, C, NH);
  }
  template <class T>
  void attention_backward(T* dqkv, const T* dout, const T* out, const T* lse, const T* qkv, index B, index T_, index C,
                          index NH) {
    check_heads(C, NH, "attention_backward");
    if (B * NH * T_ <= 0) return;
    // D = rowsum(dout * out) per (b, h, t): scratch freed in stream order after the kernels using it.
    auto D = self().template allocate<T>(static_cast<std::size_t>(B * NH * T_));
    device_kernels::attention_backward(self().exec(), dqkv, self().data(D), dout, out, lse, qkv, B, T_, C, NH);
  }
  template <class T>
  void attention_cached(T* out, const T* qkv, T* kcache, T* vcache, const int* pos0, index B, index Tn, index Tmax,
                        index C, index NH) {
    check_heads(C, NH, "attention_cached");
    device_kernels::attention_cached(self().exec(), out, qkv, kcache, vcache, pos0, B, Tn, Tmax, C, NH);
  }

  // --- LM head, tied to wte (6.) ---
  template <class T>
  void lm_logits(T* logits, const T* h, const T* wte, index M, index C, index V) {
    self().gemm_forward(logits, h, wte, static_cast<const T*>(nullptr), M, C, V);
  }
  template <class T>
  void lm_logprob_forward(T* logits, T* logp, const T* h, const T* wte, const int* target, index M, index C, index V) {
    lm_logits(logits, h, wte, M, C, V);
    device_kernels::log_softmax_gather(self().exec(), logits, logp, target, M, V);
  }
  template <class T>
  void lm_logprob_backward(T* dh, T* dwte, T* logits, const T* h, const T* wte, const int* target, const T* g, index M,
                           index C, index V) {
    device_kernels::logits_to_dlogits(self().exec(), logits, target, g, M, V);
    self().gemm_backward(dh, dwte, static_cast<T*>(nullptr), logits, h, wte, M, C, V);
  }

  // --- sampling (7.) ---
  template <class T>
  void sample_tokens(int* out, const T* logits, const double* u, index R, index V, const sampling_options& o) {
    validate(o);
    if (V <= 0) throw invalid_argument(std::string("juice::") + std::string(Derived::name) + "::sample_tokens: the rows of logits are empty.");
    if (R <= 0) return;
    if (!device_kernels::sampling_needs_order(o, V)) {
      device_kernels::sample_rows(self().exec(), out, logits, u, static_cast<const int*>(nullptr), R, V, o);
      return;
    }
    auto order = self().template allocate<int>(static_cast<std::size_t>(R * V));
    int* po = self().data(order);
    device_kernels::sort_rows_by_logit(self().exec(), po, logits, R, V);
    device_kernels::sample_rows(self().exec(), out, logits, u, static_cast<const int*>(po), R, V, o);
    self().synchronize();  // `order` is freed on return
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
  static void same_size(std::size_t a, std::size_t b, const char* what) {
    if (a != b)
      throw invalid_argument(std::string("juice::") + std::string(Derived::name) + "::" + what +
                             ": the views have different sizes (" + std::to_string(a) + " and " + std::to_string(b) + ").");
  }

private:
  // Only the backend that derives from it constructs it (CRTP).
  device_primitives() = default;
  friend Derived;
};

}  // namespace juice
