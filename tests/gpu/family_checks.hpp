// Checks of a device backend's Llama-family / GPT-NeoX primitives (juice::FamilyTransformerBackend:
// RMSNorm, rotary embedding, SwiGLU, grouped-query attention) and of the exact GELU, against
// juice::cpu on the same random inputs, and the exact GELU against its definition evaluated in long
// double. Shared by the thrust-omp test (juice::thrust_omp_backend, g++: test_thrust_omp_family,
// every CI run) and the gpu test (juice::cuda, nvcc: test_cuda_family, skipped without a device), so
// that what runs on a GPU is what CI checks on the OpenMP system. Gradients the contract accumulates
// start from random values, those it overwrites from garbage; the aliasing the contract allows is
// checked bit for bit against the separate-buffer result. Every comparison prints its worst element
// (device_checks.hpp compare).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include "device_checks.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/concepts/family_transformer_backend.hpp"
#include "juice/core/error.hpp"

namespace juice::test::device {

// The exact GELU is not yet part of the concept; a backend that has it satisfies this.
template <class B, class T>
concept has_gelu_exact = requires(B& b, typename B::template pointer<T> p, typename B::template const_pointer<T> cp,
                                  std::ptrdiff_t k) {
  b.gelu_exact_forward(p, cp, k);
  b.gelu_exact_backward(p, cp, cp, k);
};

// Per-type tolerances |got - want| <= atol + rtol |want| of the device against juice::cpu.
//   double: both sides compute the same formulas in double and differ only in summation order (the
//     CPU's simd reductions and tiled attention against the device's row loops) and in FMA
//     contraction; the values are sums of at most a few hundred O(1) terms, so each side is within
//     ~1e-14 of the exact value: rtol 1e-12, and atol 1e-13 for elements that cancel to near zero.
//   float: the same over float rounding (2^-24 = 6e-8 per operation; attention's dk and dv sum up to
//     ~100 products of magnitude up to ~3, so up to ~2e-5 absolute in the worst case) and the CPU
//     float path's polynomial exp in SwiGLU's sigmoid (about 1e-7 relative): rtol 1e-5, atol 2e-5.
template <class T> struct family_tolerance;
template <> struct family_tolerance<double> {
  static constexpr double atol = 1e-13;
  static constexpr double rtol = 1e-12;
};
template <> struct family_tolerance<float> {
  static constexpr double atol = 2e-5;
  static constexpr double rtol = 1e-5;
};

template <class T>
std::string type_tag() {
  return sizeof(T) == 4 ? " <float>" : " <double>";
}

template <class T>
void compare_family(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  compare(got, want, family_tolerance<T>::atol, family_tolerance<T>::rtol, what + type_tag<T>());
}

// Bit-for-bit equality (aliasing, determinism, code paths that must not differ).
template <class T>
void compare_exact(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  compare(got, want, 0.0, 0.0, what + type_tag<T>());
}

// |got - want| <= tol mag per element, mag the sum of the magnitudes of the terms that were added
// (for sums whose value can cancel far below their terms); the worst element printed and recorded.
template <class T>
void compare_to_magnitude(const std::vector<T>& got, const std::vector<T>& want, const std::vector<double>& mag, double tol,
                          const std::string& what) {
  BOOST_REQUIRE(got.size() == want.size() && want.size() == mag.size());
  std::size_t worst = 0;
  double worst_ratio = -1, worst_abs = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    const double ratio = std::isfinite(err) ? err / std::max(mag[i], 1e-300) : 1e300;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
    }
    worst_abs = std::max(worst_abs, std::isfinite(err) ? err : 1e300);
  }
  std::ostringstream msg;
  msg.precision(10);
  msg << what << type_tag<T>() << ": worst element " << worst;
  if (!got.empty())
    msg << ": " << static_cast<double>(got[worst]) << " vs " << static_cast<double>(want[worst]) << " (|diff| / mag "
        << worst_ratio << " with mag " << mag[worst] << ", allowed " << tol << "; max |diff| " << worst_abs << ")";
  std::cout << msg.str() << "\n";
  auto& e = worst_errors()[what + type_tag<T>()];
  e = std::max(e, worst_abs);
  BOOST_CHECK_MESSAGE(worst_ratio <= tol, msg.str());
}

