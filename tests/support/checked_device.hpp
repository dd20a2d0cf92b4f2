// checked_device: a test backend that behaves like device memory. Buffers are opaque (no element
// access, not copyable), handles cannot be dereferenced, and the only way between the host and its
// memory is upload/download, which it counts along with bytes and host synchronisations (downloads
// and dot products), and the buffers it allocates (with the growth of juice::cuda's upload staging,
// which it models). The arithmetic forwards to the CPU kernels, so a model on checked_device must
// give bit-identical results to juice::cpu: any difference, or any host access the seam does not
// state, is a bug in the seam (models/ reaching past juice::TransformerBackend).
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/backends/cuda/staging.hpp"
#include "juice/concepts/family_transformer_backend.hpp"
#include "juice/concepts/transformer_backend.hpp"

namespace juice::test {

struct transfer_stats {
  std::size_t uploads = 0, downloads = 0, upload_bytes = 0, download_bytes = 0, dots = 0;
  std::size_t allocations = 0;  // buffers created and staging growth (a steady-state step has neither)
  // Host synchronisations: every download and every dot product returns data to the host.
  [[nodiscard]] std::size_t syncs() const { return downloads + dots; }
};

inline transfer_stats operator-(const transfer_stats& a, const transfer_stats& b) {
  return {a.uploads - b.uploads, a.downloads - b.downloads, a.upload_bytes - b.upload_bytes,
          a.download_bytes - b.download_bytes, a.dots - b.dots, a.allocations - b.allocations};
}

class checked_device {
public:
  static constexpr std::string_view name = "checked_device";

  // A handle into device memory: offsets and comparisons only.
  template <class E>
  class handle {
  public:
    handle() = default;
    template <class U>
    requires(std::is_const_v<E>&& std::is_same_v<const U, E>)
        handle(handle<U> o) : p_(o.p_) {}  // NOLINT: pointer -> const_pointer, as T* -> const T*
    handle operator+(std::ptrdiff_t n) const { return handle(p_ + n); }
    friend bool operator==(handle, handle) = default;

  private:
    friend class checked_device;
    template <class>
    friend class handle;
    explicit handle(E* p) : p_(p) {}
    E* p_ = nullptr;
  };

  template <class E>
  class dview {
  public:
    dview() = default;
    template <class U>
    requires(std::is_const_v<E>&& std::is_same_v<const U, E>)
        dview(dview<U> o) : h_(o.h_), n_(o.n_) {}  // NOLINT: view -> const_view
    [[nodiscard]] std::size_t size() const { return n_; }

  private:
    friend class checked_device;
    template <class>
    friend class dview;
    dview(handle<E> h, std::size_t n) : h_(h), n_(n) {}
    handle<E> h_;
    std::size_t n_ = 0;
  };

  // Owning device memory: movable, not copyable, no element access.
  template <class E>
  class dbuffer {
  public:
    dbuffer() = default;
    dbuffer(dbuffer&&) noexcept = default;
    dbuffer& operator=(dbuffer&&) noexcept = default;
    dbuffer(const dbuffer&) = delete;
    dbuffer& operator=(const dbuffer&) = delete;
    [[nodiscard]] std::size_t size() const { return v_.size(); }

  private:
    friend class checked_device;
    explicit dbuffer(std::size_t n) : v_(n, E(0)) {}
    std::vector<E> v_;
  };

  template <class E> using buffer = dbuffer<E>;
  template <class E> using pointer = handle<E>;
  template <class E> using const_pointer = handle<const E>;
  template <class E> using view = dview<E>;
  template <class E> using const_view = dview<const E>;

  // Copies share the counters (as copies of a real backend share its stream).
  [[nodiscard]] const transfer_stats& stats() const { return *stats_; }
  void reset_stats() { *stats_ = {}; }

