// The tiled (FlashAttention-2 style) causal attention of juice::cpu against the plain loops kept as
// the oracle (juice/backends/cpu/attention_reference.hpp), in float and double, on ragged shapes:
// T not a multiple of the block, heads of size 1, several blocks per row, a single position. The
// row statistic lse is checked against log-sum-exp computed here in double from the definition,
// and the backward pass against central finite differences in double across several blocks.
#include <boost/test/unit_test.hpp>

#include <boost/mpl/list.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "juice/backends/cpu/attention_reference.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "fd.hpp"

using namespace juice;
using namespace juice::test;
using V = std::vector<double>;

namespace {

struct shape {
  std::ptrdiff_t B, T, C, NH;
};

// Ragged on purpose: one position; T = block - 1, block + 1 and 2 blocks + 3; head size 1; a row
// longer than three blocks. cpu_kernels::attention_block is 64.
const shape shapes[] = {{2, 1, 4, 2}, {1, 63, 8, 8}, {2, 65, 6, 2}, {1, 131, 12, 12}, {3, 70, 16, 2}, {1, 200, 8, 1}};

// Per-type tolerance of a tiled result against the reference: both sum up to T products in a
// different order, so the bound is a few ulps of the accumulated magnitude.
template <class T> struct attention_tol;
template <> struct attention_tol<double> {
  static constexpr double atol = 1e-12, rtol = 1e-10;
};
template <> struct attention_tol<float> {
  static constexpr double atol = 2e-5, rtol = 1e-4;
};

template <class T>
std::vector<T> as(const V& v) {
  return std::vector<T>(v.begin(), v.end());
}
template <class T>
V widen(const std::vector<T>& v) {
  return V(v.begin(), v.end());
}

// log sum_{t2 <= t} exp(q_t . k_t2 / sqrt(hs)) per (b, h, t), from the definition in double.
V lse_from_definition(const V& qkv, const shape& s) {
  const std::ptrdiff_t hs = s.C / s.NH, C3 = 3 * s.C;
  V out(static_cast<std::size_t>(s.B * s.NH * s.T));
  for (std::ptrdiff_t b = 0; b < s.B; ++b)
    for (std::ptrdiff_t h = 0; h < s.NH; ++h)
      for (std::ptrdiff_t t = 0; t < s.T; ++t) {
        V sc;
        double mx = -1e300;
        for (std::ptrdiff_t t2 = 0; t2 <= t; ++t2) {
          double d = 0;
          for (std::ptrdiff_t i = 0; i < hs; ++i)
            d += qkv[static_cast<std::size_t>((b * s.T + t) * C3 + h * hs + i)] *
                 qkv[static_cast<std::size_t>((b * s.T + t2) * C3 + s.C + h * hs + i)];
          sc.push_back(d / std::sqrt(double(hs)));
          mx = std::max(mx, sc.back());
        }
        double z = 0;
        for (double x : sc) z += std::exp(x - mx);
        out[static_cast<std::size_t>((b * s.NH + h) * s.T + t)] = mx + std::log(z);
      }
  return out;
}

std::string label(const char* what, const shape& s) {
  return std::string(what) + " B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) + " C=" + std::to_string(s.C) +
         " NH=" + std::to_string(s.NH);
}

}  // namespace

using scalar_types = boost::mpl::list<float, double>;

