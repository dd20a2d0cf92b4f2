// juice/models/decoder_trunk.hpp
//
// The decoder trunk shared by the policy (juice::transformer) and the reward model
// (juice::transformer_reward), for every family transformer_config describes: GPT-2 (Radford et al.
// 2019; layer order as in karpathy/llm.c), the Llama family (Llama, Mistral, Qwen2: RMSNorm, rotary
// positions, SwiGLU, grouped-query attention, no biases or only q, k, v biases) and GPT-NeoX
// (Pythia: partial rotary, parallel residual, exact GELU). The family is data, the config; the
// blocks are written once (as llama.cpp builds every architecture from shared blocks): one norm
// (LayerNorm or RMSNorm), one position scheme (a learned embedding, or q and k turned by rotary
// after the qkv projection), one attention (NKV key/value heads), one MLP (GELU, exact GELU or
// SwiGLU), a sequential or a parallel residual. GPT-2 runs on any juice::TransformerBackend; the
// other families need juice::FamilyTransformerBackend, and a backend without it is refused at
// construction with a sentence naming the missing feature.
//
// The parameters are transformer_config::tensors() (one naming for every family, GPT-2's extended)
// then the owner's head tensors; all of them live in one backend buffer and their gradients in
// another, so zero_grad is one fill and an optimizer step one call. Two workspaces: the training
// one keeps every layer's activations of the last forward pass for backward(); the inference one
// holds a KV cache of (rows, max_len, Ckv) per layer. Host traffic per training forward pass is two
// uploads (tokens, positions), whatever the number of layers.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"
#include "juice/core/rng.hpp"
#include "juice/concepts/family_transformer_backend.hpp"
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
class decoder_trunk {
  // Whether the backend has the primitives of the Llama family and GPT-NeoX; without them only
  // GPT-2's arrangement runs (the calls below sit under `if constexpr`, so such a backend compiles).
  static constexpr bool family_backend = FamilyTransformerBackend<B, T>;

public:
  using buffer = typename B::template buffer<T>;
  using ibuffer = typename B::template buffer<int>;
  using ptr = typename B::template pointer<T>;
  using cptr = typename B::template const_pointer<T>;
  using iptr = typename B::template pointer<int>;
  using ciptr = typename B::template const_pointer<int>;

  // The index of a tensor the config leaves out; param() and grad() give a null handle for it.
  static constexpr std::size_t absent = std::numeric_limits<std::size_t>::max();
  // One block's tensors as storage indices (absent where the config has no such tensor).
  struct layer_tensors {
    std::size_t ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb;
  };

  // A trunk of the given config with an LM head tensor when `lm_head` (a policy whose head is
  // untied), then the extra head tensors (name, size); initialised from `seed` as GPT-2 (weights
  // N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), positions N(0, 0.01), biases 0, norm
  // gains 1; lm_head and the heads N(0, 0.02)). Throws juice::invalid_argument for a config that
  // validate() refuses or that needs primitives the backend lacks.
  decoder_trunk(B backend, transformer_config cfg, bool lm_head, const std::vector<std::pair<std::string, std::size_t>>& heads,
                std::uint64_t seed)
      : be_(std::move(backend)), cfg_(cfg) {
    cfg_.validate(sizeof(T));  // sizes, overflow and memory, before anything is allocated
    if constexpr (!family_backend) refuse_family_features();
    for (const tensor_spec& t : cfg_.tensors(lm_head)) add(t.name, t.size());
    trunk_size_ = total_;
    heads_ = names_.size();
    for (auto& [n, s] : heads) add(n, s);
    index_tensors(lm_head);
    params_ = be_.template allocate<T>(total_);
    grads_ = be_.template allocate<T>(total_);
    initialise(seed);
  }

