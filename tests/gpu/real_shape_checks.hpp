// Checks of a device backend at GPT-2 124M's real shapes, against juice::cpu from the same seed.
// Shared by the gpu tests (juice::cuda, nvcc: real_shape_cuda, the full sizes) and the thrust-omp
// tests (juice::thrust_omp_backend, g++: real_shape_thrust_omp, a reduced size that runs in CI).
//   check_real_shape_model: C = 768, 12 heads, V = 50257, L layers, B rows of T tokens: the
//       log-probs, the SFT loss, every gradient and its norm, and the parameters after one AdamW
//       step; fp32 against fp32, and bf16 GEMMs against fp32 with bf16's looser bounds. Every
//       comparison prints its worst element (device_checks.hpp compare).
//   check_growing_keys: causal attention at GPT-2's head size (hs = 64) where every later key
//       scores far above the earlier ones, so a softmax that let a masked key in would underflow
//       every valid weight; the expected values follow from the construction, not from a backend.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "device_checks.hpp"
#include "device_model_checks.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/gradients.hpp"
#include "model_support.hpp"

namespace juice::test::device {

struct real_shape {
  std::size_t layers, rows, tokens;  // L, B, T
};

// Tolerances of fp32 against fp32 at C = 768, V = 50257. Both sides compute in float with
// different summation orders (cuBLAS or the CPU GEMM's blocking; the device's row-wise attention
// against the CPU's tiled one). A K-term float dot product is off by at most K 2^-24 of
// sum_k |a_k b_k| and typically by sqrt(K) 2^-24 of it (independent rounding errors); K = 768 gives
// 1.7e-6 typical, 4.6e-5 worst, relative to the magnitudes, and a logit's magnitude sum is about
// 10 at GPT-2's initialisation (|h| ~ 1 after layernorm, |wte| ~ 0.02, 768 terms). So a log-prob
// (about -log 50257 = -10.8) may move by ~2e-5 per GEMM in the typical case; with the layers' GEMMs
// adding in quadrature, 2e-4 absolute covers ~10x that. Gradients are differences of such terms:
// held in relative norm (1e-3) and per element to 1e-3 of the largest element.
struct real_shape_tolerance {
  static constexpr double logprob_atol = 2e-4;
  static constexpr double logprob_rtol = 1e-5;
  static constexpr double grad_norm_rel = 1e-3;
  static constexpr double grad_atol_of_max = 1e-3;
};

// B rows of T tokens drawn uniformly from the vocabulary: a one-token prompt, T - 1 response tokens.
inline sequence_batch real_shape_batch(const real_shape& s, std::size_t vocab, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> tok(0, static_cast<int>(vocab) - 1);
  std::vector<std::pair<std::vector<int>, std::vector<int>>> rows;
  for (std::size_t b = 0; b < s.rows; ++b) {
    std::vector<int> resp(s.tokens - 1);
    for (int& x : resp) x = tok(g);
    rows.push_back({{tok(g)}, resp});
  }
  return make_batch(rows);
}

// The SFT loss -mean log pi over response tokens, and its per-token weights (d loss / d log pi).
template <class T>
std::pair<double, token_values<T>> sft_loss(const token_values<T>& logp, const sequence_batch& batch) {
  double sum = 0;
  std::size_t count = 0;
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) {
      sum += static_cast<double>(logp(b, static_cast<std::size_t>(t)));
      ++count;
    }
  token_values<T> w = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t)
      w(b, static_cast<std::size_t>(t)) = static_cast<T>(-1.0 / static_cast<double>(count));
  return {-sum / static_cast<double>(count), w};
}

inline double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (const float x : v) m = std::max(m, std::abs(double(x)));
  return m;
}

