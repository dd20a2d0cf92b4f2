// Shared checks of a device backend's primitives against the host references: juice::cpu's kernels
// for the layer primitives and juice::host for the Backend concept's element-wise ones. Used by the
// thrust-omp tests (juice::thrust_omp_backend, g++) and the gpu tests (juice::cuda, nvcc), so that
// what runs on a GPU is exactly what CI checks on the OpenMP system. Inputs are random with odd
// sizes; gradients accumulate onto non-zero starting values to prove "+=" where the contract says
// accumulated, and onto garbage where it says overwritten. Every comparison prints its worst element
// and records the worst absolute error per check for scripts/gpu-check.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/backends/host/host.hpp"
#include "juice/concepts/transformer_backend.hpp"
#include "juice/core/parameter.hpp"
#include "juice/core/sampling.hpp"

namespace juice::test::device {

// Per-type tolerances of a device result against the host reference (|a-b| <= atol + rtol |b|).
// Float covers different summation orders and GEMM blockings on small shapes; double is tighter.
template <class T> struct tolerance;
template <> struct tolerance<float> {
  static constexpr double atol = 2e-5;
  static constexpr double rtol = 1e-4;
};
template <> struct tolerance<double> {
  static constexpr double atol = 1e-12;
  static constexpr double rtol = 1e-10;
};

// Worst absolute error per check name, over all runs in this process (for scripts/gpu-check).
inline std::map<std::string, double>& worst_errors() {
  static std::map<std::string, double> errors;
  return errors;
}

template <class A, class B>
void compare(const std::vector<A>& got, const std::vector<B>& want, double atol, double rtol, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(got.size() == want.size(), what << ": sizes differ (" << got.size() << " vs " << want.size() << ")");
  std::size_t worst = 0;
  double worst_excess = -1e300, worst_abs = 0;
  bool ok = true;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double a = static_cast<double>(got[i]), b = static_cast<double>(want[i]);
    const double err = std::abs(a - b), bound = atol + rtol * std::abs(b);
    if (!(err <= bound)) ok = false;
    const double excess = std::isfinite(err) ? err - bound : 1e300;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
    worst_abs = std::max(worst_abs, std::isfinite(err) ? err : 1e300);
  }
  std::ostringstream msg;
  msg.precision(10);
  msg << what << ": worst element " << worst;
  if (!got.empty()) msg << ": " << static_cast<double>(got[worst]) << " vs " << static_cast<double>(want[worst]);
  msg << " (max |diff| " << worst_abs << ", atol " << atol << ", rtol " << rtol << ")";
  std::cout << msg.str() << "\n";
  auto& e = worst_errors()[what];
  e = std::max(e, worst_abs);
  BOOST_CHECK_MESSAGE(ok, msg.str());
}

template <class T>
void compare(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  compare(got, want, tolerance<T>::atol, tolerance<T>::rtol, what + (sizeof(T) == 4 ? " <float>" : " <double>"));
}

template <class T>
std::vector<T> random_vector(std::size_t n, std::mt19937& g, double scale = 1.0) {
  std::normal_distribution<double> d(0.0, scale);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(g));
  return v;
}