BOOST_AUTO_TEST_CASE_TEMPLATE(tiled_forward_matches_reference_loops, T, scalar_types) {
  rng g(21);
  for (const auto& s : shapes) {
    // Scale 3 makes the softmax peaked, so the online maximum changes from block to block.
    const V qkv_d = random_vector(static_cast<std::size_t>(s.B * s.T * 3 * s.C), g, 3.0);
    const auto qkv = as<T>(qkv_d);
    std::vector<T> out(static_cast<std::size_t>(s.B * s.T * s.C), T(7)), lse(static_cast<std::size_t>(s.B * s.NH * s.T), T(7));
    std::vector<T> ref(out.size()), att(static_cast<std::size_t>(s.B * s.NH * s.T * s.T));
    cpu::attention_forward(out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    cpu_kernels::reference::attention_forward(ref.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    check_close(widen(out), widen(ref), attention_tol<T>::atol, attention_tol<T>::rtol, label("out", s));
    // lse against the definition evaluated on the same (rounded) inputs.
    check_close(widen(lse), lse_from_definition(widen(qkv), s), attention_tol<T>::atol, attention_tol<T>::rtol,
                label("lse", s));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(tiled_backward_matches_reference_loops, T, scalar_types) {
  rng g(22);
  for (const auto& s : shapes) {
    const auto qkv = as<T>(random_vector(static_cast<std::size_t>(s.B * s.T * 3 * s.C), g, 3.0));
    const auto dout = as<T>(random_vector(static_cast<std::size_t>(s.B * s.T * s.C), g));
    std::vector<T> out(dout.size()), lse(static_cast<std::size_t>(s.B * s.NH * s.T)), dqkv(qkv.size(), T(7));
    std::vector<T> ref_out(dout.size()), att(static_cast<std::size_t>(s.B * s.NH * s.T * s.T)), ref(qkv.size(), T(-3));
    cpu::attention_forward(out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    cpu::attention_backward(dqkv.data(), dout.data(), out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    cpu_kernels::reference::attention_forward(ref_out.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    cpu_kernels::reference::attention_backward(ref.data(), dout.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    check_close(widen(dqkv), widen(ref), 5 * attention_tol<T>::atol, 5 * attention_tol<T>::rtol, label("dqkv", s));
  }
}

BOOST_AUTO_TEST_CASE(tiled_backward_matches_fd_across_blocks) {
  // Double precision, rows spanning two blocks plus a ragged tail, heads of size 1 and 3.
  rng g(23);
  for (const shape s : {shape{1, 70, 2, 2}, shape{2, 67, 3, 1}}) {
    V qkv = random_vector(static_cast<std::size_t>(s.B * s.T * 3 * s.C), g, 2.0);
    const V r = random_vector(static_cast<std::size_t>(s.B * s.T * s.C), g);
    V out(r.size()), lse(static_cast<std::size_t>(s.B * s.NH * s.T));
    auto loss = [&] {
      V o(r.size()), l(lse.size());
      cpu::attention_forward(o.data(), l.data(), qkv.data(), s.B, s.T, s.C, s.NH);
      return weighted_sum(o, r);
    };
    cpu::attention_forward(out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    V dqkv(qkv.size(), 5.0);
    cpu::attention_backward(dqkv.data(), r.data(), out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    check_fd(qkv, loss, dqkv, label("attention dqkv vs fd", s));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(future_keys_never_enter_the_softmax, T, scalar_types) {
  // Keys grow along the row, so each query's score against a later (masked) key exceeds its valid
  // scores by hundreds: a running maximum that looked past the diagonal would underflow every
  // valid exponential to zero. q = 1 and k_t = 10 (t + 1) in every channel; v random.
  const shape s{1, 70, 4, 1};
  rng g(24);
  V qkv_d = random_vector(static_cast<std::size_t>(s.B * s.T * 3 * s.C), g);
  for (std::ptrdiff_t t = 0; t < s.T; ++t)
    for (std::ptrdiff_t c = 0; c < s.C; ++c) {
      qkv_d[static_cast<std::size_t>(t * 3 * s.C + c)] = 1;
      qkv_d[static_cast<std::size_t>(t * 3 * s.C + s.C + c)] = 10.0 * double(t + 1);
    }
  const auto qkv = as<T>(qkv_d);
  std::vector<T> out(static_cast<std::size_t>(s.T * s.C)), lse(static_cast<std::size_t>(s.T)), ref(out.size()),
      att(static_cast<std::size_t>(s.T * s.T));
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), s.B, s.T, s.C, s.NH);
  cpu_kernels::reference::attention_forward(ref.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
  check_close(widen(out), widen(ref), attention_tol<T>::atol, attention_tol<T>::rtol, label("out, growing keys", s));
  check_close(widen(lse), lse_from_definition(widen(qkv), s), attention_tol<T>::atol, attention_tol<T>::rtol,
              label("lse, growing keys", s));
}
