// juice/models/gpt2_trunk.hpp
//
// The GPT-2 trunk shared by the policy (juice::transformer) and the reward model
// (juice::transformer_reward): token + learned position embeddings, L pre-LayerNorm blocks
// (causal multi-head attention, GELU MLP, residuals) and the final LayerNorm, written against
// backend primitives only (Radford et al. 2019; layer order as in karpathy/llm.c). All parameters
// (trunk first, then the owner's head tensors) live in one backend buffer and their gradients in
// another, so zero_grad is one fill. Two workspaces: the training one keeps every layer's
// activations of the last forward pass for backward(); the inference one holds a KV cache.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"
#include "juice/core/rng.hpp"
#include "juice/models/transformer_backend.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::detail {

// One standard normal draw through juice::rng (Box-Muller), so initialisation is reproducible.
inline double normal(rng& g) {
  const double u1 = 1.0 - g.uniform(), u2 = g.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

template <class B, class T>
class gpt2_trunk {
public:
  using buffer = typename B::template buffer<T>;
  using ibuffer = typename B::template buffer<int>;

  // Per-layer parameter tensors, in storage order.
  enum tensor { ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, per_layer };

  // A trunk of the given shape with the extra head tensors (name, size) appended; initialised as
  // GPT-2 (weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), positions N(0, 0.01),
  // biases 0, LayerNorm gains 1; heads N(0, 0.02)) from `seed`.
  gpt2_trunk(transformer_config cfg, const std::vector<std::pair<std::string, std::size_t>>& heads, std::uint64_t seed)
      : cfg_(cfg) {
    cfg_.validate();
    const std::size_t C = cfg_.channels;
    add("wte", cfg_.vocab * C);
    add("wpe", cfg_.context * C);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      const std::string p = "h." + std::to_string(l) + ".";
      add(p + "ln_1.weight", C);
      add(p + "ln_1.bias", C);
      add(p + "attn.c_attn.weight", 3 * C * C);
      add(p + "attn.c_attn.bias", 3 * C);
      add(p + "attn.c_proj.weight", C * C);
      add(p + "attn.c_proj.bias", C);
      add(p + "ln_2.weight", C);
      add(p + "ln_2.bias", C);
      add(p + "mlp.c_fc.weight", 4 * C * C);
      add(p + "mlp.c_fc.bias", 4 * C);
      add(p + "mlp.c_proj.weight", 4 * C * C);
      add(p + "mlp.c_proj.bias", C);
    }
    add("ln_f.weight", C);
    add("ln_f.bias", C);
    trunk_size_ = total_;
    for (auto& [n, s] : heads) add(n, s);
    params_ = B::template allocate<T>(total_);
    grads_ = B::template allocate<T>(total_);
    initialise(seed);
  }

  // Copies hold the parameters (gradients start at zero) but no workspace: a snapshot costs one
  // parameter copy plus one gradient buffer.
  gpt2_trunk(const gpt2_trunk& o)
      : cfg_(o.cfg_), names_(o.names_), sizes_(o.sizes_), offset_(o.offset_), total_(o.total_),
        trunk_size_(o.trunk_size_), params_(o.params_), grads_(B::template allocate<T>(o.total_)) {}
  gpt2_trunk& operator=(const gpt2_trunk& o) {
    if (this != &o) *this = gpt2_trunk(o);
    return *this;
  }
  gpt2_trunk(gpt2_trunk&&) noexcept = default;
  gpt2_trunk& operator=(gpt2_trunk&&) noexcept = default;

  [[nodiscard]] const transformer_config& config() const { return cfg_; }
  // Number of parameters (trunk and heads).
  [[nodiscard]] std::size_t size() const { return total_; }
  // Number of trunk parameters (a prefix of the storage).
  [[nodiscard]] std::size_t trunk_size() const { return trunk_size_; }

  // Pointer to tensor i's values / gradient (i indexes the storage order: 0 wte, 1 wpe, then
  // 2 + 12 l + tensor, then ln_f weight and bias, then the heads).
  T* param(std::size_t i) { return B::data(params_) + offset_[i]; }
  const T* param(std::size_t i) const { return B::data(params_) + offset_[i]; }
  T* grad(std::size_t i) { return B::data(grads_) + offset_[i]; }
  std::size_t layer_tensor(std::size_t l, tensor t) const { return 2 + l * per_layer + t; }
  std::size_t lnf_index() const { return 2 + cfg_.layers * per_layer; }
  std::size_t head_index(std::size_t k) const { return lnf_index() + 2 + k; }

  std::vector<parameter<B, T>> parameters() {
    std::vector<parameter<B, T>> out;
    out.reserve(names_.size());
    auto pv = B::view_of(params_);
    auto gv = B::view_of(grads_);
    for (std::size_t i = 0; i < names_.size(); ++i)
      out.push_back(parameter<B, T>{names_[i], pv.subspan(offset_[i], sizes_[i]), gv.subspan(offset_[i], sizes_[i])});
    return out;
  }
  void zero_grad() { B::fill(B::view_of(grads_), T(0)); }

  // The parameter values of `other` (same shape): the trunk prefix, and the heads if they match.
  void copy_parameters_from(const gpt2_trunk& other, bool trunk_only) {
    const std::size_t n = trunk_only ? trunk_size_ : total_;
    if (other.cfg_.layers != cfg_.layers || other.cfg_.channels != cfg_.channels || other.cfg_.vocab != cfg_.vocab ||
        other.cfg_.context != cfg_.context || other.cfg_.heads != cfg_.heads || other.total_ < n)
      throw invalid_argument("juice::transformer: cannot copy parameters between models of different shapes.");
    B::copy(typename B::template const_view<T>(B::data(other.params_), n), B::view_of(params_).subspan(0, n));
  }

  // ---- training path -------------------------------------------------------------------------
  // Forward pass over tokens (rows, width) given on the host (row-major), positions 0..width-1;
  // returns the final LayerNorm output (rows*width, C) in backend memory, valid until the next call.
  const T* forward(const std::vector<int>& tokens, std::size_t rows, std::size_t width) const {
    auto& a = acts_;
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(cfg_.channels), NH = static_cast<std::ptrdiff_t>(cfg_.heads);
    const std::ptrdiff_t Bn = static_cast<std::ptrdiff_t>(rows), Tn = static_cast<std::ptrdiff_t>(width), N = Bn * Tn;
    a.rows = rows;
    a.width = width;
    reserve(a, static_cast<std::size_t>(N));
    std::vector<int> pos(static_cast<std::size_t>(N));
    for (std::ptrdiff_t n = 0; n < N; ++n) pos[static_cast<std::size_t>(n)] = static_cast<int>(n % Tn);
    B::upload(tokens.data(), B::data(a.tokens), static_cast<std::size_t>(N));
    B::upload(pos.data(), B::data(a.positions), static_cast<std::size_t>(N));
    B::embedding_forward(B::data(a.encoded), B::data(a.tokens), B::data(a.positions), param(0), param(1), N, C);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      auto& L = a.layers[l];
      const T* in = l == 0 ? B::data(a.encoded) : B::data(a.layers[l - 1].res3);
      block_forward(l, L, in, Bn, Tn, C, NH);
    }
    B::layernorm_forward(B::data(a.lnf), B::data(a.lnf_mean), B::data(a.lnf_rstd), B::data(a.layers.back().res3),
                         param(lnf_index()), param(lnf_index() + 1), N, C);
    return B::data(a.lnf);
  }

  // Adds d/dtheta of sum(dlnf .* lnf) for the last forward pass; dlnf is (rows*width, C) in backend
  // memory (it may be trunk_grad_buffer()).
  void backward(const T* dlnf) {
    auto& a = acts_;
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(cfg_.channels), NH = static_cast<std::ptrdiff_t>(cfg_.heads);
    const std::ptrdiff_t Bn = static_cast<std::ptrdiff_t>(a.rows), Tn = static_cast<std::ptrdiff_t>(a.width), N = Bn * Tn;
    auto& d = grads_ws_;
    ensure(d.dres, static_cast<std::size_t>(N * C));
    ensure(d.dtmp, static_cast<std::size_t>(N * C));
    ensure(d.dqkv, static_cast<std::size_t>(N * 3 * C));
    ensure(d.dfch, static_cast<std::size_t>(N * 4 * C));
    T* dres = B::data(d.dres);
    T* dtmp = B::data(d.dtmp);
    T* dqkv = B::data(d.dqkv);
    T* dfch = B::data(d.dfch);
    B::fill(typename B::template view<T>(dres, static_cast<std::size_t>(N * C)), T(0));
    B::layernorm_backward(dres, grad(lnf_index()), grad(lnf_index() + 1), dlnf, B::data(a.layers.back().res3),
                          param(lnf_index()), B::data(a.lnf_mean), B::data(a.lnf_rstd), N, C);
    for (std::size_t l = cfg_.layers; l-- > 0;) {
      auto& L = a.layers[l];
      const T* in = l == 0 ? B::data(a.encoded) : B::data(a.layers[l - 1].res3);
      auto P = [&](tensor t) { return param(layer_tensor(l, t)); };
      auto G = [&](tensor t) { return grad(layer_tensor(l, t)); };
      // MLP branch.
      B::matmul_backward(dfch, G(fcprojw), G(fcprojb), dres, B::data(L.fch_gelu), P(fcprojw), N, 4 * C, C);
      B::gelu_backward(dfch, B::data(L.fch), dfch, N * 4 * C);
      B::matmul_backward(dtmp, G(fcw), G(fcb), dfch, B::data(L.ln2), P(fcw), N, C, 4 * C);
      B::layernorm_backward(dres, G(ln2w), G(ln2b), dtmp, B::data(L.res2), P(ln2w), B::data(L.ln2_mean),
                            B::data(L.ln2_rstd), N, C);
      // Attention branch.
      B::matmul_backward(dtmp, G(projw), G(projb), dres, B::data(L.atty), P(projw), N, C, C);
      B::attention_backward(dqkv, dtmp, B::data(L.att), B::data(L.qkv), Bn, Tn, C, NH);
      B::matmul_backward(dtmp, G(qkvw), G(qkvb), dqkv, B::data(L.ln1), P(qkvw), N, C, 3 * C);
      B::layernorm_backward(dres, G(ln1w), G(ln1b), dtmp, in, P(ln1w), B::data(L.ln1_mean), B::data(L.ln1_rstd), N, C);
    }
    B::embedding_backward(grad(0), grad(1), dres, B::data(a.tokens), B::data(a.positions), N, C);
  }

  // A zero-filled (rows*width, C) gradient buffer for the owner's head to scatter into.
  T* trunk_grad_buffer() const {
    const std::size_t n = acts_.rows * acts_.width * cfg_.channels;
    ensure(grads_ws_.dlnf, n);
    B::fill(typename B::template view<T>(B::data(grads_ws_.dlnf), n), T(0));
    return B::data(grads_ws_.dlnf);
  }
  // Rows and width of the last training forward pass.
  [[nodiscard]] std::size_t last_rows() const { return acts_.rows; }
  [[nodiscard]] std::size_t last_width() const { return acts_.width; }

  // ---- inference path with a KV cache ----------------------------------------------------------
  // Starts a cache for `rows` sequences of up to `max_len` positions (<= context).
  void cache_begin(std::size_t rows, std::size_t max_len) const {
    if (max_len > cfg_.context)
      throw invalid_argument("juice::transformer: generation needs " + std::to_string(max_len) +
                             " positions but the context is " + std::to_string(cfg_.context) + ".");
    auto& c = cache_;
    c.rows = rows;
    c.max_len = max_len;
    const std::size_t n = rows * max_len * cfg_.channels;
    c.k.resize(cfg_.layers);
    c.v.resize(cfg_.layers);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      ensure(c.k[l], n);
      ensure(c.v[l], n);
    }
  }

  // Runs `tokens` (rows, width; host) at positions pos0[b] .. pos0[b]+width-1 of each row through
  // the cached model; returns the final LayerNorm output (rows*width, C) in backend memory.
  const T* cache_forward(const std::vector<int>& tokens, const std::vector<int>& pos0, std::size_t width) const {
    auto& c = cache_;
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(cfg_.channels), NH = static_cast<std::ptrdiff_t>(cfg_.heads);
    const std::ptrdiff_t Bn = static_cast<std::ptrdiff_t>(c.rows), Tn = static_cast<std::ptrdiff_t>(width), N = Bn * Tn;
    const std::size_t sN = static_cast<std::size_t>(N), sC = cfg_.channels;
    ensure(c.tokens, sN);
    ensure(c.positions, sN);
    ensure(c.pos0, c.rows);
    ensure(c.res, sN * sC);
    ensure(c.ln, sN * sC);
    ensure(c.qkv, sN * 3 * sC);
    ensure(c.atty, sN * sC);
    ensure(c.tmp, sN * sC);
    ensure(c.fch, sN * 4 * sC);
    ensure(c.fchg, sN * 4 * sC);
    std::vector<int> pos(sN);
    for (std::ptrdiff_t b = 0; b < Bn; ++b)
      for (std::ptrdiff_t t = 0; t < Tn; ++t) {
        const int p = pos0[static_cast<std::size_t>(b)] + static_cast<int>(t);
        if (p < 0 || static_cast<std::size_t>(p) >= c.max_len)
          throw invalid_argument("juice::transformer: position " + std::to_string(p) + " is outside the KV cache (" +
                                 std::to_string(c.max_len) + " positions).");
        pos[static_cast<std::size_t>(b * Tn + t)] = p;
      }
    B::upload(tokens.data(), B::data(c.tokens), sN);
    B::upload(pos.data(), B::data(c.positions), sN);
    B::upload(pos0.data(), B::data(c.pos0), c.rows);
    T* res = B::data(c.res);
    B::embedding_forward(res, B::data(c.tokens), B::data(c.positions), param(0), param(1), N, C);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      auto P = [&](tensor t) { return param(layer_tensor(l, t)); };
      B::layernorm_forward(B::data(c.ln), static_cast<T*>(nullptr), static_cast<T*>(nullptr), res, P(ln1w), P(ln1b), N, C);
      B::matmul_forward(B::data(c.qkv), B::data(c.ln), P(qkvw), P(qkvb), N, C, 3 * C);
      B::attention_cached(B::data(c.atty), B::data(c.qkv), B::data(c.k[l]), B::data(c.v[l]), B::data(c.pos0), Bn, Tn,
                          static_cast<std::ptrdiff_t>(c.max_len), C, NH);
      B::matmul_forward(B::data(c.tmp), B::data(c.atty), P(projw), P(projb), N, C, C);
      B::add_inplace(res, B::data(c.tmp), N * C);
      B::layernorm_forward(B::data(c.ln), static_cast<T*>(nullptr), static_cast<T*>(nullptr), res, P(ln2w), P(ln2b), N, C);
      B::matmul_forward(B::data(c.fch), B::data(c.ln), P(fcw), P(fcb), N, C, 4 * C);
      B::gelu_forward(B::data(c.fchg), B::data(c.fch), N * 4 * C);
      B::matmul_forward(B::data(c.tmp), B::data(c.fchg), P(fcprojw), P(fcprojb), N, 4 * C, C);
      B::add_inplace(res, B::data(c.tmp), N * C);
    }
    B::layernorm_forward(B::data(c.ln), static_cast<T*>(nullptr), static_cast<T*>(nullptr), res, param(lnf_index()),
                         param(lnf_index() + 1), N, C);
    return B::data(c.ln);
  }

  // Frees both workspaces (parameters and gradients stay).
  void release_workspace() const {
    acts_ = activations{};
    grads_ws_ = backward_workspace{};
    cache_ = kv_cache{};
  }

