// Whole-model checks of a device backend D: juice::transformer<D, T> and juice::transformer_reward<D, T>
// against the same models on juice::cpu, built from the same seed, with the algorithms run
// unchanged. Used by the thrust-omp tests (juice::thrust_omp_backend, g++) and the gpu tests
// (juice::cuda, nvcc). Covered: initial values, log-probs and values of a ragged batch, every
// gradient, the gradient norm, an AdamW update, full logits, KV-cache logits (against the device's
// own recomputed logits and against the CPU), sampled tokens, reward-model scores and gradients,
// and a few SFT and IRFT updates. Every comparison prints its worst element (device_checks.hpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <iostream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "device_checks.hpp"
#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/rng.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/gradients.hpp"
#include "model_support.hpp"

namespace juice::test::device {

// Tolerances of a whole model on a device backend against juice::cpu: different summation orders
// (tiled CPU attention and GEMMs against row-wise functors) compound over the layers. Values after
// an AdamW update get a looser absolute bound: a gradient that is zero up to rounding (|g| ~ 1e-12
// in float) moves its weight by about lr |g| / eps, so rounding noise becomes a 1e-6-sized step.
template <class T> struct model_tolerance;
template <> struct model_tolerance<float> {
  static constexpr double atol = 1e-6;
  static constexpr double rtol = 1e-4;
  static constexpr double update_atol = 1e-4;
};
template <> struct model_tolerance<double> {
  static constexpr double atol = 1e-12;
  static constexpr double rtol = 1e-9;
  static constexpr double update_atol = 1e-11;
};

template <class T, class X>
std::vector<T> elements(const X& x) { return std::vector<T>(x.begin(), x.end()); }

template <class T, class B>
std::vector<T> download_view(B& be, typename B::template view<T> v) {
  std::vector<T> h(v.size());
  be.download(v.data(), h.data(), h.size());
  return h;
}

template <class T, class M>
std::vector<T> values_of(M& m) {
  if constexpr (std::is_same_v<typename M::backend_type, cpu>) {
    auto v = m.parameter_block().value;
    return std::vector<T>(v.begin(), v.end());
  } else {
    return download_view<T>(m.backend(), m.parameter_block().value);
  }
}
template <class T, class M>
std::vector<T> grads_of(M& m) {
  if constexpr (std::is_same_v<typename M::backend_type, cpu>) {
    auto g = m.parameter_block().grad;
    return std::vector<T>(g.begin(), g.end());
  } else {
    return download_view<T>(m.backend(), m.parameter_block().grad);
  }
}

template <class T>
void model_compare(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  compare(got, want, model_tolerance<T>::atol, model_tolerance<T>::rtol,
          "model " + what + (sizeof(T) == 4 ? " <float>" : " <double>"));
}
// Parameter values after optimizer updates (see model_tolerance).
template <class T>
void updated_compare(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  compare(got, want, model_tolerance<T>::update_atol, model_tolerance<T>::rtol,
          "model " + what + (sizeof(T) == 4 ? " <float>" : " <double>"));
}

inline sequence_batch ragged_model_batch() {
  // Prompt-only rows ({5, 4} with no response), a one-token prompt, and rows of different lengths.
  return make_batch({{{1, 2, 3}, {4, 5, 6, 7}}, {{8}, {9, 10}}, {{2, 2, 2, 2, 2}, {3}}, {{5, 4}, {}}});
}

template <class T>
token_values<T> model_weights(const sequence_batch& batch, double scale) {
  token_values<T> w = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (std::size_t t = 0; t < batch.width(); ++t) w(b, t) = static_cast<T>(scale * (0.3 + 0.1 * double(b) - 0.07 * double(t)));
  return w;
}

// Model b against model a over one step on `batch`: log-probs, values, then every gradient of a
// backward pass weighting both (model_weights at 1 and -0.5), at the model tolerances, each check
// named with `suffix` appended. Both models are left with those gradients.
template <class T, class MA, class MB>
void compare_model_step(MA& a, MB& b, const sequence_batch& batch, const std::string& suffix = "") {
  const auto [lpa, va] = a.logprobs_and_values(batch);
  const auto [lpb, vb] = b.logprobs_and_values(batch);
  model_compare(elements<T>(lpb), elements<T>(lpa), "log-probs" + suffix);
  model_compare(elements<T>(vb), elements<T>(va), "values" + suffix);
  const auto wl = model_weights<T>(batch, 1.0), wv = model_weights<T>(batch, -0.5);
  a.zero_grad();
  b.zero_grad();
  a.backward(batch, &wl, &wv);
  b.backward(batch, &wl, &wv);
  model_compare(grads_of<T>(b), grads_of<T>(a), "gradients" + suffix);
}

// The two other families at tiny_config()'s sizes (context 12, vocab 11), for check_model and
// check_model_training: a Llama-family model (RMSNorm, full rotary, SwiGLU, 4 query heads sharing
// 2 key/value heads, q/k/v biases as Qwen2, untied head) and a GPT-NeoX one (partial rotary,
// parallel residual, exact GELU, untied head).
inline transformer_config llama_family_config() {
  transformer_config c{2, 4, 16, 12, 11};
  c.kv_heads = 2;
  c.norm = norm_kind::rmsnorm;
  c.norm_eps = 1e-6;
  c.positions = position_kind::rotary;
  c.rope_theta = 100;
  c.mlp = mlp_kind::swiglu;
  c.intermediate = 24;
  c.attention_out_bias = c.mlp_bias = false;
  c.tied_head = false;
  return c;
}
inline transformer_config neox_family_config() {
  transformer_config c{2, 2, 16, 12, 11};
  c.positions = position_kind::rotary;
  c.rope_theta = 50;
  c.rotary_fraction = 0.5;
  c.parallel_residual = true;
  c.mlp = mlp_kind::gelu_exact;
  c.tied_head = false;
  return c;
}

// Forward, backward, update, logits (full and cached), sampling and the reward model.
template <class T, class D, class Make>
void check_model(Make make, const transformer_config& cfg = tiny_config()) {
  generation_options gen;
  gen.max_new_tokens = 5;
  gen.sampling.temperature = 0.9;
  transformer<cpu, T> a(cfg, 7, gen);
  transformer<D, T> b(make(), cfg, 7, gen);
  compare(values_of<T>(b), values_of<T>(a), 0.0, 0.0, std::string("model initial values") + (sizeof(T) == 4 ? " <float>" : " <double>"));

  const auto batch = ragged_model_batch();
  compare_model_step<T>(a, b, batch);
  model_compare(std::vector<T>{static_cast<T>(grad_norm_sq(b))}, std::vector<T>{static_cast<T>(grad_norm_sq(a))},
                "gradient norm^2");

  adamw oa(adamw_hyper{1e-2}), ob(adamw_hyper{1e-2});
  oa.step(a);
  ob.step(b);
  updated_compare(values_of<T>(b), values_of<T>(a), "values after AdamW");

  const auto la = a.logits(batch), lb = b.logits(batch), lcb = b.logits_cached(batch);
  model_compare(elements<T>(lb), elements<T>(la), "logits");
  model_compare(elements<T>(lcb), elements<T>(lb), "KV-cache logits vs recomputed");
  model_compare(elements<T>(lcb), elements<T>(a.logits_cached(batch)), "KV-cache logits vs cpu");

  for (const double top_p : {1.0, 0.7}) {
    a.generation().sampling.top_p = b.generation().sampling.top_p = top_p;
    rng ga(11), gb(11);
    const auto prompts = make_batch({{{1, 2}, {}}, {{3}, {}}, {{4, 5, 6}, {}}});
    const auto sa = a.sample(prompts, 2, ga), sb = b.sample(prompts, 2, gb);
    const std::string tag = " (top_p " + std::to_string(top_p) + ")" + (sizeof(T) == 4 ? " <float>" : " <double>");
    compare(elements<int>(sb.tokens), elements<int>(sa.tokens), 0.0, 0.0, "model sampled tokens" + tag);
    compare(elements<int>(sb.length), elements<int>(sa.length), 0.0, 0.0, "model sampled lengths" + tag);
  }

  transformer_reward<cpu, T> ra(a, 3);
  transformer_reward<D, T> rb(b, 3);
  model_compare(elements<T>(rb.rewards(batch)), elements<T>(ra.rewards(batch)), "rewards");
  sequence_values<T> rw = xt::zeros<T>({batch.rows()});
  for (std::size_t i = 0; i < batch.rows(); ++i) rw(i) = static_cast<T>(0.5 - 0.25 * double(i));
  ra.backward(batch, rw);
  rb.backward(batch, rw);
  model_compare(grads_of<T>(rb), grads_of<T>(ra), "reward-model gradients");
}

// A few SFT updates and a few IRFT updates (sampled rejections), each from a fresh pair of models.
template <class T, class D, class Make>
void check_model_training(Make make, const transformer_config& cfg = tiny_config()) {
  const auto demos = make_batch({{{1, 2}, {3, 4, 5}}, {{6}, {7, 8}}, {{2, 3, 4}, {5}}, {{9}, {1, 1, 1, 1}}});
  {
    transformer<cpu, T> a(cfg, 3);
    transformer<D, T> b(make(), cfg, 3);
    adamw oa(adamw_hyper{1e-2}), ob(adamw_hyper{1e-2});
    sft_options o;
    o.steps = 3;
    const auto resa = sft(o).run(a, demos, oa), resb = sft(o).run(b, demos, ob);
    BOOST_TEST(resa.updates == resb.updates);
    model_compare(std::vector<T>{static_cast<T>(resb.last_loss)}, std::vector<T>{static_cast<T>(resa.last_loss)},
                  "SFT last loss");
    updated_compare(values_of<T>(b), values_of<T>(a), "values after 3 SFT updates");
  }
  {
    transformer<cpu, T> a(cfg, 5);
    transformer<D, T> b(make(), cfg, 5);
    a.generation().max_new_tokens = b.generation().max_new_tokens = 3;
    adamw oa(adamw_hyper{1e-2}), ob(adamw_hyper{1e-2});
    irft_options o;
    o.rounds = 2;
    o.steps_per_round = 2;
    const auto resa = irft(o).run(a, demos, oa, sampled{1}), resb = irft(o).run(b, demos, ob, sampled{1});
    BOOST_TEST(resa.updates == resb.updates);
    BOOST_TEST(resb.updates > 0u);
    model_compare(std::vector<T>{static_cast<T>(resb.last_loss)}, std::vector<T>{static_cast<T>(resa.last_loss)},
                  "IRFT last loss");
    updated_compare(values_of<T>(b), values_of<T>(a), "values after IRFT");
  }
}

// Tolerances of a whole float model whose GEMMs run in bf16 (gemm_precision::bf16) against the
// fp32 model on juice::cpu. Each GEMM input is rounded by at most u = 2^-9 relative (8 significant
// bits), so a GEMM output is off by at most 2u = 2^-8 of its magnitude sum_k |a_k b_k|, and a
// log-prob of the tiny 2-layer model is the end of a chain of about 9 such GEMMs: the worst case,
// 9 * 2^-8 of the magnitudes, is far above what happens, because the rounding errors are
// independent and zero-mean: a K-term sum's error grows like sqrt(K) u |a b|, not K u |a b|, and
// errors along a chain add in quadrature. Measured on the OpenMP emulation: log-probs off by
// 1.7e-4 (values O(1)), gradients by 3e-3 in relative norm and 4e-3 max|g| element-wise. The bounds:
//   log-probs, values, SFT losses: atol 2^-8 + rtol 2^-8, one bf16 rounding of a unit-size value
//                                  (about 20x what is measured);
//   gradients: ||g_bf16 - g_fp32|| <= 2^-5 ||g_fp32|| and, per element, 2^-5 max|g_fp32| (a gradient
//              can be a small difference of large terms, so its error scales with the largest
//              ones; about 8x what is measured).
// So a mode that rounds more coarsely than bf16 (or compounds errors abnormally) fails, while a
// different GEMM blocking or cuBLAS's own conversion on a GPU stays well inside. The SFT and IRFT
// checks ask that training moves the parameters as fp32 does (cosine of the displacements).
struct bf16_model_tolerance {
  static constexpr double logprob_atol = 1.0 / 256;
  static constexpr double logprob_rtol = 1.0 / 256;
  static constexpr double grad_norm_rel = 1.0 / 32;
  static constexpr double grad_atol_of_max = 1.0 / 32;
};

// ||a - b|| / ||b||, printed; the gap must also be non-zero (the mode is on).
inline double relative_norm_gap(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  double d = 0, n = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    d += (double(got[i]) - double(want[i])) * (double(got[i]) - double(want[i]));
    n += double(want[i]) * double(want[i]);
  }
  const double r = std::sqrt(d / std::max(n, 1e-300));
  std::cout << what << ": relative norm gap " << r << "\n";
  return r;
}

