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

#include "bf16_reference.hpp"
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

// Tolerances of the bf16 GEMM mode (gemm_precision::bf16), relative to the size of each dot product,
// mag = sum_k |a_k b_k| (plus |bias| or the accumulated start value): an element's error is bounded
// by a multiple of mag, not of its own value, which cancellation can make arbitrarily small.
//   emulated:  the device result against a double-precision GEMM of the bf16-rounded inputs. On the
//              OpenMP system the inputs are rounded exactly so; what remains is float accumulation,
//              at most about K 2^-24 mag for K-term sums: (K + 2) 2^-24 allows it.
//   hardware:  the same on a GPU, where cuBLAS converts the inputs itself (its conversion is not
//              specified bit for bit, and CUBLAS_COMPUTE_32F_FAST_16BF also allows TF32): within one
//              bf16 rounding of each factor, 2 * 2^-9 = 2^-8.
//   fp32 gap:  against the fp32 GEMM of the unrounded inputs: a product of two factors each rounded
//              by at most 2^-9 relative moves by at most (2^-8 + 2^-18) |a b|, so the gap is at most
//              that times mag (plus float accumulation); it must also exceed 2^-16 somewhere, far above
//              float accumulation, or the bf16 mode is not really on.
struct bf16_tolerance {
  static double emulated(std::ptrdiff_t K) { return double(K + 2) * std::ldexp(1.0, -24); }
  static constexpr double hardware = 1.0 / 256;
  static constexpr double fp32_gap_max = 1.0 / 256 + 1.0 / 262144 + 1e-6;
  static constexpr double fp32_gap_min = 1.0 / 65536;
};

// |got - want| <= tol mag per element, the worst element printed and recorded; returns the largest
// |got - want| / mag (for the fp32-gap checks).
inline double compare_scaled(const std::vector<float>& got, const std::vector<double>& want,
                             const std::vector<double>& mag, double tol, const std::string& what) {
  BOOST_REQUIRE(got.size() == want.size() && want.size() == mag.size());
  std::size_t worst = 0;
  double worst_ratio = -1, worst_abs = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - want[i]);
    const double ratio = std::isfinite(err) ? err / std::max(mag[i], 1e-300) : 1e300;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
    }
    worst_abs = std::max(worst_abs, std::isfinite(err) ? err : 1e300);
  }
  std::ostringstream msg;
  msg.precision(10);
  msg << what << ": worst element " << worst;
  if (!got.empty())
    msg << ": " << double(got[worst]) << " vs " << want[worst] << " (|diff| / mag " << worst_ratio << " with mag "
        << mag[worst] << ", allowed " << tol << "; max |diff| " << worst_abs << ")";
  std::cout << msg.str() << "\n";
  auto& e = worst_errors()[what];
  e = std::max(e, worst_abs);
  BOOST_CHECK_MESSAGE(worst_ratio <= tol, msg.str());
  return worst_ratio;
}

// Row-major out(M,N) = start + a(M,K) b(N,K)^T in double, on bf16-rounded a and b when `round`;
// `mag` gets sum_k |a b| + |start|.
inline std::vector<double> reference_gemm(const std::vector<float>& a, const std::vector<float>& b,
                                          const std::vector<double>& start, std::ptrdiff_t M, std::ptrdiff_t N,
                                          std::ptrdiff_t K, bool round, std::vector<double>& mag) {
  std::vector<double> out(std::size_t(M * N));
  mag.assign(out.size(), 0.0);
  const auto r = [round](float x) { return double(round ? bf16_reference(x) : x); };
  for (std::ptrdiff_t i = 0; i < M; ++i)
    for (std::ptrdiff_t j = 0; j < N; ++j) {
      const std::size_t o = std::size_t(i * N + j);
      double s = start.empty() ? 0.0 : start[o], m = std::abs(s);
      for (std::ptrdiff_t k = 0; k < K; ++k) {
        const double p = r(a[std::size_t(i * K + k)]) * r(b[std::size_t(j * K + k)]);
        s += p;
        m += std::abs(p);
      }
      out[o] = s;
      mag[o] = m;
    }
  return out;
}

inline std::vector<float> transposed(const std::vector<float>& x, std::ptrdiff_t R, std::ptrdiff_t C) {
  std::vector<float> t(x.size());
  for (std::ptrdiff_t r = 0; r < R; ++r)
    for (std::ptrdiff_t c = 0; c < C; ++c) t[std::size_t(c * R + r)] = x[std::size_t(r * C + c)];
  return t;
}

