// The ground-truth task families (include/juice/experiments/ground_truth/): their checkers against
// hand-computed answers and rewards, the properties of drawn prompts and low-quality answers checked
// by independent means (parsing with sscanf, std::is_sorted / std::is_permutation), the dispatch of a
// task mixture, the seed statistics against hand-computed means and standard errors, and the
// protocol's option checks.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "check_throws.hpp"
#include "juice/experiments/ground_truth/addition.hpp"
#include "juice/experiments/ground_truth/graded_credit.hpp"
#include "juice/experiments/ground_truth/protocol.hpp"
#include "juice/experiments/ground_truth/reversal.hpp"
#include "juice/experiments/ground_truth/seed_statistics.hpp"
#include "juice/experiments/ground_truth/sorting.hpp"
#include "juice/experiments/ground_truth/task_set.hpp"

using namespace juice;
using namespace juice::experiments::ground_truth;
using juice::test::check_throws_with;

namespace {
constexpr double tol = 1e-12;
}

BOOST_AUTO_TEST_CASE(graded_credit_counts_agreeing_positions_over_the_longer_string) {
  BOOST_CHECK_CLOSE_FRACTION(graded_credit("95", "95"), 1.0, tol);
  BOOST_CHECK_CLOSE_FRACTION(graded_credit("95", "96"), 0.5, tol);
  BOOST_CHECK_CLOSE_FRACTION(graded_credit("95", "9"), 0.5, tol);        // one missing character
  BOOST_CHECK_CLOSE_FRACTION(graded_credit("95", "950"), 2.0 / 3, tol);  // one extra character
  BOOST_CHECK_SMALL(graded_credit("95", ""), tol);
  BOOST_CHECK_CLOSE_FRACTION(graded_credit("", ""), 1.0, tol);
  BOOST_CHECK_SMALL(graded_credit("1234", "3142"), tol);
  BOOST_CHECK_CLOSE_FRACTION(graded_credit("1234", "1243"), 0.5, tol);
}

BOOST_AUTO_TEST_CASE(addition_checker) {
  const addition_task t;
  BOOST_CHECK_EQUAL(t.answer("37+58="), "95");
  BOOST_CHECK_EQUAL(t.answer("0+0="), "0");
  BOOST_CHECK_EQUAL(t.answer("99+1="), "100");
  BOOST_CHECK_CLOSE_FRACTION(t.reward("37+58=", "95"), 1.0, tol);
  BOOST_CHECK_CLOSE_FRACTION(t.reward("37+58=", "96"), 0.5, tol);
  BOOST_CHECK_SMALL(t.reward("37+58=", "195"), tol);  // positions, not digits: 1/9 and 9/5 differ
  BOOST_CHECK(t.owns("37+58="));
  BOOST_CHECK(!t.owns("s3142="));
  check_throws_with([&] { (void)t.answer("37-58="); }, "'37-58=' is not an addition prompt");
  check_throws_with([&] { (void)t.answer("37+58"); }, "not an addition prompt");
  check_throws_with([&] { (void)t.answer("+58="); }, "not an addition prompt");
  check_throws_with([] { addition_task bad(0); }, "max_operand");
}

BOOST_AUTO_TEST_CASE(addition_draws_and_low_quality_answers) {
  const addition_task t;
  rng g(3);
  for (int i = 0; i < 300; ++i) {
    const task_item it = t.draw(g);
    int a = -1, b = -1;
    char eq = 0;
    BOOST_REQUIRE(std::sscanf(it.prompt.c_str(), "%d+%d%c", &a, &b, &eq) == 3);
    BOOST_CHECK_EQUAL(eq, '=');
    BOOST_CHECK(a >= 0 && a <= 99 && b >= 0 && b <= 99);
    BOOST_CHECK_EQUAL(std::stoi(it.answer), a + b);
    const std::string low = t.low_quality(it.prompt, g);
    BOOST_CHECK_NE(low, it.answer);
    BOOST_CHECK(std::stoi(low) >= 0 && std::stoi(low) <= 198);
    BOOST_CHECK_LT(t.reward(it.prompt, low), 1.0);
  }
}

BOOST_AUTO_TEST_CASE(sorting_checker) {
  const sorting_task t;
  BOOST_CHECK_EQUAL(t.answer("s3142="), "1234");
  BOOST_CHECK_EQUAL(t.answer("s90="), "09");
  BOOST_CHECK_CLOSE_FRACTION(t.reward("s3142=", "1234"), 1.0, tol);
  BOOST_CHECK_CLOSE_FRACTION(t.reward("s3142=", "1243"), 0.5, tol);
  BOOST_CHECK_SMALL(t.reward("s3142=", "3142"), tol);
  rng g(1);
  BOOST_CHECK_EQUAL(t.low_quality("s3142=", g), "3142");  // the copy
  BOOST_CHECK_NE(t.low_quality("s111=", g), t.answer("s111="));
  check_throws_with([&] { (void)t.answer("s31a2="); }, "'s31a2=' is not a sorting prompt");
  check_throws_with([&] { (void)t.answer("x3142="); }, "not a sorting prompt");
  check_throws_with([&] { (void)t.answer("s="); }, "not a sorting prompt");
}

