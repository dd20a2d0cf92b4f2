// juice/mdp/prefix_tree.hpp and the tabular policy on it: state counts from closed forms, the
// parent/child maps, terminal masks, enumeration, and the optimised tabular policy's log-probs and
// backward pass against their definitions.
#include <cmath>
#include <set>

#include <boost/test/unit_test.hpp>

#include "juice/core/batch_ops.hpp"
#include "juice/diagnostics/diagnostics.hpp"
#include "juice/mdp/mdp.hpp"
#include "juice_test.hpp"
#include "mdp_test.hpp"

using namespace juice;
using test::tree;
using test::tree_policy;

static_assert(tabular::TabularSpace<tree>);
static_assert(EnumerablePolicy<tabular::policy<double, tree>>);
static_assert(EnumerablePolicy<tabular::policy<float, tree>>);
static_assert(RewardModel<tabular::reward<double, tree>>);
static_assert(RewardModel<tabular::linear_reward<double, tree>>);

namespace {
std::size_t ipow(std::size_t b, std::size_t e) {
  std::size_t r = 1;
  while (e--) r *= b;
  return r;
}
}  // namespace

BOOST_AUTO_TEST_CASE(state_and_response_counts_match_closed_forms) {
  for (std::size_t V : {1u, 2u, 3u, 5u})
    for (std::size_t H : {1u, 2u, 3u, 4u}) {
      const tree t(2, V, H);
      std::size_t states = 0;
      for (std::size_t d = 0; d < H; ++d) states += ipow(V, d);
      BOOST_TEST(t.states_per_prompt() == states);
      BOOST_TEST(t.num_states() == 2 * states);
      BOOST_TEST(t.responses_per_prompt() == ipow(V, H));
      if (V >= 2) {
        // With EOS: b = V - 1 continuing tokens; responses = sum_{d < H-1} b^d (one EOS each) + b^{H-1} V.
        const tree e(1, V, H, token_t{0});
        std::size_t st = 0, resp = 0;
        for (std::size_t d = 0; d < H; ++d) st += ipow(V - 1, d);
        for (std::size_t d = 0; d + 1 < H; ++d) resp += ipow(V - 1, d);
        resp += ipow(V - 1, H - 1) * V;
        BOOST_TEST(e.num_states() == st);
        BOOST_TEST(e.responses_per_prompt() == resp);
      }
    }
}

BOOST_AUTO_TEST_CASE(parent_child_maps_are_consistent) {
  const tree t(3, 3, 3, token_t{2});
  std::set<std::vector<token_t>> prefixes;
  for (std::size_t s = 0; s < t.num_states(); ++s) {
    const auto p = t.prefix(s);
    BOOST_TEST(p.size() == t.depth(s));
    BOOST_TEST(prefixes.insert([&] { auto q = p; q.insert(q.begin(), static_cast<token_t>(t.prompt(s))); return q; }()).second);
    for (token_t a : p) BOOST_TEST(a != 2);  // no EOS inside a prefix
    if (t.parent(s) == tree::none) {
      BOOST_TEST(s == t.root(t.prompt(s)));
    } else {
      const auto par = static_cast<std::size_t>(t.parent(s));
      BOOST_TEST(par < s);  // children after parents
      BOOST_TEST(t.child(par, static_cast<std::size_t>(t.parent_action(s))) == static_cast<std::int32_t>(s));
      BOOST_TEST(t.prompt(par) == t.prompt(s));
    }
    for (std::size_t a = 0; a < t.num_actions(); ++a) {
      const bool should_end = a == 2 || t.depth(s) + 1 == t.horizon();
      BOOST_TEST(t.ends(s, a) == should_end);
      BOOST_TEST(t.next_state(s, static_cast<token_t>(a)).has_value() == !should_end);
    }
  }
  const auto mask = t.terminal_mask();
  std::size_t terminal = 0;
  for (char m : mask) terminal += static_cast<std::size_t>(m);
  BOOST_TEST(terminal == 3 * t.responses_per_prompt());
}

