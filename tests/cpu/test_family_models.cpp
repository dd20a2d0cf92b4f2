// juice::transformer and juice::transformer_reward for every family the decoder trunk runs, on the
// CPU backend: a Llama-like config (RMSNorm, full rotary, SwiGLU, grouped-query attention, no
// biases, untied head), a Qwen2-like one (the same with q, k, v biases), a GPT-NeoX-like one
// (LayerNorm, partial rotary, parallel residual, exact GELU, biases, untied head) and GPT-2. For
// each: the parameter list against the naming contract written out here by hand; every gradient
// against central finite differences in double; the KV-cache path against the full forward pass;
// greedy sampling against the argmax of a full recompute; SFT and IRFT running unchanged. A naive
// reference forward pass written here from the architectures' equations (plain loops over
// std::vector<double>, no juice code) gives the per-token log-probs of a Llama-like and a
// NeoX-like model. A backend with only GPT-2's primitives runs GPT-2 and refuses the others.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <map>
#include <numbers>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/optim/adamw.hpp"
#include "fd.hpp"
#include "model_support.hpp"

using namespace juice;
using namespace juice::test;
using vec = std::vector<double>;

namespace {

// L=2, C=16, context 12, vocab 11 throughout (small enough for finite differences over every
// parameter).
transformer_config llama_like() {
  transformer_config c{2, 4, 16, 12, 11};
  c.kv_heads = 2;
  c.norm = norm_kind::rmsnorm;
  c.norm_eps = 1e-6;
  c.positions = position_kind::rotary;
  c.rope_theta = 100;  // hs = 4: the pairs turn by pos and pos/10
  c.mlp = mlp_kind::swiglu;
  c.intermediate = 12;
  c.qkv_bias = c.attention_out_bias = c.mlp_bias = false;
  c.tied_head = false;
  return c;
}

transformer_config qwen2_like() {
  transformer_config c = llama_like();
  c.qkv_bias = true;
  return c;
}

transformer_config neox_like() {
  transformer_config c{2, 2, 16, 12, 11};
  c.positions = position_kind::rotary;
  c.rope_theta = 50;
  c.rotary_fraction = 0.5;  // 4 of each head's 8 channels turn
  c.parallel_residual = true;
  c.mlp = mlp_kind::gelu_exact;
  c.tied_head = false;
  return c;
}

struct family {
  const char* name;
  transformer_config config;
};

std::vector<family> families() {
  return {{"llama", llama_like()}, {"qwen2", qwen2_like()}, {"neox", neox_like()}, {"gpt2", tiny_config()}};
}

// The parameters by name, as host vectors.
template <class M>
std::map<std::string, vec> named_parameters(M& model) {
  std::map<std::string, vec> out;
  for (auto& p : model.parameters()) out[p.name] = vec(p.value.begin(), p.value.end());
  return out;
}

// Randomises every parameter (uniform in [-s, s], norm gains 1 + that), so that biases and gains
// that start at 0 and 1 take part in the comparisons.
template <class M>
void randomise(M& model, std::uint64_t seed, double s = 0.3) {
  rng g(seed);
  for (auto& p : model.parameters()) {
    const bool gain = p.name.find("ln_") != std::string::npos && p.name.find(".weight") != std::string::npos;
    for (auto& x : p.value) x = (gain ? 1.0 : 0.0) + s * (2 * g.uniform() - 1);
  }
}

// ---- the reference forward pass -------------------------------------------------------------
// Written from the equations (Llama: Touvron et al. 2023; GPT-NeoX: Black et al. 2022; RoFormer,
// Su et al. 2021, in the rotate-half layout) and the naming contract: a linear layer's weight is
// (out, in) row-major; c_attn's rows are [q | k | v]; c_fc's rows are [gate | up] for SwiGLU.
namespace ref {

struct weights {
  const std::map<std::string, vec>& p;
  const vec* find(const std::string& n) const {
    const auto it = p.find(n);
    return it == p.end() ? nullptr : &it->second;
  }
  const vec& at(const std::string& n) const { return p.at(n); }
};

// y(out) = W(out,in) x + b.
vec linear(const vec& x, const vec& W, const vec* b, std::size_t out) {
  vec y(out);
  for (std::size_t o = 0; o < out; ++o) {
    double s = b ? (*b)[o] : 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) s += W[o * x.size() + i] * x[i];
    y[o] = s;
  }
  return y;
}

vec norm(const transformer_config& c, const vec& x, const vec& w, const vec* b) {
  const auto C = static_cast<double>(x.size());
  vec y(x.size());
  if (c.norm == norm_kind::rmsnorm) {
    double ms = 0;
    for (double v : x) ms += v * v / C;
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(ms + c.norm_eps) * w[i];
  } else {
    double mean = 0, var = 0;
    for (double v : x) mean += v / C;
    for (double v : x) var += (v - mean) * (v - mean) / C;
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * w[i] + (*b)[i];
  }
  return y;
}

// Turns the first r channels of the head at x[0..hs) by position t: pair (i, i + r/2) by the angle
// t theta^(-2i/r).
void rotate(double* x, std::size_t r, double theta, std::size_t t) {
  for (std::size_t i = 0; i < r / 2; ++i) {
    const double a = static_cast<double>(t) * std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(r));
    const double u = x[i], v = x[i + r / 2];
    x[i] = u * std::cos(a) - v * std::sin(a);
    x[i + r / 2] = v * std::cos(a) + u * std::sin(a);
  }
}