// RMSNorm forward (with and without rstd) and backward (dinp and dw accumulated onto random
// values), with a row count that spans several column-reduction blocks and leaves a ragged last one.
// dw is a sum over the N rows, compared relative to mag = |dw0| + sum_n |x_hat dout|: each side's
// rounding is at most N u mag (u = 2^-24 or 2^-53), so 2 N u mag bounds the difference, and 1e-12
// mag in double where that is smaller.
template <class T, class D>
void check_rmsnorm(D& d) {
  std::mt19937 g(41);
  device_io<D> io{d};
  for (const auto& [N, C] : {std::pair<std::ptrdiff_t, std::ptrdiff_t>{5, 7}, {200, 37}}) {
    const std::string tag = " (N " + std::to_string(N) + ", C " + std::to_string(C) + ")";
    const double eps = 1e-5;
    auto inp = random_vector<T>(N * C, g), w = random_vector<T>(C, g), out = random_vector<T>(N * C, g);
    auto rstd = random_vector<T>(N, g);
    auto bi = io.up(inp);
    auto bw = io.up(w);
    auto bo = io.up(out);
    auto br = io.up(rstd);
    d.rmsnorm_forward(d.data(bo), d.data(br), d.data(std::as_const(bi)), d.data(std::as_const(bw)), N, C, eps);
    cpu::rmsnorm_forward<T>(out.data(), rstd.data(), inp.data(), w.data(), N, C, eps);
    compare_family(io.down(bo), out, "rmsnorm_forward out" + tag);
    compare_family(io.down(br), rstd, "rmsnorm_forward rstd" + tag);
    auto bo2 = d.template allocate<T>(out.size());
    d.rmsnorm_forward(d.data(bo2), static_cast<T*>(nullptr), d.data(std::as_const(bi)), d.data(std::as_const(bw)), N, C, eps);
    compare_exact(io.down(bo2), io.down(bo), "rmsnorm_forward without rstd" + tag);

    auto dout = random_vector<T>(N * C, g), dinp = random_vector<T>(N * C, g), dw = random_vector<T>(C, g);
    std::vector<double> mag(dw.size());
    for (std::ptrdiff_t c = 0; c < C; ++c) {
      auto& m = mag[static_cast<std::size_t>(c)];
      m = std::abs(static_cast<double>(dw[static_cast<std::size_t>(c)]));
      for (std::ptrdiff_t n = 0; n < N; ++n) {
        const auto i = static_cast<std::size_t>(n * C + c);
        m += std::abs(static_cast<double>(inp[i]) * rstd[static_cast<std::size_t>(n)] * dout[i]);
      }
    }
    const double dw_tol = std::max(1e-12, 2.0 * static_cast<double>(N) * std::numeric_limits<T>::epsilon() / 2);
    auto bdo = io.up(dout);
    auto bdi = io.up(dinp);
    auto bdw = io.up(dw);
    d.rmsnorm_backward(d.data(bdi), d.data(bdw), d.data(std::as_const(bdo)), d.data(std::as_const(bi)),
                       d.data(std::as_const(bw)), d.data(std::as_const(br)), N, C);
    cpu::rmsnorm_backward<T>(dinp.data(), dw.data(), dout.data(), inp.data(), w.data(), rstd.data(), N, C);
    compare_family(io.down(bdi), dinp, "rmsnorm_backward dinp" + tag);
    compare_to_magnitude(io.down(bdw), dw, mag, dw_tol, "rmsnorm_backward dw" + tag);
  }
}

