// juice/backends/cpu/fast_exp.hpp
//
// exp in float for the loops that the compiler should vectorise (GELU's tanh, the LM head's
// softmax): libm's expf is a scalar call, so a loop over the vocabulary that calls it runs at
// one element per call, while this branch-free polynomial (Cephes expf: range reduction by ln 2,
// degree-6 polynomial, scaling by 2^n through the exponent bits) runs 8 or 16 lanes at a time. Its
// relative error is about 1e-7 (a float rounding or two) over the range each function states.
#pragma once

#include <bit>
#include <cstdint>

namespace juice::cpu_kernels {

// exp(x) for x in [-87, 88], vectorisable: no branches and no float-to-int conversion (the nearest
// integer n comes from the 1.5 * 2^23 rounding trick, 2^n from the exponent bits).
inline float exp_small_negative(float x) {
  constexpr float magic = 12582912.0f;  // 1.5 * 2^23
  const float shifted = x * 1.44269504088896341f + magic;
  const float n = shifted - magic;
  const float r = x - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const std::int32_t ni = std::bit_cast<std::int32_t>(shifted) - std::bit_cast<std::int32_t>(magic);
  return y * std::bit_cast<float>((ni + 127) << 23);
}

// exp(x) for x <= 0.5 (a log-probability or a logit minus the row maximum), vectorisable: below
// -87 (where exp underflows float's normal range, and 2^n would no longer fit the exponent bits)
// the argument is clamped, so exp returns about 1e-38 instead of 0 or a subnormal, which no sum or
// gradient of a softmax can tell apart. A NaN argument stays NaN (the comparison is false for it),
// so a NaN logit still poisons the loss as it should.
inline float exp_nonpositive(float x) {
  const float lo = -87.0f;
  return exp_small_negative(x < lo ? lo : x);
}

}  // namespace juice::cpu_kernels
