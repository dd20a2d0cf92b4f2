// juice/backends/cpu/cpu.hpp
//
// juice::cpu, the Backend for transformers on the host: the same memory space as juice::host
// (std::vector buffers, std::span views, raw pointers as handles), element-wise primitives
// multi-threaded with OpenMP, and the layer primitives of juice::TransformerBackend (GEMM through
// Eigen, embedding, layernorm, tiled causal attention with a KV-cache variant, GELU, residual, fused LM
// head + log-softmax, sampling), and those of juice::FamilyTransformerBackend for Llama-family and
// GPT-NeoX models (RMSNorm, rotary embedding, SwiGLU, grouped-query attention, exact GELU). Each family lives in its own header under juice/backends/cpu/ as
// free functions in juice::cpu_kernels; this type is the interface models hold. It is stateless, so
// its members are static (a model calls them through its backend object all the same).
//
// Threads: link OpenMP::OpenMP_CXX (or compile with -fopenmp) to run on all cores; without OpenMP
// everything is correct and serial. cpu::set_num_threads(n) sets the count (OpenMP's setting of the
// calling thread). A loop or product runs on one thread unless its work pays for a fork on a
// machine whose other cores are busy (parallel.hpp, docs/performance.md); Eigen never threads a
// product by itself (cpu_kernels::serial_eigen).
//
// Build time: a program with many translation units on this backend can compile the float and
// double kernels once (JUICE_CPU_EXTERN_TEMPLATES, juice/backends/cpu/explicit_instantiation.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "juice/backends/cpu/attention.hpp"
#include "juice/backends/host/host.hpp"
#include "juice/backends/cpu/elementwise.hpp"
#include "juice/backends/cpu/embedding.hpp"
#include "juice/backends/cpu/explicit_instantiation.hpp"
#include "juice/backends/cpu/gelu.hpp"
#include "juice/backends/cpu/gelu_exact.hpp"
#include "juice/backends/cpu/gemm.hpp"
#include "juice/backends/cpu/layernorm.hpp"
#include "juice/backends/cpu/lm_head.hpp"
#include "juice/backends/cpu/parallel.hpp"
#include "juice/backends/cpu/residual.hpp"
#include "juice/backends/cpu/rmsnorm.hpp"
#include "juice/backends/cpu/rotary.hpp"
#include "juice/backends/cpu/sampling.hpp"
#include "juice/backends/cpu/swiglu.hpp"
#include "juice/backends/cpu/thread_count.hpp"
#include "juice/concepts/backend.hpp"
#include "juice/concepts/family_transformer_backend.hpp"
#include "juice/concepts/transformer_backend.hpp"

namespace juice {

// The host's memory space (buffers, views, allocate, view_of) with threaded primitives.
struct cpu : host {
  static constexpr std::string_view name = "cpu";

  // --- juice::Backend ---
  template <class T>
  static void fill(view<T> x, T a) { cpu_kernels::fill(x, a); }
  template <class T>
  static void scale(view<T> x, T a) { cpu_kernels::scale(x, a); }
  template <class T>
  static void axpy(T a, const_view<T> y, view<T> x) { cpu_kernels::axpy(a, y, x); }
  template <class T>
  static void copy(const_view<T> y, view<T> x) { cpu_kernels::copy(y, x); }
  template <class T>
  static double dot(const_view<T> y, const_view<T> z) { return cpu_kernels::dot(y, z); }
  template <class T>
  static void sgd_update(view<T> value, const_view<T> grad, const sgd_hyper& h) { cpu_kernels::sgd_update(value, grad, h); }
  template <class T>
  static void adamw_update(view<T> value, const_view<T> grad, view<T> m, view<T> v, const adamw_hyper& h) {
    cpu_kernels::adamw_update(value, grad, m, v, h);
  }
  // Optional fused primitive (see juice/optim/adamw.hpp): adamw_update, then grad = 0, in one pass.
  template <class T>
  static void adamw_update_and_zero(view<T> value, view<T> grad, view<T> m, view<T> v, const adamw_hyper& h) {
    cpu_kernels::adamw_update_and_zero(value, grad, m, v, h);
  }

  // --- memory handles and transfers between the host and this backend (plain copies here) ---
  template <class T> using pointer = T*;
  template <class T> using const_pointer = const T*;
  template <class T>
  static void upload(const T* host_src, T* dst, std::size_t n) { std::copy_n(host_src, n, dst); }
  template <class T>
  static void download(const T* src, T* host_dst, std::size_t n) { std::copy_n(src, n, host_dst); }
  template <class T>
  static T* data(buffer<T>& b) { return b.data(); }
  template <class T>
  static const T* data(const buffer<T>& b) { return b.data(); }
  template <class T>
  static view<T> view_at(T* p, std::size_t n) { return {p, n}; }
  template <class T>
  static const_view<T> const_view_at(const T* p, std::size_t n) { return {p, n}; }

