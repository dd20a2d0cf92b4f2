// juice/core/rng.hpp
//
// The library's random number generator. Standard library distributions are implementation-defined,
// so results drawn through them differ between standard libraries; juice draws everything through
// this engine and its own transforms, so a seed gives bit-identical results everywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <span>

#include "juice/core/error.hpp"

namespace juice {

class rng {
public:
  using result_type = std::uint64_t;

  explicit rng(std::uint64_t seed = 0x6a75696365ULL) : engine_(seed) {}

  // A generator for an independent sub-stream: the same (seed, stream) always gives the same draws.
  [[nodiscard]] static rng stream(std::uint64_t seed, std::uint64_t stream_id) {
    // splitmix64 finaliser decorrelates neighbouring stream ids.
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream_id + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return rng(z ^ (z >> 31));
  }

  static constexpr result_type min() { return std::mt19937_64::min(); }
  static constexpr result_type max() { return std::mt19937_64::max(); }
  result_type operator()() { return engine_(); }

  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), unbiased (rejection on the top range).
  std::uint64_t below(std::uint64_t n) {
    if (n == 0) throw invalid_argument("juice::rng::below: the range is empty (n = 0).");
    const std::uint64_t limit = max() - max() % n;
    std::uint64_t x;
    do { x = engine_(); } while (x >= limit);
    return x % n;
  }

  // Index drawn with probability proportional to weights[i] (non-negative, not all zero).
  template <class T>
  std::size_t categorical(std::span<const T> weights) {
    double total = 0;
    for (T w : weights) total += static_cast<double>(w);
    if (!(total > 0) || !std::isfinite(total))
      throw invalid_argument("juice::rng::categorical: the weights must be finite, non-negative and not all zero.");
    const double u = uniform() * total;
    double acc = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      acc += static_cast<double>(weights[i]);
      if (u < acc) return i;
    }
    // Rounding can leave u just above the running sum: return the last index with positive weight.
    for (std::size_t i = weights.size(); i-- > 0;)
      if (weights[i] > 0) return i;
    return weights.size() - 1;
  }

private:
  std::mt19937_64 engine_;
};

// One standard normal draw (Box-Muller; one uniform pair per draw, so draws never depend on parity
// and a seed gives the same numbers with every standard library).
inline double standard_normal(rng& g) {
  const double u1 = 1.0 - g.uniform();  // (0, 1]
  const double u2 = g.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace juice