BOOST_AUTO_TEST_CASE(sorting_draws_unsorted_lists) {
  const sorting_task t(3, 5);
  rng g(4);
  for (int i = 0; i < 300; ++i) {
    const task_item it = t.draw(g);
    const std::string digits = it.prompt.substr(1, it.prompt.size() - 2);
    BOOST_CHECK(digits.size() >= 3 && digits.size() <= 5);
    BOOST_CHECK(!std::is_sorted(digits.begin(), digits.end()));
    BOOST_CHECK(std::is_sorted(it.answer.begin(), it.answer.end()));
    BOOST_CHECK(std::is_permutation(digits.begin(), digits.end(), it.answer.begin(), it.answer.end()));
    BOOST_CHECK_NE(t.low_quality(it.prompt, g), it.answer);
  }
}

BOOST_AUTO_TEST_CASE(reversal_checker) {
  const reversal_task t;
  BOOST_CHECK_EQUAL(t.answer("rabcd="), "dcba");
  BOOST_CHECK_CLOSE_FRACTION(t.reward("rabcd=", "dcba"), 1.0, tol);
  BOOST_CHECK_SMALL(t.reward("rabcd=", "abcd"), tol);
  BOOST_CHECK_CLOSE_FRACTION(t.reward("rabcd=", "dcb"), 0.75, tol);
  BOOST_CHECK_CLOSE_FRACTION(t.reward("rabcd=", "dcbax"), 0.8, tol);
  rng g(1);
  BOOST_CHECK_EQUAL(t.low_quality("rabcd=", g), "abcd");
  BOOST_CHECK_NE(t.low_quality("raba=", g), t.answer("raba="));
  check_throws_with([&] { (void)t.answer("rab1="); }, "'rab1=' is not a reversal prompt");
}

BOOST_AUTO_TEST_CASE(reversal_draws_non_palindromes_over_the_alphabet) {
  const reversal_task t(3, 5, 4);
  rng g(5);
  for (int i = 0; i < 300; ++i) {
    const task_item it = t.draw(g);
    const std::string s = it.prompt.substr(1, it.prompt.size() - 2);
    BOOST_CHECK(s.size() >= 3 && s.size() <= 5);
    BOOST_CHECK(std::all_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'd'; }));
    BOOST_CHECK(std::string(s.rbegin(), s.rend()) != s);
    BOOST_CHECK_EQUAL(it.answer, std::string(s.rbegin(), s.rend()));
  }
}

BOOST_AUTO_TEST_CASE(task_set_dispatches_by_prompt_format) {
  const task_set all(task_names());
  BOOST_CHECK_CLOSE_FRACTION(all.reward("37+58=", "95"), 1.0, tol);
  BOOST_CHECK_CLOSE_FRACTION(all.reward("s3142=", "1243"), 0.5, tol);
  BOOST_CHECK_CLOSE_FRACTION(all.reward("rabc=", "cba"), 1.0, tol);
  BOOST_CHECK_EQUAL(all.family("s3142="), "sort");
  check_throws_with([&] { (void)all.reward("hello", "x"); }, "recognises the prompt 'hello'");
  const task_set add_only({"add"});
  check_throws_with([&] { (void)add_only.answer("s3142="); }, "recognises the prompt 's3142='");
  check_throws_with([] { task_set bad(std::vector<std::string>{"add", "multiply"}); }, "unknown task family 'multiply'");
  check_throws_with([] { task_set bad(std::vector<std::string>{"add", "add"}); }, "'add' is listed twice");
  std::set<std::string> seen;
  rng g(6);
  for (int i = 0; i < 300; ++i) seen.insert(all.family(all.draw(g).prompt));
  BOOST_CHECK_EQUAL(seen.size(), 3u);
}

BOOST_AUTO_TEST_CASE(seed_statistics_match_hand_computed_values) {
  const std::vector<double> v{1, 2, 3};
  const mean_se s = summarise(v);
  BOOST_CHECK_CLOSE_FRACTION(s.mean, 2.0, tol);
  BOOST_CHECK_CLOSE_FRACTION(s.se, 1.0 / std::sqrt(3.0), tol);  // sd 1, n 3
  const std::vector<double> one{4};
  BOOST_CHECK_SMALL(summarise(one).se, tol);
  const std::vector<double> a{3, 5}, b{1, 2};
  const mean_se d = summarise_paired(a, b);  // differences 2, 3
  BOOST_CHECK_CLOSE_FRACTION(d.mean, 2.5, tol);
  BOOST_CHECK_CLOSE_FRACTION(d.se, 0.5, tol);  // sd 1/sqrt(2), n 2
  check_throws_with([&] { (void)summarise_paired(a, one); }, "not paired");
}

BOOST_AUTO_TEST_CASE(protocol_rejects_bad_options) {
  ground_truth_options o;
  o.eps = {0.2, 1.5};
  check_throws_with([&] { validate(o); }, "eps must lie in [0, 1]");
  o = {};
  o.methods = {"SFT", "DPO"};
  check_throws_with([&] { validate(o); }, "unknown method 'DPO'");
  o = {};
  o.irft_rounds = o.steps + 1;
  check_throws_with([&] { validate(o); }, "irft_rounds");
  o = {};
  o.channels = 30;
  check_throws_with([&] { validate(o); }, "multiple of heads");
  o = {};
  o.tasks = {"divide"};
  check_throws_with([&] { validate(o); }, "unknown task family 'divide'");
  BOOST_CHECK_NO_THROW(validate(ground_truth_options{}));
  BOOST_CHECK_NO_THROW(validate(quick_options()));
}
