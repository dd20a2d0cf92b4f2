// Every juice::cpu layer primitive's backward against central finite differences in double
// precision, the element-wise primitives against juice::host's serial reference, the batched GEMM
// against plain loops, the KV-cached attention against full attention, and the sampler's support.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/backends/host/host.hpp"
#include "fd.hpp"

using namespace juice;
using namespace juice::test;
using V = std::vector<double>;

BOOST_AUTO_TEST_CASE(elementwise_matches_host_reference) {
  rng g(1);
  const std::size_t n = 100003;  // above the threading threshold
  auto base = random_vector(n, g);
  std::vector<float> x(base.begin(), base.end()), y(x), m(n, 0.1f), v(n, 0.2f);
  for (auto& e : y) e = e * 0.5f + 0.25f;
  auto x2 = x, m2 = m, v2 = v;
  adamw_hyper h{1e-3, 0.9, 0.999, 1e-8, 0.01, 0.5, 0.3};
  cpu::adamw_update<float>(x, y, m, v, h);
  host::adamw_update<float>(x2, y, m2, v2, h);
  check_close(V(x.begin(), x.end()), V(x2.begin(), x2.end()), 1e-6, 1e-6, "adamw value");
  check_close(V(v.begin(), v.end()), V(v2.begin(), v2.end()), 1e-7, 1e-6, "adamw v");
  cpu::sgd_update<float>(x, y, sgd_hyper{0.1, 0.01});
  host::sgd_update<float>(x2, y, sgd_hyper{0.1, 0.01});
  check_close(V(x.begin(), x.end()), V(x2.begin(), x2.end()), 1e-6, 1e-6, "sgd");
  cpu::axpy<float>(0.5f, y, x);
  host::axpy<float>(0.5f, y, x2);
  cpu::scale<float>(x, 3.0f);
  host::scale<float>(x2, 3.0f);
  check_close(V(x.begin(), x.end()), V(x2.begin(), x2.end()), 1e-6, 1e-6, "axpy+scale");
  BOOST_CHECK_CLOSE(cpu::dot<float>(x, y), host::dot<float>(x2, y), 1e-4);
  cpu::copy<float>(y, x);
  BOOST_CHECK(x == y);
  cpu::fill<float>(x, 2.0f);
  BOOST_CHECK(std::all_of(x.begin(), x.end(), [](float e) { return e == 2.0f; }));
}

BOOST_AUTO_TEST_CASE(matmul_backward_matches_fd) {
  rng g(2);
  const std::ptrdiff_t N = 5, C = 4, OC = 3;
  V inp = random_vector(N * C, g), w = random_vector(OC * C, g), b = random_vector(OC, g), r = random_vector(N * OC, g);
  auto loss = [&] {
    V out(N * OC);
    cpu::matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
    return weighted_sum(out, r);
  };
  V dinp(N * C, 0), dw(OC * C, 0), db(OC, 0);
  cpu::matmul_backward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(), w.data(), N, C, OC);
  check_fd(inp, loss, dinp, "matmul dinp");
  check_fd(w, loss, dw, "matmul dweight");
  check_fd(b, loss, db, "matmul dbias");
}

BOOST_AUTO_TEST_CASE(threaded_matmul_matches_loops) {
  // Large enough for the per-thread block split (and uneven block edges).
  rng g(12);
  const std::ptrdiff_t N = 67, C = 131, OC = 403;  // 3.5M multiply-adds: above the split threshold (2^19)
  V inp = random_vector(N * C, g), w = random_vector(OC * C, g), b = random_vector(OC, g), d = random_vector(N * OC, g);
  V out(N * OC), dinp(N * C), dw(OC * C, 1.0), db(OC, 1.0);
  cpu::matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  cpu::matmul_backward(dinp.data(), dw.data(), db.data(), d.data(), inp.data(), w.data(), N, C, OC);
  V eout(N * OC), edinp(N * C, 0), edw(OC * C, 1.0), edb(OC, 1.0);
  for (std::ptrdiff_t n = 0; n < N; ++n)
    for (std::ptrdiff_t o = 0; o < OC; ++o) {
      double s = b[o];
      for (std::ptrdiff_t c = 0; c < C; ++c) s += inp[n * C + c] * w[o * C + c];
      eout[n * OC + o] = s;
      edb[o] += d[n * OC + o];
      for (std::ptrdiff_t c = 0; c < C; ++c) {
        edinp[n * C + c] += d[n * OC + o] * w[o * C + c];
        edw[o * C + c] += d[n * OC + o] * inp[n * C + c];
      }
    }
  check_close(out, eout, 1e-12, 1e-10, "threaded matmul forward");
  check_close(dinp, edinp, 1e-12, 1e-10, "threaded matmul dinp");
  check_close(dw, edw, 1e-12, 1e-10, "threaded matmul dweight (accumulated)");
  check_close(db, edb, 1e-12, 1e-10, "threaded matmul dbias (accumulated)");
  // One row and a few rows (decoding) against the loops.
  for (std::ptrdiff_t rows : {1, 3}) {
    V few(rows * OC);
    cpu::matmul_forward(few.data(), inp.data(), w.data(), b.data(), rows, C, OC);
    check_close(few, V(eout.begin(), eout.begin() + rows * OC), 1e-12, 1e-10, "few-row matmul");
  }
}