inline std::vector<int> random_ids(std::size_t n, int bound, std::mt19937& g) {
  std::uniform_int_distribution<int> d(0, bound - 1);
  std::vector<int> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Moves host vectors to a device backend D and back.
template <class D>
struct device_io {
  D& d;
  template <class E>
  auto up(const std::vector<E>& h) {
    auto b = d.template allocate<E>(h.size());
    d.upload(h.data(), d.data(b), h.size());
    return b;
  }
  template <class Buf>
  auto down(const Buf& b) {
    using E = std::remove_cv_t<std::remove_pointer_t<decltype(d.data(b))>>;
    std::vector<E> h(b.size());
    d.download(d.data(b), h.data(), h.size());
    return h;
  }
};

// Backend concept: fill, scale, axpy, copy, dot, sgd, adamw against juice::host.
template <class T, class D>
void check_elementwise(D& d) {
  std::mt19937 g(1);
  device_io<D> io{d};
  const std::size_t n = 1031;
  auto x = random_vector<T>(n, g), y = random_vector<T>(n, g);
  auto bx = io.up(x);
  auto by = io.up(y);
  d.template axpy<T>(T(0.7), d.view_of(by), d.view_of(bx));
  host::axpy<T>(T(0.7), y, x);
  compare(io.down(bx), x, "axpy");
  d.scale(d.view_of(bx), T(-1.3));
  host::scale<T>(x, T(-1.3));
  compare(io.down(bx), x, "scale");
  compare(std::vector<double>{d.template dot<T>(d.view_of(bx), d.view_of(by))},
          std::vector<double>{host::dot<T>(x, y)}, sizeof(T) == 4 ? 1e-9 : 1e-12, sizeof(T) == 4 ? 1e-9 : 1e-12,
          std::string("dot") + (sizeof(T) == 4 ? " <float>" : " <double>"));
  d.template copy<T>(d.view_of(by), d.view_of(bx));
  compare(io.down(bx), y, "copy");
  d.fill(d.view_of(bx), T(2.5));
  compare(io.down(bx), std::vector<T>(n, T(2.5)), "fill");

  auto v = random_vector<T>(n, g), gr = random_vector<T>(n, g), m = random_vector<T>(n, g, 0.1);
  auto s = random_vector<T>(n, g, 0.1);
  for (auto& e : s) e = e * e;  // second moments are non-negative
  auto bv = io.up(v);
  auto bg = io.up(gr);
  auto bm = io.up(m);
  auto bs = io.up(s);
  const adamw_hyper ah{1e-2, 0.9, 0.95, 1e-8, 0.1, 0.19, 0.0975};
  for (int step = 0; step < 3; ++step) {
    d.template adamw_update<T>(d.view_of(bv), d.view_of(bg), d.view_of(bm), d.view_of(bs), ah);
    host::adamw_update<T>(v, gr, m, s, ah);
  }
  compare(io.down(bv), v, "adamw value");
  compare(io.down(bm), m, "adamw m");
  compare(io.down(bs), s, "adamw v");
  const sgd_hyper sh{0.05, 0.01};
  d.template sgd_update<T>(d.view_of(bv), d.view_of(bg), sh);
  host::sgd_update<T>(v, gr, sh);
  compare(io.down(bv), v, "sgd");
  BOOST_CHECK_THROW(d.template axpy<T>(T(1), d.view_at(d.data(by), n - 1), d.view_of(bx)), juice::invalid_argument);
}

// Linear layer and LM head GEMMs: matmul_forward with and without bias, matmul_backward
// (dinp overwritten, dw and dbias accumulated), lm_logits against juice::cpu.
template <class T, class D>
void check_matmul(D& d) {
  std::mt19937 g(2);
  device_io<D> io{d};
  const std::ptrdiff_t N = 13, C = 12, OC = 11;
  auto inp = random_vector<T>(N * C, g), w = random_vector<T>(OC * C, g), bias = random_vector<T>(OC, g);
  auto out = random_vector<T>(N * OC, g);  // garbage: overwritten
  auto bi = io.up(inp);
  auto bw = io.up(w);
  auto bb = io.up(bias);
  auto bo = io.up(out);
  d.matmul_forward(d.data(bo), d.data(std::as_const(bi)), d.data(std::as_const(bw)), d.data(std::as_const(bb)), N, C, OC);
  cpu::matmul_forward<T>(out.data(), inp.data(), w.data(), bias.data(), N, C, OC);
  compare(io.down(bo), out, "matmul_forward");
  d.matmul_forward(d.data(bo), d.data(std::as_const(bi)), d.data(std::as_const(bw)), static_cast<const T*>(nullptr), N, C, OC);
  cpu::matmul_forward<T>(out.data(), inp.data(), w.data(), nullptr, N, C, OC);
  compare(io.down(bo), out, "matmul_forward (no bias)");

  auto dout = random_vector<T>(N * OC, g), dinp = random_vector<T>(N * C, g), dw = random_vector<T>(OC * C, g);
  auto db = random_vector<T>(OC, g);
  auto bdo = io.up(dout);
  auto bdi = io.up(dinp);
  auto bdw = io.up(dw);
  auto bdb = io.up(db);
  d.matmul_backward(d.data(bdi), d.data(bdw), d.data(bdb), d.data(std::as_const(bdo)), d.data(std::as_const(bi)),
                    d.data(std::as_const(bw)), N, C, OC);
  cpu::matmul_backward<T>(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  compare(io.down(bdi), dinp, "matmul_backward dinp");
  compare(io.down(bdw), dw, "matmul_backward dw");
  compare(io.down(bdb), db, "matmul_backward dbias");
}

// Embedding (repeated tokens and positions), gather_rows, scatter_add_rows against juice::cpu.
template <class T, class D>
void check_embedding(D& d) {
  std::mt19937 g(3);
  device_io<D> io{d};
  const std::ptrdiff_t N = 17, C = 9, V = 5, P = 6, M = 4;
  auto tok = random_ids(N, V, g), pos = random_ids(N, P, g);
  auto wte = random_vector<T>(V * C, g), wpe = random_vector<T>(P * C, g), out = random_vector<T>(N * C, g);
  auto bt = io.up(tok);
  auto bp = io.up(pos);
  auto bwte = io.up(wte);
  auto bwpe = io.up(wpe);
  auto bo = io.up(out);
  d.embedding_forward(d.data(bo), d.data(std::as_const(bt)), d.data(std::as_const(bp)), d.data(std::as_const(bwte)),
                      d.data(std::as_const(bwpe)), N, C);
  cpu::embedding_forward<T>(out.data(), tok.data(), pos.data(), wte.data(), wpe.data(), N, C);
  compare(io.down(bo), out, "embedding_forward");

  auto dout = random_vector<T>(N * C, g);
  auto bdo = io.up(dout);
  d.embedding_backward(d.data(bwte), d.data(bwpe), d.data(std::as_const(bdo)), d.data(std::as_const(bt)),
                       d.data(std::as_const(bp)), N, C);
  cpu::embedding_backward<T>(wte.data(), wpe.data(), dout.data(), tok.data(), pos.data(), N, C);
  compare(io.down(bwte), wte, "embedding_backward dwte");
  compare(io.down(bwpe), wpe, "embedding_backward dwpe");

  const std::vector<int> index{16, 3, 0, 9};  // distinct, as scatter_add_rows requires
  auto bx = io.up(index);
  auto rows = random_vector<T>(M * C, g);
  auto br = io.up(rows);
  d.gather_rows(d.data(br), d.data(std::as_const(bo)), d.data(std::as_const(bx)), M, C);
  cpu::gather_rows<T>(rows.data(), out.data(), index.data(), M, C);
  compare(io.down(br), rows, "gather_rows");
  d.scatter_add_rows(d.data(bo), d.data(std::as_const(br)), d.data(std::as_const(bx)), M, C);
  cpu::scatter_add_rows<T>(out.data(), rows.data(), index.data(), M, C);
  compare(io.down(bo), out, "scatter_add_rows");
}

// Layernorm forward (with and without statistics) and backward (accumulated) against juice::cpu.
template <class T, class D>
void check_layernorm(D& d) {
  std::mt19937 g(4);
  device_io<D> io{d};
  const std::ptrdiff_t N = 9, C = 24;
  auto inp = random_vector<T>(N * C, g, 2.0), w = random_vector<T>(C, g), b = random_vector<T>(C, g);
  for (auto& x : inp) x += T(0.5);  // a non-zero mean per row
  std::vector<T> out(N * C, T(7)), mean(N, T(7)), rstd(N, T(7));
  auto bi = io.up(inp);
  auto bw = io.up(w);
  auto bb = io.up(b);
  auto bo = io.up(out);
  auto bm = io.up(mean);
  auto br = io.up(rstd);
  d.layernorm_forward(d.data(bo), d.data(bm), d.data(br), d.data(std::as_const(bi)), d.data(std::as_const(bw)),
                      d.data(std::as_const(bb)), N, C);
  cpu::layernorm_forward<T>(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C);
  compare(io.down(bo), out, "layernorm_forward out");
  compare(io.down(bm), mean, "layernorm_forward mean");
  compare(io.down(br), rstd, "layernorm_forward rstd");
  d.fill(d.view_of(bo), T(3));
  d.layernorm_forward(d.data(bo), static_cast<T*>(nullptr), static_cast<T*>(nullptr), d.data(std::as_const(bi)),
                      d.data(std::as_const(bw)), d.data(std::as_const(bb)), N, C);
  compare(io.down(bo), out, "layernorm_forward (no statistics)");

  auto dout = random_vector<T>(N * C, g), dinp = random_vector<T>(N * C, g), dw = random_vector<T>(C, g);
  auto db = random_vector<T>(C, g);
  auto bdo = io.up(dout);
  auto bdi = io.up(dinp);
  auto bdw = io.up(dw);
  auto bdb = io.up(db);
  d.layernorm_backward(d.data(bdi), d.data(bdw), d.data(bdb), d.data(std::as_const(bdo)), d.data(std::as_const(bi)),
                       d.data(std::as_const(bw)), d.data(std::as_const(bm)), d.data(std::as_const(br)), N, C);
  cpu::layernorm_backward<T>(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), mean.data(),
                             rstd.data(), N, C);
  compare(io.down(bdi), dinp, "layernorm_backward dinp");
  compare(io.down(bdw), dw, "layernorm_backward dw");
  compare(io.down(bdb), db, "layernorm_backward db");
}

// GELU forward/backward (also with dinp aliasing dout), residual, add_inplace against juice::cpu.
template <class T, class D>
void check_gelu_residual(D& d) {
  std::mt19937 g(5);
  device_io<D> io{d};
  const std::ptrdiff_t n = 517;
  auto inp = random_vector<T>(n, g, 3.0), out = random_vector<T>(n, g), dout = random_vector<T>(n, g);
  auto bi = io.up(inp);
  auto bo = io.up(out);
  auto bd = io.up(dout);
  d.gelu_forward(d.data(bo), d.data(std::as_const(bi)), n);
  cpu::gelu_forward<T>(out.data(), inp.data(), n);
  compare(io.down(bo), out, "gelu_forward");
  std::vector<T> dinp(n);
  d.gelu_backward(d.data(bo), d.data(std::as_const(bi)), d.data(std::as_const(bd)), n);
  cpu::gelu_backward<T>(dinp.data(), inp.data(), dout.data(), n);
  compare(io.down(bo), dinp, "gelu_backward");
  d.gelu_backward(d.data(bd), d.data(std::as_const(bi)), d.data(std::as_const(bd)), n);  // dinp aliases dout
  compare(io.down(bd), dinp, "gelu_backward (in place)");

  auto a = random_vector<T>(n, g), b = random_vector<T>(n, g);
  auto ba = io.up(a);
  auto bb = io.up(b);
  d.residual_forward(d.data(bo), d.data(std::as_const(ba)), d.data(std::as_const(bb)), n);
  cpu::residual_forward<T>(out.data(), a.data(), b.data(), n);
  compare(io.down(bo), out, "residual_forward");
  d.add_inplace(d.data(ba), d.data(std::as_const(bb)), n);
  cpu::add_inplace<T>(a.data(), b.data(), n);
  compare(io.down(ba), a, "add_inplace");
}

// The fused LM head: logits, log-softmax + gather, backward (dh overwritten, dwte accumulated).
template <class T, class D>
void check_lm_head(D& d) {
  std::mt19937 g(6);
  device_io<D> io{d};
  const std::ptrdiff_t M = 6, C = 10, V = 29;
  auto h = random_vector<T>(M * C, g), wte = random_vector<T>(V * C, g);
  auto target = random_ids(M, static_cast<int>(V), g);
  auto logits = random_vector<T>(M * V, g), logp = random_vector<T>(M, g);
  auto bh = io.up(h);
  auto bw = io.up(wte);
  auto bt = io.up(target);
  auto bl = io.up(logits);
  auto bp = io.up(logp);
  d.lm_logits(d.data(bl), d.data(std::as_const(bh)), d.data(std::as_const(bw)), M, C, V);
  cpu::lm_logits<T>(logits.data(), h.data(), wte.data(), M, C, V);
  compare(io.down(bl), logits, "lm_logits");
  d.lm_logprob_forward(d.data(bl), d.data(bp), d.data(std::as_const(bh)), d.data(std::as_const(bw)),
                       d.data(std::as_const(bt)), M, C, V);
  cpu::lm_logprob_forward<T>(logits.data(), logp.data(), h.data(), wte.data(), target.data(), M, C, V);
  compare(io.down(bl), logits, "lm_logprob_forward log-softmax");
  compare(io.down(bp), logp, "lm_logprob_forward logp");

  auto gw = random_vector<T>(M, g), dh = random_vector<T>(M * C, g), dwte = random_vector<T>(V * C, g);
  auto bg = io.up(gw);
  auto bdh = io.up(dh);
  auto bdw = io.up(dwte);
  d.lm_logprob_backward(d.data(bdh), d.data(bdw), d.data(bl), d.data(std::as_const(bh)), d.data(std::as_const(bw)),
                        d.data(std::as_const(bt)), d.data(std::as_const(bg)), M, C, V);
  cpu::lm_logprob_backward<T>(dh.data(), dwte.data(), logits.data(), h.data(), wte.data(), target.data(), gw.data(), M,
                              C, V);
  compare(io.down(bl), logits, "lm_logprob_backward dlogits");
  compare(io.down(bdh), dh, "lm_logprob_backward dh");
  compare(io.down(bdw), dwte, "lm_logprob_backward dwte");
}

// The sampling protocol token for token against juice::cpu, for each kind of option set, on
// logits with ties (quantised) so that the tie rule (lower id first) is exercised.
template <class T, class D>
void check_sampling(D& d) {
  std::mt19937 g(7);
  device_io<D> io{d};
  const std::ptrdiff_t R = 64, V = 53;
  auto logits = random_vector<T>(R * V, g, 2.0);
  for (std::ptrdiff_t i = 0; i < R * V; i += 2) logits[i] = std::round(logits[i] * T(2)) / T(2);
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  std::vector<double> u(R);
  for (auto& x : u) x = ud(g);
  auto bl = io.up(logits);
  auto bu = io.up(u);
  auto bo = d.template allocate<int>(R);
  const std::vector<std::pair<const char*, sampling_options>> cases{
      {"plain", {1.0, 0, 1.0}}, {"temperature 0.7", {0.7, 0, 1.0}}, {"greedy", {0.0, 0, 1.0}}, {"top_k 5", {1.0, 5, 1.0}}, {"top_p 0.8", {1.0, 0, 0.8}}, {"top_k 9 + top_p 0.6", {1.3, 9, 0.6}}, {"top_k 1", {1.0, 1, 1.0}}, {"top_k = V", {1.0, static_cast<std::size_t>(V), 1.0}}};
  for (const auto& [label, o] : cases) {
    std::vector<int> want(R);
    cpu::sample_tokens<T>(want.data(), logits.data(), u.data(), R, V, o);
    d.sample_tokens(d.data(bo), d.data(std::as_const(bl)), d.data(std::as_const(bu)), R, V, o);
    const auto got = io.down(bo);
    compare(got, want, 0.0, 0.0, std::string("sample_tokens ") + label + (sizeof(T) == 4 ? " <float>" : " <double>"));
  }
  BOOST_CHECK_THROW(d.sample_tokens(d.data(bo), d.data(std::as_const(bl)), d.data(std::as_const(bu)), R, V,
                                    sampling_options{1.0, 0, 0.0}),
                    juice::invalid_argument);
}

// Causal attention forward (out, lse), backward (dqkv) and the KV-cache decode against juice::cpu,
// on ragged shapes: one position, head size 1, T prime, several heads and batch rows. Outputs start
// as garbage (the contract overwrites them). The decode writes two new positions per row at
// different offsets (a prompt-only prefill from 0 among them) into caches whose earlier positions
// hold random keys and values.
template <class T, class D>
void check_attention(D& d) {
  struct shape {
    std::ptrdiff_t B, Tn, C, NH;
  };
  const shape shapes[] = {{2, 1, 4, 2}, {1, 7, 3, 3}, {2, 13, 6, 2}, {3, 5, 8, 1}, {1, 17, 12, 4}};
  std::mt19937 g(8);
  device_io<D> io{d};
  for (const auto& [B, Tn, C, NH] : shapes) {
    const std::string tag = " (B " + std::to_string(B) + ", T " + std::to_string(Tn) + ", C " + std::to_string(C) +
                            ", NH " + std::to_string(NH) + ")";
    auto qkv = random_vector<T>(B * Tn * 3 * C, g), out = random_vector<T>(B * Tn * C, g);
    auto lse = random_vector<T>(B * NH * Tn, g);
    auto bq = io.up(qkv);
    auto bo = io.up(out);
    auto bl = io.up(lse);
    d.attention_forward(d.data(bo), d.data(bl), d.data(std::as_const(bq)), B, Tn, C, NH);
    cpu::attention_forward<T>(out.data(), lse.data(), qkv.data(), B, Tn, C, NH);
    compare(io.down(bo), out, "attention_forward out" + tag);
    compare(io.down(bl), lse, "attention_forward lse" + tag);

    auto dout = random_vector<T>(B * Tn * C, g), dqkv = random_vector<T>(B * Tn * 3 * C, g);
    auto bdo = io.up(dout);
    auto bdq = io.up(dqkv);
    d.attention_backward(d.data(bdq), d.data(std::as_const(bdo)), d.data(std::as_const(bo)), d.data(std::as_const(bl)),
                         d.data(std::as_const(bq)), B, Tn, C, NH);
    cpu::attention_backward<T>(dqkv.data(), dout.data(), out.data(), lse.data(), qkv.data(), B, Tn, C, NH);
    compare(io.down(bdq), dqkv, "attention_backward dqkv" + tag);

    // Decode: Tn2 = 2 new positions per row at pos0 = 0, 3, 6, ... within Tmax = 3 (B - 1) + 4.
    const std::ptrdiff_t Tn2 = 2, Tmax = 3 * (B - 1) + 4;
    std::vector<int> pos0(static_cast<std::size_t>(B));
    for (std::ptrdiff_t b = 0; b < B; ++b) pos0[static_cast<std::size_t>(b)] = static_cast<int>(3 * b);
    auto q2 = random_vector<T>(B * Tn2 * 3 * C, g), o2 = random_vector<T>(B * Tn2 * C, g);
    auto kc = random_vector<T>(B * Tmax * C, g), vc = random_vector<T>(B * Tmax * C, g);
    auto bq2 = io.up(q2);
    auto bo2 = io.up(o2);
    auto bkc = io.up(kc);
    auto bvc = io.up(vc);
    auto bp = io.up(pos0);
    d.attention_cached(d.data(bo2), d.data(std::as_const(bq2)), d.data(bkc), d.data(bvc), d.data(std::as_const(bp)), B,
                       Tn2, Tmax, C, NH);
    cpu::attention_cached<T>(o2.data(), q2.data(), kc.data(), vc.data(), pos0.data(), B, Tn2, Tmax, C, NH);
    compare(io.down(bo2), o2, "attention_cached out" + tag);
    compare(io.down(bkc), kc, "attention_cached kcache" + tag);
    compare(io.down(bvc), vc, "attention_cached vcache" + tag);
  }
  // C = 5 does not split into NH = 2 heads: refused before any kernel runs.
  auto bad = d.template allocate<T>(30);
  BOOST_CHECK_THROW(d.attention_forward(d.data(bad), d.data(bad), d.data(std::as_const(bad)), 1, 2, 5, 2),
                    juice::invalid_argument);
}

using float_types = boost::mpl::list<float, double>;

}  // namespace juice::test::device

