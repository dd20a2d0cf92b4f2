// core/: batches and their row operations, the random number generator, minibatch streams.
#include <algorithm>
#include <cmath>
#include <set>

#include <boost/test/unit_test.hpp>

#include "juice/algorithms/detail/minibatches.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/rng.hpp"
#include "juice_test.hpp"

using namespace juice;

BOOST_AUTO_TEST_CASE(batch_shapes_and_response_mask) {
  sequence_batch b(2, 5);
  BOOST_CHECK_EQUAL(b.rows(), 2u);
  BOOST_CHECK_EQUAL(b.width(), 5u);
  BOOST_CHECK_CLOSE(b.weight(0), 0.5, 1e-12);
  b.prompt_length(0) = 2;
  b.length(0) = 4;
  BOOST_CHECK(!b.is_response(0, 1));
  BOOST_CHECK(b.is_response(0, 2));
  BOOST_CHECK(b.is_response(0, 3));
  BOOST_CHECK(!b.is_response(0, 4));
  BOOST_CHECK_EQUAL(b.response_length(0), 2u);
  sequence_batch empty;
  BOOST_CHECK_EQUAL(empty.rows(), 0u);
}

BOOST_AUTO_TEST_CASE(validate_names_the_row) {
  auto b = test::bandit_rows({{0, 1}, {0, 2}});
  BOOST_CHECK_NO_THROW(validate(b, "here"));
  b.length(1) = 7;
  try {
    validate(b, "demos");
    BOOST_ERROR("accepted a row longer than the batch");
  } catch (const invalid_argument& e) {
    BOOST_CHECK_NE(std::string(e.what()).find("demos: row 1"), std::string::npos);
  }
  b = test::bandit_rows({{0, 1}});
  b.weight(0) = std::nan("");
  BOOST_CHECK_THROW(validate(b, "w"), invalid_argument);
  b = test::bandit_rows({{0, 1}});
  b.prompt_length(0) = 0;
  BOOST_CHECK_THROW(validate(b, "p"), invalid_argument);
}

BOOST_AUTO_TEST_CASE(row_operations) {
  auto a = test::bandit_rows({{0, 1}, {1, 2}, {2, 3}});
  const std::vector<std::size_t> idx{2, 0};
  const auto s = select_rows(a, idx);
  BOOST_CHECK_EQUAL(s.rows(), 2u);
  BOOST_CHECK_EQUAL(s.tokens(0, 0), 2);
  BOOST_CHECK_EQUAL(s.tokens(1, 1), 1);
  BOOST_CHECK_EQUAL(s.source(0), 2);
  const std::vector<std::size_t> bad{3};
  BOOST_CHECK_THROW(select_rows(a, bad), invalid_argument);

  const auto c = concat_rows(a, s);
  BOOST_CHECK_EQUAL(c.rows(), 5u);
  BOOST_CHECK_EQUAL(c.tokens(3, 0), 2);

  const auto p = prompts_of(a);
  BOOST_CHECK_EQUAL(p.width(), 1u);
  BOOST_CHECK_EQUAL(p.length(1), 1);
  BOOST_CHECK_EQUAL(p.tokens(1, 0), 1);
  BOOST_CHECK_EQUAL(p.source(2), 2);
}

BOOST_AUTO_TEST_CASE(sequence_sum_and_spread_are_adjoint) {
  sequence_batch b(2, 4);
  b.prompt_length(0) = 1;
  b.length(0) = 4;
  b.prompt_length(1) = 2;
  b.length(1) = 3;
  token_values<double> v = xt::zeros<double>({2, 4});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t t = 0; t < 4; ++t) v(i, t) = 10.0 * static_cast<double>(i) + static_cast<double>(t) + 1;
  const auto s = sequence_sum(v, b);
  BOOST_CHECK_EQUAL(s(0), 2 + 3 + 4);  // positions 1..3 of row 0
  BOOST_CHECK_EQUAL(s(1), 13);         // position 2 of row 1
  const std::vector<double> w{0.5, -2};
  const auto spread = spread_over_response<double>(w, b);
  // <spread, v> = sum_b w_b s_b
  double inner = 0;
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t t = 0; t < 4; ++t) inner += spread(i, t) * v(i, t);
  BOOST_CHECK_CLOSE(inner, 0.5 * 9 - 2 * 13, 1e-12);
  BOOST_CHECK_EQUAL(spread(0, 0), 0);
  BOOST_CHECK_EQUAL(spread(1, 3), 0);
}