BOOST_AUTO_TEST_CASE(gemm_strided_batched_matches_loops) {
  rng g(3);
  const std::ptrdiff_t M = 3, N = 4, K = 5, batch = 2;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      V a = random_vector(batch * M * K, g), bm = random_vector(batch * K * N, g), c = random_vector(batch * M * N, g);
      V expect = c;
      const std::ptrdiff_t lda = ta ? M : K, ldb = tb ? K : N;
      for (std::ptrdiff_t i = 0; i < batch; ++i)
        for (std::ptrdiff_t r = 0; r < M; ++r)
          for (std::ptrdiff_t col = 0; col < N; ++col) {
            double s = 0;
            for (std::ptrdiff_t k = 0; k < K; ++k) {
              const double av = ta ? a[i * M * K + k * lda + r] : a[i * M * K + r * lda + k];
              const double bv = tb ? bm[i * K * N + col * ldb + k] : bm[i * K * N + k * ldb + col];
              s += av * bv;
            }
            expect[i * M * N + r * N + col] = 2.0 * s + 0.5 * c[i * M * N + r * N + col];
          }
      cpu_kernels::gemm_strided_batched<double>(ta, tb, M, N, K, 2.0, a.data(), lda, M * K, bm.data(), ldb, K * N, 0.5,
                                                c.data(), N, M * N, batch);
      check_close(c, expect, 1e-12, 1e-12, "gemm_strided_batched");
    }
}

BOOST_AUTO_TEST_CASE(embedding_backward_matches_fd) {
  rng g(4);
  const std::ptrdiff_t N = 6, C = 3, Vocab = 4, Ctx = 5;
  std::vector<int> tok{0, 3, 3, 1, 2, 0}, pos{0, 1, 2, 0, 1, 4};
  V wte = random_vector(Vocab * C, g), wpe = random_vector(Ctx * C, g), r = random_vector(N * C, g);
  auto loss = [&] {
    V out(N * C);
    cpu::embedding_forward(out.data(), tok.data(), pos.data(), wte.data(), wpe.data(), N, C);
    return weighted_sum(out, r);
  };
  V dwte(Vocab * C, 0), dwpe(Ctx * C, 0);
  cpu::embedding_backward(dwte.data(), dwpe.data(), r.data(), tok.data(), pos.data(), N, C);
  check_fd(wte, loss, dwte, "embedding dwte");
  check_fd(wpe, loss, dwpe, "embedding dwpe");
  // gather / scatter are adjoint: <gather(x), r> = <x, scatter(r)>.
  std::vector<int> idx{2, 0, 2};
  V x = random_vector(N * C, g), rr = random_vector(3 * C, g), gx(3 * C), sx(N * C, 0);
  cpu::gather_rows(gx.data(), x.data(), idx.data(), 3, C);
  cpu::scatter_add_rows(sx.data(), rr.data(), idx.data(), 3, C);
  BOOST_CHECK_CLOSE(weighted_sum(gx, rr), weighted_sum(x, sx), 1e-10);
}