  // --- memory ---
  template <class E>
  buffer<E> allocate(std::size_t n) const {
    ++stats_->allocations;
    return buffer<E>(n);
  }
  template <class E>
  view<E> view_of(buffer<E>& b) const { return view<E>(pointer<E>(b.v_.data()), b.v_.size()); }
  template <class E>
  pointer<E> data(buffer<E>& b) const { return pointer<E>(b.v_.data()); }
  template <class E>
  const_pointer<E> data(const buffer<E>& b) const { return const_pointer<E>(b.v_.data()); }
  template <class E>
  view<E> view_at(pointer<E> p, std::size_t n) const { return view<E>(p, n); }
  template <class E>
  const_view<E> const_view_at(const_pointer<E> p, std::size_t n) const { return const_view<E>(p, n); }
  // juice::cuda stages uploads in pinned slots that grow together on demand (juice/backends/cuda/
  // staging.hpp); modelled here, a growth counts as the allocations it makes there (one per slot),
  // so that the model code's steady state covers its uploads too.
  template <class E>
  void upload(const E* host, pointer<E> dst, std::size_t n) {
    ++stats_->uploads;
    stats_->upload_bytes += n * sizeof(E);
    const std::size_t capacity = staging_capacity(*staging_, n * sizeof(E));
    if (capacity != *staging_) stats_->allocations += staging_slots;
    *staging_ = capacity;
    std::copy_n(host, n, dst.p_);
  }
  template <class E>
  void download(const_pointer<E> src, E* host, std::size_t n) {
    ++stats_->downloads;
    stats_->download_bytes += n * sizeof(E);
    std::copy_n(src.p_, n, host);
  }

  // --- juice::Backend ---
  template <class T>
  void fill(view<T> x, T a) { cpu::fill(span(x), a); }
  template <class T>
  void scale(view<T> x, T a) { cpu::scale(span(x), a); }
  template <class T>
  void axpy(T a, const_view<T> y, view<T> x) { cpu::axpy(a, span(y), span(x)); }
  template <class T>
  void copy(const_view<T> y, view<T> x) { cpu::copy(span(y), span(x)); }
  template <class T>
  double dot(const_view<T> y, const_view<T> z) {
    ++stats_->dots;
    return cpu::dot(span(y), span(z));
  }
  template <class T>
  void sgd_update(view<T> value, const_view<T> grad, const sgd_hyper& h) { cpu::sgd_update(span(value), span(grad), h); }
  template <class T>
  void adamw_update(view<T> value, const_view<T> grad, view<T> m, view<T> v, const adamw_hyper& h) {
    cpu::adamw_update(span(value), span(grad), span(m), span(v), h);
  }