// Rotary forward and backward on qkv(N, C + 2 Ckv) for NKV = NH, NH/2 and 1, full and partial
// rot_dim, against juice::cpu; the value heads and the channels past rot_dim stay as they were (bit
// for bit), and backward undoes forward.
template <class T, class D>
void check_rotary(D& d) {
  std::mt19937 g(42);
  device_io<D> io{d};
  const std::ptrdiff_t N = 11, NH = 4, hs = 8, C = NH * hs;
  const double theta = 10000.0;
  std::uniform_int_distribution<int> pd(0, 60);
  for (const std::ptrdiff_t NKV : {std::ptrdiff_t{4}, std::ptrdiff_t{2}, std::ptrdiff_t{1}})
    for (const std::ptrdiff_t rot_dim : {hs, std::ptrdiff_t{6}, std::ptrdiff_t{2}}) {
      const std::ptrdiff_t Ckv = NKV * hs, W = C + 2 * Ckv;
      const std::string tag = " (NKV " + std::to_string(NKV) + ", rot_dim " + std::to_string(rot_dim) + ")";
      std::vector<int> pos(static_cast<std::size_t>(N));
      for (auto& p : pos) p = pd(g);
      const auto qkv0 = random_vector<T>(N * W, g);
      auto want = qkv0;
      auto bq = io.up(qkv0);
      auto bp = io.up(pos);
      d.rotary_forward(d.data(bq), d.data(std::as_const(bp)), N, C, NH, NKV, rot_dim, theta);
      cpu::rotary_forward<T>(want.data(), pos.data(), N, C, NH, NKV, rot_dim, theta);
      const auto got = io.down(bq);
      compare_family(got, want, "rotary_forward" + tag);
      // What does not turn: the value heads, and each q/k head's channels from rot_dim on.
      std::vector<T> kept_got, kept_want;
      for (std::ptrdiff_t n = 0; n < N; ++n)
        for (std::ptrdiff_t c = 0; c < W; ++c)
          if (c >= C + Ckv || c % hs >= rot_dim) {
            kept_got.push_back(got[static_cast<std::size_t>(n * W + c)]);
            kept_want.push_back(qkv0[static_cast<std::size_t>(n * W + c)]);
          }
      compare_exact(kept_got, kept_want, "rotary_forward leaves v and the unrotated channels" + tag);

      d.rotary_backward(d.data(bq), d.data(std::as_const(bp)), N, C, NH, NKV, rot_dim, theta);
      cpu::rotary_backward<T>(want.data(), pos.data(), N, C, NH, NKV, rot_dim, theta);
      const auto back = io.down(bq);
      compare_family(back, want, "rotary_backward" + tag);
      // A rotation and its inverse: back to the input up to rounding (|x| ~ 1, two rotations).
      compare_family(back, qkv0, "rotary_backward undoes rotary_forward" + tag);
    }
}

// SwiGLU forward; backward into a separate garbage-filled buffer and in place over inp (allowed).
template <class T, class D>
void check_swiglu(D& d) {
  std::mt19937 g(43);
  device_io<D> io{d};
  const std::ptrdiff_t N = 9, H = 23;
  auto inp = random_vector<T>(N * 2 * H, g, 3.0), out = random_vector<T>(N * H, g);
  auto bi = io.up(inp);
  auto bo = io.up(out);
  d.swiglu_forward(d.data(bo), d.data(std::as_const(bi)), N, H);
  cpu::swiglu_forward<T>(out.data(), inp.data(), N, H);
  compare_family(io.down(bo), out, "swiglu_forward");

  auto dout = random_vector<T>(N * H, g), dinp = random_vector<T>(N * 2 * H, g);
  auto bdo = io.up(dout);
  auto bdi = io.up(dinp);
  d.swiglu_backward(d.data(bdi), d.data(std::as_const(bi)), d.data(std::as_const(bdo)), N, H);
  cpu::swiglu_backward<T>(dinp.data(), inp.data(), dout.data(), N, H);
  const auto separate = io.down(bdi);
  compare_family(separate, dinp, "swiglu_backward");
  d.swiglu_backward(d.data(bi), d.data(std::as_const(bi)), d.data(std::as_const(bdo)), N, H);
  compare_exact(io.down(bi), separate, "swiglu_backward with dinp aliasing inp");
}