  // Copies hold the parameters (gradients start at zero) but no workspace: a snapshot costs one
  // parameter copy plus one gradient buffer, made by the backend (buffers need not be copyable).
  decoder_trunk(const decoder_trunk& o)
      : be_(o.be_), cfg_(o.cfg_), names_(o.names_), sizes_(o.sizes_), offset_(o.offset_), total_(o.total_),
        trunk_size_(o.trunk_size_), wte_(o.wte_), wpe_(o.wpe_), lnfw_(o.lnfw_), lnfb_(o.lnfb_), lm_head_(o.lm_head_),
        heads_(o.heads_), layer_(o.layer_), params_(be_.template allocate<T>(o.total_)), grads_(be_.template allocate<T>(o.total_)) {
    be_.copy(be_.const_view_at(be_.data(o.params_), total_), be_.view_of(params_));
  }
  decoder_trunk& operator=(const decoder_trunk& o) {
    if (this != &o) *this = decoder_trunk(o);
    return *this;
  }
  decoder_trunk(decoder_trunk&&) noexcept = default;
  decoder_trunk& operator=(decoder_trunk&&) noexcept = default;

  [[nodiscard]] const transformer_config& config() const { return cfg_; }
  // The backend object the parameters and workspaces live in.
  B& backend() const { return be_; }
  // Number of parameters (trunk and heads).
  [[nodiscard]] std::size_t size() const { return total_; }
  // Number of trunk parameters (a prefix of the storage; lm_head included when there is one).
  [[nodiscard]] std::size_t trunk_size() const { return trunk_size_; }

  // Pointer to tensor i's values / gradient (i indexes the storage order of names(); a null handle
  // for `absent`).
  ptr param(std::size_t i) { return i == absent ? ptr{} : be_.data(params_) + off(offset_[i]); }
  cptr param(std::size_t i) const { return i == absent ? cptr{} : cptr(be_.data(params_) + off(offset_[i])); }
  ptr grad(std::size_t i) { return i == absent ? ptr{} : be_.data(grads_) + off(offset_[i]); }
  // The storage indices of layer l's tensors.
  [[nodiscard]] const layer_tensors& layer(std::size_t l) const { return layer_[l]; }
  // The token embedding's index (0).
  [[nodiscard]] std::size_t wte_index() const { return wte_; }
  // The LM head's weight: lm_head when the trunk has one, else the token embedding (tied).
  [[nodiscard]] std::size_t lm_weight_index() const { return lm_head_ == absent ? wte_ : lm_head_; }
  // The final norm's weight and bias (absent with RMSNorm).
  [[nodiscard]] std::size_t lnf_weight_index() const { return lnfw_; }
  [[nodiscard]] std::size_t lnf_bias_index() const { return lnfb_; }
  // The owner's k-th head tensor.
  [[nodiscard]] std::size_t head_index(std::size_t k) const { return heads_ + k; }

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

  // The parameter values of `other`: its trunk prefix (its tensors up to this trunk's size, which
  // must have the same names and sizes: a reward model takes a policy's trunk without its LM head),
  // or everything when !trunk_only.
  void copy_parameters_from(const decoder_trunk& other, bool trunk_only) {
    const std::size_t n = trunk_only ? trunk_size_ : total_;
    bool same = other.total_ >= n && other.cfg_.layers == cfg_.layers && other.cfg_.channels == cfg_.channels &&
                other.cfg_.vocab == cfg_.vocab && other.cfg_.context == cfg_.context && other.cfg_.heads == cfg_.heads;
    for (std::size_t i = 0; same && i < names_.size() && offset_[i] < n; ++i)
      same = i < other.names_.size() && other.names_[i] == names_[i] && other.sizes_[i] == sizes_[i];
    if (!same) throw invalid_argument("juice::transformer: cannot copy parameters between models of different shapes.");
    be_.copy(be_.const_view_at(be_.data(other.params_), n), be_.view_at(be_.data(params_), n));
  }