// transformer<D, float> (made by `make`, fp32 or bf16 GEMMs) against transformer<cpu, float> at the
// real shape. `bf16` selects bf16_model_tolerance (device_model_checks.hpp) instead of the fp32 one.
template <class D, class Make>
void check_real_shape_model(Make make, const real_shape& s, bool bf16) {
  const transformer_config cfg{s.layers, 12, 768, s.tokens, 50257};
  const std::string tag = std::string(bf16 ? " <bf16>" : " <fp32>") + " (L " + std::to_string(s.layers) + ", B " +
                          std::to_string(s.rows) + ", T " + std::to_string(s.tokens) + ")";
  const double lp_atol = bf16 ? bf16_model_tolerance::logprob_atol : real_shape_tolerance::logprob_atol;
  const double lp_rtol = bf16 ? bf16_model_tolerance::logprob_rtol : real_shape_tolerance::logprob_rtol;
  const double g_rel = bf16 ? bf16_model_tolerance::grad_norm_rel : real_shape_tolerance::grad_norm_rel;
  const double g_max = bf16 ? bf16_model_tolerance::grad_atol_of_max : real_shape_tolerance::grad_atol_of_max;

  transformer<cpu, float> a(cfg, 7);
  transformer<D, float> b(make(), cfg, 7);
  const auto batch = real_shape_batch(s, cfg.vocab, 5);

  const auto lpa = a.logprobs(batch), lpb = b.logprobs(batch);
  compare(elements<float>(lpb), elements<float>(lpa), lp_atol, lp_rtol, "real-shape log-probs" + tag);
  const auto [la, wa] = sft_loss(lpa, batch);
  const auto [lb, wb] = sft_loss(lpb, batch);
  std::cout << "real-shape SFT loss" << tag << ": cpu " << la << ", device " << lb << "\n";
  BOOST_CHECK_MESSAGE(std::abs(la - std::log(50257.0)) < 1.0, "the initial loss " << la << " is not near log V");
  BOOST_CHECK_MESSAGE(std::abs(lb - la) <= lp_atol + lp_rtol * std::abs(la), "real-shape loss" << tag << ": " << lb << " vs " << la);

  a.zero_grad();
  b.zero_grad();
  a.backward(batch, wa);
  b.backward(batch, wa);  // the same weights on both sides: the gradients compare the backward passes only
  const auto ga = grads_of<float>(a), gb = grads_of<float>(b);
  compare(gb, ga, g_max * max_abs(ga), 0.0, "real-shape gradients" + tag);
  const double gap = relative_norm_gap(gb, ga, "real-shape gradients" + tag);
  BOOST_CHECK_MESSAGE(gap <= g_rel, "real-shape gradients" << tag << ": relative norm gap " << gap << " above " << g_rel);
  const double na = std::sqrt(grad_norm_sq(a)), nb = std::sqrt(grad_norm_sq(b));
  std::cout << "real-shape gradient norm" << tag << ": cpu " << na << ", device " << nb << "\n";
  BOOST_CHECK_MESSAGE(na > 0 && std::abs(nb - na) <= g_rel * na, "real-shape gradient norm" << tag << ": " << nb << " vs " << na);

  // One AdamW step from zero moments moves each weight by lr g/(|g| + eps) (bias-corrected): at
  // most lr, so two runs whose gradients differ slightly differ by at most 2 lr per weight (a sign
  // flip of a gradient that is zero up to rounding), plus the weights' own float rounding.
  const double lr = 1e-4;
  const auto va0 = values_of<float>(a);
  adamw oa(adamw_hyper{lr}), ob(adamw_hyper{lr});
  oa.step(a);
  ob.step(b);
  const auto va = values_of<float>(a), vb = values_of<float>(b);
  compare(vb, va, 2 * lr, 1e-6, "real-shape values after AdamW" + tag);
  std::vector<float> da(va.size()), db(va.size());
  for (std::size_t i = 0; i < va.size(); ++i) {
    da[i] = va[i] - va0[i];
    db[i] = vb[i] - va0[i];
  }
  const double moved = relative_norm_gap(db, da, "real-shape AdamW displacement" + tag);
  BOOST_CHECK_MESSAGE(moved < (bf16 ? 0.5 : 0.05), "real-shape AdamW step" << tag << ": displacement gap " << moved);
}