BOOST_AUTO_TEST_CASE(layernorm_backward_matches_fd) {
  rng g(5);
  const std::ptrdiff_t N = 4, C = 6;
  V inp = random_vector(N * C, g), w = random_vector(C, g), b = random_vector(C, g), r = random_vector(N * C, g);
  auto loss = [&] {
    V out(N * C), mean(N), rstd(N);
    cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C);
    return weighted_sum(out, r);
  };
  V out(N * C), mean(N), rstd(N);
  cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C);
  // Forward against the definition.
  for (std::ptrdiff_t n = 0; n < N; ++n) {
    double m = 0, var = 0;
    for (std::ptrdiff_t c = 0; c < C; ++c) m += inp[n * C + c] / C;
    for (std::ptrdiff_t c = 0; c < C; ++c) var += (inp[n * C + c] - m) * (inp[n * C + c] - m) / C;
    for (std::ptrdiff_t c = 0; c < C; ++c)
      BOOST_CHECK_CLOSE(out[n * C + c], (inp[n * C + c] - m) / std::sqrt(var + 1e-5) * w[c] + b[c], 1e-9);
  }
  V dinp(N * C, 0), dw(C, 0), db(C, 0);
  cpu::layernorm_backward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(), w.data(), mean.data(), rstd.data(), N, C);
  check_fd(inp, loss, dinp, "layernorm dinp");
  check_fd(w, loss, dw, "layernorm dweight");
  check_fd(b, loss, db, "layernorm dbias");
}

BOOST_AUTO_TEST_CASE(gelu_backward_matches_fd) {
  rng g(6);
  const std::ptrdiff_t n = 9;
  V inp = random_vector(n, g, 3.0), r = random_vector(n, g);
  auto loss = [&] {
    V out(n);
    cpu::gelu_forward(out.data(), inp.data(), n);
    return weighted_sum(out, r);
  };
  V out(n);
  cpu::gelu_forward(out.data(), inp.data(), n);
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const double x = inp[i];
    BOOST_CHECK_CLOSE(out[i], 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))), 1e-9);
  }
  V dinp(n);
  cpu::gelu_backward(dinp.data(), inp.data(), r.data(), n);
  check_fd(inp, loss, dinp, "gelu dinp");
  // The float path (polynomial tanh) against the double definition, forward and backward.
  {
    const std::ptrdiff_t m = 20001;
    std::vector<float> xf(m), of(m), df(m), ones(m, 1.0f);
    for (std::ptrdiff_t i = 0; i < m; ++i) xf[i] = -12.0f + 24.0f * static_cast<float>(i) / static_cast<float>(m - 1);
    cpu::gelu_forward(of.data(), xf.data(), m);
    cpu::gelu_backward(df.data(), xf.data(), ones.data(), m);
    V xd(xf.begin(), xf.end()), od(m), dd(m), onesd(m, 1.0);
    cpu::gelu_forward(od.data(), xd.data(), m);
    cpu::gelu_backward(dd.data(), xd.data(), onesd.data(), m);
    check_close(V(of.begin(), of.end()), od, 2e-6, 2e-6, "float gelu forward");
    check_close(V(df.begin(), df.end()), dd, 2e-6, 2e-6, "float gelu backward");
    // Huge and non-finite inputs: gelu(x) = x for large x, 0 for very negative x, NaN stays NaN.
    std::vector<float> special{1e30f, -1e30f, 1e6f, -50.0f, std::numeric_limits<float>::quiet_NaN()}, os(5);
    cpu::gelu_forward(os.data(), special.data(), 5);
    BOOST_CHECK_EQUAL(os[0], 1e30f);
    BOOST_CHECK_EQUAL(os[1], -0.0f);
    BOOST_CHECK_EQUAL(os[2], 1e6f);
    BOOST_CHECK_SMALL(os[3], 1e-30f);
    BOOST_CHECK(std::isnan(os[4]));
  }
  // Residual: out = a + b, gradient is the identity.
  V a = random_vector(n, g), bb = random_vector(n, g), s(n);
  cpu::residual_forward(s.data(), a.data(), bb.data(), n);
  for (std::ptrdiff_t i = 0; i < n; ++i) BOOST_CHECK_EQUAL(s[i], a[i] + bb[i]);
}