BOOST_AUTO_TEST_CASE(bad_prompts_and_rows_are_rejected) {
  BOOST_CHECK_THROW(tree(0, 2, 2), invalid_argument);
  BOOST_CHECK_THROW(tree(1, 0, 2), invalid_argument);
  BOOST_CHECK_THROW(tree(1, 2, 0), invalid_argument);
  BOOST_CHECK_THROW(tree(1, 2, 2, token_t{2}), invalid_argument);
  BOOST_CHECK_THROW(tree(mdp::prefix_tree_options{1, 8, 9, std::nullopt, 1000}), invalid_argument);
  const tree t(2, 3, 2, token_t{0});
  sequence_batch b(1, 4);
  b.tokens(0, 0) = 2;  // prompt out of range
  b.prompt_length(0) = 1;
  b.length(0) = 2;
  BOOST_CHECK_THROW((void)t.initial_state(b, 0), invalid_argument);
  const tree_policy pi(t);
  b.tokens(0, 0) = 1;
  b.tokens(0, 1) = 0;  // EOS ...
  b.tokens(0, 2) = 1;  // ... then another token
  b.length(0) = 3;
  BOOST_CHECK_THROW((void)pi.logprobs(b), invalid_argument);
}

BOOST_AUTO_TEST_CASE(enumeration_lists_every_response_once_with_its_probability) {
  rng g(7);
  const tree t(2, 3, 3, token_t{1});
  const auto pi = mdp::random_policy(t, 1.0, g);
  const auto prompts = t.prompts({0.25, 0.75});
  const auto all = pi.enumerate(prompts);
  BOOST_TEST(all.rows() == 2 * t.responses_per_prompt());
  const auto lp = mdp::sequence_logprobs(pi.logprobs(all), all);
  double total[2] = {0, 0};
  std::set<std::vector<token_t>> seen;
  for (std::size_t b = 0; b < all.rows(); ++b) {
    const auto x = static_cast<std::size_t>(all.source(b));
    total[x] += all.weight(b);
    BOOST_TEST(all.weight(b) == prompts.weight(x) * std::exp(lp(b)), boost::test_tools::tolerance(1e-12));
    std::vector<token_t> row(&all.tokens(b, 0), &all.tokens(b, 0) + all.length(b));
    BOOST_TEST(seen.insert(row).second);
  }
  BOOST_TEST(total[0] == 0.25, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(total[1] == 0.75, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(logprobs_match_the_softmax_on_small_and_large_batches) {
  rng g(3);
  const tree t(2, 4, 3);
  const auto pi = mdp::random_policy(t, 1.5, g);
  const auto all = pi.enumerate(t.prompts());                          // large: per-call normaliser table
  const auto few = select_rows(all, std::vector<std::size_t>{5, 77});  // small: per-token path
  for (const auto* batch : {&all, &few}) {
    const auto lp = pi.logprobs(*batch);
    std::vector<double> got, want;
    for (std::size_t b = 0; b < batch->rows(); ++b) {
      std::size_t s = t.root(static_cast<std::size_t>(batch->tokens(b, 0)));
      for (auto k = batch->prompt_length(b); k < batch->length(b); ++k) {
        const auto a = static_cast<std::size_t>(batch->tokens(b, static_cast<std::size_t>(k)));
        const auto logits = pi.logits();
        double z = 0;
        for (std::size_t c = 0; c < 4; ++c) z += std::exp(logits(static_cast<Eigen::Index>(s), static_cast<Eigen::Index>(c)));
        want.push_back(logits(static_cast<Eigen::Index>(s), static_cast<Eigen::Index>(a)) - std::log(z));
        got.push_back(lp(b, static_cast<std::size_t>(k)));
        if (t.child(s, a) >= 0) s = static_cast<std::size_t>(t.child(s, a));
      }
    }
    test::check_close(got, want, 1e-13, 1e-13, "token log-probs");
  }
}

BOOST_AUTO_TEST_CASE(backward_equals_finite_differences) {
  rng g(11);
  const tree t(1, 3, 3, token_t{0});
  auto pi = mdp::random_policy(t, 1.0, g);
  const auto all = pi.enumerate(t.prompts());
  const auto rows = select_rows(all, std::vector<std::size_t>{0, 3, 4, 9, 9, 12});
  token_values<double> w = xt::zeros<double>({rows.rows(), rows.width()});
  for (std::size_t b = 0; b < rows.rows(); ++b)
    for (auto k = rows.prompt_length(b); k < rows.length(b); ++k) w(b, static_cast<std::size_t>(k)) = mdp::standard_normal(g);
  pi.zero_grad();
  (void)pi.logprobs(rows);
  pi.backward(rows, w);
  const std::vector<double> grad(pi.gradient().data(), pi.gradient().data() + pi.gradient().size());
  auto f = [&] {
    const auto lp = pi.logprobs(rows);
    double v = 0;
    for (std::size_t i = 0; i < lp.size(); ++i) v += lp.data()[i] * w.data()[i];
    return v;
  };
  const auto fd = test::finite_difference(pi.parameters()[0].value, test::tolerance<double>::fd_step, f);
  test::check_close(grad, fd, test::tolerance<double>::fd_atol, test::tolerance<double>::fd_rtol, "policy gradient");
}

BOOST_AUTO_TEST_CASE(masked_sums_match_hand_values) {
  sequence_batch b(2, 4);
  b.prompt_length(0) = 1;
  b.length(0) = 3;
  b.prompt_length(1) = 2;
  b.length(1) = 4;
  token_values<double> v{{9, 1, 2, 9}, {9, 9, 3, 4}};
  const auto m = mdp::response_mask<double>(b);
  BOOST_TEST(m(0, 0) == 0.0);
  BOOST_TEST(m(0, 1) == 1.0);
  BOOST_TEST(m(0, 3) == 0.0);
  const auto s = mdp::sequence_logprobs(v, b);
  BOOST_TEST(s(0) == 3.0);
  BOOST_TEST(s(1) == 7.0);
  const auto mean = mdp::masked_mean(v, m);
  BOOST_TEST(mean(0) == 1.5);
  BOOST_TEST(mean(1) == 3.5);
  token_values<double> wrong = xt::zeros<double>({2, 3});
  BOOST_CHECK_THROW(mdp::masked_sum(v, wrong), invalid_argument);
}

BOOST_AUTO_TEST_CASE(float_policy_on_a_tree_matches_double_and_finite_differences) {
  using T = float;
  rng g(19);
  const tree t(1, 3, 2, token_t{0});
  auto pd = mdp::random_policy<double>(t, 1.0, g);
  tabular::policy<T, tree> pf(t);
  for (Eigen::Index i = 0; i < pd.logits().size(); ++i) pf.logits().data()[i] = static_cast<T>(pd.logits().data()[i]);
  const auto rows = pd.enumerate(t.prompts());
  const auto ld = pd.logprobs(rows);
  const auto lf = pf.logprobs(rows);
  test::check_close(std::vector<double>(lf.begin(), lf.end()), std::vector<double>(ld.begin(), ld.end()),
                    test::tolerance<T>::exact, test::tolerance<T>::exact, "float vs double log-probs");
  token_values<T> w = xt::zeros<T>({rows.rows(), rows.width()});
  for (std::size_t b = 0; b < rows.rows(); ++b)
    for (auto k = rows.prompt_length(b); k < rows.length(b); ++k) w(b, static_cast<std::size_t>(k)) = static_cast<T>(mdp::standard_normal(g));
  pf.zero_grad();
  pf.backward(rows, w);
  const std::vector<double> grad(pf.gradient().data(), pf.gradient().data() + pf.gradient().size());
  const auto fd = test::finite_difference(pf.parameters()[0].value, test::tolerance<T>::fd_step, [&] {
    const auto lp = pf.logprobs(rows);
    double v = 0;
    for (std::size_t i = 0; i < lp.size(); ++i) v += static_cast<double>(lp.data()[i]) * static_cast<double>(w.data()[i]);
    return v;
  });
  test::check_close(grad, fd, test::tolerance<T>::fd_atol, test::tolerance<T>::fd_rtol, "float policy gradient");
}