  // --- juice::TransformerBackend layer primitives: the CPU kernels on the raw memory ---
  template <class T>
  void matmul_forward(pointer<T> out, const_pointer<T> inp, const_pointer<T> w, const_pointer<T> b, std::ptrdiff_t N,
                      std::ptrdiff_t C, std::ptrdiff_t OC) {
    cpu::matmul_forward(out.p_, inp.p_, w.p_, b.p_, N, C, OC);
  }
  template <class T>
  void matmul_backward(pointer<T> dinp, pointer<T> dw, pointer<T> db, const_pointer<T> dout, const_pointer<T> inp,
                       const_pointer<T> w, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t OC) {
    cpu::matmul_backward(dinp.p_, dw.p_, db.p_, dout.p_, inp.p_, w.p_, N, C, OC);
  }
  template <class T>
  void embedding_forward(pointer<T> out, const_pointer<int> tok, const_pointer<int> pos, const_pointer<T> wte,
                         const_pointer<T> wpe, std::ptrdiff_t N, std::ptrdiff_t C) {
    cpu::embedding_forward(out.p_, tok.p_, pos.p_, wte.p_, wpe.p_, N, C);
  }
  template <class T>
  void embedding_backward(pointer<T> dwte, pointer<T> dwpe, const_pointer<T> dout, const_pointer<int> tok,
                          const_pointer<int> pos, std::ptrdiff_t N, std::ptrdiff_t C) {
    cpu::embedding_backward(dwte.p_, dwpe.p_, dout.p_, tok.p_, pos.p_, N, C);
  }
  template <class T>
  void gather_rows(pointer<T> out, const_pointer<T> inp, const_pointer<int> index, std::ptrdiff_t M, std::ptrdiff_t C) {
    cpu::gather_rows(out.p_, inp.p_, index.p_, M, C);
  }
  template <class T>
  void scatter_add_rows(pointer<T> dinp, const_pointer<T> dout, const_pointer<int> index, std::ptrdiff_t M, std::ptrdiff_t C) {
    cpu::scatter_add_rows(dinp.p_, dout.p_, index.p_, M, C);
  }
  template <class T>
  void layernorm_forward(pointer<T> out, pointer<T> mean, pointer<T> rstd, const_pointer<T> inp, const_pointer<T> w,
                         const_pointer<T> b, std::ptrdiff_t N, std::ptrdiff_t C) {
    cpu::layernorm_forward(out.p_, mean.p_, rstd.p_, inp.p_, w.p_, b.p_, N, C);
  }
  template <class T>
  void layernorm_backward(pointer<T> dinp, pointer<T> dw, pointer<T> db, const_pointer<T> dout, const_pointer<T> inp,
                          const_pointer<T> w, const_pointer<T> mean, const_pointer<T> rstd, std::ptrdiff_t N, std::ptrdiff_t C) {
    cpu::layernorm_backward(dinp.p_, dw.p_, db.p_, dout.p_, inp.p_, w.p_, mean.p_, rstd.p_, N, C);
  }
  template <class T>
  void gelu_forward(pointer<T> out, const_pointer<T> inp, std::ptrdiff_t n) { cpu::gelu_forward(out.p_, inp.p_, n); }
  template <class T>
  void gelu_backward(pointer<T> dinp, const_pointer<T> inp, const_pointer<T> dout, std::ptrdiff_t n) {
    cpu::gelu_backward(dinp.p_, inp.p_, dout.p_, n);
  }
  template <class T>
  void residual_forward(pointer<T> out, const_pointer<T> a, const_pointer<T> b, std::ptrdiff_t n) {
    cpu::residual_forward(out.p_, a.p_, b.p_, n);
  }
  template <class T>
  void add_inplace(pointer<T> x, const_pointer<T> y, std::ptrdiff_t n) { cpu::add_inplace(x.p_, y.p_, n); }
  template <class T>
  void attention_forward(pointer<T> out, pointer<T> lse, const_pointer<T> qkv, std::ptrdiff_t B, std::ptrdiff_t Tn,
                         std::ptrdiff_t C, std::ptrdiff_t NH) {
    cpu::attention_forward(out.p_, lse.p_, qkv.p_, B, Tn, C, NH);
  }
  template <class T>
  void attention_backward(pointer<T> dqkv, const_pointer<T> dout, const_pointer<T> out, const_pointer<T> lse,
                          const_pointer<T> qkv, std::ptrdiff_t B, std::ptrdiff_t Tn, std::ptrdiff_t C, std::ptrdiff_t NH) {
    cpu::attention_backward(dqkv.p_, dout.p_, out.p_, lse.p_, qkv.p_, B, Tn, C, NH);
  }
  template <class T>
  void attention_cached(pointer<T> out, const_pointer<T> qkv, pointer<T> kc, pointer<T> vc, const_pointer<int> pos0,
                        std::ptrdiff_t B, std::ptrdiff_t Tn, std::ptrdiff_t Tmax, std::ptrdiff_t C, std::ptrdiff_t NH) {
    cpu::attention_cached(out.p_, qkv.p_, kc.p_, vc.p_, pos0.p_, B, Tn, Tmax, C, NH);
  }
  template <class T>
  void lm_logits(pointer<T> logits, const_pointer<T> h, const_pointer<T> wte, std::ptrdiff_t M, std::ptrdiff_t C,
                 std::ptrdiff_t V) {
    cpu::lm_logits(logits.p_, h.p_, wte.p_, M, C, V);
  }
  template <class T>
  void lm_logprob_forward(pointer<T> logits, pointer<T> logp, const_pointer<T> h, const_pointer<T> wte,
                          const_pointer<int> target, std::ptrdiff_t M, std::ptrdiff_t C, std::ptrdiff_t V) {
    cpu::lm_logprob_forward(logits.p_, logp.p_, h.p_, wte.p_, target.p_, M, C, V);
  }
  template <class T>
  void lm_logprob_backward(pointer<T> dh, pointer<T> dwte, pointer<T> logits, const_pointer<T> h, const_pointer<T> wte,
                           const_pointer<int> target, const_pointer<T> g, std::ptrdiff_t M, std::ptrdiff_t C, std::ptrdiff_t V) {
    cpu::lm_logprob_backward(dh.p_, dwte.p_, logits.p_, h.p_, wte.p_, target.p_, g.p_, M, C, V);
  }
  template <class T>
  void sample_tokens(pointer<int> out, const_pointer<T> logits, const_pointer<double> u, std::ptrdiff_t rows,
                     std::ptrdiff_t V, const sampling_options& o) {
    cpu::sample_tokens(out.p_, logits.p_, u.p_, rows, V, o);
  }