// The exact GELU against x Phi(x) and Phi(x) + x phi(x) evaluated in long double (erfc, so that
// Phi keeps its relative accuracy for negative x), on a grid over [-10, 10] plus zero and tiny
// values; the backward also with dinp aliasing dout. Tolerances: double's erfc and exp are within a
// few ulps, and the argument x/sqrt 2 rounded once moves erfc(a) by up to 2 a^2 ulps relative (at
// most 100 for |x| <= 10): 1e-12 relative holds with room. The derivative has a root near
// x = -0.75, where only an absolute bound means anything: 1e-15 (|dout| < 5). float: the same
// terms at 2^-24 = 6e-8, 100 x 6e-8 = 6e-6: rtol 2e-5, atol 1e-6.
template <class T, class D>
void check_gelu_exact(D& d) {
  std::mt19937 g(44);
  device_io<D> io{d};
  std::vector<T> x;
  for (int i = -1000; i <= 1000; ++i) x.push_back(static_cast<T>(i) / T(100));
  for (const T v : {T(0), T(1e-30), T(-1e-30), T(-0.7517915), T(3e-5), T(-3e-5)}) x.push_back(v);
  const auto n = static_cast<std::ptrdiff_t>(x.size());
  std::vector<T> want_out(x.size()), want_dinp(x.size());
  auto dout = random_vector<T>(x.size(), g);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const long double xl = x[i];
    const long double cdf = 0.5L * std::erfc(-xl / std::sqrt(2.0L));
    const long double pdf = std::exp(-0.5L * xl * xl) / std::sqrt(2.0L * 3.14159265358979323846264338327950288L);
    want_out[i] = static_cast<T>(xl * cdf);
    want_dinp[i] = static_cast<T>((cdf + xl * pdf) * static_cast<long double>(dout[i]));
  }
  const double atol = sizeof(T) == 4 ? 1e-6 : 1e-15, rtol = sizeof(T) == 4 ? 2e-5 : 1e-12;
  auto bx = io.up(x);
  auto bo = io.up(random_vector<T>(x.size(), g));
  d.gelu_exact_forward(d.data(bo), d.data(std::as_const(bx)), n);
  compare(io.down(bo), want_out, 0.0, rtol, "gelu_exact_forward vs x Phi(x)" + type_tag<T>());

  auto bdo = io.up(dout);
  auto bdi = io.up(random_vector<T>(x.size(), g));
  d.gelu_exact_backward(d.data(bdi), d.data(std::as_const(bx)), d.data(std::as_const(bdo)), n);
  const auto separate = io.down(bdi);
  compare(separate, want_dinp, atol, rtol, "gelu_exact_backward vs (Phi + x phi) dout" + type_tag<T>());
  d.gelu_exact_backward(d.data(bdo), d.data(std::as_const(bx)), d.data(std::as_const(bdo)), n);
  compare_exact(io.down(bdo), separate, "gelu_exact_backward with dinp aliasing dout");
}

