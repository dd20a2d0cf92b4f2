// juice/models/gpt2_trunk.hpp
//
// The GPT-2 trunk shared by the policy (juice::transformer) and the reward model
// (juice::transformer_reward): token + learned position embeddings, L pre-LayerNorm blocks
// (causal multi-head attention, GELU MLP, residuals) and the final LayerNorm, written against the
// juice::TransformerBackend contract only (Radford et al. 2019; layer order as in karpathy/llm.c).
// The trunk holds its backend object. All parameters (trunk first, then the owner's head tensors)
// live in one backend buffer and their gradients in another, so zero_grad is one fill and an
// optimizer step one call. Two workspaces: the training one keeps every layer's activations of the
// last forward pass for backward(); the inference one holds a KV cache. Host traffic per training
// forward pass is two uploads (tokens, positions), whatever the number of layers.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"
#include "juice/core/rng.hpp"
#include "juice/concepts/transformer_backend.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::detail {

// Grows a backend workspace buffer of E to at least n elements (contents not kept). E is named by
// the caller: a backend's buffer type need not expose its element type.
template <class E, class B>
void grow(B& be, typename B::template buffer<E>& b, std::size_t n) {
  if (b.size() < n) b = be.template allocate<E>(n);
}

template <class B, class T>
class gpt2_trunk {
public:
  using buffer = typename B::template buffer<T>;
  using ibuffer = typename B::template buffer<int>;
  using ptr = typename B::template pointer<T>;
  using cptr = typename B::template const_pointer<T>;
  using iptr = typename B::template pointer<int>;
  using ciptr = typename B::template const_pointer<int>;

  // Per-layer parameter tensors, in storage order.
  enum tensor { ln1w,
                ln1b,
                qkvw,
                qkvb,
                projw,
                projb,
                ln2w,
                ln2b,
                fcw,
                fcb,
                fcprojw,
                fcprojb,
                per_layer };

  // A trunk of the given shape with the extra head tensors (name, size) appended; initialised as
  // GPT-2 (weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), positions N(0, 0.01),
  // biases 0, LayerNorm gains 1; heads N(0, 0.02)) from `seed`.
  gpt2_trunk(B backend, transformer_config cfg, const std::vector<std::pair<std::string, std::size_t>>& heads, std::uint64_t seed)
      : be_(std::move(backend)), cfg_(cfg) {
    cfg_.validate(sizeof(T));  // sizes, overflow and memory, before anything is allocated
    if (!cfg_.is_gpt2())
      throw invalid_argument(
          "juice::transformer: the config describes a Llama-family or GPT-NeoX architecture (its norm, positions, MLP, "
          "kv_heads, biases, residual or LM head differ from GPT-2's); juice's transformer runs GPT-2's only so far.");
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
    params_ = be_.template allocate<T>(total_);
    grads_ = be_.template allocate<T>(total_);
    initialise(seed);
  }

  // Copies hold the parameters (gradients start at zero) but no workspace: a snapshot costs one
  // parameter copy plus one gradient buffer, made by the backend (buffers need not be copyable).
  gpt2_trunk(const gpt2_trunk& o)
      : be_(o.be_), cfg_(o.cfg_), names_(o.names_), sizes_(o.sizes_), offset_(o.offset_), total_(o.total_),
        trunk_size_(o.trunk_size_), params_(be_.template allocate<T>(o.total_)), grads_(be_.template allocate<T>(o.total_)) {
    be_.copy(be_.const_view_at(be_.data(o.params_), total_), be_.view_of(params_));
  }
  gpt2_trunk& operator=(const gpt2_trunk& o) {
    if (this != &o) *this = gpt2_trunk(o);
    return *this;
  }
  gpt2_trunk(gpt2_trunk&&) noexcept = default;
  gpt2_trunk& operator=(gpt2_trunk&&) noexcept = default;

  [[nodiscard]] const transformer_config& config() const { return cfg_; }
  // The backend object the parameters and workspaces live in.
  B& backend() const { return be_; }
  // Number of parameters (trunk and heads).
  [[nodiscard]] std::size_t size() const { return total_; }
  // Number of trunk parameters (a prefix of the storage).
  [[nodiscard]] std::size_t trunk_size() const { return trunk_size_; }