// log p(tok[t] | tok[<t]) for t = 1 .. T-1 (entry t; entry 0 is 0).
vec logprobs(const transformer_config& c, const weights& P, const std::vector<int>& tok) {
  const std::size_t T = tok.size(), C = c.channels, NH = c.heads, NKV = c.kv_heads == 0 ? c.heads : c.kv_heads;
  const std::size_t hs = C / NH, Ckv = NKV * hs, I = c.intermediate == 0 ? 4 * C : c.intermediate;
  const bool rotary = c.positions == position_kind::rotary;
  const auto r = static_cast<std::size_t>(std::floor(static_cast<double>(hs) * c.rotary_fraction));
  std::vector<vec> x(T, vec(C));
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t i = 0; i < C; ++i)
      x[t][i] = P.at("wte")[static_cast<std::size_t>(tok[t]) * C + i] + (rotary ? 0.0 : P.at("wpe")[t * C + i]);
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    std::vector<vec> q(T), k(T), v(T), att(T, vec(C, 0.0));
    for (std::size_t t = 0; t < T; ++t) {
      const vec a = norm(c, x[t], P.at(h + "ln_1.weight"), P.find(h + "ln_1.bias"));
      const vec qkv = linear(a, P.at(h + "attn.c_attn.weight"), P.find(h + "attn.c_attn.bias"), C + 2 * Ckv);
      q[t].assign(qkv.begin(), qkv.begin() + static_cast<std::ptrdiff_t>(C));
      k[t].assign(qkv.begin() + static_cast<std::ptrdiff_t>(C), qkv.begin() + static_cast<std::ptrdiff_t>(C + Ckv));
      v[t].assign(qkv.begin() + static_cast<std::ptrdiff_t>(C + Ckv), qkv.end());
      if (rotary) {
        for (std::size_t j = 0; j < NH; ++j) rotate(&q[t][j * hs], r, c.rope_theta, t);
        for (std::size_t j = 0; j < NKV; ++j) rotate(&k[t][j * hs], r, c.rope_theta, t);
      }
    }
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t j = 0; j < NH; ++j) {
        const std::size_t g = j / (NH / NKV);  // the key/value head of query head j
        vec s(t + 1);
        double mx = -1e300, z = 0;
        for (std::size_t u = 0; u <= t; ++u) {
          s[u] = 0;
          for (std::size_t i = 0; i < hs; ++i) s[u] += q[t][j * hs + i] * k[u][g * hs + i] / std::sqrt(static_cast<double>(hs));
          mx = std::max(mx, s[u]);
        }
        for (std::size_t u = 0; u <= t; ++u) z += std::exp(s[u] - mx);
        for (std::size_t u = 0; u <= t; ++u)
          for (std::size_t i = 0; i < hs; ++i) att[t][j * hs + i] += std::exp(s[u] - mx) / z * v[u][g * hs + i];
      }
    for (std::size_t t = 0; t < T; ++t) {
      const vec o = linear(att[t], P.at(h + "attn.c_proj.weight"), P.find(h + "attn.c_proj.bias"), C);
      vec mid(C);
      for (std::size_t i = 0; i < C; ++i) mid[i] = x[t][i] + o[i];
      const vec m_in = norm(c, c.parallel_residual ? x[t] : mid, P.at(h + "ln_2.weight"), P.find(h + "ln_2.bias"));
      const bool gated = c.mlp == mlp_kind::swiglu;
      const vec f = linear(m_in, P.at(h + "mlp.c_fc.weight"), P.find(h + "mlp.c_fc.bias"), gated ? 2 * I : I);
      vec act(I);
      for (std::size_t i = 0; i < I; ++i) {
        const double u = f[i];
        if (gated) act[i] = u / (1 + std::exp(-u)) * f[I + i];
        else if (c.mlp == mlp_kind::gelu_exact) act[i] = 0.5 * u * (1 + std::erf(u / std::numbers::sqrt2));
        else act[i] = 0.5 * u * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (u + 0.044715 * u * u * u)));
      }
      const vec m = linear(act, P.at(h + "mlp.c_proj.weight"), P.find(h + "mlp.c_proj.bias"), C);
      for (std::size_t i = 0; i < C; ++i) x[t][i] = mid[i] + m[i];
    }
  }
  const vec& head = c.tied_head ? P.at("wte") : P.at("lm_head");
  vec out(T, 0.0);
  for (std::size_t t = 0; t + 1 < T; ++t) {
    const vec hf = norm(c, x[t], P.at("ln_f.weight"), P.find("ln_f.bias"));
    const vec logits = linear(hf, head, nullptr, c.vocab);
    const double mx = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (double lg : logits) z += std::exp(lg - mx);
    out[t + 1] = logits[static_cast<std::size_t>(tok[t + 1])] - mx - std::log(z);
  }
  return out;
}

}  // namespace ref

