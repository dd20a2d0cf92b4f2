// juice/models/transformer.hpp
//
// juice::transformer<Backend, T>: a decoder-only language model as a juice::Policy: GPT-2 (Radford et
// al., "Language Models are Unsupervised Multitask Learners", 2019: learned positions, pre-LayerNorm
// blocks, GELU MLP, LM head tied to the token embedding), the Llama family (Llama, Mistral, Qwen2)
// or GPT-NeoX (Pythia), any shape, through transformer_config and one trunk
// (juice/models/decoder_trunk.hpp); an untied LM head is its own tensor, lm_head. It is generic over
// the backend: every layer runs through the primitives of the backend object it holds
// (juice::TransformerBackend), so the CPU backend and a CUDA backend run the same model code.
// Parameters and gradients each live in one backend buffer (parameter_block()), so an optimizer
// step, a gradient norm or a clip is one backend call.
//
// Heads:
//   - LM head: logprobs(batch) gives log pi(y_t | x, y_<t) on response tokens only; backward(batch,
//     weights) back-propagates per-token weights. By default the (M,V) logits of the M scored
//     positions are materialised once (the fused LM-head/log-softmax primitive reuses them in
//     backward). set_max_logit_rows(R) bounds them to (min(M,R),V): the forward pass runs the head
//     R rows at a time and keeps only the log-probs, the backward pass recomputes each chunk's
//     log-softmax before back-propagating it (one more LM-head GEMM per backward).
//   - value head (for PPO): V(s_t) for the state before each response token, from the same forward
//     pass (logprobs_and_values); backward(batch, logp_weights, value_weights) trains both heads
//     and the shared trunk in one pass.
// Generation (sample) prefills the prompts and then decodes one token per step with a KV cache,
// following juice's sampling protocol (juice/core/sampling.hpp): per step the host draws one uniform
// per row, and the only download is the rows' sampled ids. logits() (full recompute) and
// logits_cached() expose both paths for testing.
// Host traffic is constant in the number of layers: a logprobs() call uploads tokens, positions,
// scored indices and targets and downloads the log-probs and values; backward() uploads the weights.
//
// Scoring and sampling are const but use per-model workspaces: one model must not be used from two
// threads at once (a snapshot() per thread is fine).
//
// Memory: the model keeps its parameters, gradients and the activations of the last logprobs()
// call; a snapshot() copies only the parameters. IRFT needs no snapshot (it caches reference
// log-probs per round), so only one model is resident.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "juice/concepts/policy.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"
#include "juice/core/rng.hpp"
#include "juice/core/sampling.hpp"
#include "juice/concepts/transformer_backend.hpp"
#include "juice/models/decoder_trunk.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice {

namespace detail {

// Checks token ids and lengths of a batch against a transformer's vocabulary and context.
inline void check_tokens(const sequence_batch& batch, const transformer_config& cfg, const std::string& where) {
  validate(batch, where);
  for (std::size_t b = 0; b < batch.rows(); ++b) {
    if (static_cast<std::size_t>(batch.length(b)) > cfg.context)
      throw invalid_argument(where + ": row " + std::to_string(b) + " has " + std::to_string(batch.length(b)) +
                             " tokens but the context is " + std::to_string(cfg.context) + ".");
    for (std::int32_t t = 0; t < batch.length(b); ++t) {
      const auto tok = batch.tokens(b, static_cast<std::size_t>(t));
      if (tok < 0 || static_cast<std::size_t>(tok) >= cfg.vocab)
        throw invalid_argument(where + ": row " + std::to_string(b) + " position " + std::to_string(t) + " has token " +
                               std::to_string(tok) + ", outside the vocabulary [0, " + std::to_string(cfg.vocab) + ").");
    }
  }
}

// The tokens of a batch's first `width` positions as a row-major int array.
inline std::vector<int> token_array(const sequence_batch& batch, std::size_t width) {
  std::vector<int> out(batch.rows() * width, 0);
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (std::size_t t = 0; t < std::min(width, batch.width()); ++t) out[b * width + t] = batch.tokens(b, t);
  return out;
}

inline std::size_t max_length(const sequence_batch& batch) {
  std::int32_t w = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b) w = std::max(w, batch.length(b));
  return static_cast<std::size_t>(w);
}

}  // namespace detail