// Registers one Boost.Test case per primitive family and scalar type on the backend `make()` returns.
#define JUICE_DEVICE_PRIMITIVE_TESTS(make)                                                         \
  BOOST_AUTO_TEST_CASE_TEMPLATE(elementwise_and_optimizers, T, juice::test::device::float_types) { \
    auto d = make();                                                                               \
    juice::test::device::check_elementwise<T>(d);                                                  \
  }                                                                                                \
  BOOST_AUTO_TEST_CASE_TEMPLATE(matmul, T, juice::test::device::float_types) {                     \
    auto d = make();                                                                               \
    juice::test::device::check_matmul<T>(d);                                                       \
  }                                                                                                \
  BOOST_AUTO_TEST_CASE_TEMPLATE(embedding_and_rows, T, juice::test::device::float_types) {         \
    auto d = make();                                                                               \
    juice::test::device::check_embedding<T>(d);                                                    \
  }                                                                                                \
  BOOST_AUTO_TEST_CASE_TEMPLATE(layernorm, T, juice::test::device::float_types) {                  \
    auto d = make();                                                                               \
    juice::test::device::check_layernorm<T>(d);                                                    \
  }                                                                                                \
  BOOST_AUTO_TEST_CASE_TEMPLATE(gelu_and_residual, T, juice::test::device::float_types) {          \
    auto d = make();                                                                               \
    juice::test::device::check_gelu_residual<T>(d);                                                \
  }                                                                                                \
  BOOST_AUTO_TEST_CASE_TEMPLATE(lm_head, T, juice::test::device::float_types) {                    \
    auto d = make();                                                                               \
    juice::test::device::check_lm_head<T>(d);                                                      \
  }                                                                                                \
  BOOST_AUTO_TEST_CASE_TEMPLATE(sampling_protocol, T, juice::test::device::float_types) {          \
    auto d = make();                                                                               \
    juice::test::device::check_sampling<T>(d);                                                     \
  }                                                                                                \
  BOOST_AUTO_TEST_CASE_TEMPLATE(attention, T, juice::test::device::float_types) {                  \
    auto d = make();                                                                               \
    juice::test::device::check_attention<T>(d);                                                    \
  }
