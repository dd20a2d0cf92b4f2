// juice/core/rng.hpp
//
// The library's random number generator. Standard library distributions are implementation-defined,
// so results drawn through them differ between standard libraries; juice draws everything through
// this engine and its own transforms, so a seed gives bit-identical results everywhere. For the same
// reason its state is saved as (seed, number of words drawn) rather than as the engine's text form,
// whose layout differs between standard libraries: a checkpointed rng restores exactly with any of
// them. The restore replays the stream with the engine's discard(): about 5 ns per word drawn (5 s
// after 10^9 draws; a run draws about one word per sampled token and per data shuffle step).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <span>

#include "juice/core/error.hpp"

namespace juice {

// The complete state of a juice::rng: the seed its engine started from and how many 64-bit words
// it has drawn since. Two words, so it fits any checkpoint format as plain integers.
struct rng_state {
  std::uint64_t seed = 0;
  std::uint64_t draws = 0;
  friend bool operator==(const rng_state&, const rng_state&) = default;
};

class rng {
public:
  using result_type = std::uint64_t;

  explicit rng(std::uint64_t seed = 0x6a75696365ULL) : engine_(seed), seed_(seed) {}

  // A generator in the given state: it continues exactly where the saved one stopped.
  [[nodiscard]] static rng from_state(const rng_state& s) {
    rng g(s.seed);
    g.engine_.discard(s.draws);
    g.draws_ = s.draws;
    return g;
  }
  // The state to save (see rng_state).
  [[nodiscard]] rng_state state() const { return {seed_, draws_}; }

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
  result_type operator()() { return next(); }

  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), unbiased (rejection on the top range).
  std::uint64_t below(std::uint64_t n) {
    if (n == 0) throw invalid_argument("juice::rng::below: the range is empty (n = 0).");
    const std::uint64_t limit = max() - max() % n;
    std::uint64_t x;
    do { x = next(); } while (x >= limit);
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
  // Every draw goes through here, so draws_ counts exactly the words taken from the engine.
  result_type next() {
    ++draws_;
    return engine_();
  }

  std::mt19937_64 engine_;
  std::uint64_t seed_;
  std::uint64_t draws_ = 0;
};

// One standard normal draw (Box-Muller; one uniform pair per draw, so draws never depend on parity
// and a seed gives the same numbers with every standard library).
inline double standard_normal(rng& g) {
  const double u1 = 1.0 - g.uniform();  // (0, 1]
  const double u2 = g.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace juice