private:
  struct layer_acts {
    buffer ln1, ln1_mean, ln1_rstd, qkv, atty, att, res2, ln2, ln2_mean, ln2_rstd, fch, fch_gelu, res3;
  };
  struct activations {
    std::size_t rows = 0, width = 0, capacity_n = 0, capacity_t = 0;
    typename B::template buffer<int> tokens, positions;
    buffer encoded, lnf, lnf_mean, lnf_rstd, tmp;
    std::vector<layer_acts> layers;
  };
  struct backward_workspace {
    buffer dres, dtmp, dqkv, dfch, dlnf;
  };
  struct kv_cache {
    std::size_t rows = 0, max_len = 0;
    std::vector<buffer> k, v;
    typename B::template buffer<int> tokens, positions, pos0;
    buffer res, ln, qkv, atty, tmp, fch, fchg;
  };

  template <class Buf>
  static void ensure(Buf& b, std::size_t n) {
    if (b.size() < n) b = B::template allocate<typename Buf::value_type>(n);
  }

  void reserve(activations& a, std::size_t N) const {
    const std::size_t C = cfg_.channels, NH = cfg_.heads, Tn = a.width, Bn = a.rows;
    ensure(a.tokens, N);
    ensure(a.positions, N);
    ensure(a.encoded, N * C);
    ensure(a.lnf, N * C);
    ensure(a.lnf_mean, N);
    ensure(a.lnf_rstd, N);
    ensure(a.tmp, N * C);
    a.layers.resize(cfg_.layers);
    for (auto& L : a.layers) {
      ensure(L.ln1, N * C);
      ensure(L.ln1_mean, N);
      ensure(L.ln1_rstd, N);
      ensure(L.qkv, 3 * N * C);
      ensure(L.atty, N * C);
      ensure(L.att, Bn * NH * Tn * Tn);
      ensure(L.res2, N * C);
      ensure(L.ln2, N * C);
      ensure(L.ln2_mean, N);
      ensure(L.ln2_rstd, N);
      ensure(L.fch, 4 * N * C);
      ensure(L.fch_gelu, 4 * N * C);
      ensure(L.res3, N * C);
    }
  }

  void block_forward(std::size_t l, layer_acts& L, const T* in, std::ptrdiff_t Bn, std::ptrdiff_t Tn, std::ptrdiff_t C,
                     std::ptrdiff_t NH) const {
    const std::ptrdiff_t N = Bn * Tn;
    auto P = [&](tensor t) { return param(layer_tensor(l, t)); };
    T* tmp = B::data(acts_.tmp);
    B::layernorm_forward(B::data(L.ln1), B::data(L.ln1_mean), B::data(L.ln1_rstd), in, P(ln1w), P(ln1b), N, C);
    B::matmul_forward(B::data(L.qkv), B::data(L.ln1), P(qkvw), P(qkvb), N, C, 3 * C);
    B::attention_forward(B::data(L.atty), B::data(L.att), B::data(L.qkv), Bn, Tn, C, NH);
    B::matmul_forward(tmp, B::data(L.atty), P(projw), P(projb), N, C, C);
    B::residual_forward(B::data(L.res2), in, tmp, N * C);
    B::layernorm_forward(B::data(L.ln2), B::data(L.ln2_mean), B::data(L.ln2_rstd), B::data(L.res2), P(ln2w), P(ln2b), N, C);
    B::matmul_forward(B::data(L.fch), B::data(L.ln2), P(fcw), P(fcb), N, C, 4 * C);
    B::gelu_forward(B::data(L.fch_gelu), B::data(L.fch), N * 4 * C);
    B::matmul_forward(tmp, B::data(L.fch_gelu), P(fcprojw), P(fcprojb), N, 4 * C, C);
    B::residual_forward(B::data(L.res3), B::data(L.res2), tmp, N * C);
  }

  void add(std::string name, std::size_t n) {
    names_.push_back(std::move(name));
    sizes_.push_back(n);
    offset_.push_back(total_);
    total_ += n;
  }

  void initialise(std::uint64_t seed) {
    rng g = rng::stream(seed, 0);
    std::vector<T> host(total_, T(0));
    const double resid = 0.02 / std::sqrt(2.0 * static_cast<double>(cfg_.layers));
    auto fill_normal = [&](std::size_t i, double sd) {
      for (std::size_t k = 0; k < sizes_[i]; ++k) host[offset_[i] + k] = static_cast<T>(sd * normal(g));
    };
    auto fill_const = [&](std::size_t i, double v) {
      for (std::size_t k = 0; k < sizes_[i]; ++k) host[offset_[i] + k] = static_cast<T>(v);
    };
    fill_normal(0, 0.02);
    fill_normal(1, 0.01);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      fill_const(layer_tensor(l, ln1w), 1);
      fill_const(layer_tensor(l, ln2w), 1);
      fill_normal(layer_tensor(l, qkvw), 0.02);
      fill_normal(layer_tensor(l, fcw), 0.02);
      fill_normal(layer_tensor(l, projw), resid);
      fill_normal(layer_tensor(l, fcprojw), resid);
    }
    fill_const(lnf_index(), 1);
    for (std::size_t i = lnf_index() + 2; i < names_.size(); ++i) fill_normal(i, 0.02);
    B::upload(host.data(), B::data(params_), total_);
  }

  transformer_config cfg_;
  std::vector<std::string> names_;
  std::vector<std::size_t> sizes_, offset_;
  std::size_t total_ = 0, trunk_size_ = 0;
  buffer params_, grads_;
  mutable activations acts_;
  mutable backward_workspace grads_ws_;
  mutable kv_cache cache_;
};

}  // namespace juice::detail
