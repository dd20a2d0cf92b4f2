// The primitives of juice::FamilyTransformerBackend on juice::cpu: RMSNorm, rotary embedding, SwiGLU,
// exact GELU and grouped-query attention. Forward values against closed forms computed here (RMSNorm and
// SwiGLU by their definitions, rotations of basis vectors by known angles, the relative-position
// property of rotary embeddings, GQA as multi-head attention with each key/value head repeated);
// every backward against central finite differences in double; decoding with the KV cache against
// the full forward pass; the float paths against the double ones.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "juice/backends/cpu/cpu.hpp"
#include "fd.hpp"

using namespace juice;
using namespace juice::test;
using V = std::vector<double>;

namespace {

// Packed GQA projections (B,T,C+2Ckv) -> multi-head ones (B,T,3C) with key/value head g copied to
// each of its NH/NKV query heads.
V repeat_kv(const V& qkv, std::ptrdiff_t BT, std::ptrdiff_t C, std::ptrdiff_t NH, std::ptrdiff_t NKV) {
  const std::ptrdiff_t hs = C / NH, Ckv = NKV * hs, W = C + 2 * Ckv, group = NH / NKV;
  V out(static_cast<std::size_t>(BT * 3 * C));
  for (std::ptrdiff_t n = 0; n < BT; ++n)
    for (std::ptrdiff_t h = 0; h < NH; ++h)
      for (std::ptrdiff_t i = 0; i < hs; ++i) {
        const std::ptrdiff_t kv = (h / group) * hs + i;
        out[n * 3 * C + h * hs + i] = qkv[n * W + h * hs + i];
        out[n * 3 * C + C + h * hs + i] = qkv[n * W + C + kv];
        out[n * 3 * C + 2 * C + h * hs + i] = qkv[n * W + C + Ckv + kv];
      }
  return out;
}

double dot(const double* a, const double* b, std::ptrdiff_t n) {
  double s = 0;
  for (std::ptrdiff_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(rmsnorm_matches_definition_and_fd) {
  rng g(21);
  const std::ptrdiff_t N = 4, C = 6;
  const double eps = 1e-6;
  V inp = random_vector(N * C, g), w = random_vector(C, g), r = random_vector(N * C, g);
  auto loss = [&] {
    V out(N * C);
    cpu::rmsnorm_forward(out.data(), static_cast<double*>(nullptr), inp.data(), w.data(), N, C, eps);
    return weighted_sum(out, r);
  };
  V out(N * C), rstd(N);
  cpu::rmsnorm_forward(out.data(), rstd.data(), inp.data(), w.data(), N, C, eps);
  for (std::ptrdiff_t n = 0; n < N; ++n) {
    double ms = 0;
    for (std::ptrdiff_t c = 0; c < C; ++c) ms += inp[n * C + c] * inp[n * C + c] / C;
    BOOST_CHECK_CLOSE(rstd[n], 1 / std::sqrt(ms + eps), 1e-10);
    for (std::ptrdiff_t c = 0; c < C; ++c) BOOST_CHECK_CLOSE(out[n * C + c], inp[n * C + c] / std::sqrt(ms + eps) * w[c], 1e-9);
  }
  // A row of equal values x normalises to x / sqrt(x^2 + eps) = 1 - eps / (2 x^2) + ... per channel.
  {
    const V flat(C, 2.0), ones(C, 1.0);
    V o(C);
    cpu::rmsnorm_forward(o.data(), static_cast<double*>(nullptr), flat.data(), ones.data(), 1, C, eps);
    for (double x : o) BOOST_CHECK_CLOSE(x, 2.0 / std::sqrt(4.0 + eps), 1e-12);
  }
  // The gradients are accumulated: start from 1 and subtract it.
  V dinp(N * C, 1.0), dw(C, 1.0);
  cpu::rmsnorm_backward(dinp.data(), dw.data(), r.data(), inp.data(), w.data(), rstd.data(), N, C);
  for (auto& x : dinp) x -= 1;
  for (auto& x : dw) x -= 1;
  check_fd(inp, loss, dinp, "rmsnorm dinp");
  check_fd(w, loss, dw, "rmsnorm dweight");
  // The float path against the double one.
  const std::ptrdiff_t Nf = 64, Cf = 96;
  V xd = random_vector(Nf * Cf, g, 3.0), wd = random_vector(Cf, g), od(Nf * Cf), sd(Nf);
  std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), of(Nf * Cf), sf(Nf);
  cpu::rmsnorm_forward(od.data(), sd.data(), xd.data(), wd.data(), Nf, Cf, eps);
  cpu::rmsnorm_forward(of.data(), sf.data(), xf.data(), wf.data(), Nf, Cf, eps);
  check_close(V(of.begin(), of.end()), od, 1e-6, 1e-5, "float rmsnorm forward");
}

BOOST_AUTO_TEST_CASE(rotary_turns_basis_vectors_by_known_angles) {
  // One query head and one key head of hs = 6 channels, rot_dim = 4 (partial), theta = 100: pair 0
  // (channels 0, 2) turns by pos * 100^0 = pos, pair 1 (channels 1, 3) by pos * 100^(-1/2) = pos/10;
  // channels 4, 5 and the value head stay.
  const std::ptrdiff_t C = 6, NH = 1, NKV = 1, W = 3 * C, rot = 4;
  const int pos = 3;
  V qkv(W);
  for (std::ptrdiff_t i = 0; i < W; ++i) qkv[i] = 0;
  qkv[0] = 1;          // q = e0
  qkv[C + 1] = 1;      // k = e1
  qkv[C + 4] = 5;      // beyond rot_dim
  qkv[2 * C + 0] = 7;  // v
  V got = qkv;
  cpu::rotary_forward(got.data(), &pos, 1, C, NH, NKV, rot, 100.0);
  V want(W, 0.0);
  want[0] = std::cos(3.0), want[2] = std::sin(3.0);          // e0 -> (cos 3, 0, sin 3, 0)
  want[C + 1] = std::cos(0.3), want[C + 3] = std::sin(0.3);  // e1 -> (0, cos .3, 0, sin .3)
  want[C + 4] = 5, want[2 * C] = 7;
  check_close(got, want, 1e-15, 1e-14, "rotary of basis vectors");
  // Position 0 is the identity; turning back (the backward pass) undoes the forward one.
  const int zero = 0;
  V same = qkv;
  cpu::rotary_forward(same.data(), &zero, 1, C, NH, NKV, rot, 100.0);
  check_close(same, qkv, 0, 0, "rotary at position 0");
  cpu::rotary_backward(got.data(), &pos, 1, C, NH, NKV, rot, 100.0);
  check_close(got, qkv, 1e-15, 1e-14, "rotary backward of forward");
}

BOOST_AUTO_TEST_CASE(rotary_dot_products_depend_on_relative_position_only) {
  // <R(m) q, R(n) k> is a function of m - n: the same pair of vectors at (5, 2), (13, 10) and
  // (3, 0) gives one value, and (3, 2) another. Grouped heads: NH = 4 query, NKV = 2 key heads.
  rng g(22);
  const std::ptrdiff_t C = 16, NH = 4, NKV = 2, hs = C / NH, W = C + 2 * NKV * hs;
  const V row = random_vector(W, g);
  auto dot_at = [&](int m, int n, std::ptrdiff_t h) {
    V two(2 * W);
    std::copy(row.begin(), row.end(), two.begin());
    std::copy(row.begin(), row.end(), two.begin() + W);
    const int pos[2] = {m, n};
    cpu::rotary_forward(two.data(), pos, 2, C, NH, NKV, hs, 10000.0);
    return dot(two.data() + h * hs, two.data() + W + C + (h / 2) * hs, hs);
  };
  for (std::ptrdiff_t h = 0; h < NH; ++h) {
    const double d3 = dot_at(3, 0, h);
    BOOST_CHECK_CLOSE(dot_at(5, 2, h), d3, 1e-10);
    BOOST_CHECK_CLOSE(dot_at(13, 10, h), d3, 1e-10);
    BOOST_CHECK_CLOSE(dot_at(1003, 1000, h), d3, 1e-8);
    BOOST_TEST(std::abs(dot_at(3, 2, h) - d3) > 1e-6);
  }
}

BOOST_AUTO_TEST_CASE(rotary_backward_matches_fd) {
  rng g(23);
  const std::ptrdiff_t N = 3, C = 12, NH = 2, NKV = 1, hs = C / NH, W = C + 2 * NKV * hs;
  for (const std::ptrdiff_t rot : {hs, std::ptrdiff_t{4}}) {
    V qkv = random_vector(N * W, g), r = random_vector(N * W, g);
    const std::vector<int> pos{0, 7, 2};
    auto loss = [&] {
      V x = qkv;
      cpu::rotary_forward(x.data(), pos.data(), N, C, NH, NKV, rot, 500.0);
      return weighted_sum(x, r);
    };
    V d = r;
    cpu::rotary_backward(d.data(), pos.data(), N, C, NH, NKV, rot, 500.0);
    check_fd(qkv, loss, d, "rotary dqkv, rot_dim " + std::to_string(rot));
  }
}

BOOST_AUTO_TEST_CASE(swiglu_matches_definition_and_fd) {
  rng g(24);
  const std::ptrdiff_t N = 3, H = 5;
  V inp = random_vector(N * 2 * H, g, 4.0), r = random_vector(N * H, g);
  auto loss = [&] {
    V out(N * H);
    cpu::swiglu_forward(out.data(), inp.data(), N, H);
    return weighted_sum(out, r);
  };
  V out(N * H);
  cpu::swiglu_forward(out.data(), inp.data(), N, H);
  for (std::ptrdiff_t n = 0; n < N; ++n)
    for (std::ptrdiff_t i = 0; i < H; ++i) {
      const double gate = inp[n * 2 * H + i], up = inp[n * 2 * H + H + i];
      BOOST_CHECK_CLOSE(out[n * H + i], gate / (1 + std::exp(-gate)) * up, 1e-10);
    }
  V dinp(N * 2 * H, 9.0);  // overwritten
  cpu::swiglu_backward(dinp.data(), inp.data(), r.data(), N, H);
  check_fd(inp, loss, dinp, "swiglu dinp");
  // In place: dinp aliasing inp gives the same gradient.
  V inplace = inp;
  cpu::swiglu_backward(inplace.data(), inplace.data(), r.data(), N, H);
  check_close(inplace, dinp, 0, 0, "swiglu backward in place");
  // The float path (polynomial exp) against the double one, over a wide range; silu of large
  // arguments is the identity or 0, NaN stays NaN.
  const std::ptrdiff_t m = 4001;
  V xd(2 * m), od(m), dd(2 * m), ones(m, 1.0);
  for (std::ptrdiff_t i = 0; i < m; ++i) {
    xd[i] = -30.0 + 60.0 * static_cast<double>(i) / static_cast<double>(m - 1);
    xd[m + i] = 1.0 + static_cast<double>(i % 7) / 7;
  }
  std::vector<float> xf(xd.begin(), xd.end()), of(m), df(2 * m), onesf(m, 1.0f);
  xd.assign(xf.begin(), xf.end());
  cpu::swiglu_forward(od.data(), xd.data(), 1, m);
  cpu::swiglu_forward(of.data(), xf.data(), 1, m);
  cpu::swiglu_backward(dd.data(), xd.data(), ones.data(), 1, m);
  cpu::swiglu_backward(df.data(), xf.data(), onesf.data(), 1, m);
  check_close(V(of.begin(), of.end()), od, 1e-6, 1e-5, "float swiglu forward");
  check_close(V(df.begin(), df.end()), dd, 1e-6, 1e-5, "float swiglu backward");
  std::vector<float> special{1e6f, -1e6f, std::numeric_limits<float>::quiet_NaN(), 1.0f, 1.0f, 1.0f}, os(3);
  cpu::swiglu_forward(os.data(), special.data(), 1, 3);
  BOOST_CHECK_EQUAL(os[0], 1e6f);
  BOOST_CHECK_SMALL(os[1], 1e-30f);
  BOOST_CHECK(std::isnan(os[2]));
}

BOOST_AUTO_TEST_CASE(gelu_exact_matches_closed_forms_and_fd) {
  // x Phi(x) at tabulated points of the standard normal distribution: Phi(1) = 0.8413447460685429,
  // Phi(-1) = 0.15865525393145707, Phi(2) = 0.9772498680518208; the derivative Phi(x) + x phi(x),
  // phi(1) = exp(-1/2)/sqrt(2 pi) = 0.24197072451914337, is 1/2 at 0.
  {
    const V x{1.0, -1.0, 2.0, 0.0};
    V out(4), d(4);
    const V ones(4, 1.0);
    cpu::gelu_exact_forward(out.data(), x.data(), 4);
    cpu::gelu_exact_backward(d.data(), x.data(), ones.data(), 4);
    check_close(out, V{0.8413447460685429, -0.15865525393145707, 2 * 0.9772498680518208, 0.0}, 1e-15, 1e-15, "gelu_exact values");
    BOOST_CHECK_CLOSE(d[0], 0.8413447460685429 + 0.24197072451914337, 1e-10);
    BOOST_CHECK_CLOSE(d[1], 0.15865525393145707 - 0.24197072451914337, 1e-10);
    BOOST_CHECK_EQUAL(d[3], 0.5);
  }
  rng g(28);
  const std::ptrdiff_t n = 11;
  V inp = random_vector(n, g, 4.0), r = random_vector(n, g);
  auto loss = [&] {
    V out(n);
    cpu::gelu_exact_forward(out.data(), inp.data(), n);
    return weighted_sum(out, r);
  };
  V dinp(n, 5.0);  // overwritten
  cpu::gelu_exact_backward(dinp.data(), inp.data(), r.data(), n);
  check_fd(inp, loss, dinp, "gelu_exact dinp");
  // dinp may alias dout.
  V inplace = r;
  cpu::gelu_exact_backward(inplace.data(), inp.data(), inplace.data(), n);
  check_close(inplace, dinp, 0, 0, "gelu_exact backward in place");
  // The float path (A&S erf, polynomial exp) against the double one over a wide range; gelu(x) = x
  // for large x, about 0 for very negative x, NaN stays NaN.
  const std::ptrdiff_t m = 20001;
  std::vector<float> xf(m), of(m), df(m), onesf(m, 1.0f);
  for (std::ptrdiff_t i = 0; i < m; ++i) xf[i] = -12.0f + 24.0f * static_cast<float>(i) / static_cast<float>(m - 1);
  cpu::gelu_exact_forward(of.data(), xf.data(), m);
  cpu::gelu_exact_backward(df.data(), xf.data(), onesf.data(), m);
  V xd(xf.begin(), xf.end()), od(m), dd(m), onesd(m, 1.0);
  cpu::gelu_exact_forward(od.data(), xd.data(), m);
  cpu::gelu_exact_backward(dd.data(), xd.data(), onesd.data(), m);
  check_close(V(of.begin(), of.end()), od, 2e-6, 2e-6, "float gelu_exact forward");
  check_close(V(df.begin(), df.end()), dd, 2e-6, 2e-6, "float gelu_exact backward");
  std::vector<float> special{1e30f, -1e30f, -50.0f, std::numeric_limits<float>::quiet_NaN()}, os(4);
  cpu::gelu_exact_forward(os.data(), special.data(), 4);
  BOOST_CHECK_EQUAL(os[0], 1e30f);
  BOOST_CHECK_SMALL(os[1], 1e-30f);
  BOOST_CHECK_SMALL(os[2], 1e-30f);
  BOOST_CHECK(std::isnan(os[3]));
}

BOOST_AUTO_TEST_CASE(grouped_attention_is_attention_with_repeated_kv_heads) {
  // T = 70 spans two tiles of the blocked kernels (attention_block = 64).
  rng g(25);
  const std::ptrdiff_t B = 2, T = 70, C = 16, NH = 4, NKV = 2, hs = C / NH, Ckv = NKV * hs, W = C + 2 * Ckv;
  const V qkv = random_vector(B * T * W, g), dout = random_vector(B * T * C, g);
  const V full = repeat_kv(qkv, B * T, C, NH, NKV);
  V out(B * T * C), lse(B * NH * T), out_mha(B * T * C), lse_mha(B * NH * T);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH, NKV);
  cpu::attention_forward(out_mha.data(), lse_mha.data(), full.data(), B, T, C, NH);
  check_close(out, out_mha, 1e-13, 1e-12, "gqa out");
  check_close(lse, lse_mha, 1e-13, 1e-12, "gqa lse");
  // Backward: dq as multi-head attention's; dk and dv of a shared head are the sums over its group.
  V dqkv(B * T * W, 3.0), dfull(B * T * 3 * C);
  cpu::attention_backward(dqkv.data(), dout.data(), out.data(), lse.data(), qkv.data(), B, T, C, NH, NKV);
  cpu::attention_backward(dfull.data(), dout.data(), out_mha.data(), lse_mha.data(), full.data(), B, T, C, NH);
  V want(B * T * W, 0.0);
  for (std::ptrdiff_t n = 0; n < B * T; ++n)
    for (std::ptrdiff_t h = 0; h < NH; ++h)
      for (std::ptrdiff_t i = 0; i < hs; ++i) {
        const std::ptrdiff_t kv = (h / (NH / NKV)) * hs + i;
        want[n * W + h * hs + i] = dfull[n * 3 * C + h * hs + i];
        want[n * W + C + kv] += dfull[n * 3 * C + C + h * hs + i];
        want[n * W + C + Ckv + kv] += dfull[n * 3 * C + 2 * C + h * hs + i];
      }
  check_close(dqkv, want, 1e-12, 1e-10, "gqa dqkv");
  // The float kernels agree with the double ones.
  std::vector<float> qf(qkv.begin(), qkv.end()), of(B * T * C), lf(B * NH * T);
  cpu::attention_forward(of.data(), lf.data(), qf.data(), B, T, C, NH, NKV);
  check_close(V(of.begin(), of.end()), out, 1e-5, 1e-4, "float gqa out");
}

BOOST_AUTO_TEST_CASE(grouped_attention_backward_matches_fd) {
  rng g(26);
  const std::ptrdiff_t B = 2, T = 4, C = 12, NH = 3, NKV = 1, W = C + 2 * NKV * (C / NH);
  V qkv = random_vector(B * T * W, g), r = random_vector(B * T * C, g);
  auto loss = [&] {
    V out(B * T * C), lse(B * NH * T);
    cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH, NKV);
    return weighted_sum(out, r);
  };
  V out(B * T * C), lse(B * NH * T);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH, NKV);
  V dqkv(B * T * W, 7.0);  // overwritten
  cpu::attention_backward(dqkv.data(), r.data(), out.data(), lse.data(), qkv.data(), B, T, C, NH, NKV);
  check_fd(qkv, loss, dqkv, "gqa dqkv");
}