BOOST_AUTO_TEST_CASE(pairs_carry_generation_weights) {
  auto data = test::bandit_rows({{0, 0}, {1, 1}});
  auto gen = test::bandit_rows({{1, 2}, {0, 1}, {1, 0}});
  gen.source(0) = 1;
  gen.source(1) = 0;
  gen.source(2) = 1;
  gen.weight(0) = 0.2;
  gen.weight(1) = 0.5;
  gen.weight(2) = 0.3;
  const auto pairs = make_pairs(data, gen);
  BOOST_CHECK_EQUAL(pairs.rows(), 3u);
  BOOST_CHECK_EQUAL(pairs.chosen.tokens(0, 0), 1);
  BOOST_CHECK_EQUAL(pairs.chosen.tokens(1, 1), 0);
  BOOST_CHECK_EQUAL(pairs.weight(1), 0.5);
  const std::vector<std::size_t> idx{0};
  const auto sub = select_pairs(pairs, idx);
  BOOST_CHECK_CLOSE(sub.weight(0), 0.2 * 3, 1e-12);  // unbiased rescaling
  gen.source(0) = 5;
  BOOST_CHECK_THROW(make_pairs(data, gen), invalid_argument);
}

BOOST_AUTO_TEST_CASE(rng_is_reproducible_and_uniform) {
  rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a(), y = b(), z = c();
    BOOST_REQUIRE_EQUAL(x, y);
    differs = differs || x != z;
  }
  BOOST_CHECK(differs);
  // Streams are reproducible and distinct.
  BOOST_CHECK_EQUAL(rng::stream(7, 3)(), rng::stream(7, 3)());
  BOOST_CHECK_NE(rng::stream(7, 3)(), rng::stream(7, 4)());
  // uniform() in [0,1) with mean 1/2, variance 1/12: 4 standard errors.
  rng g(1);
  const int n = 200000;
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    const double u = g.uniform();
    BOOST_REQUIRE(u >= 0 && u < 1);
    sum += u;
  }
  BOOST_CHECK_LT(std::abs(sum / n - 0.5), 4 * std::sqrt(1.0 / 12 / n));
}

BOOST_AUTO_TEST_CASE(categorical_frequencies_match_weights) {
  rng g(5);
  const std::vector<double> w{0.1, 0.0, 0.6, 0.3};
  std::vector<int> hits(4, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) ++hits[g.categorical(std::span<const double>(w))];
  BOOST_CHECK_EQUAL(hits[1], 0);
  for (std::size_t k = 0; k < 4; ++k) {
    const double se = std::sqrt(w[k] * (1 - w[k]) / n);
    BOOST_CHECK_LE(std::abs(hits[k] / double(n) - w[k]), 4 * se + 1e-12);
  }
  const std::vector<double> zero{0.0, 0.0};
  BOOST_CHECK_THROW(g.categorical(std::span<const double>(zero)), invalid_argument);
  BOOST_CHECK_THROW(g.below(0), invalid_argument);
}

BOOST_AUTO_TEST_CASE(minibatches_cover_every_row_once_per_pass) {
  rng g(3);
  detail::minibatches mb(10, 5);
  BOOST_CHECK(!mb.full_batch());
  std::multiset<std::size_t> seen;
  for (int k = 0; k < 2; ++k)
    for (auto i : mb.next(g)) seen.insert(i);
  for (std::size_t i = 0; i < 10; ++i) BOOST_CHECK_EQUAL(seen.count(i), 1u);
  detail::minibatches full(4, 0);
  BOOST_CHECK(full.full_batch());
  BOOST_CHECK((full.next(g) == std::vector<std::size_t>{0, 1, 2, 3}));
}