  // ---- training path -------------------------------------------------------------------------
  // Forward pass over tokens (rows, width) given on the host (row-major), positions 0..width-1;
  // returns the final norm's output (rows*width, C) in backend memory, valid until the next call.
  cptr forward(const std::vector<int>& tokens, std::size_t rows, std::size_t width) const {
    auto& a = acts_;
    const std::ptrdiff_t Bn = static_cast<std::ptrdiff_t>(rows), Tn = static_cast<std::ptrdiff_t>(width), N = Bn * Tn;
    a.rows = rows;
    a.width = width;
    reserve(a, static_cast<std::size_t>(N));
    std::vector<int> pos(static_cast<std::size_t>(N));
    for (std::ptrdiff_t n = 0; n < N; ++n) pos[static_cast<std::size_t>(n)] = static_cast<int>(n % Tn);
    be_.upload(tokens.data(), be_.data(a.tokens), static_cast<std::size_t>(N));
    be_.upload(pos.data(), be_.data(a.positions), static_cast<std::size_t>(N));
    embed(be_.data(a.encoded), cdata(a.tokens), cdata(a.positions), N);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      auto& L = a.layers[l];
      const cptr in = l == 0 ? cdata(a.encoded) : cdata(a.layers[l - 1].res3);
      block_forward(l, L, in, Bn, Tn);
    }
    norm_forward(be_.data(a.lnf), be_.data(a.lnf_mean), be_.data(a.lnf_rstd), cdata(a.layers.back().res3), lnfw_, lnfb_, N);
    return cdata(a.lnf);
  }

  // Adds d/dtheta of sum(dlnf .* lnf) for the last forward pass; dlnf is (rows*width, C) in backend
  // memory (it may be trunk_grad_buffer()).
  void backward(cptr dlnf) {
    auto& a = acts_;
    const std::ptrdiff_t C = channels(), W = qkv_width(), I = mlp_hidden(), Ifc = mlp_in();
    const std::ptrdiff_t Bn = static_cast<std::ptrdiff_t>(a.rows), Tn = static_cast<std::ptrdiff_t>(a.width), N = Bn * Tn;
    const auto sN = static_cast<std::size_t>(N);
    auto& d = grads_ws_;
    ensure(d.dres, sN * static_cast<std::size_t>(C));
    ensure(d.dtmp, sN * static_cast<std::size_t>(C));
    ensure(d.dqkv, sN * static_cast<std::size_t>(W));
    ensure(d.dfch, sN * static_cast<std::size_t>(Ifc));
    // The gradient of the MLP's activation output: in place in dfch for GELU (gelu_backward may
    // alias), its own buffer for SwiGLU (its input is twice as wide as its output).
    const bool gated = cfg_.mlp == mlp_kind::swiglu;
    if (gated) ensure(d.dact, sN * static_cast<std::size_t>(I));
    const ptr dres = be_.data(d.dres), dtmp = be_.data(d.dtmp), dqkv = be_.data(d.dqkv), dfch = be_.data(d.dfch);
    const ptr dact = gated ? be_.data(d.dact) : dfch;
    be_.fill(be_.view_at(dres, sN * static_cast<std::size_t>(C)), T(0));
    norm_backward(dres, lnfw_, lnfb_, dlnf, cdata(a.layers.back().res3), cdata(a.lnf_mean), cdata(a.lnf_rstd), N);
    for (std::size_t l = cfg_.layers; l-- > 0;) {
      auto& L = a.layers[l];
      const layer_tensors& t = layer_[l];
      const cptr in = l == 0 ? cdata(a.encoded) : cdata(a.layers[l - 1].res3);
      auto P = [&](std::size_t i) { return std::as_const(*this).param(i); };
      if (!cfg_.parallel_residual) {
        // MLP branch, then the attention branch: dres is the gradient of res3, then of res2, then of in.
        be_.matmul_backward(dact, grad(t.fcprojw), grad(t.fcprojb), cptr(dres), cdata(L.fch_act), P(t.fcprojw), N, I, C);
        mlp_act_backward(dfch, cdata(L.fch), cptr(dact), N);
        be_.matmul_backward(dtmp, grad(t.fcw), grad(t.fcb), cptr(dfch), cdata(L.ln2), P(t.fcw), N, C, Ifc);
        norm_backward(dres, t.ln2w, t.ln2b, cptr(dtmp), cdata(L.res2), cdata(L.ln2_mean), cdata(L.ln2_rstd), N);
        be_.matmul_backward(dtmp, grad(t.projw), grad(t.projb), cptr(dres), cdata(L.atty), P(t.projw), N, C, C);
        attention_backward(dqkv, cptr(dtmp), cdata(L.atty), cdata(L.lse), cdata(L.qkv), Bn, Tn);
        rotary(dqkv, cdata(a.positions), N, true);
        be_.matmul_backward(dtmp, grad(t.qkvw), grad(t.qkvb), cptr(dqkv), cdata(L.ln1), P(t.qkvw), N, C, W);
        norm_backward(dres, t.ln1w, t.ln1b, cptr(dtmp), in, cdata(L.ln1_mean), cdata(L.ln1_rstd), N);
      } else {
        // res3 = in + attn(ln1 in) + mlp(ln2 in): both branches read dres (the gradient of res3 and
        // of in) before either norm's backward accumulates into it.
        be_.matmul_backward(dact, grad(t.fcprojw), grad(t.fcprojb), cptr(dres), cdata(L.fch_act), P(t.fcprojw), N, I, C);
        be_.matmul_backward(dtmp, grad(t.projw), grad(t.projb), cptr(dres), cdata(L.atty), P(t.projw), N, C, C);
        attention_backward(dqkv, cptr(dtmp), cdata(L.atty), cdata(L.lse), cdata(L.qkv), Bn, Tn);
        rotary(dqkv, cdata(a.positions), N, true);
        mlp_act_backward(dfch, cdata(L.fch), cptr(dact), N);
        be_.matmul_backward(dtmp, grad(t.fcw), grad(t.fcb), cptr(dfch), cdata(L.ln2), P(t.fcw), N, C, Ifc);
        norm_backward(dres, t.ln2w, t.ln2b, cptr(dtmp), in, cdata(L.ln2_mean), cdata(L.ln2_rstd), N);
        be_.matmul_backward(dtmp, grad(t.qkvw), grad(t.qkvb), cptr(dqkv), cdata(L.ln1), P(t.qkvw), N, C, W);
        norm_backward(dres, t.ln1w, t.ln1b, cptr(dtmp), in, cdata(L.ln1_mean), cdata(L.ln1_rstd), N);
      }
    }
    if (wpe_ != absent) {
      be_.embedding_backward(grad(wte_), grad(wpe_), cptr(dres), cdata(a.tokens), cdata(a.positions), N, C);
    } else {
      // No position embedding: the token rows' gradient through embedding_backward (which sums rows
      // of repeated tokens) with every position 0 and a scratch row for the position gradient.
      ensure(d.zero_positions, sN);  // allocated zero-filled and never written
      ensure(d.dwpe_sink, static_cast<std::size_t>(C));
      be_.embedding_backward(grad(wte_), be_.data(d.dwpe_sink), cptr(dres), cdata(a.tokens), cdata(d.zero_positions), N, C);
    }
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
    const std::size_t n = rows * max_len * cfg_.kv_head_count() * cfg_.head_size();  // (rows, max_len, Ckv)
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
  // pos0[b]+width-1 of each row through the cached model; returns the final norm's output
  // (rows*width, C) in backend memory. Uploads pos0 (and, for width > 1, the positions): with
  // width 1 that is one upload of `rows` ints, whatever the number of layers.
  cptr cache_forward(ciptr tokens, const std::vector<int>& pos0, std::size_t width) const {
    auto& c = cache_;
    const std::ptrdiff_t C = channels(), W = qkv_width(), I = mlp_hidden(), Ifc = mlp_in();
    const std::ptrdiff_t Bn = static_cast<std::ptrdiff_t>(c.rows), Tn = static_cast<std::ptrdiff_t>(width), N = Bn * Tn;
    const std::size_t sN = static_cast<std::size_t>(N), sC = cfg_.channels;
    ensure(c.pos0, c.rows);
    ensure(c.res, sN * sC);
    ensure(c.ln, sN * sC);
    ensure(c.qkv, sN * static_cast<std::size_t>(W));
    ensure(c.atty, sN * sC);
    ensure(c.tmp, sN * sC);
    ensure(c.fch, sN * static_cast<std::size_t>(Ifc));
    ensure(c.fchg, sN * static_cast<std::size_t>(I));
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
    const ptr res = be_.data(c.res), ln = be_.data(c.ln), tmp = be_.data(c.tmp), qkv = be_.data(c.qkv);
    embed(res, tokens, positions, N);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      const layer_tensors& t = layer_[l];
      norm_forward(ln, ptr{}, ptr{}, cptr(res), t.ln1w, t.ln1b, N);
      be_.matmul_forward(qkv, cptr(ln), param(t.qkvw), param(t.qkvb), N, C, W);
      rotary(qkv, positions, N, false);
      attention_cached(be_.data(c.atty), cptr(qkv), be_.data(c.k[l]), be_.data(c.v[l]), cdata(c.pos0), Bn, Tn,
                       static_cast<std::ptrdiff_t>(c.max_len));
      be_.matmul_forward(tmp, cdata(c.atty), param(t.projw), param(t.projb), N, C, C);
      if (cfg_.parallel_residual) {
        norm_forward(ln, ptr{}, ptr{}, cptr(res), t.ln2w, t.ln2b, N);  // of the block's input
        be_.add_inplace(res, cptr(tmp), N * C);
      } else {
        be_.add_inplace(res, cptr(tmp), N * C);
        norm_forward(ln, ptr{}, ptr{}, cptr(res), t.ln2w, t.ln2b, N);
      }
      be_.matmul_forward(be_.data(c.fch), cptr(ln), param(t.fcw), param(t.fcb), N, C, Ifc);
      mlp_act_forward(be_.data(c.fchg), cdata(c.fch), N);
      be_.matmul_forward(tmp, cdata(c.fchg), param(t.fcprojw), param(t.fcprojb), N, I, C);
      be_.add_inplace(res, cptr(tmp), N * C);
    }
    norm_forward(ln, ptr{}, ptr{}, cptr(res), lnfw_, lnfb_, N);
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
    buffer ln1, ln1_mean, ln1_rstd, qkv, atty, lse, res2, ln2, ln2_mean, ln2_rstd, fch, fch_act, res3;
  };
  struct activations {
    std::size_t rows = 0, width = 0;
    ibuffer tokens, positions;
    buffer encoded, lnf, lnf_mean, lnf_rstd, tmp;
    std::vector<layer_acts> layers;
  };
  struct backward_workspace {
    buffer dres, dtmp, dqkv, dfch, dact, dlnf, dwpe_sink;
    ibuffer zero_positions;
  };
  struct kv_cache {
    std::size_t rows = 0, max_len = 0;
    std::vector<buffer> k, v;
    ibuffer tokens, positions, pos0;
    buffer res, ln, qkv, atty, tmp, fch, fchg;
  };

  static std::ptrdiff_t off(std::size_t n) { return static_cast<std::ptrdiff_t>(n); }

  // C, W = C + 2 Ckv, the MLP's hidden width I and its first projection's width (I, or 2I gated).
  [[nodiscard]] std::ptrdiff_t channels() const { return static_cast<std::ptrdiff_t>(cfg_.channels); }
  [[nodiscard]] std::ptrdiff_t qkv_width() const {
    return static_cast<std::ptrdiff_t>(cfg_.channels + 2 * cfg_.kv_head_count() * cfg_.head_size());
  }
  [[nodiscard]] std::ptrdiff_t mlp_hidden() const { return static_cast<std::ptrdiff_t>(cfg_.mlp_width()); }
  [[nodiscard]] std::ptrdiff_t mlp_in() const { return (cfg_.mlp == mlp_kind::swiglu ? 2 : 1) * mlp_hidden(); }

  cptr cdata(const buffer& b) const { return be_.data(b); }
  ciptr cdata(const ibuffer& b) const { return be_.data(b); }

  void ensure(buffer& b, std::size_t n) const { grow<T>(be_, b, n); }
  void ensure(ibuffer& b, std::size_t n) const { grow<int>(be_, b, n); }

  // Without juice::FamilyTransformerBackend only GPT-2's primitives exist: a config that needs any
  // other is refused here, naming the first such feature.
  void refuse_family_features() const {
    const char* missing = nullptr;
    if (cfg_.norm == norm_kind::rmsnorm) missing = "RMSNorm (norm rmsnorm)";
    else if (cfg_.positions == position_kind::rotary) missing = "rotary positions (positions rotary)";
    else if (cfg_.mlp == mlp_kind::swiglu) missing = "the SwiGLU MLP (mlp swiglu)";
    else if (cfg_.mlp == mlp_kind::gelu_exact) missing = "exact GELU (mlp gelu_exact)";
    else if (cfg_.kv_head_count() != cfg_.heads) missing = "grouped-query attention (kv_heads below heads)";
    if (missing)
      throw invalid_argument("juice::transformer: the config needs " + std::string(missing) + ", which the backend '" +
                             std::string(B::name) +
                             "' does not provide (juice::FamilyTransformerBackend); on it only GPT-2's arrangement runs.");
  }

  // The token embedding plus, with learned positions, the position embedding (rotary positions
  // enter in every layer instead).
  void embed(ptr out, ciptr tokens, ciptr positions, std::ptrdiff_t N) const {
    if (wpe_ != absent) be_.embedding_forward(out, tokens, positions, param(wte_), param(wpe_), N, channels());
    else be_.gather_rows(out, param(wte_), tokens, N, channels());
  }

  // The config's norm of inp into out; mean and rstd are kept when not null (LayerNorm keeps both,
  // RMSNorm rstd only).
  void norm_forward(ptr out, ptr mean, ptr rstd, cptr inp, std::size_t w, std::size_t b, std::ptrdiff_t N) const {
    if (cfg_.norm == norm_kind::layernorm) {
      be_.layernorm_forward(out, mean, rstd, inp, param(w), param(b), N, channels());
    } else if constexpr (family_backend) {
      be_.rmsnorm_forward(out, rstd, inp, param(w), N, channels(), cfg_.norm_eps);
    }
  }
  void norm_backward(ptr dinp, std::size_t w, std::size_t b, cptr dout, cptr inp, cptr mean, cptr rstd, std::ptrdiff_t N) {
    if (cfg_.norm == norm_kind::layernorm) {
      be_.layernorm_backward(dinp, grad(w), grad(b), dout, inp, std::as_const(*this).param(w), mean, rstd, N, channels());
    } else if constexpr (family_backend) {
      be_.rmsnorm_backward(dinp, grad(w), dout, inp, std::as_const(*this).param(w), rstd, N, channels());
    }
  }

  // Rotary embedding of the q and k heads of qkv(N,W) in place (by -angle when `back`, the
  // gradient); nothing with learned positions.
  void rotary(ptr qkv, ciptr positions, std::ptrdiff_t N, bool back) const {
    if (cfg_.positions != position_kind::rotary) return;
    if constexpr (family_backend) {
      const auto NH = static_cast<std::ptrdiff_t>(cfg_.heads), NKV = static_cast<std::ptrdiff_t>(cfg_.kv_head_count());
      const auto r = static_cast<std::ptrdiff_t>(cfg_.rotary_dims());
      if (back) be_.rotary_backward(qkv, positions, N, channels(), NH, NKV, r, cfg_.rope_theta);
      else be_.rotary_forward(qkv, positions, N, channels(), NH, NKV, r, cfg_.rope_theta);
    }
  }

  // Attention with NKV key/value heads: TransformerBackend's multi-head primitives when NKV = NH
  // (GPT-2, NeoX), FamilyTransformerBackend's grouped ones otherwise.
  void attention_forward(ptr out, ptr lse, cptr qkv, std::ptrdiff_t Bn, std::ptrdiff_t Tn) const {
    const auto NH = static_cast<std::ptrdiff_t>(cfg_.heads), NKV = static_cast<std::ptrdiff_t>(cfg_.kv_head_count());
    if (NKV == NH) {
      be_.attention_forward(out, lse, qkv, Bn, Tn, channels(), NH);
    } else if constexpr (family_backend) {
      be_.attention_forward(out, lse, qkv, Bn, Tn, channels(), NH, NKV);
    }
  }
  void attention_backward(ptr dqkv, cptr dout, cptr out, cptr lse, cptr qkv, std::ptrdiff_t Bn, std::ptrdiff_t Tn) const {
    const auto NH = static_cast<std::ptrdiff_t>(cfg_.heads), NKV = static_cast<std::ptrdiff_t>(cfg_.kv_head_count());
    if (NKV == NH) {
      be_.attention_backward(dqkv, dout, out, lse, qkv, Bn, Tn, channels(), NH);
    } else if constexpr (family_backend) {
      be_.attention_backward(dqkv, dout, out, lse, qkv, Bn, Tn, channels(), NH, NKV);
    }
  }
  void attention_cached(ptr out, cptr qkv, ptr k, ptr v, ciptr pos0, std::ptrdiff_t Bn, std::ptrdiff_t Tn, std::ptrdiff_t Tmax) const {
    const auto NH = static_cast<std::ptrdiff_t>(cfg_.heads), NKV = static_cast<std::ptrdiff_t>(cfg_.kv_head_count());
    if (NKV == NH) {
      be_.attention_cached(out, qkv, k, v, pos0, Bn, Tn, Tmax, channels(), NH);
    } else if constexpr (family_backend) {
      be_.attention_cached(out, qkv, k, v, pos0, Bn, Tn, Tmax, channels(), NH, NKV);
    }
  }

  // The MLP's activation: fch(N, I or 2I) -> act(N, I).
  void mlp_act_forward(ptr act, cptr fch, std::ptrdiff_t N) const {
    const std::ptrdiff_t I = mlp_hidden();
    if (cfg_.mlp == mlp_kind::gelu) {
      be_.gelu_forward(act, fch, N * I);
    } else if constexpr (family_backend) {
      if (cfg_.mlp == mlp_kind::gelu_exact) be_.gelu_exact_forward(act, fch, N * I);
      else be_.swiglu_forward(act, fch, N, I);
    }
  }
  // dfch(N, I or 2I) from dact(N, I); for GELU dact may be dfch itself.
  void mlp_act_backward(ptr dfch, cptr fch, cptr dact, std::ptrdiff_t N) const {
    const std::ptrdiff_t I = mlp_hidden();
    if (cfg_.mlp == mlp_kind::gelu) {
      be_.gelu_backward(dfch, fch, dact, N * I);
    } else if constexpr (family_backend) {
      if (cfg_.mlp == mlp_kind::gelu_exact) be_.gelu_exact_backward(dfch, fch, dact, N * I);
      else be_.swiglu_backward(dfch, fch, dact, N, I);
    }
  }

  void reserve(activations& a, std::size_t N) const {
    const std::size_t C = cfg_.channels, NH = cfg_.heads, Tn = a.width, Bn = a.rows;
    const auto W = static_cast<std::size_t>(qkv_width()), I = static_cast<std::size_t>(mlp_hidden()),
               Ifc = static_cast<std::size_t>(mlp_in());
    const bool ln = cfg_.norm == norm_kind::layernorm;  // RMSNorm keeps no mean
    ensure(a.tokens, N);
    ensure(a.positions, N);
    ensure(a.encoded, N * C);
    ensure(a.lnf, N * C);
    if (ln) ensure(a.lnf_mean, N);
    ensure(a.lnf_rstd, N);
    ensure(a.tmp, N * C);
    a.layers.resize(cfg_.layers);
    for (auto& L : a.layers) {
      ensure(L.ln1, N * C);
      if (ln) ensure(L.ln1_mean, N);
      ensure(L.ln1_rstd, N);
      ensure(L.qkv, W * N);
      ensure(L.atty, N * C);
      ensure(L.lse, Bn * NH * Tn);  // softmax row statistics, O(T): no T x T tensor
      ensure(L.res2, N * C);
      ensure(L.ln2, N * C);
      if (ln) ensure(L.ln2_mean, N);
      ensure(L.ln2_rstd, N);
      ensure(L.fch, Ifc * N);
      ensure(L.fch_act, I * N);
      ensure(L.res3, N * C);
    }
  }

  // One block: res2 = in + attn(norm1 in); res3 = res2 + mlp(norm2 res2), or mlp(norm2 in) with
  // the parallel residual (so res3 = in + attn(norm1 in) + mlp(norm2 in)).
  void block_forward(std::size_t l, layer_acts& L, cptr in, std::ptrdiff_t Bn, std::ptrdiff_t Tn) const {
    const std::ptrdiff_t N = Bn * Tn, C = channels(), W = qkv_width(), I = mlp_hidden(), Ifc = mlp_in();
    const layer_tensors& t = layer_[l];
    const ptr tmp = be_.data(acts_.tmp);
    norm_forward(be_.data(L.ln1), be_.data(L.ln1_mean), be_.data(L.ln1_rstd), in, t.ln1w, t.ln1b, N);
    be_.matmul_forward(be_.data(L.qkv), cdata(L.ln1), param(t.qkvw), param(t.qkvb), N, C, W);
    rotary(be_.data(L.qkv), cdata(acts_.positions), N, false);
    attention_forward(be_.data(L.atty), be_.data(L.lse), cdata(L.qkv), Bn, Tn);
    be_.matmul_forward(tmp, cdata(L.atty), param(t.projw), param(t.projb), N, C, C);
    be_.residual_forward(be_.data(L.res2), in, cptr(tmp), N * C);
    const cptr mlp_src = cfg_.parallel_residual ? in : cdata(L.res2);
    norm_forward(be_.data(L.ln2), be_.data(L.ln2_mean), be_.data(L.ln2_rstd), mlp_src, t.ln2w, t.ln2b, N);
    be_.matmul_forward(be_.data(L.fch), cdata(L.ln2), param(t.fcw), param(t.fcb), N, C, Ifc);
    mlp_act_forward(be_.data(L.fch_act), cdata(L.fch), N);
    be_.matmul_forward(tmp, cdata(L.fch_act), param(t.fcprojw), param(t.fcprojb), N, I, C);
    be_.residual_forward(be_.data(L.res3), cdata(L.res2), cptr(tmp), N * C);
  }

  void add(std::string name, std::size_t n) {
    names_.push_back(std::move(name));
    sizes_.push_back(n);
    offset_.push_back(total_);
    total_ += n;
  }

  // The index table: every tensor the trunk uses, found by its name in the storage order.
  void index_tensors(bool lm_head) {
    std::map<std::string, std::size_t> at;
    for (std::size_t i = 0; i < heads_; ++i) at.emplace(names_[i], i);
    auto find = [&](const std::string& n) {
      const auto it = at.find(n);
      return it == at.end() ? absent : it->second;
    };
    wte_ = find("wte");
    wpe_ = find("wpe");
    layer_.resize(cfg_.layers);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      const std::string p = "h." + std::to_string(l) + ".";
      layer_[l] = {find(p + "ln_1.weight"), find(p + "ln_1.bias"), find(p + "attn.c_attn.weight"),
                   find(p + "attn.c_attn.bias"), find(p + "attn.c_proj.weight"), find(p + "attn.c_proj.bias"),
                   find(p + "ln_2.weight"), find(p + "ln_2.bias"), find(p + "mlp.c_fc.weight"),
                   find(p + "mlp.c_fc.bias"), find(p + "mlp.c_proj.weight"), find(p + "mlp.c_proj.bias")};
    }
    lnfw_ = find("ln_f.weight");
    lnfb_ = find("ln_f.bias");
    lm_head_ = lm_head ? find("lm_head") : absent;
  }

  void initialise(std::uint64_t seed) {
    rng g = rng::stream(seed, 0);
    std::vector<T> host(total_, T(0));
    const double resid = 0.02 / std::sqrt(2.0 * static_cast<double>(cfg_.layers));
    auto fill_normal = [&](std::size_t i, double sd) {
      for (std::size_t k = 0; k < sizes_[i]; ++k) host[offset_[i] + k] = static_cast<T>(sd * standard_normal(g));
    };
    auto fill_const = [&](std::size_t i, double v) {
      if (i == absent) return;
      for (std::size_t k = 0; k < sizes_[i]; ++k) host[offset_[i] + k] = static_cast<T>(v);
    };
    // The draws' order is GPT-2's (wte, wpe, then each layer's four weights), so GPT-2 configs keep
    // their initial values; then lm_head and the heads.
    fill_normal(wte_, 0.02);
    if (wpe_ != absent) fill_normal(wpe_, 0.01);
    for (std::size_t l = 0; l < cfg_.layers; ++l) {
      const layer_tensors& t = layer_[l];
      fill_const(t.ln1w, 1);
      fill_const(t.ln2w, 1);
      fill_normal(t.qkvw, 0.02);
      fill_normal(t.fcw, 0.02);
      fill_normal(t.projw, resid);
      fill_normal(t.fcprojw, resid);
    }
    fill_const(lnfw_, 1);
    if (lm_head_ != absent) fill_normal(lm_head_, 0.02);
    for (std::size_t i = heads_; i < names_.size(); ++i) fill_normal(i, 0.02);
    be_.upload(host.data(), be_.data(params_), total_);
  }

  mutable B be_;
  transformer_config cfg_;
  std::vector<std::string> names_;
  std::vector<std::size_t> sizes_, offset_;
  std::size_t total_ = 0, trunk_size_ = 0;
  std::size_t wte_ = absent, wpe_ = absent, lnfw_ = absent, lnfb_ = absent, lm_head_ = absent;
  std::size_t heads_ = 0;  // the first head tensor's index (the number of trunk tensors)
  std::vector<layer_tensors> layer_;
  buffer params_, grads_;
  mutable activations acts_;
  mutable backward_workspace grads_ws_;
  mutable kv_cache cache_;
};

}  // namespace juice::detail
