// The CPU backend's forward primitives and the whole GPT-2 forward pass against a naive
// double-precision re-implementation written from the GPT-2 equations (Radford et al. 2019; the
// layer layout of the TransformerBackend contract: a linear layer is out = in W^T + b with W(OC,C),
// q, k, v side by side in the attention projection, the LM head tied to wte). The reference uses
// plain loops and shares no code with the backend.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <numbers>
#include <string>
#include <vector>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/rng.hpp"
#include "juice/models/transformer.hpp"
#include "juice_test.hpp"
#include "model_support.hpp"

using namespace juice;
using vec = std::vector<double>;

namespace ref {

// LayerNorm over each row of x(N,C), eps = 1e-5, biased variance.
vec layernorm(const vec& x, const vec& w, const vec& b, std::size_t N, std::size_t C) {
  vec out(N * C);
  for (std::size_t n = 0; n < N; ++n) {
    double mean = 0, var = 0;
    for (std::size_t c = 0; c < C; ++c) mean += x[n * C + c] / static_cast<double>(C);
    for (std::size_t c = 0; c < C; ++c) var += (x[n * C + c] - mean) * (x[n * C + c] - mean) / static_cast<double>(C);
    for (std::size_t c = 0; c < C; ++c) out[n * C + c] = (x[n * C + c] - mean) / std::sqrt(var + 1e-5) * w[c] + b[c];
  }
  return out;
}

// GELU, tanh approximation (GPT-2).
double gelu(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}

// Linear layer: out(N,OC) = x(N,C) W(OC,C)^T + b(OC).
vec linear(const vec& x, const double* W, const double* b, std::size_t N, std::size_t C, std::size_t OC) {
  vec out(N * OC);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t o = 0; o < OC; ++o) {
      double s = b ? b[o] : 0.0;
      for (std::size_t c = 0; c < C; ++c) s += x[n * C + c] * W[o * C + c];
      out[n * OC + o] = s;
    }
  return out;
}

// Causal multi-head attention of one sequence: qkv(T,3C) -> out(T,C).
vec attention(const vec& qkv, std::size_t T, std::size_t C, std::size_t NH) {
  const std::size_t hs = C / NH;
  vec out(T * C, 0.0);
  for (std::size_t h = 0; h < NH; ++h)
    for (std::size_t t = 0; t < T; ++t) {
      vec score(t + 1);
      double mx = -1e300;
      for (std::size_t s = 0; s <= t; ++s) {
        double d = 0;
        for (std::size_t i = 0; i < hs; ++i) d += qkv[t * 3 * C + h * hs + i] * qkv[s * 3 * C + C + h * hs + i];
        score[s] = d / std::sqrt(static_cast<double>(hs));
        mx = std::max(mx, score[s]);
      }
      double z = 0;
      for (double& v : score) z += (v = std::exp(v - mx));
      for (std::size_t s = 0; s <= t; ++s)
        for (std::size_t i = 0; i < hs; ++i) out[t * C + h * hs + i] += score[s] / z * qkv[s * 3 * C + 2 * C + h * hs + i];
    }
  return out;
}

// Next-token logits (T,V) of one token sequence under GPT-2 with the given named parameters.
vec gpt2_logits(const std::map<std::string, vec>& p, const transformer_config& cfg, const std::vector<int>& tokens) {
  const std::size_t T = tokens.size(), C = cfg.channels, V = cfg.vocab;
  const vec& wte = p.at("wte");
  const vec& wpe = p.at("wpe");
  vec x(T * C);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t c = 0; c < C; ++c) x[t * C + c] = wte[static_cast<std::size_t>(tokens[t]) * C + c] + wpe[t * C + c];
  for (std::size_t l = 0; l < cfg.layers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    auto P = [&](const std::string& n) { return p.at(h + n).data(); };
    const vec a_in = layernorm(x, p.at(h + "ln_1.weight"), p.at(h + "ln_1.bias"), T, C);
    const vec qkv = linear(a_in, P("attn.c_attn.weight"), P("attn.c_attn.bias"), T, C, 3 * C);
    const vec att = attention(qkv, T, C, cfg.heads);
    const vec proj = linear(att, P("attn.c_proj.weight"), P("attn.c_proj.bias"), T, C, C);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
    const vec m_in = layernorm(x, p.at(h + "ln_2.weight"), p.at(h + "ln_2.bias"), T, C);
    vec fc = linear(m_in, P("mlp.c_fc.weight"), P("mlp.c_fc.bias"), T, C, 4 * C);
    for (double& v : fc) v = gelu(v);
    const vec mp = linear(fc, P("mlp.c_proj.weight"), P("mlp.c_proj.bias"), T, 4 * C, C);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += mp[i];
  }
  const vec xf = layernorm(x, p.at("ln_f.weight"), p.at("ln_f.bias"), T, C);
  return linear(xf, wte.data(), nullptr, T, C, V);
}

}  // namespace ref

