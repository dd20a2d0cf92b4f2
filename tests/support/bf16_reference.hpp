// An independent reference for juice::round_to_bf16 (juice/backends/cuda/bf16.hpp), written in
// arithmetic rather than on the float's bits: frexp splits x into m 2^e with |m| in [1/2, 1), the
// bf16 quantum at that binade is 2^(e-8) (8 significant bits), but never below 2^-133, the
// smallest bf16 subnormal (bf16 has the float's exponent range and 7 stored mantissa bits), and
// nearbyint in the default rounding mode rounds to nearest, ties to even. Finite inputs only; a
// result beyond the float range (rounding up past the largest bf16) is returned as +-inf.
#pragma once

#include <cmath>
#include <limits>

namespace juice::test {

inline float bf16_reference(float x) {
  if (x == 0.0f || !std::isfinite(x)) return x;
  int e = 0;
  (void)std::frexp(static_cast<double>(x), &e);
  const int q = e - 8 > -133 ? e - 8 : -133;  // log2 of the quantum
  const double r = std::ldexp(std::nearbyint(std::ldexp(static_cast<double>(x), -q)), q);
  if (std::abs(r) > static_cast<double>(std::numeric_limits<float>::max()))
    return std::copysign(std::numeric_limits<float>::infinity(), x);
  return std::copysign(static_cast<float>(r), x);  // copysign keeps -0 for negative values rounding to 0
}

}  // namespace juice::test
