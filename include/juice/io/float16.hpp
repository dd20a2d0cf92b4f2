// juice/io/float16.hpp
//
// Bit-exact conversions between float and the two 16-bit floating-point formats found in
// checkpoints: IEEE 754 binary16 ("F16": 1 sign, 5 exponent, 10 mantissa bits) and bfloat16
// ("BF16": the top half of a binary32). Widening (16 -> 32 bits) is exact, including subnormals,
// signed zeros, infinities and NaN payloads. Narrowing rounds to nearest, ties to even, as IEEE 754
// and the hardware converters do: values at or above 65520 become F16 infinity, values below 2^-25
// flush to a signed zero through the F16 subnormals, and a NaN stays a (quiet) NaN. Written on bit
// patterns (std::bit_cast) so the results never depend on the compiler's floating-point mode.
#pragma once

#include <bit>
#include <cstdint>

namespace juice::io {

// binary16 bits -> float (exact).
inline float f16_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  const std::uint32_t man = h & 0x3FFu;
  if (exp == 0x1F)  // infinity or NaN: the payload moves to the top of the binary32 mantissa
    return std::bit_cast<float>(sign | 0x7F800000u | (man << 13));
  if (exp != 0)  // normal: rebias the exponent (15 -> 127)
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (man << 13));
  if (man == 0) return std::bit_cast<float>(sign);
  // Subnormal man * 2^-24: normalise so the leading one becomes the implicit bit.
  std::uint32_t e = 113;  // biased exponent of 2^-14
  std::uint32_t m = man;
  while ((m & 0x400u) == 0) {
    m <<= 1;
    --e;
  }
  return std::bit_cast<float>(sign | (e << 23) | ((m & 0x3FFu) << 13));
}

// float -> binary16 bits, round to nearest even.
inline std::uint16_t float_to_f16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u)  // NaN: keep the top payload bits and set the quiet bit so it cannot become infinity
    return static_cast<std::uint16_t>(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
  if (ax >= 0x477FF000u)  // >= 65520 = halfway between 65504 (the largest binary16) and 65536: infinity
    return static_cast<std::uint16_t>(sign | 0x7C00u);
  if (ax >= 0x38800000u) {  // >= 2^-14: a normal binary16
    std::uint32_t h = (((ax >> 23) - 112u) << 10) | ((ax >> 13) & 0x3FFu);
    const std::uint32_t rest = ax & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry may roll into the exponent: still right
    return static_cast<std::uint16_t>(sign | h);
  }
  if (ax < 0x33000000u) return sign;  // below 2^-25 (half the smallest subnormal): a signed zero
  // Subnormal result: value = mant * 2^(e-150) in units of 2^-24 is mant >> (126 - e).
  const std::uint32_t e = ax >> 23;  // 102 .. 112
  const std::uint32_t mant = (ax & 0x7FFFFFu) | 0x800000u;
  const std::uint32_t shift = 126u - e;  // 14 .. 24
  std::uint32_t h = mant >> shift;
  const std::uint32_t rest = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  if (rest > half || (rest == half && (h & 1u))) ++h;  // may reach 0x400, the smallest normal: right too
  return static_cast<std::uint16_t>(sign | h);
}

// bfloat16 bits -> float (exact).
inline float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// float -> bfloat16 bits, round to nearest even.
inline std::uint16_t float_to_bf16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u)  // NaN: truncating could clear every payload bit; force the quiet bit
    return static_cast<std::uint16_t>((x >> 16) | 0x0040u);
  const std::uint32_t rounded = x + 0x7FFFu + ((x >> 16) & 1u);  // overflow past the largest finite gives infinity
  return static_cast<std::uint16_t>(rounded >> 16);
}

}  // namespace juice::io