  // --- juice::FamilyTransformerBackend ---
  template <class T>
  void rmsnorm_forward(pointer<T> out, pointer<T> rstd, const_pointer<T> inp, const_pointer<T> w, std::ptrdiff_t N,
                       std::ptrdiff_t C, double eps) {
    cpu::rmsnorm_forward(out.p_, rstd.p_, inp.p_, w.p_, N, C, eps);
  }
  template <class T>
  void rmsnorm_backward(pointer<T> dinp, pointer<T> dw, const_pointer<T> dout, const_pointer<T> inp, const_pointer<T> w,
                        const_pointer<T> rstd, std::ptrdiff_t N, std::ptrdiff_t C) {
    cpu::rmsnorm_backward(dinp.p_, dw.p_, dout.p_, inp.p_, w.p_, rstd.p_, N, C);
  }
  template <class T>
  void rotary_forward(pointer<T> qkv, const_pointer<int> pos, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t NH,
                      std::ptrdiff_t NKV, std::ptrdiff_t rot_dim, double theta) {
    cpu::rotary_forward(qkv.p_, pos.p_, N, C, NH, NKV, rot_dim, theta);
  }
  template <class T>
  void rotary_backward(pointer<T> dqkv, const_pointer<int> pos, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t NH,
                       std::ptrdiff_t NKV, std::ptrdiff_t rot_dim, double theta) {
    cpu::rotary_backward(dqkv.p_, pos.p_, N, C, NH, NKV, rot_dim, theta);
  }
  template <class T>
  void swiglu_forward(pointer<T> out, const_pointer<T> inp, std::ptrdiff_t N, std::ptrdiff_t H) {
    cpu::swiglu_forward(out.p_, inp.p_, N, H);
  }
  template <class T>
  void swiglu_backward(pointer<T> dinp, const_pointer<T> inp, const_pointer<T> dout, std::ptrdiff_t N, std::ptrdiff_t H) {
    cpu::swiglu_backward(dinp.p_, inp.p_, dout.p_, N, H);
  }
  template <class T>
  void gelu_exact_forward(pointer<T> out, const_pointer<T> inp, std::ptrdiff_t n) { cpu::gelu_exact_forward(out.p_, inp.p_, n); }
  template <class T>
  void gelu_exact_backward(pointer<T> dinp, const_pointer<T> inp, const_pointer<T> dout, std::ptrdiff_t n) {
    cpu::gelu_exact_backward(dinp.p_, inp.p_, dout.p_, n);
  }
  template <class T>
  void attention_forward(pointer<T> out, pointer<T> lse, const_pointer<T> qkv, std::ptrdiff_t B, std::ptrdiff_t Tn,
                         std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV) {
    cpu::attention_forward(out.p_, lse.p_, qkv.p_, B, Tn, C, NH, NKV);
  }
  template <class T>
  void attention_backward(pointer<T> dqkv, const_pointer<T> dout, const_pointer<T> out, const_pointer<T> lse,
                          const_pointer<T> qkv, std::ptrdiff_t B, std::ptrdiff_t Tn, std::ptrdiff_t C, std::ptrdiff_t NH,
                          std::ptrdiff_t NKV) {
    cpu::attention_backward(dqkv.p_, dout.p_, out.p_, lse.p_, qkv.p_, B, Tn, C, NH, NKV);
  }
  template <class T>
  void attention_cached(pointer<T> out, const_pointer<T> qkv, pointer<T> kc, pointer<T> vc, const_pointer<int> pos0,
                        std::ptrdiff_t B, std::ptrdiff_t Tn, std::ptrdiff_t Tmax, std::ptrdiff_t C, std::ptrdiff_t NH,
                        std::ptrdiff_t NKV) {
    cpu::attention_cached(out.p_, qkv.p_, kc.p_, vc.p_, pos0.p_, B, Tn, Tmax, C, NH, NKV);
  }

  // Test access: a device view's elements, downloaded (and counted).
  template <class T>
  std::vector<std::remove_const_t<T>> to_host(dview<T> v) {
    std::vector<std::remove_const_t<T>> out(v.size());
    download(const_pointer<std::remove_const_t<T>>(v.h_), out.data(), v.size());
    return out;
  }

private:
  template <class T>
  static std::span<T> span(dview<T> v) { return {v.h_.p_, v.n_}; }

  std::shared_ptr<transfer_stats> stats_ = std::make_shared<transfer_stats>();
  std::shared_ptr<std::size_t> staging_ = std::make_shared<std::size_t>(0);  // bytes per modelled slot
};

static_assert(Backend<checked_device>, "checked_device must satisfy juice::Backend");
static_assert(TransformerBackend<checked_device, float> && TransformerBackend<checked_device, double>,
              "checked_device must satisfy juice::TransformerBackend");
static_assert(FamilyTransformerBackend<checked_device, float> && FamilyTransformerBackend<checked_device, double>,
              "checked_device must satisfy juice::FamilyTransformerBackend");

}  // namespace juice::test