// Grouped-query attention, NH = 4 query heads with NKV = 4, 2 and 1 key/value heads, against
// juice::cpu: forward (out and lse overwritten), backward (dqkv overwritten), KV-cache decoding in
// two calls (caches (B,Tmax,Ckv)). Independently of the CPU: the causal mask (changing the
// projections at positions >= t0 leaves every earlier output, lse and decoded output bit for bit as
// it was), NKV = NH through the NKV overloads equals the multi-head overloads bit for bit, and a
// grouped forward equals the multi-head forward of the projections with each key/value head
// repeated for its query heads.
template <class T, class D>
void check_gqa_attention(D& d) {
  std::mt19937 g(45);
  device_io<D> io{d};
  const std::ptrdiff_t B = 2, Tn = 13, NH = 4, hs = 5, C = NH * hs, t0 = 7;
  for (const std::ptrdiff_t NKV : {std::ptrdiff_t{4}, std::ptrdiff_t{2}, std::ptrdiff_t{1}}) {
    const std::ptrdiff_t Ckv = NKV * hs, W = C + 2 * Ckv, group = NH / NKV;
    const std::string tag = " (B 2, T 13, NH 4, NKV " + std::to_string(NKV) + ", hs 5)";
    auto qkv = random_vector<T>(B * Tn * W, g), out = random_vector<T>(B * Tn * C, g);
    auto lse = random_vector<T>(B * NH * Tn, g);
    auto bq = io.up(qkv);
    auto bo = io.up(out);
    auto bl = io.up(lse);
    d.attention_forward(d.data(bo), d.data(bl), d.data(std::as_const(bq)), B, Tn, C, NH, NKV);
    cpu::attention_forward<T>(out.data(), lse.data(), qkv.data(), B, Tn, C, NH, NKV);
    const auto got_out = io.down(bo), got_lse = io.down(bl);
    compare_family(got_out, out, "gqa attention_forward out" + tag);
    compare_family(got_lse, lse, "gqa attention_forward lse" + tag);

    auto dout = random_vector<T>(B * Tn * C, g), dqkv = random_vector<T>(B * Tn * W, g);
    auto bdo = io.up(dout);
    auto bdq = io.up(dqkv);
    d.attention_backward(d.data(bdq), d.data(std::as_const(bdo)), d.data(std::as_const(bo)), d.data(std::as_const(bl)),
                         d.data(std::as_const(bq)), B, Tn, C, NH, NKV);
    cpu::attention_backward<T>(dqkv.data(), dout.data(), out.data(), lse.data(), qkv.data(), B, Tn, C, NH, NKV);
    const auto got_dqkv = io.down(bdq);
    compare_family(got_dqkv, dqkv, "gqa attention_backward dqkv" + tag);

    // The multi-head equivalent: key/value head h / group copied to query head h (B,T,3C).
    std::vector<T> mha(static_cast<std::size_t>(B * Tn * 3 * C));
    for (std::ptrdiff_t r = 0; r < B * Tn; ++r)
      for (std::ptrdiff_t h = 0; h < NH; ++h)
        for (std::ptrdiff_t i = 0; i < hs; ++i) {
          const auto src = static_cast<std::size_t>(r * W + (h / group) * hs + i);
          mha[static_cast<std::size_t>(r * 3 * C + h * hs + i)] = qkv[static_cast<std::size_t>(r * W + h * hs + i)];
          mha[static_cast<std::size_t>(r * 3 * C + C + h * hs + i)] = qkv[src + static_cast<std::size_t>(C)];
          mha[static_cast<std::size_t>(r * 3 * C + 2 * C + h * hs + i)] = qkv[src + static_cast<std::size_t>(C + Ckv)];
        }
    auto bm = io.up(mha);
    auto bmo = d.template allocate<T>(out.size());
    auto bml = d.template allocate<T>(lse.size());
    d.attention_forward(d.data(bmo), d.data(bml), d.data(std::as_const(bm)), B, Tn, C, NH);
    compare_exact(io.down(bmo), got_out, "gqa attention_forward equals multi-head on repeated k, v" + tag);
    compare_exact(io.down(bml), got_lse, "gqa attention_forward lse equals multi-head on repeated k, v" + tag);
    // ... and its backward: dq the same, dk and dv of a key/value head the sum over its query heads.
    auto bmd = d.template allocate<T>(mha.size());
    d.attention_backward(d.data(bmd), d.data(std::as_const(bdo)), d.data(std::as_const(bmo)), d.data(std::as_const(bml)),
                         d.data(std::as_const(bm)), B, Tn, C, NH);
    const auto md = io.down(bmd);
    std::vector<T> summed(got_dqkv.size(), T(0));
    for (std::ptrdiff_t r = 0; r < B * Tn; ++r)
      for (std::ptrdiff_t h = 0; h < NH; ++h)
        for (std::ptrdiff_t i = 0; i < hs; ++i) {
          const auto kv = static_cast<std::size_t>(r * W + C + (h / group) * hs + i);
          summed[static_cast<std::size_t>(r * W + h * hs + i)] = md[static_cast<std::size_t>(r * 3 * C + h * hs + i)];
          summed[kv] += md[static_cast<std::size_t>(r * 3 * C + C + h * hs + i)];
          summed[kv + static_cast<std::size_t>(Ckv)] += md[static_cast<std::size_t>(r * 3 * C + 2 * C + h * hs + i)];
        }
    compare_family(got_dqkv, summed, "gqa attention_backward vs multi-head with summed dk, dv" + tag);

    if (NKV == NH) {  // the NKV overloads at NKV = NH are the multi-head ones, bit for bit
      auto b1 = d.template allocate<T>(out.size());
      auto l1 = d.template allocate<T>(lse.size());
      d.attention_forward(d.data(b1), d.data(l1), d.data(std::as_const(bq)), B, Tn, C, NH);
      compare_exact(io.down(b1), got_out, "attention_forward NKV = NH equals multi-head" + tag);
      auto d1 = d.template allocate<T>(dqkv.size());
      d.attention_backward(d.data(d1), d.data(std::as_const(bdo)), d.data(std::as_const(bo)), d.data(std::as_const(bl)),
                           d.data(std::as_const(bq)), B, Tn, C, NH);
      compare_exact(io.down(d1), got_dqkv, "attention_backward NKV = NH equals multi-head" + tag);
    }

    // Causal mask: new projections (q, k and v) at every position >= t0 of every row.
    auto later = qkv;
    {
      std::normal_distribution<double> nd(0.0, 3.0);
      for (std::ptrdiff_t b = 0; b < B; ++b)
        for (std::ptrdiff_t t = t0; t < Tn; ++t)
          for (std::ptrdiff_t c = 0; c < W; ++c) later[static_cast<std::size_t>((b * Tn + t) * W + c)] = static_cast<T>(nd(g));
    }
    auto bq2 = io.up(later);
    d.attention_forward(d.data(bo), d.data(bl), d.data(std::as_const(bq2)), B, Tn, C, NH, NKV);
    const auto out2 = io.down(bo), lse2 = io.down(bl);
    std::vector<T> early_out, early_out2, early_lse, early_lse2;
    for (std::ptrdiff_t b = 0; b < B; ++b)
      for (std::ptrdiff_t t = 0; t < t0; ++t) {
        for (std::ptrdiff_t c = 0; c < C; ++c) {
          early_out.push_back(got_out[static_cast<std::size_t>((b * Tn + t) * C + c)]);
          early_out2.push_back(out2[static_cast<std::size_t>((b * Tn + t) * C + c)]);
        }
        for (std::ptrdiff_t h = 0; h < NH; ++h) {
          early_lse.push_back(got_lse[static_cast<std::size_t>((b * NH + h) * Tn + t)]);
          early_lse2.push_back(lse2[static_cast<std::size_t>((b * NH + h) * Tn + t)]);
        }
      }
    compare_exact(early_out2, early_out, "gqa attention_forward causal: later positions do not reach earlier out" + tag);
    compare_exact(early_lse2, early_lse, "gqa attention_forward causal: later positions do not reach earlier lse" + tag);

    // Decoding: positions 0..4 of each row, then 3 more from pos0 = {5, 2} (row 1 rewinds and
    // overwrites positions 2..4), Tmax 9, against juice::cpu on the same caches.
    const std::ptrdiff_t Tmax = 9;
    auto kc = random_vector<T>(B * Tmax * Ckv, g), vc = random_vector<T>(B * Tmax * Ckv, g);
    auto bkc = io.up(kc);
    auto bvc = io.up(vc);
    std::vector<T> decoded_first;
    for (const auto& [Tnew, p0] : {std::pair<std::ptrdiff_t, std::vector<int>>{5, {0, 0}}, {3, {5, 2}}}) {
      const std::string step = tag + " (Tn " + std::to_string(Tnew) + ", pos0 " + std::to_string(p0[0]) + ", " +
                               std::to_string(p0[1]) + ")";
      auto q = random_vector<T>(B * Tnew * W, g), o = random_vector<T>(B * Tnew * C, g);
      auto bqn = io.up(q);
      auto bon = io.up(o);
      auto bp = io.up(p0);
      d.attention_cached(d.data(bon), d.data(std::as_const(bqn)), d.data(bkc), d.data(bvc), d.data(std::as_const(bp)), B,
                         Tnew, Tmax, C, NH, NKV);
      cpu::attention_cached<T>(o.data(), q.data(), kc.data(), vc.data(), p0.data(), B, Tnew, Tmax, C, NH, NKV);
      compare_family(io.down(bon), o, "gqa attention_cached out" + step);
      compare_family(io.down(bkc), kc, "gqa attention_cached kcache" + step);
      compare_family(io.down(bvc), vc, "gqa attention_cached vcache" + step);
      if (Tnew != 5) continue;
      // Causal in decoding: the same 5 new positions with positions 3 and 4 changed leave the
      // outputs of positions 0..2 as they were.
      decoded_first = io.down(bon);
      auto q2 = q;
      for (std::ptrdiff_t b = 0; b < B; ++b)
        for (std::ptrdiff_t t = 3; t < 5; ++t)
          for (std::ptrdiff_t c = 0; c < W; ++c) q2[static_cast<std::size_t>((b * Tnew + t) * W + c)] += T(1);
      auto bq3 = io.up(q2);
      auto bk3 = d.template allocate<T>(kc.size());
      auto bv3 = d.template allocate<T>(vc.size());
      auto bo3 = d.template allocate<T>(o.size());
      d.attention_cached(d.data(bo3), d.data(std::as_const(bq3)), d.data(bk3), d.data(bv3), d.data(std::as_const(bp)), B,
                         Tnew, Tmax, C, NH, NKV);
      const auto o3 = io.down(bo3);
      std::vector<T> first, first3;
      for (std::ptrdiff_t b = 0; b < B; ++b)
        for (std::ptrdiff_t t = 0; t < 3; ++t)
          for (std::ptrdiff_t c = 0; c < C; ++c) {
            first.push_back(decoded_first[static_cast<std::size_t>((b * Tnew + t) * C + c)]);
            first3.push_back(o3[static_cast<std::size_t>((b * Tnew + t) * C + c)]);
          }
      compare_exact(first3, first, "gqa attention_cached causal: later positions do not reach earlier out" + tag);
    }
  }
}