  // Pointer to tensor i's values / gradient (i indexes the storage order: 0 wte, 1 wpe, then
  // 2 + 12 l + tensor, then ln_f weight and bias, then the heads).
  ptr param(std::size_t i) { return be_.data(params_) + off(offset_[i]); }
  cptr param(std::size_t i) const { return be_.data(params_) + off(offset_[i]); }
  ptr grad(std::size_t i) { return be_.data(grads_) + off(offset_[i]); }
  std::size_t layer_tensor(std::size_t l, tensor t) const { return 2 + l * per_layer + t; }
  std::size_t lnf_index() const { return 2 + cfg_.layers * per_layer; }
  std::size_t head_index(std::size_t k) const { return lnf_index() + 2 + k; }

  std::vector<parameter<B, T>> parameters() {
    std::vector<parameter<B, T>> out;
    out.reserve(names_.size());
    for (std::size_t i = 0; i < names_.size(); ++i)
      out.push_back(parameter<B, T>{names_[i], be_.view_at(param(i), sizes_[i]), be_.view_at(grad(i), sizes_[i])});
    return out;
  }
  // Every parameter and gradient as one block (storage order), for fused optimizer calls.
  parameter<B, T> parameter_block() { return parameter<B, T>{"parameters", be_.view_of(params_), be_.view_of(grads_)}; }
  // Name and size of tensor i (storage order).
  [[nodiscard]] const std::string& name(std::size_t i) const { return names_[i]; }
  [[nodiscard]] std::size_t tensor_size(std::size_t i) const { return sizes_[i]; }
  [[nodiscard]] std::size_t tensor_count() const { return names_.size(); }
  void zero_grad() { be_.fill(be_.view_of(grads_), T(0)); }

  // The parameter values of `other` (same shape): the trunk prefix, and the heads if they match.
  void copy_parameters_from(const gpt2_trunk& other, bool trunk_only) {
    const std::size_t n = trunk_only ? trunk_size_ : total_;
    if (other.cfg_.layers != cfg_.layers || other.cfg_.channels != cfg_.channels || other.cfg_.vocab != cfg_.vocab ||
        other.cfg_.context != cfg_.context || other.cfg_.heads != cfg_.heads || other.total_ < n)
      throw invalid_argument("juice::transformer: cannot copy parameters between models of different shapes.");
    be_.copy(be_.const_view_at(be_.data(other.params_), n), be_.view_at(be_.data(params_), n));
  }