namespace {
vec random_vec(std::size_t n, rng& g, double scale = 1.0) {
  vec v(n);
  for (double& x : v) x = scale * (2 * g.uniform() - 1);
  return v;
}
}  // namespace

BOOST_AUTO_TEST_CASE(layernorm_matches_the_reference) {
  rng g(1);
  const std::size_t N = 5, C = 7;
  const vec x = random_vec(N * C, g, 3), w = random_vec(C, g), b = random_vec(C, g);
  vec out(N * C), mean(N), rstd(N);
  cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
  test::check_close(out, ref::layernorm(x, w, b, N, C), 1e-12, 1e-10, "layernorm");
}

BOOST_AUTO_TEST_CASE(gelu_matches_the_reference) {
  rng g(2);
  const vec x = random_vec(64, g, 4);
  vec out(x.size()), want(x.size());
  cpu::gelu_forward(out.data(), x.data(), static_cast<std::ptrdiff_t>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = ref::gelu(x[i]);
  test::check_close(out, want, 1e-12, 1e-10, "gelu");
}

BOOST_AUTO_TEST_CASE(causal_attention_matches_the_reference) {
  rng g(3);
  const std::size_t B = 2, T = 5, C = 6, NH = 3;
  const vec qkv = random_vec(B * T * 3 * C, g, 2);
  vec out(B * T * C), att(B * NH * T * T);
  cpu::attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
  vec want;
  for (std::size_t b = 0; b < B; ++b) {
    const vec one(qkv.begin() + static_cast<std::ptrdiff_t>(b * T * 3 * C), qkv.begin() + static_cast<std::ptrdiff_t>((b + 1) * T * 3 * C));
    const vec o = ref::attention(one, T, C, NH);
    want.insert(want.end(), o.begin(), o.end());
  }
  test::check_close(out, want, 1e-12, 1e-10, "attention");
}

BOOST_AUTO_TEST_CASE(full_logits_of_a_small_model_match_the_reference) {
  const transformer_config cfg{2, 2, 8, 12, 11};
  transformer<cpu, double> m(cfg, 21);
  // Perturb every parameter (gains, biases and all) so that no term hides behind an initial zero or one.
  rng g(4);
  std::map<std::string, vec> named;
  for (auto& p : m.parameters()) {
    for (auto& v : p.value) v += 0.3 * (2 * g.uniform() - 1);
    named[p.name] = vec(p.value.begin(), p.value.end());
  }
  const std::vector<std::vector<int>> rows{{1, 2, 3, 4, 5, 6, 7}, {10, 0, 9, 9, 3, 2, 8}};
  // Prompts of one token: logits() reports every position that predicts a response token, 0..T-2.
  const auto batch = test::make_batch({{{1}, {2, 3, 4, 5, 6, 7}}, {{10}, {0, 9, 9, 3, 2, 8}}});
  const auto logits = m.logits(batch);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const vec want_all = ref::gpt2_logits(named, cfg, rows[r]);
    const vec want(want_all.begin(), want_all.end() - static_cast<std::ptrdiff_t>(cfg.vocab));
    vec got;
    for (std::size_t t = 0; t + 1 < rows[r].size(); ++t)
      for (std::size_t v = 0; v < cfg.vocab; ++v) got.push_back(logits(r, t, v));
    test::check_close(got, want, 1e-10, 1e-9, "logits of row " + std::to_string(r));
  }
}