// Shapes the primitives refuse before any kernel runs, with a sentence naming the primitive.
template <class T, class D>
void check_family_refusals(D& d) {
  auto buf = d.template allocate<T>(64);
  auto ids = d.template allocate<int>(4);
  const auto says = [](const std::string& what) {
    return [what](const juice::invalid_argument& e) {
      const std::string m = e.what();
      BOOST_TEST_INFO("message: " << m);
      return m.find(what) != std::string::npos;
    };
  };
  // NKV = 3 does not divide NH = 4.
  BOOST_CHECK_EXCEPTION(d.attention_forward(d.data(buf), d.data(buf), d.data(std::as_const(buf)), 1, 1, 8, 4, 3),
                        juice::invalid_argument, says("attention_forward: the key/value head count NKV = 3"));
  BOOST_CHECK_EXCEPTION(d.attention_backward(d.data(buf), d.data(std::as_const(buf)), d.data(std::as_const(buf)),
                                             d.data(std::as_const(buf)), d.data(std::as_const(buf)), 1, 1, 8, 4, 0),
                        juice::invalid_argument, says("attention_backward: the key/value head count NKV = 0"));
  BOOST_CHECK_EXCEPTION(d.attention_cached(d.data(buf), d.data(std::as_const(buf)), d.data(buf), d.data(buf),
                                           d.data(std::as_const(ids)), 1, 1, 2, 8, 4, 3),
                        juice::invalid_argument, says("attention_cached: the key/value head count NKV = 3"));
  // rot_dim odd, or beyond the head size 2.
  BOOST_CHECK_EXCEPTION(d.rotary_forward(d.data(buf), d.data(std::as_const(ids)), 1, 8, 4, 2, 1, 1e4),
                        juice::invalid_argument, says("rotary_forward: rot_dim = 1"));
  BOOST_CHECK_EXCEPTION(d.rotary_backward(d.data(buf), d.data(std::as_const(ids)), 1, 8, 4, 2, 4, 1e4),
                        juice::invalid_argument, says("rotary_backward: rot_dim = 4"));
}

}  // namespace juice::test::device

