// juice::round_to_tf32 (juice/backends/cuda/tf32.hpp, the tf32 GEMM mode's rounding) on values whose
// TF32 rounding is worked out by hand (10 mantissa bits: near 1 a step of 2^-10; ties to even both
// ways, negative numbers, a carry into the next binade, overflow to inf, subnormals, NaN kept),
// then over random bit patterns: the low 13 bits are zero and the result is the nearer TF32
// neighbour (the even one on a tie). Also the Thrust transform the tf32 GEMM emulation uses.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <thrust/system/omp/execution_policy.h>

#include "float_bits.hpp"
#include "juice/backends/cuda/tf32.hpp"

namespace {

using juice::test::bits;
using juice::test::from_bits;

float tf32(float x) { return juice::round_to_tf32(x); }

}  // namespace

BOOST_AUTO_TEST_CASE(values_rounded_by_hand) {
  const float s = std::ldexp(1.0f, -10), h = std::ldexp(1.0f, -11), q = std::ldexp(1.0f, -12);
  // TF32 values near 1 are 1 + k 2^-10; 1 + 2^-11 is the midpoint of 1 (even) and 1 + 2^-10 (odd).
  BOOST_TEST(tf32(1.0f + h) == 1.0f);
  BOOST_TEST(tf32(1.0f + 3 * h) == 1.0f + 2 * s);                  // midpoint of 1 + 2^-10 (odd) and 1 + 2^-9 (even): up
  BOOST_TEST(tf32(1.0f + 3 * q) == 1.0f + s);                      // 0.75 of a step: up
  BOOST_TEST(tf32(1.0f + q) == 1.0f);                              // 0.25 of a step: down
  BOOST_TEST(tf32(1.0f + h + std::ldexp(1.0f, -23)) == 1.0f + s);  // just above a tie
  BOOST_TEST(tf32(1.0f + h - std::ldexp(1.0f, -23)) == 1.0f);      // just below it
  // 1 + 5 2^-11 = 1 + 2.5 steps: the tie goes to 1 + 2 2^-10 (even); 1 + 7 2^-11 to 1 + 4 2^-10.
  BOOST_TEST(tf32(1.0f + 5 * h) == 1.0f + 2 * s);
  BOOST_TEST(tf32(1.0f + 7 * h) == 1.0f + 4 * s);
  // Negative numbers round by magnitude.
  BOOST_TEST(tf32(-(1.0f + h)) == -1.0f);
  BOOST_TEST(tf32(-(1.0f + 3 * h)) == -(1.0f + 2 * s));
  // A carry out of the mantissa: 2 - 2^-12 is above the midpoint of 2 - 2^-10 and 2.
  BOOST_TEST(tf32(2.0f - q) == 2.0f);
  // Values with at most 11 significant bits stay; 1 + 2^-10 + 2^-11 (12 bits) does not.
  for (const float v : {0.0f, 1.0f, -3.25f, 1.0f + s, 2047.0f, std::ldexp(1.0f, 100), std::ldexp(-1.0f, -100)})
    BOOST_TEST(tf32(v) == v);
  BOOST_TEST(tf32(4095.0f) == 4096.0f);  // 12 significant bits, the last one a tie with odd kept part
  BOOST_TEST(tf32(4093.0f) == 4092.0f);  // 4093 = 4092 + 1 between 4092 (even) and 4094 (odd): down
  BOOST_TEST(bits(tf32(-0.0f)) == bits(-0.0f));
  // The top of the range: the largest TF32 is (2 - 2^-10) 2^127 (bits 0x7f7fe000); the float just
  // below the midpoint to 2^128 rounds down, the midpoint itself (odd kept part) to inf.
  const float inf = std::numeric_limits<float>::infinity();
  BOOST_TEST(bits(tf32(from_bits(0x7f7fefffu))) == 0x7f7fe000u);
  BOOST_TEST(tf32(from_bits(0x7f7ff000u)) == inf);
  BOOST_TEST(tf32(std::numeric_limits<float>::max()) == inf);
  BOOST_TEST(tf32(inf) == inf);
  BOOST_TEST(tf32(-inf) == -inf);
  // Subnormals round on the same bits: 0x00001fff (just under one step of 2^-136) rounds up.
  BOOST_TEST(bits(tf32(from_bits(0x00001fffu))) == 0x00002000u);
  BOOST_TEST(bits(tf32(from_bits(0x00001000u))) == 0u);  // a tie with even kept part 0: down
  // NaN stays NaN, also a signalling one whose payload lies in the dropped bits only.
  BOOST_TEST(std::isnan(tf32(std::numeric_limits<float>::quiet_NaN())));
  BOOST_TEST(std::isnan(tf32(from_bits(0x7f800001u))));
  BOOST_TEST(std::isnan(tf32(from_bits(0xff800fffu))));
}

BOOST_AUTO_TEST_CASE(random_bit_patterns_round_to_the_nearest_tf32_value) {
  std::mt19937 g(5);
  std::uniform_int_distribution<std::uint32_t> any;
  for (int i = 0; i < 100000; ++i) {
    const std::uint32_t u = any(g) & 0x7fffffffu;  // positive; the sign is handled by magnitude above
    if ((u & 0x7f800000u) == 0x7f800000u) continue;
    const float x = from_bits(u), r = tf32(x);
    BOOST_REQUIRE((bits(r) & 0x1fffu) == 0u);
    const std::uint32_t lo = u & 0xffffe000u, hi = lo + 0x2000u;
    const double dlo = double(x) - double(from_bits(lo)), dhi = double(from_bits(hi)) - double(x);
    const std::uint32_t want = dlo < dhi ? lo : dhi < dlo ? hi
                                                          : (((lo >> 13) & 1u) ? hi : lo);
    BOOST_REQUIRE_MESSAGE(bits(r) == want, "round_to_tf32 of bits " << u);
  }
}

BOOST_AUTO_TEST_CASE(the_thrust_transform_rounds_every_element) {
  std::vector<float> x{1.0f + std::ldexp(1.0f, -11), 3.0f, -(1.0f + 3 * std::ldexp(1.0f, -11))}, y(3);
  juice::device_kernels::round_to_tf32(thrust::omp::par, x.data(), y.data(), 3);
  BOOST_TEST(y[0] == 1.0f);
  BOOST_TEST(y[1] == 3.0f);
  BOOST_TEST(y[2] == -(1.0f + std::ldexp(1.0f, -9)));
}
