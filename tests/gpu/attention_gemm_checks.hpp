// Checks of a device backend's GEMM path of attention (attention_impl::gemm, attention_gemm.hpp) and
// of its strided-batched GEMM, against the reference row functors (the same backend with
// attention_impl::functors) and juice::cpu on the same random inputs. Shared by the thrust-omp test
// (juice::thrust_omp_backend, g++: test_thrust_omp_attention_gemm, every CI run) and the gpu test
// (juice::cuda, nvcc: test_cuda_attention_gemm, skipped without a device), so that the cuBLAS
// mapping of the row-major GEMM specification runs through the same checks as the CPU GEMM.
// `make(precision, options)` returns a backend of the kind under test.
#pragma once

#include <cmath>
#include <cstddef>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "device_checks.hpp"
#include "device_model_checks.hpp"
#include "family_checks.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/backends/cuda/attention_impl.hpp"
#include "juice/backends/cuda/gemm_precision.hpp"
#include "juice/backends/cuda/primitives.hpp"
#include "real_shape_checks.hpp"

namespace juice::test::device {

inline attention_options gemm_attention(std::size_t scratch_bytes = attention_options{}.scratch_bytes) {
  return {attention_impl::gemm, scratch_bytes};
}

// The strided-batched GEMM against a triple loop in long double, for every transpose combination,
// leading dimensions larger than the rows, batch strides larger than a matrix, beta 0 (C starts as
// garbage) and beta 1 (accumulated). Exercises the row-major -> cuBLAS mapping on a GPU.
template <class T, class D>
void check_gemm_batched(D& d) {
  std::mt19937 g(71);
  device_io<D> io{d};
  const std::ptrdiff_t M = 7, N = 5, K = 6, batch = 3, pad = 3;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const T beta : {T(0), T(1)}) {
        const std::ptrdiff_t ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
        const std::ptrdiff_t lda = ca + pad, ldb = cb + 1, ldc = N + 2;
        const std::ptrdiff_t sa = ra * lda + 4, sb = rb * ldb + 1, sc = M * ldc + 5;
        const auto a = random_vector<T>(static_cast<std::size_t>(batch * sa), g);
        const auto b = random_vector<T>(static_cast<std::size_t>(batch * sb), g);
        auto c = random_vector<T>(static_cast<std::size_t>(batch * sc), g);
        const T alpha = T(0.75);
        auto want = c;
        for (std::ptrdiff_t i = 0; i < batch; ++i)
          for (std::ptrdiff_t m = 0; m < M; ++m)
            for (std::ptrdiff_t n = 0; n < N; ++n) {
              long double s = 0;
              for (std::ptrdiff_t k = 0; k < K; ++k) {
                const T av = a[static_cast<std::size_t>(i * sa + (ta ? k * lda + m : m * lda + k))];
                const T bv = b[static_cast<std::size_t>(i * sb + (tb ? n * ldb + k : k * ldb + n))];
                s += static_cast<long double>(av) * static_cast<long double>(bv);
              }
              auto& w = want[static_cast<std::size_t>(i * sc + m * ldc + n)];
              w = static_cast<T>(static_cast<long double>(alpha) * s + (beta == T(0) ? 0.0L : static_cast<long double>(w)));
            }
        auto ba = io.up(a);
        auto bb = io.up(b);
        auto bc = io.up(c);
        d.gemm_batched(ta, tb, M, N, K, alpha, d.data(std::as_const(ba)), lda, sa, d.data(std::as_const(bb)), ldb, sb, beta,
                       d.data(bc), ldc, sc, batch);
        std::ostringstream what;
        what << "gemm_batched trans_a " << ta << " trans_b " << tb << " beta " << beta;
        compare_family(io.down(bc), want, what.str());
      }
}