BOOST_AUTO_TEST_CASE(grouped_cached_attention_matches_full_attention) {
  // Prefill 3 positions, then decode one at a time; rows start at different cache positions.
  rng g(27);
  const std::ptrdiff_t B = 2, T = 6, C = 16, NH = 4, NKV = 2, Ckv = NKV * (C / NH), W = C + 2 * Ckv, Tmax = 8;
  const V qkv = random_vector(B * T * W, g);
  V out(B * T * C), lse(B * NH * T);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH, NKV);
  V kc(B * Tmax * Ckv, 0), vc(B * Tmax * Ckv, 0), got(B * T * C, 0);
  const std::ptrdiff_t pre = 3;
  V part(B * pre * W), outp(B * pre * C);
  for (std::ptrdiff_t b = 0; b < B; ++b) std::copy_n(qkv.begin() + b * T * W, pre * W, part.begin() + b * pre * W);
  std::vector<int> pos0(B, 0);
  cpu::attention_cached(outp.data(), part.data(), kc.data(), vc.data(), pos0.data(), B, pre, Tmax, C, NH, NKV);
  for (std::ptrdiff_t b = 0; b < B; ++b) std::copy_n(outp.begin() + b * pre * C, pre * C, got.begin() + b * T * C);
  for (std::ptrdiff_t t = pre; t < T; ++t) {
    V one(B * W), o1(B * C);
    for (std::ptrdiff_t b = 0; b < B; ++b) {
      std::copy_n(qkv.begin() + (b * T + t) * W, W, one.begin() + b * W);
      pos0[b] = static_cast<int>(t);
    }
    cpu::attention_cached(o1.data(), one.data(), kc.data(), vc.data(), pos0.data(), B, 1, Tmax, C, NH, NKV);
    for (std::ptrdiff_t b = 0; b < B; ++b) std::copy_n(o1.begin() + b * C, C, got.begin() + (b * T + t) * C);
  }
  check_close(got, out, 1e-12, 1e-10, "gqa cached attention");
  // The caches hold the key/value heads as projected: (B,Tmax,Ckv).
  for (std::ptrdiff_t b = 0; b < B; ++b)
    for (std::ptrdiff_t t = 0; t < T; ++t)
      for (std::ptrdiff_t i = 0; i < Ckv; ++i) {
        BOOST_CHECK_EQUAL(kc[(b * Tmax + t) * Ckv + i], qkv[(b * T + t) * W + C + i]);
        BOOST_CHECK_EQUAL(vc[(b * Tmax + t) * Ckv + i], qkv[(b * T + t) * W + C + Ckv + i]);
      }
}