// transformer<D, float> with bf16 GEMMs (`make()` returns a backend in gemm_precision::bf16) against
// transformer<cpu, float>: log-probs, values and gradients within bf16_model_tolerance (worst
// element printed), visibly different from fp32; a few SFT updates reduce the loss as the fp32
// ones do, and IRFT rounds run unchanged, lower the loss within each round and move the
// parameters the way the fp32 run does.
template <class D, class Make>
void check_model_bf16(Make make) {
  using T = float;
  using tol = bf16_model_tolerance;
  const auto cfg = tiny_config();
  {
    transformer<cpu, T> a(cfg, 7);
    transformer<D, T> b(make(), cfg, 7);
    const auto batch = ragged_model_batch();
    const auto [lpa, va] = a.logprobs_and_values(batch);
    const auto [lpb, vb] = b.logprobs_and_values(batch);
    compare(elements<T>(lpb), elements<T>(lpa), tol::logprob_atol, tol::logprob_rtol, "model log-probs <bf16>");
    compare(elements<T>(vb), elements<T>(va), tol::logprob_atol, tol::logprob_rtol, "model values <bf16>");
    BOOST_CHECK_MESSAGE(relative_norm_gap(elements<T>(lpb), elements<T>(lpa), "model log-probs <bf16>") > 1e-6,
                        "bf16 log-probs equal the fp32 ones: the mode is not on");

    const auto wl = model_weights<T>(batch, 1.0), wv = model_weights<T>(batch, -0.5);
    a.zero_grad();
    b.zero_grad();
    a.backward(batch, &wl, &wv);
    b.backward(batch, &wl, &wv);
    const auto ga = grads_of<T>(a), gb = grads_of<T>(b);
    double gmax = 0;
    for (const T x : ga) gmax = std::max(gmax, std::abs(double(x)));
    compare(gb, ga, tol::grad_atol_of_max * gmax, 0.0, "model gradients <bf16>");
    const double gap = relative_norm_gap(gb, ga, "model gradients <bf16>");
    BOOST_CHECK_MESSAGE(gap <= tol::grad_norm_rel, "bf16 gradients: relative norm gap " << gap << " above " << tol::grad_norm_rel);
    BOOST_CHECK_MESSAGE(gap > 1e-6, "bf16 gradients equal the fp32 ones: the mode is not on");
  }

  const auto demos = make_batch({{{1, 2}, {3, 4, 5}}, {{6}, {7, 8}}, {{2, 3, 4}, {5}}, {{9}, {1, 1, 1, 1}}});
  const auto moved = [](const std::vector<T>& v0, const std::vector<T>& v) {
    std::vector<T> d(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) d[i] = v[i] - v0[i];
    return d;
  };
  const auto cosine = [](const std::vector<T>& x, const std::vector<T>& y) {
    double xy = 0, xx = 0, yy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      xy += double(x[i]) * double(y[i]);
      xx += double(x[i]) * double(x[i]);
      yy += double(y[i]) * double(y[i]);
    }
    return xy / std::sqrt(std::max(xx * yy, 1e-300));
  };
  {  // SFT: the loss falls step by step as in fp32
    transformer<cpu, T> a(cfg, 3);
    transformer<D, T> b(make(), cfg, 3);
    const auto v0 = values_of<T>(a);
    adamw oa(adamw_hyper{1e-2}), ob(adamw_hyper{1e-2});
    sft_options o;
    o.steps = 5;
    std::vector<double> la, lb;
    sft(o).run(a, demos, oa, [&la](const step_event& e) { la.push_back(e.loss); });
    sft(o).run(b, demos, ob, [&lb](const step_event& e) { lb.push_back(e.loss); });
    BOOST_REQUIRE(la.size() == 5u && lb.size() == 5u);
    std::cout << "SFT losses fp32 / bf16:";
    for (std::size_t i = 0; i < la.size(); ++i) std::cout << " " << la[i] << " / " << lb[i];
    std::cout << "\n";
    BOOST_TEST(la.back() < la.front() - 0.05);  // fp32 learns: the premise of the comparison
    BOOST_TEST(lb.back() < lb.front() - 0.05);
    compare(lb, la, tol::logprob_atol, tol::logprob_rtol, "SFT losses <bf16>");
    const double c = cosine(moved(v0, values_of<T>(b)), moved(v0, values_of<T>(a)));
    std::cout << "SFT parameter displacement, cosine bf16 vs fp32: " << c << "\n";
    BOOST_TEST(c > 0.9);
  }
  {  // IRFT: two rounds of three updates; within each round the loss falls from log 2 (z = 0)
    transformer<cpu, T> a(cfg, 5);
    transformer<D, T> b(make(), cfg, 5);
    a.generation().max_new_tokens = b.generation().max_new_tokens = 3;
    const auto v0 = values_of<T>(a);
    adamw oa(adamw_hyper{1e-2}), ob(adamw_hyper{1e-2});
    irft_options o;
    o.rounds = 2;
    o.steps_per_round = 3;
    std::vector<step_event> ea, eb;
    const auto resa = irft(o).run(a, demos, oa, sampled{1}, [&ea](const step_event& e) { ea.push_back(e); });
    const auto resb = irft(o).run(b, demos, ob, sampled{1}, [&eb](const step_event& e) { eb.push_back(e); });
    BOOST_TEST(resa.updates == resb.updates);
    BOOST_REQUIRE(ea.size() == 6u && eb.size() == 6u);
    std::cout << "IRFT losses fp32 / bf16:";
    for (std::size_t i = 0; i < ea.size(); ++i) std::cout << " " << ea[i].loss << " / " << eb[i].loss;
    std::cout << "\n";
    for (const std::size_t start : {std::size_t{0}, std::size_t{3}}) {
      BOOST_TEST(eb[start].round_start);
      BOOST_TEST(std::abs(eb[start].loss - std::log(2.0)) < 1e-6);  // z = 0 at round start, in any precision
      BOOST_TEST(ea[start + 2].loss < ea[start].loss);
      BOOST_TEST(eb[start + 2].loss < eb[start].loss);
    }
    const double c = cosine(moved(v0, values_of<T>(b)), moved(v0, values_of<T>(a)));
    std::cout << "IRFT parameter displacement, cosine bf16 vs fp32: " << c << "\n";
    BOOST_TEST(c > 0.8);
  }
}

}  // namespace juice::test::device