// The GEMM path against the functors and juice::cpu: B 2, T 13 (no multiple of any block), NH 4
// with NKV 4 (multi-head, through the NKV overloads and the multi-head ones) and 2 (grouped), hs 5;
// forward out and lse, backward dqkv (started from garbage: overwritten); scratch bounds giving
// blocks of every key/value head, of 1 pair and of 3 pairs (a ragged last block with NKV 4). The
// functor path and the CPU are held to the family tolerances (summation order only).
template <class T, class Make>
void check_attention_gemm(Make make) {
  std::mt19937 g(46);
  const std::ptrdiff_t B = 2, Tn = 13, NH = 4, hs = 5, C = NH * hs;
  const std::size_t pair_bytes = 2 * sizeof(T) * static_cast<std::size_t>(Tn * Tn);
  auto ref = make(gemm_precision::fp32, attention_options{});
  device_io<decltype(ref)> rio{ref};
  for (const std::ptrdiff_t NKV : {std::ptrdiff_t{4}, std::ptrdiff_t{2}}) {
    const std::ptrdiff_t Ckv = NKV * hs, W = C + 2 * Ckv;
    const auto qkv = random_vector<T>(static_cast<std::size_t>(B * Tn * W), g);
    const auto dout = random_vector<T>(static_cast<std::size_t>(B * Tn * C), g);
    // The reference: the row functors on the same backend kind, and juice::cpu.
    auto rq = rio.up(qkv);
    auto rdo = rio.up(dout);
    auto ro = ref.template allocate<T>(static_cast<std::size_t>(B * Tn * C));
    auto rl = ref.template allocate<T>(static_cast<std::size_t>(B * NH * Tn));
    auto rd = ref.template allocate<T>(qkv.size());
    ref.attention_forward(ref.data(ro), ref.data(rl), ref.data(std::as_const(rq)), B, Tn, C, NH, NKV);
    ref.attention_backward(ref.data(rd), ref.data(std::as_const(rdo)), ref.data(std::as_const(ro)),
                           ref.data(std::as_const(rl)), ref.data(std::as_const(rq)), B, Tn, C, NH, NKV);
    const auto fout = rio.down(ro), flse = rio.down(rl), fdqkv = rio.down(rd);
    std::vector<T> cout_(fout.size()), clse(flse.size()), cdqkv(qkv.size());
    cpu::attention_forward<T>(cout_.data(), clse.data(), qkv.data(), B, Tn, C, NH, NKV);
    cpu::attention_backward<T>(cdqkv.data(), dout.data(), cout_.data(), clse.data(), qkv.data(), B, Tn, C, NH, NKV);

    for (const std::size_t bound : {attention_options{}.scratch_bytes, pair_bytes, 3 * pair_bytes + pair_bytes / 2}) {
      auto d = make(gemm_precision::fp32, gemm_attention(bound));
      device_io<decltype(d)> io{d};
      const auto pairs = device_kernels::attention_gemm_pairs(NKV, Tn, sizeof(T), bound);
      const std::string tag = " (B 2, T 13, NH 4, NKV " + std::to_string(NKV) + ", hs 5, " + std::to_string(pairs) +
                              " pairs per block)";
      auto bq = io.up(qkv);
      auto bdo = io.up(dout);
      auto bo = io.up(random_vector<T>(fout.size(), g));  // garbage: overwritten
      auto bl = io.up(random_vector<T>(flse.size(), g));
      d.attention_forward(d.data(bo), d.data(bl), d.data(std::as_const(bq)), B, Tn, C, NH, NKV);
      const auto out = io.down(bo), lse = io.down(bl);
      compare_family(out, fout, "gemm attention_forward out vs functors" + tag);
      compare_family(lse, flse, "gemm attention_forward lse vs functors" + tag);
      compare_family(out, cout_, "gemm attention_forward out vs cpu" + tag);
      compare_family(lse, clse, "gemm attention_forward lse vs cpu" + tag);
      auto bd = io.up(random_vector<T>(qkv.size(), g));
      d.attention_backward(d.data(bd), d.data(std::as_const(bdo)), d.data(std::as_const(bo)), d.data(std::as_const(bl)),
                           d.data(std::as_const(bq)), B, Tn, C, NH, NKV);
      const auto dqkv = io.down(bd);
      compare_family(dqkv, fdqkv, "gemm attention_backward dqkv vs functors" + tag);
      compare_family(dqkv, cdqkv, "gemm attention_backward dqkv vs cpu" + tag);
      if (NKV == NH) {  // the multi-head overloads take the same path, bit for bit
        auto bo1 = d.template allocate<T>(out.size());
        auto bl1 = d.template allocate<T>(lse.size());
        auto bd1 = d.template allocate<T>(dqkv.size());
        d.attention_forward(d.data(bo1), d.data(bl1), d.data(std::as_const(bq)), B, Tn, C, NH);
        d.attention_backward(d.data(bd1), d.data(std::as_const(bdo)), d.data(std::as_const(bo1)),
                             d.data(std::as_const(bl1)), d.data(std::as_const(bq)), B, Tn, C, NH);
        compare_exact(io.down(bo1), out, "gemm attention_forward multi-head overload" + tag);
        compare_exact(io.down(bl1), lse, "gemm attention_forward lse multi-head overload" + tag);
        compare_exact(io.down(bd1), dqkv, "gemm attention_backward multi-head overload" + tag);
      }
      // Deterministic: the same call again gives the same bits.
      d.attention_backward(d.data(bd), d.data(std::as_const(bdo)), d.data(std::as_const(bo)), d.data(std::as_const(bl)),
                           d.data(std::as_const(bq)), B, Tn, C, NH, NKV);
      compare_exact(io.down(bd), dqkv, "gemm attention_backward repeated" + tag);
    }
  }
}

