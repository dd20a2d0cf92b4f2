// juice::round_to_bf16 (juice/backends/cuda/bf16.hpp) on the host: values whose bf16 rounding is
// known by hand (ties to even both ways, negative numbers, overflow of the largest floats to inf,
// subnormals, NaN payloads that naive rounding would turn into inf), then properties over random
// bit patterns: the low 16 bits are zero, the result is the nearer of the two bf16 neighbours (the
// even one on a tie), and it equals an arithmetic reference (tests/support/bf16_reference.hpp) and
// the host-only conversion of the safetensors writer (juice/io/float16.hpp).
// Also the Thrust transform that the bf16 GEMM emulation uses, on the OpenMP system.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <thrust/system/omp/execution_policy.h>

#include "bf16_reference.hpp"
#include "float_bits.hpp"
#include "juice/backends/cuda/bf16.hpp"
#include "juice/io/float16.hpp"

namespace {

using juice::test::bits;
using juice::test::from_bits;

// The bits of round_to_bf16(x), compared as bits so that -0 and 0 differ and NaN compares.
std::uint32_t rounded_bits(float x) { return bits(juice::round_to_bf16(x)); }

}  // namespace

BOOST_AUTO_TEST_CASE(values_rounded_by_hand) {
  const float p8 = std::ldexp(1.0f, -8), p7 = std::ldexp(1.0f, -7), p6 = std::ldexp(1.0f, -6);
  // bf16 values near 1 are 1 + k 2^-7: 1 + 2^-8 is the midpoint of 1 (even) and 1 + 2^-7 (odd).
  BOOST_TEST(juice::round_to_bf16(1.0f + p8) == 1.0f);
  BOOST_TEST(juice::round_to_bf16(1.0f + 3 * std::ldexp(1.0f, -9)) == 1.0f + p7);    // 0.75 of a step: up
  BOOST_TEST(juice::round_to_bf16(1.0f + std::ldexp(1.0f, -9)) == 1.0f);             // 0.25 of a step: down
  BOOST_TEST(juice::round_to_bf16(1.0f + 3 * p8) == 1.0f + p6);                      // midpoint of 1+2^-7 (odd), 1+2^-6 (even): up
  BOOST_TEST(juice::round_to_bf16(1.0f + p8 + std::ldexp(1.0f, -20)) == 1.0f + p7);  // just above a tie
  // Negative numbers round by magnitude.
  BOOST_TEST(juice::round_to_bf16(-(1.0f + p8)) == -1.0f);
  BOOST_TEST(juice::round_to_bf16(-(1.0f + 3 * std::ldexp(1.0f, -9))) == -(1.0f + p7));
  BOOST_TEST(juice::round_to_bf16(-(1.0f + 3 * p8)) == -(1.0f + p6));
  // A carry out of the mantissa moves to the next binade: 2 - 2^-9 is above the midpoint of 2 - 2^-7 and 2.
  BOOST_TEST(juice::round_to_bf16(2.0f - std::ldexp(1.0f, -9)) == 2.0f);
  // Exactly representable values stay.
  for (const float v : {0.0f, 1.0f, -3.25f, 1.5f, std::ldexp(1.0f, 100), std::ldexp(-1.0f, -100), 255.0f})
    BOOST_TEST(juice::round_to_bf16(v) == v);
  BOOST_TEST(rounded_bits(-0.0f) == bits(-0.0f));

  // The top of the range: the largest bf16 is (2 - 2^-7) 2^127 (bits 0x7f7f0000).
  const float bf16_max = from_bits(0x7f7f0000u), inf = std::numeric_limits<float>::infinity();
  BOOST_TEST(juice::round_to_bf16(bf16_max) == bf16_max);
  BOOST_TEST(juice::round_to_bf16(from_bits(0x7f7f7fffu)) == bf16_max);  // just below the midpoint
  BOOST_TEST(juice::round_to_bf16(from_bits(0x7f7f8000u)) == inf);       // the midpoint; bf16_max is odd
  BOOST_TEST(juice::round_to_bf16(std::numeric_limits<float>::max()) == inf);
  BOOST_TEST(juice::round_to_bf16(-std::numeric_limits<float>::max()) == -inf);
  BOOST_TEST(juice::round_to_bf16(inf) == inf);
  BOOST_TEST(juice::round_to_bf16(-inf) == -inf);

  // Subnormals: bf16's smallest is 2^-133 (its 7 mantissa bits at the float's least exponent).
  const float s133 = std::ldexp(1.0f, -133);
  BOOST_TEST(juice::round_to_bf16(s133) == s133);
  BOOST_TEST(rounded_bits(std::ldexp(1.0f, -134)) == bits(0.0f));                             // midpoint of 0 (even) and 2^-133
  BOOST_TEST(juice::round_to_bf16(std::ldexp(1.0f, -134) + std::ldexp(1.0f, -149)) == s133);  // just above it
  BOOST_TEST(juice::round_to_bf16(3 * std::ldexp(1.0f, -134)) == std::ldexp(1.0f, -132));     // tie 2^-133 (odd) / 2^-132
  BOOST_TEST(rounded_bits(std::numeric_limits<float>::denorm_min()) == bits(0.0f));
  BOOST_TEST(rounded_bits(-std::numeric_limits<float>::denorm_min()) == bits(-0.0f));
  // The largest subnormal float rounds up into the normal range, to the smallest normal 2^-126.
  BOOST_TEST(juice::round_to_bf16(from_bits(0x007fffffu)) == std::numeric_limits<float>::min());

  // NaN stays NaN, also a signalling NaN whose payload lies only in the 16 bits that are dropped
  // (0x7f800001 + 0x7fff truncates to inf's bit pattern without the quieting).
  for (const std::uint32_t nan : {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u, 0x7f80ffffu, 0x7fffffffu}) {
    const std::uint32_t r = rounded_bits(from_bits(nan));
    BOOST_TEST_INFO("NaN 0x" << std::hex << nan << " -> 0x" << r);
    BOOST_TEST(std::isnan(from_bits(r)));
    BOOST_TEST((r & 0x80000000u) == (nan & 0x80000000u));  // sign kept
  }
}