  // ---- training path -------------------------------------------------------------------------
  // Forward pass over tokens (rows, width) given on the host (row-major), positions 0..width-1;
  // returns the final LayerNorm output (rows*width, C) in backend memory, valid until the next call.
  cptr forward(const std::vector<int>& tokens, std::size_t rows, std::size_t width) const {
    auto& a = acts_;
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(cfg_.channels), NH = static_cast<std::ptrdiff_t>(cfg_.heads);
    const std::ptrdiff_t Bn = static_cast<std::ptrdiff_t>(rows), Tn = static_cast<std::ptrdiff_t>(width), N = Bn * Tn;
    a.rows = rows;
    a.width = width;
    reserve(a, static_cast<std::size_t>(N));
    std::vector<int> pos(static_cast<std::size_t>(N));
    for (std::ptrdiff_t n = 0; n < N; ++n) pos[static_cast<std::size_t>(n)] = static_cast<int>(n % Tn);
    be_.upload(tokens.data(), be_.data(a.tokens), static_cast<std::size_t>(N));
    be_.upload(pos.data(), be_.data(a.positions), static_cast<std::size_t>(N));
    be_.embedding_forward(be_.data(a.encoded), cdata(a.tokens), cdata(a.positions), param(0), param(1), N, C);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      auto& L = a.layers[l];
      const cptr in = l == 0 ? cdata(a.encoded) : cdata(a.layers[l - 1].res3);
      block_forward(l, L, in, Bn, Tn, C, NH);
    }
    be_.layernorm_forward(be_.data(a.lnf), be_.data(a.lnf_mean), be_.data(a.lnf_rstd), cdata(a.layers.back().res3),
                          param(lnf_index()), param(lnf_index() + 1), N, C);
    return cdata(a.lnf);
  }

  // Adds d/dtheta of sum(dlnf .* lnf) for the last forward pass; dlnf is (rows*width, C) in backend
  // memory (it may be trunk_grad_buffer()).
  void backward(cptr dlnf) {
    auto& a = acts_;
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(cfg_.channels), NH = static_cast<std::ptrdiff_t>(cfg_.heads);
    const std::ptrdiff_t Bn = static_cast<std::ptrdiff_t>(a.rows), Tn = static_cast<std::ptrdiff_t>(a.width), N = Bn * Tn;
    auto& d = grads_ws_;
    ensure(d.dres, static_cast<std::size_t>(N * C));
    ensure(d.dtmp, static_cast<std::size_t>(N * C));
    ensure(d.dqkv, static_cast<std::size_t>(N * 3 * C));
    ensure(d.dfch, static_cast<std::size_t>(N * 4 * C));
    const ptr dres = be_.data(d.dres), dtmp = be_.data(d.dtmp), dqkv = be_.data(d.dqkv), dfch = be_.data(d.dfch);
    be_.fill(be_.view_at(dres, static_cast<std::size_t>(N * C)), T(0));
    be_.layernorm_backward(dres, grad(lnf_index()), grad(lnf_index() + 1), dlnf, cdata(a.layers.back().res3),
                           std::as_const(*this).param(lnf_index()), cdata(a.lnf_mean), cdata(a.lnf_rstd), N, C);
    for (std::size_t l = cfg_.layers; l-- > 0;) {
      auto& L = a.layers[l];
      const cptr in = l == 0 ? cdata(a.encoded) : cdata(a.layers[l - 1].res3);
      auto P = [&](tensor t) { return std::as_const(*this).param(layer_tensor(l, t)); };
      auto G = [&](tensor t) { return grad(layer_tensor(l, t)); };
      // MLP branch.
      be_.matmul_backward(dfch, G(fcprojw), G(fcprojb), cptr(dres), cdata(L.fch_gelu), P(fcprojw), N, 4 * C, C);
      be_.gelu_backward(dfch, cdata(L.fch), cptr(dfch), N * 4 * C);
      be_.matmul_backward(dtmp, G(fcw), G(fcb), cptr(dfch), cdata(L.ln2), P(fcw), N, C, 4 * C);
      be_.layernorm_backward(dres, G(ln2w), G(ln2b), cptr(dtmp), cdata(L.res2), P(ln2w), cdata(L.ln2_mean),
                             cdata(L.ln2_rstd), N, C);
      // Attention branch.
      be_.matmul_backward(dtmp, G(projw), G(projb), cptr(dres), cdata(L.atty), P(projw), N, C, C);
      be_.attention_backward(dqkv, cptr(dtmp), cdata(L.atty), cdata(L.lse), cdata(L.qkv), Bn, Tn, C, NH);
      be_.matmul_backward(dtmp, G(qkvw), G(qkvb), cptr(dqkv), cdata(L.ln1), P(qkvw), N, C, 3 * C);
      be_.layernorm_backward(dres, G(ln1w), G(ln1b), cptr(dtmp), in, P(ln1w), cdata(L.ln1_mean), cdata(L.ln1_rstd), N, C);
    }
    be_.embedding_backward(grad(0), grad(1), cptr(dres), cdata(a.tokens), cdata(a.positions), N, C);
  }

  // A zero-filled (rows*width, C) gradient buffer for the owner's head to scatter into.
  ptr trunk_grad_buffer() const {
    const std::size_t n = acts_.rows * acts_.width * cfg_.channels;
    ensure(grads_ws_.dlnf, n);
    be_.fill(be_.view_at(be_.data(grads_ws_.dlnf), n), T(0));
    return be_.data(grads_ws_.dlnf);
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

  // A backend int buffer of at least n elements for the tokens fed to cache_forward.
  iptr cache_tokens(std::size_t n) const {
    ensure(cache_.tokens, n);
    return be_.data(cache_.tokens);
  }

  // Runs the tokens (rows, width) at `tokens` (backend memory) at positions pos0[b] ..
  // pos0[b]+width-1 of each row through the cached model; returns the final LayerNorm output
  // (rows*width, C) in backend memory. Uploads pos0 (and, for width > 1, the positions): with
  // width 1 that is one upload of `rows` ints, whatever the number of layers.
  cptr cache_forward(ciptr tokens, const std::vector<int>& pos0, std::size_t width) const {
    auto& c = cache_;
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(cfg_.channels), NH = static_cast<std::ptrdiff_t>(cfg_.heads);
    const std::ptrdiff_t Bn = static_cast<std::ptrdiff_t>(c.rows), Tn = static_cast<std::ptrdiff_t>(width), N = Bn * Tn;
    const std::size_t sN = static_cast<std::size_t>(N), sC = cfg_.channels;
    ensure(c.pos0, c.rows);
    ensure(c.res, sN * sC);
    ensure(c.ln, sN * sC);
    ensure(c.qkv, sN * 3 * sC);
    ensure(c.atty, sN * sC);
    ensure(c.tmp, sN * sC);
    ensure(c.fch, sN * 4 * sC);
    ensure(c.fchg, sN * 4 * sC);
    for (std::ptrdiff_t b = 0; b < Bn; ++b) {
      const int first = pos0[static_cast<std::size_t>(b)], last = first + static_cast<int>(Tn) - 1;
      if (first < 0 || static_cast<std::size_t>(last) >= c.max_len)
        throw invalid_argument("juice::transformer: position " + std::to_string(first < 0 ? first : last) +
                               " is outside the KV cache (" + std::to_string(c.max_len) + " positions).");
    }
    be_.upload(pos0.data(), be_.data(c.pos0), c.rows);
    ciptr positions = cdata(c.pos0);
    if (width > 1) {
      std::vector<int> pos(sN);
      for (std::ptrdiff_t b = 0; b < Bn; ++b)
        for (std::ptrdiff_t t = 0; t < Tn; ++t)
          pos[static_cast<std::size_t>(b * Tn + t)] = pos0[static_cast<std::size_t>(b)] + static_cast<int>(t);
      ensure(c.positions, sN);
      be_.upload(pos.data(), be_.data(c.positions), sN);
      positions = cdata(c.positions);
    }
    const ptr res = be_.data(c.res), ln = be_.data(c.ln), tmp = be_.data(c.tmp);
    be_.embedding_forward(res, tokens, positions, param(0), param(1), N, C);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      auto P = [&](tensor t) { return param(layer_tensor(l, t)); };
      be_.layernorm_forward(ln, ptr{}, ptr{}, cptr(res), P(ln1w), P(ln1b), N, C);
      be_.matmul_forward(be_.data(c.qkv), cptr(ln), P(qkvw), P(qkvb), N, C, 3 * C);
      be_.attention_cached(be_.data(c.atty), cdata(c.qkv), be_.data(c.k[l]), be_.data(c.v[l]), cdata(c.pos0), Bn, Tn,
                           static_cast<std::ptrdiff_t>(c.max_len), C, NH);
      be_.matmul_forward(tmp, cdata(c.atty), P(projw), P(projb), N, C, C);
      be_.add_inplace(res, cptr(tmp), N * C);
      be_.layernorm_forward(ln, ptr{}, ptr{}, cptr(res), P(ln2w), P(ln2b), N, C);
      be_.matmul_forward(be_.data(c.fch), cptr(ln), P(fcw), P(fcb), N, C, 4 * C);
      be_.gelu_forward(be_.data(c.fchg), cdata(c.fch), N * 4 * C);
      be_.matmul_forward(tmp, cdata(c.fchg), P(fcprojw), P(fcprojb), N, 4 * C, C);
      be_.add_inplace(res, cptr(tmp), N * C);
    }
    be_.layernorm_forward(ln, ptr{}, ptr{}, cptr(res), param(lnf_index()), param(lnf_index() + 1), N, C);
    return cptr(ln);
  }

  // Frees both workspaces (parameters and gradients stay).
  void release_workspace() const {
    acts_ = activations{};
    grads_ws_ = backward_workspace{};
    cache_ = kv_cache{};
  }