// A backend with GPT-2's primitives only: juice::cpu with RMSNorm (item 1 of
// FamilyTransformerBackend) taken away.
struct gpt2_only_cpu : cpu {
  static constexpr std::string_view name = "gpt2_only_cpu";
  template <class... A>
  static void rmsnorm_forward(A&&...) = delete;
};
static_assert(TransformerBackend<gpt2_only_cpu, double> && !FamilyTransformerBackend<gpt2_only_cpu, double>);

}  // namespace

// ---- the parameter lists ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(parameter_lists_follow_the_naming_contract) {
  // Written out from the contract: names, storage order and sizes (C = 16, V = 11, context 12).
  using list = std::vector<std::pair<std::string, std::size_t>>;
  auto layer_llama = [](std::size_t l, bool qkv_bias) {
    const std::string h = "h." + std::to_string(l) + ".";
    // NH 4, NKV 2, hs 4: W = 16 + 2*8 = 32; SwiGLU with I = 12: c_fc (24, 16), c_proj (16, 12).
    list out{{h + "ln_1.weight", 16}, {h + "attn.c_attn.weight", 32 * 16}};
    if (qkv_bias) out.emplace_back(h + "attn.c_attn.bias", 32);
    out.insert(out.end(), {{h + "attn.c_proj.weight", 16 * 16}, {h + "ln_2.weight", 16}, {h + "mlp.c_fc.weight", 24 * 16}, {h + "mlp.c_proj.weight", 16 * 12}});
    return out;
  };
  auto layer_neox = [](std::size_t l) {
    const std::string h = "h." + std::to_string(l) + ".";
    // NH = NKV = 2: W = 48; GELU with I = 4C = 64.
    return list{{h + "ln_1.weight", 16}, {h + "ln_1.bias", 16}, {h + "attn.c_attn.weight", 48 * 16}, {h + "attn.c_attn.bias", 48}, {h + "attn.c_proj.weight", 256}, {h + "attn.c_proj.bias", 16}, {h + "ln_2.weight", 16}, {h + "ln_2.bias", 16}, {h + "mlp.c_fc.weight", 64 * 16}, {h + "mlp.c_fc.bias", 64}, {h + "mlp.c_proj.weight", 16 * 64}, {h + "mlp.c_proj.bias", 16}};
  };
  auto expected = [&](const std::string& fam, bool policy) {
    list out{{"wte", 11 * 16}};
    if (fam == "gpt2") out.emplace_back("wpe", 12 * 8);
    for (std::size_t l = 0; l < 2; ++l) {
      list layer;
      if (fam == "llama" || fam == "qwen2") layer = layer_llama(l, fam == "qwen2");
      else if (fam == "neox") layer = layer_neox(l);
      else {
        // GPT-2's tiny config: C = 8, W = 24, MLP 32.
        const std::string h = "h." + std::to_string(l) + ".";
        layer = {{h + "ln_1.weight", 8}, {h + "ln_1.bias", 8}, {h + "attn.c_attn.weight", 24 * 8}, {h + "attn.c_attn.bias", 24}, {h + "attn.c_proj.weight", 64}, {h + "attn.c_proj.bias", 8}, {h + "ln_2.weight", 8}, {h + "ln_2.bias", 8}, {h + "mlp.c_fc.weight", 32 * 8}, {h + "mlp.c_fc.bias", 32}, {h + "mlp.c_proj.weight", 8 * 32}, {h + "mlp.c_proj.bias", 8}};
      }
      out.insert(out.end(), layer.begin(), layer.end());
    }
    const std::size_t C = fam == "gpt2" ? 8 : 16;
    if (fam == "gpt2") out.front().second = std::size_t{11} * 8;
    out.emplace_back("ln_f.weight", C);
    if (fam == "neox" || fam == "gpt2") out.emplace_back("ln_f.bias", C);
    if (policy && fam != "gpt2") out.emplace_back("lm_head", 11 * 16);
    if (policy) out.insert(out.end(), {{"value_head.weight", C}, {"value_head.bias", 1}});
    else out.insert(out.end(), {{"reward_head.weight", C}, {"reward_head.bias", 1}});
    return out;
  };
  for (const auto& [name, cfg] : families()) {
    BOOST_TEST_CONTEXT(name) {
      transformer<cpu, double> policy(cfg, 1);
      transformer_reward<cpu, double> reward(cfg, 1);
      list got_p, got_r;
      for (auto& p : policy.parameters()) got_p.emplace_back(p.name, p.value.size());
      for (auto& p : reward.parameters()) got_r.emplace_back(p.name, p.value.size());
      BOOST_TEST((got_p == expected(name, true)));
      BOOST_TEST((got_r == expected(name, false)));  // a reward model has no LM head
      std::size_t n = 0;
      for (auto& [_, s] : got_p) n += s;
      BOOST_TEST(n == cfg.trunk_parameters() + cfg.channels + 1);
    }
  }
  // The shapes of transformer_config::tensors(): linear weights (out, in).
  const auto t = llama_like().tensors(true);
  BOOST_TEST((t[2].name == "h.0.attn.c_attn.weight" && t[2].shape == std::vector<std::size_t>{32, 16}));
  BOOST_TEST((t[5].name == "h.0.mlp.c_fc.weight" && t[5].shape == std::vector<std::size_t>{24, 16}));
  BOOST_TEST((t[6].name == "h.0.mlp.c_proj.weight" && t[6].shape == std::vector<std::size_t>{16, 12}));
  BOOST_TEST((t.back().name == "lm_head" && t.back().shape == std::vector<std::size_t>{11, 16}));
}