  // --- threads ---
  static void set_num_threads(int n) { cpu_kernels::set_num_threads(n); }
  static int num_threads() { return cpu_kernels::num_threads(); }
  // The count to use when the user gave none: 1 for a small step, else the usable cores
  // (thread_count.hpp).
  static int default_threads(double step_flops) { return cpu_kernels::default_threads(step_flops); }
  static int usable_cores() { return cpu_kernels::usable_cores(); }

  // --- layer primitives (see each header for shapes and semantics) ---
  template <class T>
  static void matmul_forward(T* out, const T* inp, const T* w, const T* b, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t OC) {
    cpu_kernels::matmul_forward(out, inp, w, b, N, C, OC);
  }
  template <class T>
  static void matmul_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, std::ptrdiff_t N,
                              std::ptrdiff_t C, std::ptrdiff_t OC) {
    cpu_kernels::matmul_backward(dinp, dw, db, dout, inp, w, N, C, OC);
  }
  template <class T>
  static void embedding_forward(T* out, const int* tok, const int* pos, const T* wte, const T* wpe, std::ptrdiff_t N, std::ptrdiff_t C) {
    cpu_kernels::embedding_forward(out, tok, pos, wte, wpe, N, C);
  }
  template <class T>
  static void embedding_backward(T* dwte, T* dwpe, const T* dout, const int* tok, const int* pos, std::ptrdiff_t N, std::ptrdiff_t C) {
    cpu_kernels::embedding_backward(dwte, dwpe, dout, tok, pos, N, C);
  }
  template <class T>
  static void gather_rows(T* out, const T* inp, const int* index, std::ptrdiff_t M, std::ptrdiff_t C) {
    cpu_kernels::gather_rows(out, inp, index, M, C);
  }
  template <class T>
  static void scatter_add_rows(T* dinp, const T* dout, const int* index, std::ptrdiff_t M, std::ptrdiff_t C) {
    cpu_kernels::scatter_add_rows(dinp, dout, index, M, C);
  }
  template <class T>
  static void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, std::ptrdiff_t N, std::ptrdiff_t C) {
    cpu_kernels::layernorm_forward(out, mean, rstd, inp, w, b, N, C);
  }
  template <class T>
  static void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                                 const T* rstd, std::ptrdiff_t N, std::ptrdiff_t C) {
    cpu_kernels::layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
  }
  template <class T>
  static void attention_forward(T* out, T* lse, const T* qkv, std::ptrdiff_t B, std::ptrdiff_t T_, std::ptrdiff_t C, std::ptrdiff_t NH) {
    cpu_kernels::attention_forward(out, lse, qkv, B, T_, C, NH);
  }
  template <class T>
  static void attention_backward(T* dqkv, const T* dout, const T* out, const T* lse, const T* qkv, std::ptrdiff_t B,
                                 std::ptrdiff_t T_, std::ptrdiff_t C, std::ptrdiff_t NH) {
    cpu_kernels::attention_backward(dqkv, dout, out, lse, qkv, B, T_, C, NH);
  }
  template <class T>
  static void attention_cached(T* out, const T* qkv, T* kcache, T* vcache, const int* pos0, std::ptrdiff_t B,
                               std::ptrdiff_t Tn, std::ptrdiff_t Tmax, std::ptrdiff_t C, std::ptrdiff_t NH) {
    cpu_kernels::attention_cached(out, qkv, kcache, vcache, pos0, B, Tn, Tmax, C, NH);
  }
  template <class T>
  static void gelu_forward(T* out, const T* inp, std::ptrdiff_t n) { cpu_kernels::gelu_forward(out, inp, n); }
  template <class T>
  static void gelu_backward(T* dinp, const T* inp, const T* dout, std::ptrdiff_t n) { cpu_kernels::gelu_backward(dinp, inp, dout, n); }
  template <class T>
  static void residual_forward(T* out, const T* a, const T* b, std::ptrdiff_t n) { cpu_kernels::residual_forward(out, a, b, n); }
  template <class T>
  static void add_inplace(T* x, const T* y, std::ptrdiff_t n) { cpu_kernels::add_inplace(x, y, n); }
  template <class T>
  static void lm_logits(T* logits, const T* h, const T* wte, std::ptrdiff_t M, std::ptrdiff_t C, std::ptrdiff_t V) {
    cpu_kernels::lm_logits(logits, h, wte, M, C, V);
  }
  template <class T>
  static void lm_logprob_forward(T* logits, T* logp, const T* h, const T* wte, const int* target, std::ptrdiff_t M,
                                 std::ptrdiff_t C, std::ptrdiff_t V) {
    cpu_kernels::lm_logprob_forward(logits, logp, h, wte, target, M, C, V);
  }
  template <class T>
  static void lm_logprob_backward(T* dh, T* dwte, T* logits, const T* h, const T* wte, const int* target, const T* g,
                                  std::ptrdiff_t M, std::ptrdiff_t C, std::ptrdiff_t V) {
    cpu_kernels::lm_logprob_backward(dh, dwte, logits, h, wte, target, g, M, C, V);
  }
  // One token per row of logits(rows,V) by juice's sampling protocol, row r with uniform u[r].
  template <class T>
  static void sample_tokens(int* out, const T* logits, const double* u, std::ptrdiff_t rows, std::ptrdiff_t V,
                            const sampling_options& o) {
    cpu_kernels::sample_tokens(out, logits, u, rows, V, o);
  }

  // --- the primitives of juice::FamilyTransformerBackend (Llama family, GPT-NeoX) ---
  template <class T>
  static void rmsnorm_forward(T* out, T* rstd, const T* inp, const T* w, std::ptrdiff_t N, std::ptrdiff_t C, double eps) {
    cpu_kernels::rmsnorm_forward(out, rstd, inp, w, N, C, eps);
  }
  template <class T>
  static void rmsnorm_backward(T* dinp, T* dw, const T* dout, const T* inp, const T* w, const T* rstd, std::ptrdiff_t N,
                               std::ptrdiff_t C) {
    cpu_kernels::rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C);
  }
  template <class T>
  static void rotary_forward(T* qkv, const int* pos, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV,
                             std::ptrdiff_t rot_dim, double theta) {
    cpu_kernels::rotary_forward(qkv, pos, N, C, NH, NKV, rot_dim, theta);
  }
  template <class T>
  static void rotary_backward(T* dqkv, const int* pos, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV,
                              std::ptrdiff_t rot_dim, double theta) {
    cpu_kernels::rotary_backward(dqkv, pos, N, C, NH, NKV, rot_dim, theta);
  }
  template <class T>
  static void swiglu_forward(T* out, const T* inp, std::ptrdiff_t N, std::ptrdiff_t H) { cpu_kernels::swiglu_forward(out, inp, N, H); }
  template <class T>
  static void swiglu_backward(T* dinp, const T* inp, const T* dout, std::ptrdiff_t N, std::ptrdiff_t H) {
    cpu_kernels::swiglu_backward(dinp, inp, dout, N, H);
  }
  template <class T>
  static void gelu_exact_forward(T* out, const T* inp, std::ptrdiff_t n) { cpu_kernels::gelu_exact_forward(out, inp, n); }
  template <class T>
  static void gelu_exact_backward(T* dinp, const T* inp, const T* dout, std::ptrdiff_t n) {
    cpu_kernels::gelu_exact_backward(dinp, inp, dout, n);
  }
  template <class T>
  static void attention_forward(T* out, T* lse, const T* qkv, std::ptrdiff_t B, std::ptrdiff_t T_, std::ptrdiff_t C, std::ptrdiff_t NH,
                                std::ptrdiff_t NKV) {
    cpu_kernels::attention_forward(out, lse, qkv, B, T_, C, NH, NKV);
  }
  template <class T>
  static void attention_backward(T* dqkv, const T* dout, const T* out, const T* lse, const T* qkv, std::ptrdiff_t B,
                                 std::ptrdiff_t T_, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV) {
    cpu_kernels::attention_backward(dqkv, dout, out, lse, qkv, B, T_, C, NH, NKV);
  }
  template <class T>
  static void attention_cached(T* out, const T* qkv, T* kcache, T* vcache, const int* pos0, std::ptrdiff_t B,
                               std::ptrdiff_t Tn, std::ptrdiff_t Tmax, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV) {
    cpu_kernels::attention_cached(out, qkv, kcache, vcache, pos0, B, Tn, Tmax, C, NH, NKV);
  }
};

static_assert(Backend<cpu>, "juice::cpu must satisfy juice::Backend");
static_assert(TransformerBackend<cpu, float> && TransformerBackend<cpu, double>,
              "juice::cpu must satisfy juice::TransformerBackend");
static_assert(FamilyTransformerBackend<cpu, float> && FamilyTransformerBackend<cpu, double>,
              "juice::cpu must satisfy juice::FamilyTransformerBackend");

}  // namespace juice