BOOST_AUTO_TEST_CASE(attention_backward_matches_fd) {
  rng g(7);
  const std::ptrdiff_t B = 2, T = 4, C = 6, NH = 2;
  V qkv = random_vector(B * T * 3 * C, g), r = random_vector(B * T * C, g);
  auto loss = [&] {
    V out(B * T * C), lse(B * NH * T);
    cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH);
    return weighted_sum(out, r);
  };
  V out(B * T * C), lse(B * NH * T);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH);
  // Causality: the first position attends only to itself, so its output is its own value.
  for (std::ptrdiff_t b = 0; b < B; ++b)
    for (std::ptrdiff_t c = 0; c < C; ++c) BOOST_CHECK_CLOSE(out[b * T * C + c], qkv[b * T * 3 * C + 2 * C + c], 1e-10);
  V dqkv(B * T * 3 * C, 7.0);  // overwritten
  cpu::attention_backward(dqkv.data(), r.data(), out.data(), lse.data(), qkv.data(), B, T, C, NH);
  check_fd(qkv, loss, dqkv, "attention dqkv");
}

BOOST_AUTO_TEST_CASE(cached_attention_matches_full_attention) {
  rng g(8);
  const std::ptrdiff_t B = 2, T = 5, C = 8, NH = 2, Tmax = 7;
  V qkv = random_vector(B * T * 3 * C, g), out(B * T * C), lse(B * NH * T);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH);
  // Prefill 2 positions, then one at a time.
  V kc(B * Tmax * C, 0), vc(B * Tmax * C, 0), got(B * T * C, 0);
  const std::ptrdiff_t pre = 2;
  V part(B * pre * 3 * C), outp(B * pre * C);
  for (std::ptrdiff_t b = 0; b < B; ++b)
    std::copy_n(qkv.begin() + b * T * 3 * C, pre * 3 * C, part.begin() + b * pre * 3 * C);
  std::vector<int> pos0(B, 0);
  cpu::attention_cached(outp.data(), part.data(), kc.data(), vc.data(), pos0.data(), B, pre, Tmax, C, NH);
  for (std::ptrdiff_t b = 0; b < B; ++b) std::copy_n(outp.begin() + b * pre * C, pre * C, got.begin() + b * T * C);
  for (std::ptrdiff_t t = pre; t < T; ++t) {
    V one(B * 3 * C), o1(B * C);
    for (std::ptrdiff_t b = 0; b < B; ++b) {
      std::copy_n(qkv.begin() + (b * T + t) * 3 * C, 3 * C, one.begin() + b * 3 * C);
      pos0[b] = static_cast<int>(t);
    }
    cpu::attention_cached(o1.data(), one.data(), kc.data(), vc.data(), pos0.data(), B, 1, Tmax, C, NH);
    for (std::ptrdiff_t b = 0; b < B; ++b) std::copy_n(o1.begin() + b * C, C, got.begin() + (b * T + t) * C);
  }
  check_close(got, out, 1e-12, 1e-10, "cached attention");
}

BOOST_AUTO_TEST_CASE(lm_head_logprob_matches_definition_and_fd) {
  rng g(9);
  const std::ptrdiff_t M = 3, C = 4, Vocab = 7;
  V h = random_vector(M * C, g), wte = random_vector(Vocab * C, g), gw = random_vector(M, g);
  std::vector<int> target{6, 0, 3};
  auto logp_of = [&] {
    V logits(M * Vocab), lp(M);
    cpu::lm_logprob_forward(logits.data(), lp.data(), h.data(), wte.data(), target.data(), M, C, Vocab);
    return lp;
  };
  const V lp = logp_of();
  for (std::ptrdiff_t m = 0; m < M; ++m) {  // log-softmax from its definition
    double z = 0, zt = 0;
    for (std::ptrdiff_t v = 0; v < Vocab; ++v) {
      double s = 0;
      for (std::ptrdiff_t c = 0; c < C; ++c) s += h[m * C + c] * wte[v * C + c];
      z += std::exp(s);
      if (v == target[m]) zt = s;
    }
    BOOST_CHECK_CLOSE(lp[m], zt - std::log(z), 1e-9);
  }
  auto loss = [&] { return weighted_sum(logp_of(), gw); };
  V logits(M * Vocab), lpp(M), dh(M * C, 0), dwte(Vocab * C, 0);
  cpu::lm_logprob_forward(logits.data(), lpp.data(), h.data(), wte.data(), target.data(), M, C, Vocab);
  cpu::lm_logprob_backward(dh.data(), dwte.data(), logits.data(), h.data(), wte.data(), target.data(), gw.data(), M, C, Vocab);
  check_fd(h, loss, dh, "lm head dh");
  check_fd(wte, loss, dwte, "lm head dwte");
}