// Causal attention forward at head size 64 with growing keys: q = 1 and k_t = 2.5 (t + 1) in every
// channel, so the score of query t against key t2 <= t is 64 * 2.5 (t2 + 1) / 8 = 20 (t2 + 1):
// each key outscores the one before by 20, the diagonal key takes all but e^-20 (< 2^-28) of the
// weight, out_t = v_t and lse_t = 20 (t + 1) up to float rounding. A future key t2 > t, if it
// entered the running maximum, would make every valid exponential underflow to zero.
template <class D>
void check_growing_keys(D& d, std::ptrdiff_t B, std::ptrdiff_t Tn) {
  const std::ptrdiff_t C = 768, NH = 12, C3 = 3 * C;
  std::mt19937 g(12);
  std::uniform_real_distribution<float> uni(-1, 1);
  std::vector<float> qkv(static_cast<std::size_t>(B * Tn * C3));
  for (std::ptrdiff_t b = 0; b < B; ++b)
    for (std::ptrdiff_t t = 0; t < Tn; ++t)
      for (std::ptrdiff_t c = 0; c < C; ++c) {
        float* row = qkv.data() + (b * Tn + t) * C3;
        row[c] = 1;
        row[C + c] = 2.5f * static_cast<float>(t + 1);
        row[2 * C + c] = uni(g);
      }
  std::vector<float> want_out(static_cast<std::size_t>(B * Tn * C)), want_lse(static_cast<std::size_t>(B * NH * Tn));
  for (std::ptrdiff_t b = 0; b < B; ++b)
    for (std::ptrdiff_t t = 0; t < Tn; ++t) {
      for (std::ptrdiff_t c = 0; c < C; ++c)
        want_out[static_cast<std::size_t>((b * Tn + t) * C + c)] = qkv[static_cast<std::size_t>((b * Tn + t) * C3 + 2 * C + c)];
      for (std::ptrdiff_t h = 0; h < NH; ++h)
        want_lse[static_cast<std::size_t>((b * NH + h) * Tn + t)] = 20.0f * static_cast<float>(t + 1);
    }
  device_io<D> io{d};
  auto bq = io.up(qkv);
  auto bo = d.template allocate<float>(want_out.size());
  auto bl = d.template allocate<float>(want_lse.size());
  d.attention_forward(d.data(bo), d.data(bl), d.data(std::as_const(bq)), B, Tn, C, NH);
  const std::string tag = " (B " + std::to_string(B) + ", T " + std::to_string(Tn) + ", C 768, NH 12)";
  // out: e^-20 of a neighbouring v, plus float rounding of the weights; lse: float rounding of
  // scores up to 20 T, summed over hs = 64 products (64 2^-24 relative).
  compare(io.down(bo), want_out, 1e-6, 1e-6, "attention growing keys out" + tag);
  compare(io.down(bl), want_lse, 1e-3, 4e-6, "attention growing keys lse" + tag);
}

}  // namespace juice::test::device