template <class Backend, class T>
class transformer {
  static_assert(TransformerBackend<Backend, T>,
                "juice::transformer: the backend must provide the transformer primitives (juice::TransformerBackend); "
                "see juice/concepts/transformer_backend.hpp");

public:
  using scalar_type = T;
  using backend_type = Backend;
  using B = Backend;

  // A freshly initialised model (GPT-2 initialisation from `seed`) on a default backend object.
  explicit transformer(transformer_config cfg, std::uint64_t seed = 0, generation_options gen = {}) requires std::default_initializable<B>
      : transformer(B{}, cfg, seed, gen) {}
  // The same on the given backend object (which may own streams, handles and workspaces).
  transformer(B backend, transformer_config cfg, std::uint64_t seed = 0, generation_options gen = {})
      : trunk_(std::move(backend), cfg, !cfg.tied_head, {{"value_head.weight", cfg.channels}, {"value_head.bias", 1}}, seed),
        gen_(gen) {}

  transformer(transformer&&) noexcept = default;
  transformer& operator=(transformer&&) noexcept = default;

  [[nodiscard]] const transformer_config& config() const { return trunk_.config(); }
  // The backend object the model runs on.
  B& backend() const { return trunk_.backend(); }
  // Sampling options used by sample(); editable.
  generation_options& generation() { return gen_; }
  [[nodiscard]] const generation_options& generation() const { return gen_; }
  // The shared trunk (parameters and workspaces), e.g. to initialise a reward model from it.
  [[nodiscard]] const detail::decoder_trunk<B, T>& trunk() const { return trunk_; }
  detail::decoder_trunk<B, T>& trunk() { return trunk_; }
  // Number of parameters, value head included.
  [[nodiscard]] std::size_t num_parameters() const { return trunk_.size(); }

  // The memory bound on the LM head's logits: logprobs() and backward() hold at most `rows` rows of
  // (rows, V) logits at once (0, the default: all M scored positions, computed once and kept for
  // backward). With rows < M the forward pass runs the head chunk by chunk and keeps only the
  // log-probs, and backward() recomputes each chunk's logits: one more LM-head GEMM (2MVC flops)
  // per backward, so the head's 6MVC flops per step (2MVC forward, 4MVC backward) become 8MVC. For
  // GPT-2 124M (C 768, V 50257) at B = 1, T = 1024 with 896 scored rows that is 69 GFLOP more on a
  // step of about 790 (+9%), for 172 MiB of float logits bounded to R V floats (25 MiB at R = 128).
  // The log-probs are the same; the head's weight gradient is summed chunk by chunk (another order).
  // A runtime setting, not part of the architecture: copied with the model (snapshot()), not saved
  // in checkpoints. It applies from the next logprobs() call; a pending backward() uses the
  // setting its logprobs() ran with.
  void set_max_logit_rows(std::size_t rows) { max_logit_rows_ = rows; }
  // The bound set by set_max_logit_rows (0: unbounded).
  [[nodiscard]] std::size_t max_logit_rows() const { return max_logit_rows_; }
  // Rows of (rows, V) logits the LM head's scratch holds now: min(M, bound) after a logprobs() call
  // with a bound (the largest M seen so far without one).
  [[nodiscard]] std::size_t logit_rows_held() const { return scored_.logits.size() / config().vocab; }

  // --- juice::Parameterised / FlatParameterised ---
  std::vector<parameter<B, T>> parameters() { return trunk_.parameters(); }
  parameter<B, T> parameter_block() { return trunk_.parameter_block(); }
  void zero_grad() { trunk_.zero_grad(); }

  // --- juice::Policy ---
  token_values<T> logprobs(const sequence_batch& batch) const { return logprobs_and_values(batch).first; }