// The GEMM path in a reduced-precision mode (bf16 or tf32: `u` the relative rounding of one GEMM
// input, 2^-9 or 2^-12) against juice::cpu in full precision, NH 4, NKV 2, T 13, hs 5, inputs
// N(0,1). Every product of the decomposition has both inputs rounded: a score s = scale q.k moves
// by at most 2u scale sum|q_i k_i|, below 2u 5 max|q k| ~ 10u 9 / sqrt 5 ~ 40u for these inputs
// (|x| < 3 but for a few); lse moves by at most the largest score error; out = P V by the score
// errors through P (relative 2 max|ds|) plus the rounding of P and V (2u), times sum|p v| < 3; the
// gradients are sums of 13 such terms. The bounds, atol 64u (lse, out) and 256u (dqkv) plus rtol
// 16u, hold those worst cases with a margin and fail a mode that rounds more coarsely than stated
// or leaves a product unrounded wrongly (the mode is also seen to be on: the results differ from fp32).
template <class Make>
void check_attention_gemm_reduced(Make make, gemm_precision precision) {
  using T = float;
  const double u = precision == gemm_precision::bf16 ? std::ldexp(1.0, -9) : std::ldexp(1.0, -12);
  std::mt19937 g(47);
  const std::ptrdiff_t B = 2, Tn = 13, NH = 4, NKV = 2, hs = 5, C = NH * hs, W = C + 2 * NKV * hs;
  const auto qkv = random_vector<T>(static_cast<std::size_t>(B * Tn * W), g);
  const auto dout = random_vector<T>(static_cast<std::size_t>(B * Tn * C), g);
  std::vector<T> out(static_cast<std::size_t>(B * Tn * C)), lse(static_cast<std::size_t>(B * NH * Tn)), dqkv(qkv.size());
  cpu::attention_forward<T>(out.data(), lse.data(), qkv.data(), B, Tn, C, NH, NKV);
  cpu::attention_backward<T>(dqkv.data(), dout.data(), out.data(), lse.data(), qkv.data(), B, Tn, C, NH, NKV);
  auto d = make(precision, gemm_attention(2 * sizeof(T) * Tn * Tn));
  device_io<decltype(d)> io{d};
  auto bq = io.up(qkv);
  auto bdo = io.up(dout);
  auto bo = d.template allocate<T>(out.size());
  auto bl = d.template allocate<T>(lse.size());
  auto bd = d.template allocate<T>(dqkv.size());
  d.attention_forward(d.data(bo), d.data(bl), d.data(std::as_const(bq)), B, Tn, C, NH, NKV);
  d.attention_backward(d.data(bd), d.data(std::as_const(bdo)), d.data(std::as_const(bo)), d.data(std::as_const(bl)),
                       d.data(std::as_const(bq)), B, Tn, C, NH, NKV);
  const std::string tag = std::string(" <") + std::string(gemm_precision_name(precision)) + ">";
  const auto got_out = io.down(bo), got_lse = io.down(bl), got_dqkv = io.down(bd);
  compare(got_out, out, 64 * u, 16 * u, "gemm attention_forward out" + tag);
  compare(got_lse, lse, 64 * u, 16 * u, "gemm attention_forward lse" + tag);
  compare(got_dqkv, dqkv, 256 * u, 16 * u, "gemm attention_backward dqkv" + tag);
  BOOST_CHECK_MESSAGE(relative_norm_gap(got_dqkv, dqkv, "gemm attention_backward dqkv" + tag) > 1e-7,
                      "the gemm attention in " << gemm_precision_name(precision) << " equals fp32: the mode is not on");
}

// A whole training step of a model (log-probs, values, loss weights, every gradient) with
// attention_impl::gemm against the same model with the functors, on the same backend kind: only
// attention's summation order differs, so the model tolerances (model_compare) hold, in both
// precisions, for GPT-2's multi-head attention and the Llama family's grouped-query one.
template <class T, class D, class Make>
void check_model_attention_gemm(Make make, const transformer_config& cfg) {
  transformer<D, T> a(make(gemm_precision::fp32, attention_options{}), cfg, 7);
  transformer<D, T> b(make(gemm_precision::fp32, gemm_attention(2 * sizeof(T) * 64)), cfg, 7);  // 1 pair per block
  compare_model_step<T>(a, b, ragged_model_batch(), ", gemm attention vs functors");
}

