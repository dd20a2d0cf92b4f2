// core/rng.hpp: an rng's state is (seed, words drawn); an rng restored from it continues the
// stream exactly, whichever draws (words, uniforms, bounded integers, categorical, normals) came
// before, and the state counts words as a plain std::mt19937_64 of the same seed would emit them.
#include <cstdint>
#include <ostream>
#include <span>
#include <random>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "juice/core/rng.hpp"

using namespace juice;

namespace juice {
std::ostream& operator<<(std::ostream& os, const rng_state& s) { return os << "{seed " << s.seed << ", draws " << s.draws << "}"; }
}  // namespace juice

namespace {
// A mix of every kind of draw, recorded as raw bits.
std::vector<std::uint64_t> draws(rng& g, int n) {
  std::vector<std::uint64_t> out;
  const std::vector<double> w{0.2, 0.0, 0.5, 0.3};
  for (int i = 0; i < n; ++i) {
    out.push_back(g());
    const double u = g.uniform();
    out.push_back(static_cast<std::uint64_t>(u * 0x1.0p53));
    out.push_back(g.below(7 + static_cast<std::uint64_t>(i)));
    out.push_back(g.categorical(std::span<const double>(w)));
    const double z = standard_normal(g);
    out.push_back(static_cast<std::uint64_t>(static_cast<std::int64_t>(z * 0x1.0p40)));
  }
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_restored_rng_continues_the_same_stream) {
  rng g(12345);
  (void)draws(g, 17);
  const rng_state saved = g.state();
  const std::vector<std::uint64_t> expected = draws(g, 50);
  rng h = rng::from_state(saved);
  BOOST_TEST(h.state() == saved);
  BOOST_TEST(draws(h, 50) == expected);
  BOOST_TEST(h.state() == g.state());
}

BOOST_AUTO_TEST_CASE(the_state_counts_the_engines_words) {
  // Independent reference: a plain std::mt19937_64 with the same seed, stepped by hand.
  std::mt19937_64 ref(99);
  rng g(99);
  BOOST_TEST(g.state().seed == 99u);
  BOOST_TEST(g.state().draws == 0u);
  for (int i = 0; i < 10; ++i) BOOST_TEST(g() == ref());
  (void)g.uniform();
  (void)ref();
  BOOST_TEST(g.state().draws == 11u);
  // A restored generator at word k emits the reference's word k + 1.
  rng h = rng::from_state({99, 1000});
  std::mt19937_64 r2(99);
  for (int i = 0; i < 1000; ++i) (void)r2();
  BOOST_TEST(h() == r2());
  BOOST_TEST(h.state().draws == 1001u);
}

BOOST_AUTO_TEST_CASE(a_sub_stream_saves_its_own_seed) {
  rng s = rng::stream(7, 3);
  (void)s();
  const rng_state st = s.state();
  const std::uint64_t next = s();
  BOOST_TEST(rng::from_state(st)() == next);
  BOOST_TEST(st.seed != 7u);  // the stream's derived seed, not the parent's
}