BOOST_AUTO_TEST_CASE(sampling_respects_top_k_top_p_and_is_reproducible) {
  const std::vector<float> logits{0.1f, 2.0f, -1.0f, 1.5f, 0.0f, 1.9f};
  // Greedy.
  rng g0(1);
  BOOST_CHECK_EQUAL(cpu_kernels::sample_token(std::span<const float>(logits), sampling_options{0.0, 0, 1.0}, g0), 1);
  // top-k = 2: only tokens 1 and 5.
  rng g(11);
  std::set<int> seen;
  for (int i = 0; i < 2000; ++i) seen.insert(cpu_kernels::sample_token(std::span<const float>(logits), sampling_options{1.0, 2, 1.0}, g));
  BOOST_CHECK((seen == std::set<int>{1, 5}));
  // top-p: probabilities by hand; the nucleus is the smallest prefix (descending) reaching p.
  double z = 0;
  for (float l : logits) z += std::exp(static_cast<double>(l));
  const double p1 = std::exp(2.0) / z, p5 = std::exp(1.9) / z, p3 = std::exp(1.5) / z;
  const double top_p = p1 + p5 + 0.5 * p3;  // needs tokens 1, 5 and 3
  seen.clear();
  for (int i = 0; i < 3000; ++i) seen.insert(cpu_kernels::sample_token(std::span<const float>(logits), sampling_options{1.0, 0, top_p}, g));
  BOOST_CHECK((seen == std::set<int>{1, 3, 5}));
  // top_k >= V and extreme logits: no truncation, no overflow.
  const std::vector<double> wide{-1000.0, 0.0, -2000.0};
  rng gw(2);
  for (int i = 0; i < 50; ++i)
    BOOST_CHECK_EQUAL(cpu_kernels::sample_token(std::span<const double>(wide), sampling_options{1.0, 5, 1.0}, gw), 1);
  // Same seed, same draws.
  rng a(5), b(5);
  for (int i = 0; i < 100; ++i)
    BOOST_CHECK_EQUAL(cpu_kernels::sample_token(std::span<const float>(logits), sampling_options{0.7, 0, 1.0}, a),
                      cpu_kernels::sample_token(std::span<const float>(logits), sampling_options{0.7, 0, 1.0}, b));
  // Empirical frequencies of an untruncated draw follow softmax (loose, 6 sigma).
  rng c(13);
  std::map<int, int> count;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++count[cpu_kernels::sample_token(std::span<const float>(logits), sampling_options{}, c)];
  for (std::size_t v = 0; v < logits.size(); ++v) {
    const double p = std::exp(static_cast<double>(logits[v])) / z;
    BOOST_CHECK_SMALL(count[static_cast<int>(v)] / double(n) - p, 6 * std::sqrt(p * (1 - p) / n));
  }
}

// The fused AdamW-and-zero equals the unfused sequence: juice::host's serial AdamW (the reference
// arithmetic), then a zero gradient. Sizes on both sides of the threading threshold, and one that
// is no multiple of any vector width, so the vector body and the scalar tail are both exercised.
BOOST_AUTO_TEST_CASE(adamw_update_and_zero_matches_update_then_zero) {
  for (const std::size_t n : {std::size_t{37}, std::size_t{200003}}) {
    rng g(11);
    auto base = random_vector(n, g);
    std::vector<float> x(base.begin(), base.end()), grad(n), m(n, 0.05f), v(n, 0.3f);
    for (std::size_t i = 0; i < n; ++i) grad[i] = 0.5f * x[(i * 7) % n] + 0.1f;
    auto x2 = x, m2 = m, v2 = v;
    const auto grad2 = grad;
    adamw_hyper h{1e-3, 0.9, 0.999, 1e-8, 0.01, 0.5, 0.3};
    cpu::adamw_update_and_zero<float>(x, grad, m, v, h);
    host::adamw_update<float>(x2, grad2, m2, v2, h);
    check_close(V(x.begin(), x.end()), V(x2.begin(), x2.end()), 1e-6, 1e-6, "fused adamw value");
    check_close(V(m.begin(), m.end()), V(m2.begin(), m2.end()), 1e-7, 1e-6, "fused adamw m");
    check_close(V(v.begin(), v.end()), V(v2.begin(), v2.end()), 1e-7, 1e-6, "fused adamw v");
    BOOST_CHECK(std::all_of(grad.begin(), grad.end(), [](float e) { return e == 0.0f; }));
  }
}