// The float model with every GEMM in tf32 (make(gemm_precision::tf32, ...)) against the fp32 model
// on juice::cpu: bf16_model_tolerance's derivation with tf32's rounding u = 2^-12 in place of
// bf16's 2^-9, so every bound 8 times tighter (log-probs atol = rtol = 2^-11; gradients 2^-8 in
// relative norm and of max|g| per element); visibly not fp32.
template <class D, class Make>
void check_model_tf32(Make make, attention_options attention) {
  using T = float;
  const auto cfg = tiny_config();
  transformer<cpu, T> a(cfg, 7);
  transformer<D, T> b(make(gemm_precision::tf32, attention), cfg, 7);
  const auto batch = ragged_model_batch();
  const auto [lpa, va] = a.logprobs_and_values(batch);
  const auto [lpb, vb] = b.logprobs_and_values(batch);
  const double lp_tol = std::ldexp(1.0, -11), g_tol = std::ldexp(1.0, -8);
  const std::string tag = std::string(" <tf32, attention ") + std::string(attention_impl_name(attention.impl)) + ">";
  compare(elements<T>(lpb), elements<T>(lpa), lp_tol, lp_tol, "model log-probs" + tag);
  compare(elements<T>(vb), elements<T>(va), lp_tol, lp_tol, "model values" + tag);
  const auto wl = model_weights<T>(batch, 1.0), wv = model_weights<T>(batch, -0.5);
  a.zero_grad();
  b.zero_grad();
  a.backward(batch, &wl, &wv);
  b.backward(batch, &wl, &wv);
  const auto ga = grads_of<T>(a), gb = grads_of<T>(b);
  double gmax = 0;
  for (const T x : ga) gmax = std::max(gmax, std::abs(double(x)));
  compare(gb, ga, g_tol * gmax, 0.0, "model gradients" + tag);
  const double gap = relative_norm_gap(gb, ga, "model gradients" + tag);
  BOOST_CHECK_MESSAGE(gap <= g_tol, "tf32 gradients: relative norm gap " << gap << " above " << g_tol);
  BOOST_CHECK_MESSAGE(gap > 1e-7, "tf32 gradients equal the fp32 ones: the mode is not on");
}

}  // namespace juice::test::device

// Registers the GEMM-path checks on the backend kind `make(precision, options)` returns.
#define JUICE_ATTENTION_GEMM_TESTS(make)                                                                           \
  BOOST_AUTO_TEST_CASE_TEMPLATE(gemm_batched_matches_a_triple_loop, T, juice::test::device::float_types) {         \
    auto d = make(juice::gemm_precision::fp32, juice::attention_options{});                                        \
    juice::test::device::check_gemm_batched<T>(d);                                                                 \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE_TEMPLATE(gemm_attention_matches_functors_and_cpu, T, juice::test::device::float_types) {    \
    juice::test::device::check_attention_gemm<T>(make);                                                            \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE(gemm_attention_bf16_within_bound) {                                                         \
    juice::test::device::check_attention_gemm_reduced(make, juice::gemm_precision::bf16);                          \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE(gemm_attention_tf32_within_bound) {                                                         \
    juice::test::device::check_attention_gemm_reduced(make, juice::gemm_precision::tf32);                          \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE(gemm_attention_masks_growing_keys) {                                                        \
    auto d = make(juice::gemm_precision::fp32, juice::test::device::gemm_attention(std::size_t{1} << 21));         \
    juice::test::device::check_growing_keys(d, 2, 300);                                                            \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE_TEMPLATE(model_step_gemm_attention_matches_functors, T, juice::test::device::float_types) { \
    using D = decltype(make(juice::gemm_precision::fp32, juice::attention_options{}));                             \
    juice::test::device::check_model_attention_gemm<T, D>(make, juice::test::tiny_config());                       \
    juice::test::device::check_model_attention_gemm<T, D>(make, juice::test::device::llama_family_config());       \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE(model_step_tf32_within_tf32_of_fp32) {                                                      \
    using D = decltype(make(juice::gemm_precision::fp32, juice::attention_options{}));                             \
    juice::test::device::check_model_tf32<D>(make, juice::attention_options{});                                    \
    juice::test::device::check_model_tf32<D>(make, juice::test::device::gemm_attention());                         \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE(model_bf16_with_gemm_attention_within_bf16_of_fp32_and_trains) {                            \
    using D = decltype(make(juice::gemm_precision::fp32, juice::attention_options{}));                             \
    juice::test::device::check_model_bf16<D>(                                                                      \
        [] { return make(juice::gemm_precision::bf16, juice::test::device::gemm_attention()); });                  \
  }