BOOST_AUTO_TEST_CASE(initialisation_follows_gpt2s_recipe) {
  // Norm gains 1, biases 0, lm_head drawn (N(0, 0.02): its sample deviation within 25% of 0.02).
  transformer<cpu, double> m(neox_like(), 3);
  for (auto& p : m.parameters()) {
    const bool gain = p.name.find("ln_") != std::string::npos && p.name.find(".weight") != std::string::npos;
    const bool bias = p.name.find(".bias") != std::string::npos && p.name.find("_head") == std::string::npos;
    if (gain || bias)
      for (double x : p.value) BOOST_TEST(x == (gain ? 1.0 : 0.0), p.name);
    if (p.name == "lm_head") {
      double ss = 0;
      for (double x : p.value) ss += x * x;
      BOOST_TEST(std::abs(std::sqrt(ss / static_cast<double>(p.value.size())) - 0.02) < 0.005);
    }
  }
}

// ---- gradients -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_family_gradient_matches_fd) {
  for (const auto& [name, cfg] : families()) {
    BOOST_TEST_CONTEXT(name) {
      transformer<cpu, double> m(cfg, 4);
      randomise(m, 40);
      const auto batch = two_rows();
      rng g(2);
      const auto wl = random_weights(batch, g), wv = random_weights(batch, g);
      auto loss = [&] {
        const auto [lp, v] = m.logprobs_and_values(batch);
        return weighted(lp, wl) + weighted(v, wv);
      };
      m.zero_grad();
      m.logprobs_and_values(batch);
      m.backward(batch, &wl, &wv);
      check_all_gradients(m, loss, std::string(name) + " LM+value heads");
    }
  }
}