  // Per-token log-probs and values V(s_t) on response tokens (zero elsewhere), from one forward pass.
  std::pair<token_values<T>, token_values<T>> logprobs_and_values(const sequence_batch& batch) const {
    detail::check_tokens(batch, config(), "juice::transformer::logprobs");
    B& be = backend();
    const std::size_t W = std::max<std::size_t>(detail::max_length(batch), 1);
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(config().channels);
    const cptr lnf = trunk_.forward(detail::token_array(batch, W), batch.rows(), W);
    // The scored positions: hidden state at t-1 predicts the response token at t.
    auto& s = scored_;
    s.rows.clear();
    s.index.clear();
    s.target.clear();
    s.batch_rows = batch.rows();
    s.width = W;
    for (std::size_t b = 0; b < batch.rows(); ++b)
      for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) {
        s.rows.emplace_back(b, static_cast<std::size_t>(t));
        s.index.push_back(static_cast<int>(b * W + static_cast<std::size_t>(t) - 1));
        s.target.push_back(batch.tokens(b, static_cast<std::size_t>(t)));
      }
    const std::size_t M = s.index.size();
    token_values<T> logp = xt::zeros<T>({batch.rows(), batch.width()});
    token_values<T> values = xt::zeros<T>({batch.rows(), batch.width()});
    s.valid = true;
    if (M == 0) return {logp, values};
    ensure(s.index_dev, M);
    ensure(s.target_dev, M);
    ensure(s.h, M * config().channels);
    // The logits scratch: chunk rows; with a bound, a larger buffer left by an unbounded call is
    // released first (grown back only up to the bound, so steps of varying M allocate nothing).
    s.chunk = max_logit_rows_ == 0 ? M : std::min(M, max_logit_rows_);
    if (max_logit_rows_ != 0 && s.logits.size() > max_logit_rows_ * config().vocab) s.logits = be.template allocate<T>(0);
    ensure(s.logits, s.chunk * config().vocab);
    ensure(s.out, 2 * M);
    be.upload(s.index.data(), be.data(s.index_dev), M);
    be.upload(s.target.data(), be.data(s.target_dev), M);
    const auto Mi = static_cast<std::ptrdiff_t>(M);
    const ptr out = be.data(s.out);
    be.gather_rows(be.data(s.h), lnf, cdata(s.index_dev), Mi, C);
    for (std::size_t r0 = 0; r0 < M; r0 += s.chunk) lm_chunk_forward(r0, std::min(s.chunk, M - r0));
    const std::size_t vh = trunk_.head_index(0);
    be.matmul_forward(out + Mi, cdata(s.h), trunk_.param(vh), trunk_.param(vh + 1), Mi, C, std::ptrdiff_t{1});
    std::vector<T> host(2 * M);  // log-probs then values: one download
    be.download(cptr(out), host.data(), 2 * M);
    for (std::size_t m = 0; m < M; ++m) {
      logp(s.rows[m].first, s.rows[m].second) = host[m];
      values(s.rows[m].first, s.rows[m].second) = host[M + m];
    }
    return {logp, values};
  }

  // Adds d/dtheta sum_{b,t} weights(b,t) logp(b,t); call once after logprobs(batch).
  void backward(const sequence_batch& batch, const token_values<T>& weights) { backward(batch, &weights, nullptr); }

  // Adds d/dtheta of sum logp_weights .* logp + value_weights .* values (either may be null);
  // call once after logprobs_and_values(batch) (or logprobs(batch)) on the same batch.
  void backward(const sequence_batch& batch, const token_values<T>* logp_weights, const token_values<T>* value_weights) {
    auto& s = scored_;
    if (!s.valid || s.batch_rows != batch.rows() || trunk_.last_rows() != batch.rows())
      throw invalid_argument("juice::transformer::backward: call logprobs(batch) on the same batch first (once per backward).");
    s.valid = false;
    const std::size_t M = s.index.size();
    if (M == 0 || (!logp_weights && !value_weights)) return;
    B& be = backend();
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(config().channels), V = static_cast<std::ptrdiff_t>(config().vocab);
    const auto Mi = static_cast<std::ptrdiff_t>(M);
    ensure(s.dh, M * config().channels);
    ensure(s.dh2, M * config().channels);
    ensure(s.g, 2 * M);
    // Both heads' weights in one upload: log-prob weights then value weights.
    std::vector<T> g(2 * M, T(0));
    if (logp_weights) check_shape(*logp_weights, batch);
    if (value_weights) check_shape(*value_weights, batch);
    for (std::size_t m = 0; m < M; ++m) {
      if (logp_weights) g[m] = (*logp_weights)(s.rows[m].first, s.rows[m].second);
      if (value_weights) g[M + m] = (*value_weights)(s.rows[m].first, s.rows[m].second);
    }
    be.upload(g.data(), be.data(s.g), 2 * M);
    const ptr dh = be.data(s.dh);
    if (logp_weights) {
      // Unbounded, the forward pass left all M rows' log-probabilities in s.logits; chunked, each
      // chunk's are recomputed (which also rewrites its log-probs in s.out, already downloaded).
      const bool kept = s.chunk >= M;
      for (std::size_t r0 = 0; r0 < M; r0 += s.chunk) {
        const std::size_t n = std::min(s.chunk, M - r0);
        if (!kept) lm_chunk_forward(r0, n);
        const auto o = static_cast<std::ptrdiff_t>(r0), ni = static_cast<std::ptrdiff_t>(n);
        be.lm_logprob_backward(dh + o * C, trunk_.grad(trunk_.lm_weight_index()), be.data(s.logits), cdata(s.h) + o * C,
                               std::as_const(trunk_).param(trunk_.lm_weight_index()), cdata(s.target_dev) + o,
                               cdata(s.g) + o, ni, C, V);
      }
    }
    if (value_weights) {
      const std::size_t vh = trunk_.head_index(0);
      const ptr target = logp_weights ? be.data(s.dh2) : dh;
      be.matmul_backward(target, trunk_.grad(vh), trunk_.grad(vh + 1), cdata(s.g) + Mi, cdata(s.h),
                         std::as_const(trunk_).param(vh), Mi, C, std::ptrdiff_t{1});
      if (logp_weights) be.add_inplace(dh, cptr(target), Mi * C);
    }
    const ptr dlnf = trunk_.trunk_grad_buffer();
    be.scatter_add_rows(dlnf, cptr(dh), cdata(s.index_dev), Mi, C);
    trunk_.backward(dlnf);
  }

  // n responses per prompt row, generated with the KV cache (see generation()).
  sequence_batch sample(const sequence_batch& prompts, std::size_t n, rng& g) const {
    detail::check_tokens(prompts, config(), "juice::transformer::sample: prompts");
    validate(gen_.sampling);
    const std::size_t P = prompts.rows(), R = P * n, maxnew = gen_.max_new_tokens, context = config().context;
    // Each row's own cap: max_new_tokens, and no further than the context after its own prompt
    // (not after the longest prompt of the batch), so a response never depends on its neighbours.
    std::vector<std::size_t> cap(R);
    std::size_t maxp = 0, width = 0, steps = 0;
    for (std::size_t p = 0; p < P; ++p) {
      const auto len = static_cast<std::size_t>(prompts.prompt_length(p));
      if (len >= context && maxnew > 0 && n > 0)
        throw invalid_argument("juice::transformer::sample: prompt " + std::to_string(p) + " has " + std::to_string(len) +
                               " tokens and fills the context of " + std::to_string(context) + "; no room to generate.");
      const std::size_t c = len >= context ? 0 : std::min(maxnew, context - len);
      for (std::size_t k = 0; k < n; ++k) cap[p * n + k] = c;
      maxp = std::max(maxp, len);
      width = std::max(width, len + c);
      steps = std::max(steps, c);
    }
    sequence_batch out(R, width);
    for (std::size_t p = 0; p < P; ++p)
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t r = p * n + k;
        std::copy_n(&prompts.tokens(p, 0), prompts.prompt_length(p), &out.tokens(r, 0));
        out.prompt_length(r) = out.length(r) = prompts.prompt_length(p);
        out.weight(r) = prompts.weight(p) / static_cast<double>(n);
        out.source(r) = static_cast<std::int32_t>(p);
      }
    if (R == 0 || steps == 0) return out;
    B& be = backend();
    detail::grow<double>(be, decode_ws_.uniforms, R);
    std::vector<char> done(R, 0);
    std::vector<int> next(R);
    std::vector<double> u(R);
    decode(out, maxp, cap, [&](cptr logits, iptr next_dev, std::size_t step) {
      for (double& x : u) x = g.uniform();  // the protocol: one uniform per row and step
      be.upload(u.data(), be.data(decode_ws_.uniforms), R);
      be.sample_tokens(next_dev, logits, be.data(std::as_const(decode_ws_.uniforms)), static_cast<std::ptrdiff_t>(R),
                       static_cast<std::ptrdiff_t>(config().vocab), gen_.sampling);
      be.download(ciptr(next_dev), next.data(), R);
      bool all = true;
      for (std::size_t r = 0; r < R; ++r) {
        if (done[r]) continue;
        out.tokens(r, static_cast<std::size_t>(out.length(r))) = next[r];
        ++out.length(r);
        if (next[r] == gen_.eos || step + 1 == cap[r]) done[r] = 1;
        all = all && done[r];
      }
      return !all;
    });
    return out;
  }

  transformer snapshot() const { return transformer(*this); }

  // Logits (rows, width, V) by full recompute at every position t in [prompt_length-1, length-1)
  // (the positions that predict response tokens); zero elsewhere. For tests and tools.
  xt::xtensor<T, 3> logits(const sequence_batch& batch) const {
    detail::check_tokens(batch, config(), "juice::transformer::logits");
    scored_.valid = false;  // the forward pass below replaces the activations backward() would use
    B& be = backend();
    const std::size_t W = std::max<std::size_t>(detail::max_length(batch), 1), Vn = config().vocab;
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(config().channels);
    const cptr lnf = trunk_.forward(detail::token_array(batch, W), batch.rows(), W);
    xt::xtensor<T, 3> out = xt::zeros<T>({batch.rows(), batch.width(), Vn});
    tbuf lg = be.template allocate<T>(batch.rows() * W * Vn);
    be.lm_logits(be.data(lg), lnf, trunk_.param(trunk_.lm_weight_index()), static_cast<std::ptrdiff_t>(batch.rows() * W), C,
                 static_cast<std::ptrdiff_t>(Vn));
    std::vector<T> host(batch.rows() * W * Vn);
    be.download(cdata(lg), host.data(), host.size());
    for (std::size_t b = 0; b < batch.rows(); ++b)
      for (auto t = batch.prompt_length(b) - 1; t + 1 < batch.length(b); ++t)
        std::copy_n(&host[(b * W + static_cast<std::size_t>(t)) * Vn], Vn, &out(b, static_cast<std::size_t>(t), 0));
    return out;
  }

  // The same logits through the KV-cache path: prefill the prompts, then feed the response tokens
  // one step at a time (exactly what sample() does with the sampled tokens).
  xt::xtensor<T, 3> logits_cached(const sequence_batch& batch) const {
    detail::check_tokens(batch, config(), "juice::transformer::logits_cached");
    const std::size_t R = batch.rows(), Vn = config().vocab;
    std::size_t maxp = 0, maxr = 0;
    std::vector<std::size_t> responses(R);
    for (std::size_t b = 0; b < R; ++b) {
      maxp = std::max<std::size_t>(maxp, static_cast<std::size_t>(batch.prompt_length(b)));
      responses[b] = batch.response_length(b);
      maxr = std::max(maxr, responses[b]);
    }
    xt::xtensor<T, 3> out = xt::zeros<T>({R, batch.width(), Vn});
    if (R == 0 || maxr == 0) return out;
    B& be = backend();
    sequence_batch work = batch;
    for (std::size_t b = 0; b < R; ++b) work.length(b) = work.prompt_length(b);
    std::vector<T> host(R * Vn);
    std::vector<int> next(R, 0);
    decode(work, maxp, responses, [&](cptr logits, iptr next_dev, std::size_t step) {
      be.download(logits, host.data(), host.size());
      for (std::size_t b = 0; b < R; ++b) {
        const std::size_t t = static_cast<std::size_t>(batch.prompt_length(b)) + step;  // predicted position
        next[b] = 0;
        if (step < batch.response_length(b)) {
          std::copy_n(&host[b * Vn], Vn, &out(b, t - 1, 0));
          next[b] = batch.tokens(b, t);
        }
      }
      be.upload(next.data(), next_dev, R);
      return step + 1 < maxr;
    });
    return out;
  }