private:
  struct layer_acts {
    buffer ln1, ln1_mean, ln1_rstd, qkv, atty, lse, res2, ln2, ln2_mean, ln2_rstd, fch, fch_gelu, res3;
  };
  struct activations {
    std::size_t rows = 0, width = 0;
    ibuffer tokens, positions;
    buffer encoded, lnf, lnf_mean, lnf_rstd, tmp;
    std::vector<layer_acts> layers;
  };
  struct backward_workspace {
    buffer dres, dtmp, dqkv, dfch, dlnf;
  };
  struct kv_cache {
    std::size_t rows = 0, max_len = 0;
    std::vector<buffer> k, v;
    ibuffer tokens, positions, pos0;
    buffer res, ln, qkv, atty, tmp, fch, fchg;
  };

  static std::ptrdiff_t off(std::size_t n) { return static_cast<std::ptrdiff_t>(n); }

  cptr cdata(const buffer& b) const { return be_.data(b); }
  ciptr cdata(const ibuffer& b) const { return be_.data(b); }

  void ensure(buffer& b, std::size_t n) const { grow<T>(be_, b, n); }
  void ensure(ibuffer& b, std::size_t n) const { grow<int>(be_, b, n); }

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
      ensure(L.lse, Bn * NH * Tn);  // softmax row statistics, O(T): no T x T tensor
      ensure(L.res2, N * C);
      ensure(L.ln2, N * C);
      ensure(L.ln2_mean, N);
      ensure(L.ln2_rstd, N);
      ensure(L.fch, 4 * N * C);
      ensure(L.fch_gelu, 4 * N * C);
      ensure(L.res3, N * C);
    }
  }

  void block_forward(std::size_t l, layer_acts& L, cptr in, std::ptrdiff_t Bn, std::ptrdiff_t Tn, std::ptrdiff_t C,
                     std::ptrdiff_t NH) const {
    const std::ptrdiff_t N = Bn * Tn;
    auto P = [&](tensor t) { return param(layer_tensor(l, t)); };
    const ptr tmp = be_.data(acts_.tmp);
    be_.layernorm_forward(be_.data(L.ln1), be_.data(L.ln1_mean), be_.data(L.ln1_rstd), in, P(ln1w), P(ln1b), N, C);
    be_.matmul_forward(be_.data(L.qkv), cdata(L.ln1), P(qkvw), P(qkvb), N, C, 3 * C);
    be_.attention_forward(be_.data(L.atty), be_.data(L.lse), cdata(L.qkv), Bn, Tn, C, NH);
    be_.matmul_forward(tmp, cdata(L.atty), P(projw), P(projb), N, C, C);
    be_.residual_forward(be_.data(L.res2), in, cptr(tmp), N * C);
    be_.layernorm_forward(be_.data(L.ln2), be_.data(L.ln2_mean), be_.data(L.ln2_rstd), cdata(L.res2), P(ln2w), P(ln2b), N, C);
    be_.matmul_forward(be_.data(L.fch), cdata(L.ln2), P(fcw), P(fcb), N, C, 4 * C);
    be_.gelu_forward(be_.data(L.fch_gelu), cdata(L.fch), N * 4 * C);
    be_.matmul_forward(tmp, cdata(L.fch_gelu), P(fcprojw), P(fcprojb), N, 4 * C, C);
    be_.residual_forward(be_.data(L.res3), cdata(L.res2), cptr(tmp), N * C);
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
      for (std::size_t k = 0; k < sizes_[i]; ++k) host[offset_[i] + k] = static_cast<T>(sd * standard_normal(g));
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
    be_.upload(host.data(), be_.data(params_), total_);
  }

  mutable B be_;
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
