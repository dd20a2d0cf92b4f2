// A float's IEEE bit pattern and back, for tests that check roundings bit for bit (so that -0 and 0
// differ and NaN payloads compare).
#pragma once

#include <bit>
#include <cstdint>

namespace juice::test {

inline std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }
inline float from_bits(std::uint32_t u) { return std::bit_cast<float>(u); }

}  // namespace juice::test