private:
  using ibuf = typename B::template buffer<int>;
  using tbuf = typename B::template buffer<T>;
  using dbuf = typename B::template buffer<double>;
  using ptr = typename B::template pointer<T>;
  using cptr = typename B::template const_pointer<T>;
  using iptr = typename B::template pointer<int>;
  using ciptr = typename B::template const_pointer<int>;

  transformer(const transformer& o) : trunk_(o.trunk_), gen_(o.gen_), max_logit_rows_(o.max_logit_rows_) {}

  // The LM head with log-softmax on scored rows [r0, r0 + n) (n <= scored_.chunk): their
  // log-probabilities into the logits scratch, their log-probs into the first half of scored_.out.
  void lm_chunk_forward(std::size_t r0, std::size_t n) const {
    auto& s = scored_;
    B& be = backend();
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(config().channels), V = static_cast<std::ptrdiff_t>(config().vocab);
    const auto o = static_cast<std::ptrdiff_t>(r0);
    be.lm_logprob_forward(be.data(s.logits), be.data(s.out) + o, cdata(s.h) + o * C, trunk_.param(trunk_.lm_weight_index()),
                          cdata(s.target_dev) + o, static_cast<std::ptrdiff_t>(n), C, V);
  }

  cptr cdata(const tbuf& b) const { return backend().data(b); }
  ciptr cdata(const ibuf& b) const { return backend().data(b); }

  void ensure(tbuf& b, std::size_t n) const { detail::grow<T>(backend(), b, n); }
  void ensure(ibuf& b, std::size_t n) const { detail::grow<int>(backend(), b, n); }

  static void check_shape(const token_values<T>& w, const sequence_batch& batch) {
    if (w.shape()[0] != batch.rows() || w.shape()[1] != batch.width())
      throw invalid_argument("juice::transformer::backward: the weights are (" + std::to_string(w.shape()[0]) + "," +
                             std::to_string(w.shape()[1]) + ") but the batch is (" + std::to_string(batch.rows()) + "," +
                             std::to_string(batch.width()) + ").");
  }

  // KV-cache decoding of `rows` sequences: prefill positions [0, maxp) (row b's last prompt token
  // is at prompt_length(b)-1), then for step = 0, 1, ...: on_logits(logits (rows,V) of the position
  // predicting response token `step`, next (rows) ints, step) writes the tokens to feed next into
  // `next` (backend memory) and returns whether to go on. Row b takes row_steps[b] steps, so its
  // positions end at prompt_length(b) + row_steps[b] <= the context; after that it is fed at its
  // last position (what it then computes is never read), so rows of different lengths share a cache
  // no longer than the longest of them.
  template <class F>
  void decode(const sequence_batch& rows, std::size_t maxp, const std::vector<std::size_t>& row_steps, F&& on_logits) const {
    B& be = backend();
    const std::size_t R = rows.rows(), Cn = config().channels, Vn = config().vocab;
    const std::ptrdiff_t C = static_cast<std::ptrdiff_t>(Cn), V = static_cast<std::ptrdiff_t>(Vn);
    std::size_t steps = 0, len = maxp;
    for (std::size_t b = 0; b < R; ++b) {
      steps = std::max(steps, row_steps[b]);
      len = std::max(len, static_cast<std::size_t>(rows.prompt_length(b)) + row_steps[b]);
    }
    trunk_.cache_begin(R, len);
    auto& d = decode_ws_;
    ensure(d.index, R);
    ensure(d.h, R * Cn);
    ensure(d.logits, R * Vn);
    std::vector<int> pos0(R, 0), idx(R);
    const iptr tokens = trunk_.cache_tokens(std::max(R * maxp, R));
    const std::vector<int> prompt = detail::token_array(rows, maxp);
    be.upload(prompt.data(), tokens, R * maxp);
    const cptr lnf = trunk_.cache_forward(ciptr(tokens), pos0, maxp);
    for (std::size_t b = 0; b < R; ++b) idx[b] = static_cast<int>(b * maxp + static_cast<std::size_t>(rows.prompt_length(b)) - 1);
    be.upload(idx.data(), be.data(d.index), R);
    be.gather_rows(be.data(d.h), lnf, cdata(d.index), static_cast<std::ptrdiff_t>(R), C);
    for (std::size_t step = 0;; ++step) {
      be.lm_logits(be.data(d.logits), cdata(d.h), trunk_.param(trunk_.lm_weight_index()), static_cast<std::ptrdiff_t>(R), C, V);
      if (!on_logits(cdata(d.logits), tokens, step) || step + 1 >= steps) break;
      for (std::size_t b = 0; b < R; ++b)
        pos0[b] = static_cast<int>(std::min(static_cast<std::size_t>(rows.prompt_length(b)) + step, len - 1));
      const cptr h = trunk_.cache_forward(ciptr(tokens), pos0, 1);
      be.copy(be.const_view_at(h, R * Cn), be.view_at(be.data(d.h), R * Cn));
    }
  }

  struct scored_positions {
    bool valid = false;
    std::size_t batch_rows = 0, width = 0;
    std::size_t chunk = 0;  // LM-head rows per chunk in the last logprobs(): M when the logits are kept
    std::vector<std::pair<std::size_t, std::size_t>> rows;
    std::vector<int> index, target;
    ibuf index_dev, target_dev;
    tbuf h, logits, out, dh, dh2, g;
  };
  struct decode_workspace {
    ibuf index;
    tbuf h, logits;
    dbuf uniforms;
  };

  detail::decoder_trunk<B, T> trunk_;
  generation_options gen_;
  std::size_t max_logit_rows_ = 0;  // see set_max_logit_rows
  mutable scored_positions scored_;
  mutable decode_workspace decode_ws_;
};

}  // namespace juice