BOOST_AUTO_TEST_CASE(reward_model_gradient_matches_fd_on_a_llama_like_config) {
  transformer_reward<cpu, double> r(llama_like(), 5);
  randomise(r, 50);
  const auto batch = two_rows();
  const sequence_values<double> w = {0.7, -1.3};
  auto loss = [&] {
    const auto v = r.rewards(batch);
    return w(0) * v(0) + w(1) * v(1);
  };
  r.zero_grad();
  r.rewards(batch);
  r.backward(batch, w);
  check_all_gradients(r, loss, "llama reward head");
  // From a policy with an untied head: the trunk is copied, the LM head left behind.
  transformer<cpu, double> p(llama_like(), 6);
  const transformer_reward<cpu, double> from(p, 7);
  BOOST_TEST(from.num_parameters() == p.num_parameters() - std::size_t{11} * 16);
}

// ---- the KV cache and sampling ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(kv_cache_log_probs_equal_the_full_forward_pass) {
  const auto batch = make_batch({{{1, 2, 3}, {4, 5, 6, 7, 8}}, {{7}, {8, 9}}, {{3, 3}, {10, 0, 1, 2}}});
  for (const auto& [name, cfg] : families()) {
    BOOST_TEST_CONTEXT(name) {
      transformer<cpu, double> m(cfg, 7);
      randomise(m, 70);
      const auto full = m.logprobs(batch);
      const auto cached = m.logits_cached(batch);  // prefill, then one token per step
      vec a, b;
      for (std::size_t r = 0; r < batch.rows(); ++r)
        for (auto t = batch.prompt_length(r); t < batch.length(r); ++t) {
          const auto pos = static_cast<std::size_t>(t) - 1;
          double mx = -1e300, z = 0;
          for (std::size_t v = 0; v < cfg.vocab; ++v) mx = std::max(mx, cached(r, pos, v));
          for (std::size_t v = 0; v < cfg.vocab; ++v) z += std::exp(cached(r, pos, v) - mx);
          a.push_back(cached(r, pos, static_cast<std::size_t>(batch.tokens(r, static_cast<std::size_t>(t)))) - mx - std::log(z));
          b.push_back(full(r, static_cast<std::size_t>(t)));
        }
      check_close(a, b, 1e-12, 0, std::string(name) + " cached vs full log-probs");
      const auto recomputed = m.logits(batch);
      check_close(vec(cached.begin(), cached.end()), vec(recomputed.begin(), recomputed.end()), 1e-12, 0,
                  std::string(name) + " cached vs full logits");
    }
  }
}

BOOST_AUTO_TEST_CASE(greedy_sampling_through_the_cache_is_the_argmax_of_a_full_recompute) {
  for (const auto& [name, cfg] : families()) {
    BOOST_TEST_CONTEXT(name) {
      transformer<cpu, double> m(cfg, 8, generation_options{6, -1, {}});
      randomise(m, 80, 0.6);  // logits far from uniform
      m.generation().sampling.temperature = 0;
      rng g(1);
      const auto s = m.sample(make_batch({{{1, 2}, {}}, {{5, 6, 7}, {}}}), 1, g);
      const auto logits = m.logits(s);
      std::size_t checked = 0;
      for (std::size_t r = 0; r < s.rows(); ++r) {
        BOOST_TEST(s.response_length(r) == 6U);
        for (auto t = s.prompt_length(r); t < s.length(r); ++t) {
          const std::size_t pos = static_cast<std::size_t>(t) - 1;
          std::size_t best = 0;
          for (std::size_t v = 1; v < cfg.vocab; ++v)
            if (logits(r, pos, v) > logits(r, pos, best)) best = v;
          BOOST_TEST(static_cast<std::size_t>(s.tokens(r, static_cast<std::size_t>(t))) == best);
          ++checked;
        }
      }
      BOOST_TEST(checked == 12U);
    }
  }
}