BOOST_AUTO_TEST_CASE(nearest_neighbour_property_over_random_bit_patterns) {
  std::mt19937 g(42);
  std::size_t checked = 0;
  for (int i = 0; i < 65536; ++i) {
    std::uint32_t u = static_cast<std::uint32_t>(g());
    if (i % 4 == 1) u = (u & 0xffff0000u) | 0x8000u;  // exact ties, a quarter of the draws
    const float x = from_bits(u);
    const std::uint32_t r = rounded_bits(x);
    // The checkpoint writer's host-only conversion (juice/io/float16.hpp) must agree, NaN included.
    BOOST_TEST(r == bits(juice::io::bf16_to_float(juice::io::float_to_bf16(x))));
    if (std::isnan(x)) continue;
    // The two bf16 neighbours of x: toward zero (truncated) and the next one away from zero (which
    // may be inf, whose value as a neighbour is 2^128 in magnitude: the first value beyond the range).
    const std::uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
    const auto value = [](std::uint32_t b) {
      if ((b & 0x7fffffffu) == 0x7f800000u) return std::copysign(std::ldexp(1.0, 128), double(from_bits(b)));
      return double(from_bits(b));
    };
    const double dx = x, dlo = std::abs(value(lo) - dx), dhi = std::abs(value(hi) - dx);
    BOOST_TEST_INFO("x bits 0x" << std::hex << u << " -> 0x" << r);
    BOOST_TEST((r & 0xffffu) == 0u);
    BOOST_TEST((r == lo || r == hi));
    const std::uint32_t other = r == lo ? hi : lo;
    const double mine = r == lo ? dlo : dhi, theirs = r == lo ? dhi : dlo;
    BOOST_TEST(mine <= theirs);
    if (mine == theirs) BOOST_TEST((r & 0x10000u) == 0u, "a tie goes to the even neighbour, not 0x" << std::hex << other);
    if (std::isfinite(x)) BOOST_TEST(r == bits(juice::test::bf16_reference(x)));
    ++checked;
  }
  BOOST_TEST(checked > 62000u);  // all but the NaN patterns (1 in 256 of the random ones)
}

BOOST_AUTO_TEST_CASE(thrust_transform_rounds_every_element) {
  std::mt19937 g(7);
  std::normal_distribution<float> d(0.0f, 10.0f);
  std::vector<float> x(1001), y(1001, 0.0f);
  for (auto& v : x) v = d(g);
  juice::device_kernels::round_to_bf16(thrust::omp::par, x.data(), y.data(), static_cast<std::ptrdiff_t>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) BOOST_TEST(bits(y[i]) == bits(juice::test::bf16_reference(x[i])));
  juice::device_kernels::round_to_bf16(thrust::omp::par, x.data(), x.data(), static_cast<std::ptrdiff_t>(x.size()));
  BOOST_TEST(x == y, boost::test_tools::per_element());
}