// The bf16 GEMM mode of a float device backend `d` (constructed with gemm_precision::bf16):
// (a) inputs exactly representable in bf16 (k 2^-e, |k| < 256) give the fp32 result, to float
//     accumulation; (b) random inputs give a double GEMM of the bf16-rounded inputs (to float
//     accumulation where `emulated`, within one bf16 rounding on hardware), differ from the fp32
//     result by no more than bf16 rounding allows and by more than float rounding could (the mode is
//     on). Forward with bias and backward (dinp overwritten, dw and dbias accumulated; the bias and
//     its gradient are float, not GEMM inputs), and the LM head's logits. double GEMMs ignore the mode.
template <class D>
void check_matmul_bf16(D& d, bool emulated) {
  using T = float;
  std::mt19937 g(12);
  device_io<D> io{d};
  const std::ptrdiff_t N = 13, C = 24, OC = 11;
  const std::string mode = emulated ? " <bf16, emulated>" : " <bf16>";

  // (a) Exactly representable inputs: up to 8 significant bits, exponents spread over 2^-1..2^-6.
  std::uniform_int_distribution<int> kd(-255, 255), ed(1, 6);
  const auto exact = [&](std::size_t n) {
    std::vector<T> v(n);
    for (auto& x : v) x = std::ldexp(T(kd(g)), -ed(g));
    return v;
  };
  {
    auto inp = exact(std::size_t(N * C)), w = exact(std::size_t(OC * C)), bias = random_vector<T>(std::size_t(OC), g);
    auto out = random_vector<T>(std::size_t(N * OC), g);
    auto bi = io.up(inp);
    auto bw = io.up(w);
    auto bb = io.up(bias);
    auto bo = io.up(out);
    d.matmul_forward(d.data(bo), d.data(std::as_const(bi)), d.data(std::as_const(bw)), d.data(std::as_const(bb)), N, C, OC);
    cpu::matmul_forward<T>(out.data(), inp.data(), w.data(), bias.data(), N, C, OC);
    compare(io.down(bo), out, "bf16-exact inputs: matmul_forward" + mode);
    auto dout = exact(std::size_t(N * OC)), dinp = random_vector<T>(std::size_t(N * C), g);
    auto dw = exact(std::size_t(OC * C)), db = random_vector<T>(std::size_t(OC), g);
    auto bdo = io.up(dout);
    auto bdi = io.up(dinp);
    auto bdw = io.up(dw);
    auto bdb = io.up(db);
    d.matmul_backward(d.data(bdi), d.data(bdw), d.data(bdb), d.data(std::as_const(bdo)), d.data(std::as_const(bi)),
                      d.data(std::as_const(bw)), N, C, OC);
    cpu::matmul_backward<T>(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
    compare(io.down(bdi), dinp, "bf16-exact inputs: matmul_backward dinp" + mode);
    compare(io.down(bdw), dw, "bf16-exact inputs: matmul_backward dw" + mode);
    compare(io.down(bdb), db, "bf16-exact inputs: matmul_backward dbias" + mode);
  }

  // (b) Random inputs.
  const double tol = emulated ? bf16_tolerance::emulated(std::max({N, C, OC})) : bf16_tolerance::hardware;
  double gap_forward = 0, gap_dinp = 0, gap_dw = 0;
  auto inp = random_vector<T>(std::size_t(N * C), g), w = random_vector<T>(std::size_t(OC * C), g);
  auto bias = random_vector<T>(std::size_t(OC), g), out = random_vector<T>(std::size_t(N * OC), g);
  auto bi = io.up(inp);
  auto bw = io.up(w);
  auto bb = io.up(bias);
  auto bo = io.up(out);
  d.matmul_forward(d.data(bo), d.data(std::as_const(bi)), d.data(std::as_const(bw)), d.data(std::as_const(bb)), N, C, OC);
  const auto got_out = io.down(bo);
  {
    std::vector<double> start(std::size_t(N * OC)), mag, mag32;
    for (std::ptrdiff_t n = 0; n < N; ++n)
      for (std::ptrdiff_t o = 0; o < OC; ++o) start[std::size_t(n * OC + o)] = bias[std::size_t(o)];
    const auto want = reference_gemm(inp, w, start, N, OC, C, true, mag);
    compare_scaled(got_out, want, mag, tol, "matmul_forward vs rounded-input GEMM" + mode);
    const auto fp32 = reference_gemm(inp, w, start, N, OC, C, false, mag32);
    gap_forward = compare_scaled(got_out, fp32, mag32, bf16_tolerance::fp32_gap_max, "matmul_forward vs fp32" + mode);
  }
  auto dout = random_vector<T>(std::size_t(N * OC), g), dinp = random_vector<T>(std::size_t(N * C), g);
  auto dw = random_vector<T>(std::size_t(OC * C), g), db = random_vector<T>(std::size_t(OC), g);
  auto bdo = io.up(dout);
  auto bdi = io.up(dinp);
  auto bdw = io.up(dw);
  auto bdb = io.up(db);
  d.matmul_backward(d.data(bdi), d.data(bdw), d.data(bdb), d.data(std::as_const(bdo)), d.data(std::as_const(bi)),
                    d.data(std::as_const(bw)), N, C, OC);
  {
    // dinp(N,C) = dout(N,OC) w(OC,C): rows of dout against rows of w^T (C,OC). Overwritten.
    std::vector<double> mag, mag32;
    const auto wt = transposed(w, OC, C);
    const auto got = io.down(bdi);
    compare_scaled(got, reference_gemm(dout, wt, {}, N, C, OC, true, mag), mag, tol,
                   "matmul_backward dinp vs rounded-input GEMM" + mode);
    gap_dinp = compare_scaled(got, reference_gemm(dout, wt, {}, N, C, OC, false, mag32), mag32,
                              bf16_tolerance::fp32_gap_max, "matmul_backward dinp vs fp32" + mode);
  }
  {
    // dw(OC,C) += dout^T(OC,N) inp(N,C): rows of dout^T against rows of inp^T (C,N).
    std::vector<double> mag, mag32, start(dw.begin(), dw.end());
    const auto got = io.down(bdw);
    const auto dt = transposed(dout, N, OC), it = transposed(inp, N, C);
    compare_scaled(got, reference_gemm(dt, it, start, OC, C, N, true, mag), mag, tol,
                   "matmul_backward dw vs rounded-input GEMM" + mode);
    gap_dw = compare_scaled(got, reference_gemm(dt, it, start, OC, C, N, false, mag32), mag32,
                            bf16_tolerance::fp32_gap_max, "matmul_backward dw vs fp32" + mode);
  }
  // dbias is a float sum of the unrounded dout: as the fp32 CPU computes it.
  cpu::matmul_backward<T>(nullptr, nullptr, db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  compare(io.down(bdb), db, "matmul_backward dbias" + mode);
  const bool on = gap_forward > bf16_tolerance::fp32_gap_min && gap_dinp > bf16_tolerance::fp32_gap_min &&
                  gap_dw > bf16_tolerance::fp32_gap_min;
  BOOST_CHECK_MESSAGE(on, "bf16 mode: the GEMMs equal the fp32 ones (largest relative gaps "
                              << gap_forward << ", " << gap_dinp << ", " << gap_dw << "): the mode is not on");

  // The LM head's logits are a GEMM too (h against the tied wte).
  const std::ptrdiff_t M = 6, V = 29;
  auto h = random_vector<T>(std::size_t(M * C), g), wte = random_vector<T>(std::size_t(V * C), g);
  auto logits = random_vector<T>(std::size_t(M * V), g);
  auto bh = io.up(h);
  auto bwte = io.up(wte);
  auto bl = io.up(logits);
  d.lm_logits(d.data(bl), d.data(std::as_const(bh)), d.data(std::as_const(bwte)), M, C, V);
  std::vector<double> mag;
  compare_scaled(io.down(bl), reference_gemm(h, wte, {}, M, V, C, true, mag), mag, tol,
                 "lm_logits vs rounded-input GEMM" + mode);

  // double ignores the mode: the double GEMM is exact-check material.
  std::vector<double> x(std::size_t(N * C)), wd(std::size_t(OC * C)), od(std::size_t(N * OC)), od_cpu(od.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = double(inp[i]) + 1e-9 * double(i % 7);
  for (std::size_t i = 0; i < wd.size(); ++i) wd[i] = double(w[i]);
  auto bx = io.up(x);
  auto bwd = io.up(wd);
  auto bod = io.up(od);
  d.matmul_forward(d.data(bod), d.data(std::as_const(bx)), d.data(std::as_const(bwd)), static_cast<const double*>(nullptr), N,
                   C, OC);
  cpu::matmul_forward<double>(od_cpu.data(), x.data(), wd.data(), nullptr, N, C, OC);
  compare(io.down(bod), od_cpu, "double matmul_forward, bf16 mode ignored" + mode);
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