// ---- the reference forward pass --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(llama_and_neox_log_probs_equal_a_plain_reference) {
  const auto batch = make_batch({{{1, 2, 3}, {4, 5, 6, 7, 8, 9}}, {{7}, {8, 9}}});
  for (const auto& cfg : {llama_like(), neox_like()}) {
    transformer<cpu, double> m(cfg, 9);
    randomise(m, 90);
    const auto params = named_parameters(m);
    const auto lp = m.logprobs(batch);
    vec got, want;
    for (std::size_t r = 0; r < batch.rows(); ++r) {
      std::vector<int> tok(static_cast<std::size_t>(batch.length(r)));
      for (std::size_t t = 0; t < tok.size(); ++t) tok[t] = batch.tokens(r, t);
      const vec ref = ref::logprobs(cfg, ref::weights{params}, tok);
      for (auto t = batch.prompt_length(r); t < batch.length(r); ++t) {
        got.push_back(lp(r, static_cast<std::size_t>(t)));
        want.push_back(ref[static_cast<std::size_t>(t)]);
      }
    }
    check_close(got, want, 1e-10, 0, cfg.norm == norm_kind::rmsnorm ? "llama vs reference" : "neox vs reference");
  }
}

// ---- the algorithms --------------------------------------------------------------------------

namespace {

sequence_batch demos() {
  return make_batch({{{1, 6}, {7, 8, 9, 5}}, {{1, 7}, {10, 3, 4, 5}}, {{1, 8}, {2, 2, 3, 5}}, {{1, 9}, {6, 7, 1, 5}}});
}

struct loss_log {
  std::vector<step_event> events;
  void operator()(const step_event& e) { events.push_back(e); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(sft_and_irft_run_unchanged_on_every_family) {
  for (const auto& [name, cfg] : families()) {
    BOOST_TEST_CONTEXT(name) {
      const auto d = demos();
      {
        transformer<cpu, float> p(cfg, 1);
        adamw opt(adamw_hyper{1e-2, 0.9, 0.999, 1e-8, 0.0});
        loss_log log;
        sft(sft_options{20, 0, sft_normalisation::token_mean, 0}).run(p, d, opt, std::ref(log));
        BOOST_REQUIRE_EQUAL(log.events.size(), 20U);
        for (const auto& e : log.events) BOOST_TEST(std::isfinite(e.loss));
        BOOST_TEST(log.events.back().loss < log.events.front().loss - 0.5);
      }
      {
        transformer<cpu, float> p(cfg, 2, generation_options{4, 5, {}});
        adamw opt(adamw_hyper{3e-3, 0.9, 0.999, 1e-8, 0.0});
        loss_log log;
        irft(irft_options{0.1, 2, 5, 0, false, 0.0, 7}).run(p, d, opt, sampled{}, std::ref(log));
        BOOST_REQUIRE_EQUAL(log.events.size(), 10U);
        for (std::size_t t = 0; t < 2; ++t) {
          BOOST_TEST(std::abs(log.events[t * 5].loss - std::log(2.0)) < 1e-3);  // z = 0 when pi_theta = pi_ref
          BOOST_TEST(log.events[t * 5 + 4].loss < log.events[t * 5].loss);
        }
        for (const auto& e : log.events) BOOST_TEST(std::isfinite(e.loss));
      }
    }
  }
}

// ---- backends --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_backend_with_gpt2s_primitives_runs_gpt2_and_refuses_the_others) {
  const auto batch = two_rows();
  transformer<gpt2_only_cpu, double> gpt2(tiny_config(), 3);
  transformer<cpu, double> same(tiny_config(), 3);
  const auto a = gpt2.logprobs(batch), b = same.logprobs(batch);
  BOOST_TEST(vec(a.begin(), a.end()) == vec(b.begin(), b.end()), boost::test_tools::per_element());
  auto refusal = [](const transformer_config& c) {
    try {
      transformer<gpt2_only_cpu, double> m(c, 1);
    } catch (const invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(nothing thrown)");
  };
  BOOST_TEST(refusal(llama_like()) ==
             "juice::transformer: the config needs RMSNorm (norm rmsnorm), which the backend 'gpt2_only_cpu' does not provide "
             "(juice::FamilyTransformerBackend); on it only GPT-2's arrangement runs.");
  BOOST_TEST(refusal(neox_like()).find("needs rotary positions (positions rotary)") != std::string::npos);
  transformer_config exact = tiny_config();
  exact.mlp = mlp_kind::gelu_exact;
  BOOST_TEST(refusal(exact).find("needs exact GELU (mlp gelu_exact)") != std::string::npos);
  // GPT-2's primitives suffice for a parallel residual, an untied head and other biases.
  transformer_config parallel = tiny_config();
  parallel.parallel_residual = true;
  parallel.tied_head = false;
  parallel.mlp_bias = false;
  BOOST_TEST(refusal(parallel) == "(nothing thrown)");
}