namespace juice::test::device {

// The two-stage column reductions (reduce.cuh: bias_grad, layernorm_backward's dw and db) and the
// multi-stage dot product against the serial reference functors they replace, at C = 768 with row
// counts that leave a ragged last block. With small-integer inputs every partial sum is an exact
// float, so the block order cannot matter and the results must be equal bit for bit to the exact
// sums computed here in double; with random inputs they must agree with the serial functors to
// float rounding of the sums (N 2^-24 of sum |term|).
template <class D>
void check_block_reductions(D& d) {
  namespace dk = juice::device_kernels;
  device_io<D> io{d};
  std::mt19937 g(31);
  for (const std::ptrdiff_t N : {std::ptrdiff_t{1}, std::ptrdiff_t{64}, std::ptrdiff_t{130}, std::ptrdiff_t{2048}}) {
    const std::ptrdiff_t C = 768;
    const std::string tag = " (N " + std::to_string(N) + ", C 768)";
    std::uniform_int_distribution<int> small(-8, 8);
    std::vector<float> ints(static_cast<std::size_t>(N * C)), mean(static_cast<std::size_t>(N), 0.0f),
        rstd(static_cast<std::size_t>(N), 1.0f), w(static_cast<std::size_t>(C), 1.0f);
    for (float& x : ints) x = static_cast<float>(small(g));
    std::vector<double> exact(static_cast<std::size_t>(C), 0.0), exact_sq(static_cast<std::size_t>(C), 0.0);
    for (std::ptrdiff_t n = 0; n < N; ++n)
      for (std::ptrdiff_t c = 0; c < C; ++c) {
        const double x = ints[static_cast<std::size_t>(n * C + c)];
        exact[static_cast<std::size_t>(c)] += x;
        exact_sq[static_cast<std::size_t>(c)] += x * x;
      }
    auto bi = io.up(ints);
    auto bmean = io.up(mean);
    auto brstd = io.up(rstd);
    auto bw = io.up(w);
    auto scratch = d.template allocate<float>(static_cast<std::size_t>(dk::column_scratch_size(N, C)));
    auto db = d.template allocate<float>(static_cast<std::size_t>(C));
    auto dw = d.template allocate<float>(static_cast<std::size_t>(C));
    auto dinp = d.template allocate<float>(static_cast<std::size_t>(N * C));
    dk::bias_grad(d.exec(), d.data(db), d.data(std::as_const(bi)), N, C, d.data(scratch));
    compare(io.down(db), exact, 0.0, 0.0, "bias_grad, integer rows, exact" + tag);
    // layernorm with mean 0, rstd 1: norm = x, so dw = sum x * dout = sum x^2 (dout = x) and db = sum x.
    auto dw2 = d.template allocate<float>(static_cast<std::size_t>(C));
    auto db2 = d.template allocate<float>(static_cast<std::size_t>(C));
    dk::layernorm_backward(d.exec(), d.data(dinp), d.data(dw2), d.data(db2), d.data(std::as_const(bi)),
                           d.data(std::as_const(bi)), d.data(std::as_const(bw)), d.data(std::as_const(bmean)),
                           d.data(std::as_const(brstd)), N, C, d.data(scratch));
    compare(io.down(dw2), exact_sq, 0.0, 0.0, "layernorm dw, integer rows, exact" + tag);
    compare(io.down(db2), exact, 0.0, 0.0, "layernorm db, integer rows, exact" + tag);

    // Random rows against the serial reference functors.
    std::uniform_real_distribution<float> uni(-1, 1);
    std::vector<float> x(ints.size()), dout(ints.size()), m(mean.size()), r(rstd.size()), ww(w.size());
    for (float& v : x) v = uni(g);
    for (float& v : dout) v = uni(g);
    for (float& v : m) v = 0.1f * uni(g);
    for (float& v : r) v = 1.0f + 0.5f * uni(g);
    for (float& v : ww) v = uni(g);
    auto bx = io.up(x);
    auto bd = io.up(dout);
    auto bm = io.up(m);
    auto br = io.up(r);
    auto bww = io.up(ww);
    auto ref_b = d.template allocate<float>(static_cast<std::size_t>(C));
    auto got_b = d.template allocate<float>(static_cast<std::size_t>(C));
    dk::bias_grad_serial(d.exec(), d.data(ref_b), d.data(std::as_const(bd)), N, C);
    dk::bias_grad(d.exec(), d.data(got_b), d.data(std::as_const(bd)), N, C, d.data(scratch));
    const double tol = static_cast<double>(N) * 0x1p-24 * 2.0;  // |term| <= 1 (<= 2 for dw)
    compare(io.down(got_b), io.down(ref_b), tol, 0.0, "bias_grad vs serial" + tag);
    auto ref_dinp = d.template allocate<float>(static_cast<std::size_t>(N * C));
    auto ref_dw = d.template allocate<float>(static_cast<std::size_t>(C));
    auto ref_db = d.template allocate<float>(static_cast<std::size_t>(C));
    auto got_dinp = d.template allocate<float>(static_cast<std::size_t>(N * C));
    auto got_dw = d.template allocate<float>(static_cast<std::size_t>(C));
    auto got_db = d.template allocate<float>(static_cast<std::size_t>(C));
    dk::layernorm_backward_serial(d.exec(), d.data(ref_dinp), d.data(ref_dw), d.data(ref_db), d.data(std::as_const(bd)),
                                  d.data(std::as_const(bx)), d.data(std::as_const(bww)), d.data(std::as_const(bm)),
                                  d.data(std::as_const(br)), N, C);
    dk::layernorm_backward(d.exec(), d.data(got_dinp), d.data(got_dw), d.data(got_db), d.data(std::as_const(bd)),
                           d.data(std::as_const(bx)), d.data(std::as_const(bww)), d.data(std::as_const(bm)),
                           d.data(std::as_const(br)), N, C, d.data(scratch));
    compare(io.down(got_dinp), io.down(ref_dinp), 0.0, 0.0, "layernorm dinp (unchanged)" + tag);
    compare(io.down(got_dw), io.down(ref_dw), 2 * tol, 0.0, "layernorm dw vs serial" + tag);
    compare(io.down(got_db), io.down(ref_db), tol, 0.0, "layernorm db vs serial" + tag);
  }
  // The dot product through three reduction stages (n > 256^2): integer products are exact in double.
  const std::ptrdiff_t n = 256 * 256 + 517;
  std::vector<float> y(static_cast<std::size_t>(n)), z(static_cast<std::size_t>(n));
  double exact = 0;
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    y[static_cast<std::size_t>(i)] = static_cast<float>(i % 7 - 3);
    z[static_cast<std::size_t>(i)] = static_cast<float>(i % 5 - 2);
    exact += double(y[static_cast<std::size_t>(i)]) * double(z[static_cast<std::size_t>(i)]);
  }
  auto by = io.up(y);
  auto bz = io.up(z);
  const double got = d.dot(d.const_view_at(d.data(std::as_const(by)), y.size()), d.const_view_at(d.data(std::as_const(bz)), z.size()));
  compare(std::vector<double>{got}, std::vector<double>{exact}, 0.0, 0.0, "dot, 3 stages, integer products");
}

}  // namespace juice::test::device