// Registers one Boost.Test case per family primitive and scalar type (a boost::mpl list) on the
// backend `make()` returns.
#define JUICE_FAMILY_PRIMITIVE_TESTS(make, types)                    \
  BOOST_AUTO_TEST_CASE_TEMPLATE(rmsnorm, T, types) {                 \
    auto d = make();                                                 \
    juice::test::device::check_rmsnorm<T>(d);                        \
  }                                                                  \
  BOOST_AUTO_TEST_CASE_TEMPLATE(rotary, T, types) {                  \
    auto d = make();                                                 \
    juice::test::device::check_rotary<T>(d);                         \
  }                                                                  \
  BOOST_AUTO_TEST_CASE_TEMPLATE(swiglu, T, types) {                  \
    auto d = make();                                                 \
    juice::test::device::check_swiglu<T>(d);                         \
  }                                                                  \
  BOOST_AUTO_TEST_CASE_TEMPLATE(gelu_exact, T, types) {              \
    auto d = make();                                                 \
    juice::test::device::check_gelu_exact<T>(d);                     \
  }                                                                  \
  BOOST_AUTO_TEST_CASE_TEMPLATE(grouped_query_attention, T, types) { \
    auto d = make();                                                 \
    juice::test::device::check_gqa_attention<T>(d);                  \
  }                                                                  \
  BOOST_AUTO_TEST_CASE_TEMPLATE(refusals, T, types) {                \
    auto d = make();                                                 \
    juice::test::device::check_family_refusals<T>(d);                \
  }
