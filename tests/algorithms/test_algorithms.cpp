// algorithms/: the generic SFT, RFT and IRFT/SPIN drivers on tabular models: what they compute at
// known points, how often they score the reference, round chunking, online regeneration, the
// observer protocol, and every error path.
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "juice/juice.hpp"
#include "juice_test.hpp"

using namespace juice;
using space = tabular::bandit_space;
using tpolicy = tabular::policy<double, space>;

namespace {

// A tabular policy that counts and records the batches it scores.
struct counting_policy : tpolicy {
  using tpolicy::tpolicy;
  counting_policy(const tpolicy& p) : tpolicy(p) {}  // NOLINT
  std::shared_ptr<std::vector<std::size_t>> scored = std::make_shared<std::vector<std::size_t>>();
  token_values<double> logprobs(const sequence_batch& b) const {
    scored->push_back(b.rows());
    return tpolicy::logprobs(b);
  }
  counting_policy snapshot() const { return *this; }
};
static_assert(EnumerablePolicy<counting_policy>);

tpolicy random_policy(std::size_t prompts, std::size_t actions, std::uint64_t seed) {
  tpolicy p(space(prompts, actions));
  rng g(seed);
  for (auto& v : std::span(p.parameters()[0].value)) v = 2 * g.uniform() - 1;
  return p;
}

struct recorder {
  std::vector<step_event> events;
  void operator()(const step_event& e) { events.push_back(e); }
};

// RFT on a one-state bandit whose demonstrations all pick action 2, from a random policy.
struct rft_bandit {
  space sp{1, 3};
  tpolicy ref = random_policy(1, 3, 8);
  tpolicy pi = ref.snapshot();
  tabular::reward<double, space> r{sp};
  sequence_batch demos = test::bandit_rows({{0, 2}, {0, 2}});
  sgd opt{sgd_hyper{0.5}};
  rft_options o;
  tabular::exact_policy_step step;
  recorder rec;
};

}  // namespace

BOOST_AUTO_TEST_CASE(irft_round_start_gradient_is_beta_times_demonstration_likelihood_gradient) {
  // At a round start z = 0; in exact mode the y~ term has expectation zero, so with the linear loss
  // (h' = -1) the loss gradient is -beta grad E_D log pi(y|x).
  auto pi = random_policy(2, 3, 1);
  const auto demos = test::bandit_rows({{0, 0}, {1, 2}, {0, 1}});
  const double beta = 0.4;
  // Reference: the SFT (sequence-sum) gradient, i.e. -grad E_D log pi.
  auto copy = pi.snapshot();
  token_values<double> w;
  sequence_batch d = demos;
  normalise_weights(d);
  sft_loss(d, copy.logprobs(d), sft_normalisation::sequence_sum, &w);
  copy.zero_grad();
  copy.backward(d, w);
  const double expect = beta * beta * grad_norm_sq(copy);

  recorder rec;
  sgd opt(sgd_hyper{0.0});  // measure only
  irft_options o;
  o.beta = beta;
  o.rounds = 1;
  o.steps_per_round = 1;
  o.chunk_rounds = false;
  irft_linear(o).run(pi, demos, opt, exact{}, rec);
  BOOST_REQUIRE_EQUAL(rec.events.size(), 1u);
  BOOST_CHECK(rec.events[0].round_start);
  BOOST_CHECK_CLOSE(rec.events[0].grad_norm_sq, expect, 1e-9);
  BOOST_CHECK_SMALL(rec.events[0].loss, 1e-14);  // z = 0 for every pair
}

BOOST_AUTO_TEST_CASE(irft_scores_the_reference_once_per_round) {
  counting_policy pi(random_policy(1, 3, 2));
  const auto demos = test::bandit_rows(std::vector<std::pair<int, int>>(6, {0, 1}));
  sgd opt(sgd_hyper{0.1});
  irft_options o;
  o.rounds = 3;
  o.steps_per_round = 4;
  irft(o).run(pi, demos, opt, sampled{1});
  // One reference pass per round plus one pass per inner step, each over chosen + rejected rows.
  BOOST_CHECK_EQUAL(pi.scored->size(), 3u * (1 + 4));
  for (auto rows : *pi.scored) BOOST_CHECK_EQUAL(rows, 2u * 2);  // 2 demonstrations per round chunk
}

BOOST_AUTO_TEST_CASE(irft_prepare_pairs_each_demonstration_with_y_tilde_and_scores_both_once) {
  // The per-minibatch preparation the command line streams a round through: every enumerated y~
  // is paired with its prompt's demonstration, and the cached reference log-probs are log pi of
  // each (chosen rows first, then rejected), computed in one scoring pass.
  const auto p = random_policy(2, 3, 5);
  const counting_policy pi(p);
  const auto demos = test::bandit_rows({{0, 1}, {1, 2}});
  rng g(1);
  const irft_prepared prep = irft_prepare(pi, demos, g, exact{});
  const std::size_t N = prep.pairs.rows();
  BOOST_REQUIRE_EQUAL(N, 6U);
  BOOST_REQUIRE_EQUAL(prep.ref.size(), 2 * N);
  BOOST_CHECK_EQUAL(pi.scored->size(), 1U);
  std::set<std::pair<int, int>> seen;
  for (std::size_t i = 0; i < N; ++i) {
    const int x = prep.pairs.rejected.tokens(i, 0), a = prep.pairs.rejected.tokens(i, 1);
    const int demo = x == 0 ? 1 : 2;
    BOOST_CHECK_EQUAL(prep.pairs.chosen.tokens(i, 0), x);
    BOOST_CHECK_EQUAL(prep.pairs.chosen.tokens(i, 1), demo);
    const auto probs = p.probabilities(static_cast<std::size_t>(x));
    BOOST_CHECK_CLOSE(prep.ref[i], std::log(probs[static_cast<std::size_t>(demo)]), 1e-9);
    BOOST_CHECK_CLOSE(prep.ref[N + i], std::log(probs[static_cast<std::size_t>(a)]), 1e-9);
    seen.insert({x, a});
  }
  BOOST_CHECK_EQUAL(seen.size(), 6U);  // every (prompt, action) once
}

BOOST_AUTO_TEST_CASE(spin_is_one_round_over_all_data) {
  counting_policy pi(random_policy(1, 3, 3));
  const auto demos = test::bandit_rows(std::vector<std::pair<int, int>>(5, {0, 2}));
  sgd opt(sgd_hyper{0.1});
  recorder rec;
  spin(0.1, 3).run(pi, demos, opt, sampled{1}, rec);
  BOOST_CHECK_EQUAL(rec.events.size(), 3u);
  for (const auto& e : rec.events) BOOST_CHECK_EQUAL(e.round, 0u);
  BOOST_CHECK_EQUAL(pi.scored->front(), 2u * 5);
}

BOOST_AUTO_TEST_CASE(irft_rounds_use_their_own_chunk) {
  // Demonstrations of prompt 0 then prompt 1: with T = 2 round 0 sees only prompt 0 and round 1 only
  // prompt 1. Each prompt has its own row of logits, so during round t exactly the row of chunk t moves.
  auto pi = random_policy(2, 3, 4);
  const auto demos = test::bandit_rows({{0, 1}, {0, 1}, {1, 2}, {1, 2}});
  sgd opt(sgd_hyper{0.5});
  irft_options o;
  o.rounds = 2;
  o.steps_per_round = 2;
  o.chunk_rounds = true;
  std::vector<Eigen::MatrixXd> after{pi.logits()};  // the logits before any update, then after each
  std::vector<std::size_t> rounds;
  irft(o).run(pi, demos, opt, exact{}, [&](const step_event& e) {
    after.emplace_back(pi.logits());
    rounds.push_back(e.round);
  });
  BOOST_REQUIRE_EQUAL(after.size(), 5u);
  BOOST_CHECK((rounds == std::vector<std::size_t>{0, 0, 1, 1}));
  for (std::size_t k = 1; k < after.size(); ++k) {
    const std::size_t own = rounds[k - 1], other = 1 - own;
    BOOST_TEST((after[k].row(own) - after[k - 1].row(own)).norm() > 1e-6, "update " << k << " did not move prompt " << own);
    BOOST_TEST((after[k].row(other) - after[k - 1].row(other)).norm() == 0.0,
               "update " << k << " of round " << own << " moved prompt " << other);
  }
}

BOOST_AUTO_TEST_CASE(irft_online_regeneration_keeps_a_reference_and_runs) {
  counting_policy pi(random_policy(1, 3, 5));
  const auto demos = test::bandit_rows(std::vector<std::pair<int, int>>(4, {0, 0}));
  sgd opt(sgd_hyper{0.2});
  irft_options o;
  o.rounds = 1;
  o.steps_per_round = 5;
  o.online_probability = 1.0;
  o.chunk_rounds = false;
  const double before = pi.probabilities(0)[0];
  irft(o).run(pi, demos, opt, sampled{1});
  BOOST_CHECK_GT(pi.probabilities(0)[0], before);
  // Reference pass + per step: the frozen reference scores the fresh y~, the policy scores the pairs.
  BOOST_CHECK_EQUAL(pi.scored->size(), 1u + 5 * 2);
  o.online_probability = 0.5;
  BOOST_CHECK_THROW(irft(o).run(pi, demos, opt, exact{}), invalid_argument);
}

BOOST_AUTO_TEST_CASE(sft_normalisations_agree_on_equal_lengths_and_reach_the_data) {
  const auto demos = test::bandit_rows({{0, 0}, {0, 0}, {0, 1}, {0, 0}});
  auto a = random_policy(1, 3, 6), b = a.snapshot();
  adamw oa(adamw_hyper{0.05}), ob(adamw_hyper{0.05});
  sft_options o;
  o.steps = 2000;
  sft(o).run(a, demos, oa);
  o.normalisation = sft_normalisation::token_mean;
  recorder rec;
  sft(o).run(b, demos, ob, rec);
  test::check_close(a.probabilities(0), b.probabilities(0), 1e-12, 0, "sum vs mean on one-token responses");
  // The MLE over free logits is the empirical distribution (3/4, 1/4, 0).
  BOOST_CHECK_CLOSE(a.probabilities(0)[0], 0.75, 0.1);
  BOOST_CHECK_EQUAL(rec.events.size(), 2000u);
  BOOST_CHECK_EQUAL(rec.events.back().algorithm, "sft");
  BOOST_CHECK_LT(rec.events.back().loss, rec.events.front().loss);
}

BOOST_AUTO_TEST_CASE(sft_minibatches_are_seeded) {
  const auto demos = test::bandit_rows({{0, 0}, {0, 1}, {0, 2}, {0, 0}, {0, 1}});
  sft_options o;
  o.steps = 7;
  o.batch_size = 2;
  o.seed = 17;
  auto a = random_policy(1, 3, 7), b = a.snapshot(), c = a.snapshot();
  sgd oa(sgd_hyper{0.3}), ob(sgd_hyper{0.3}), oc(sgd_hyper{0.3});
  sft(o).run(a, demos, oa);
  sft(o).run(b, demos, ob);
  o.seed = 18;
  sft(o).run(c, demos, oc);
  BOOST_CHECK(a.logits() == b.logits());
  BOOST_CHECK(a.logits() != c.logits());
}

BOOST_FIXTURE_TEST_CASE(rft_reports_reward_and_policy_steps, rft_bandit) {
  o.iterations = 3;
  o.reward_steps = 2;
  o.policy_steps = 1;
  const auto res = rft(o).run(pi, ref, r, demos, opt, step, exact{}, rec);
  BOOST_CHECK_EQUAL(res.updates, 6u);
  BOOST_CHECK_EQUAL(rec.events.size(), 9u);
  BOOST_CHECK_EQUAL(rec.events[2].algorithm, "rft.policy");
  BOOST_CHECK_GT(pi.probabilities(0)[2], ref.probabilities(0)[2]);  // moved towards the data
}

BOOST_AUTO_TEST_CASE(irft_sft_term_adds_alpha_times_the_demonstrations_nll) {
  // One pair on a bandit with known logits: chosen action 0, rejected action 1 of prompt 0, with
  // reference log-probs ref_c, ref_r. By hand: lc = log softmax(l)_0, lr = log softmax(l)_1,
  // z = beta ((lc - ref_c) - (lr - ref_r)), loss = -log sigmoid(z) + alpha (-lc); dloss/dlc =
  // -beta sigmoid(-z) - alpha, dloss/dlr = beta sigmoid(-z).
  tpolicy pi(space(1, 3));
  const std::vector<double> l{0.3, -0.5, 1.1};
  for (std::size_t a = 0; a < 3; ++a) pi.parameters()[0].value[a] = l[a];
  const double lse = std::log(std::exp(l[0]) + std::exp(l[1]) + std::exp(l[2]));
  const double lc = l[0] - lse, lr = l[1] - lse, ref_c = -1.2, ref_r = -0.7, beta = 0.3;
  const pair_batch pairs{test::bandit_rows({{0, 0}}), test::bandit_rows({{0, 1}}), xt::xtensor<double, 1>({1}, 1.0)};
  const sequence_batch both = concat_rows(pairs.chosen, pairs.rejected);
  const auto logp = pi.logprobs(both);
  const std::vector<double> ref{ref_c, ref_r};
  const double z = beta * ((lc - ref_c) - (lr - ref_r));
  const double sig_minus_z = 1 / (1 + std::exp(z));
  for (const double alpha : {0.0, 0.5, 2.0}) {
    token_values<double> w;
    const double loss = irft_loss<sigmoid_loss>(pairs, both, logp, ref, beta, &w, nullptr, alpha);
    BOOST_CHECK_CLOSE(loss, std::log1p(std::exp(-z)) - alpha * lc, 1e-10);
    BOOST_CHECK_CLOSE(w(0, 1), -beta * sig_minus_z - alpha, 1e-10);
    BOOST_CHECK_CLOSE(w(1, 1), beta * sig_minus_z, 1e-10);
  }
  // alpha = 0 is the paper's loss bit for bit, weights included.
  token_values<double> w0, w1;
  const double l0 = irft_loss<sigmoid_loss>(pairs, both, logp, ref, beta, &w0);
  const double l1 = irft_loss<sigmoid_loss>(pairs, both, logp, ref, beta, &w1, nullptr, 0.0);
  BOOST_CHECK_EQUAL(l0, l1);
  BOOST_CHECK(w0 == w1);
  // A negative or non-finite alpha is refused by the trainer.
  irft_options o;
  o.sft_alpha = -1;
  BOOST_CHECK_THROW(irft{o}, invalid_argument);
}

BOOST_AUTO_TEST_CASE(irft_passes_per_round_count_steps_and_chunks_cycle) {
  // 10 demonstrations in 2 chunks of 5 pairs, batch 2, 3 passes: 3 * ceil(5 / 2) = 9 steps a round.
  // Four rounds cycle the chunks 0, 1, 0, 1; with a zero learning rate the policy never moves, so
  // round t's demonstration log-likelihood is the mean log pi of its chunk's answers, computed here
  // from the probabilities, and rounds 0 and 2 (1 and 3) agree exactly.
  auto pi = random_policy(2, 3, 6);
  const auto demos = test::bandit_rows({{0, 1}, {0, 1}, {0, 2}, {0, 1}, {0, 0}, {1, 2}, {1, 2}, {1, 0}, {1, 2}, {1, 2}});
  sgd opt(sgd_hyper{0.0});
  irft_options o;
  o.rounds = 4;
  o.chunks = 2;
  o.passes_per_round = 3;
  o.batch_size = 2;
  o.steps_per_round = 100;  // unused when passes are given
  recorder rec;
  const auto res = irft(o).run(pi, demos, opt, sampled{1}, rec);
  BOOST_CHECK_EQUAL(res.updates, 4u * 9u);
  BOOST_CHECK_EQUAL(rec.events.size(), 4u * 9u);
  BOOST_REQUIRE_EQUAL(res.rounds.size(), 4u);
  const auto p0 = pi.probabilities(0), p1 = pi.probabilities(1);
  const double chunk0 = (3 * std::log(p0[1]) + std::log(p0[2]) + std::log(p0[0])) / 5;
  const double chunk1 = (4 * std::log(p1[2]) + std::log(p1[0])) / 5;
  for (std::size_t t = 0; t < 4; ++t) {
    BOOST_CHECK_EQUAL(res.rounds[t].pairs, 5u);
    BOOST_CHECK_EQUAL(res.rounds[t].updates, 9u);
    BOOST_CHECK_CLOSE(res.rounds[t].passes, 9.0 * 2 / 5, 1e-12);
    BOOST_CHECK_CLOSE(res.rounds[t].demo_loglik, t % 2 == 0 ? chunk0 : chunk1, 1e-9);
  }
  // Whole-data batches: one step per pass.
  o.batch_size = 0;
  o.rounds = 2;
  BOOST_CHECK_EQUAL(irft(o).run(pi, demos, opt, sampled{1}).updates, 2u * 3u);
  // More chunks than demonstrations is refused.
  o.chunks = 11;
  BOOST_CHECK_THROW(irft(o).run(pi, demos, opt, sampled{1}), invalid_argument);
}

BOOST_AUTO_TEST_CASE(irft_generation_loglik_of_exact_generations_is_minus_the_entropy) {
  // In exact mode y~ ranges over every action with weight pi(a|x), so the round's pair-weighted mean
  // log pi_ref(y~) is E_pi[log pi] = -H(pi(.|x)).
  auto pi = random_policy(1, 4, 9);
  const auto demos = test::bandit_rows({{0, 3}, {0, 3}});
  sgd opt(sgd_hyper{0.0});
  irft_options o;
  o.rounds = 1;
  o.chunk_rounds = false;
  const auto res = irft(o).run(pi, demos, opt, exact{});
  const auto p = pi.probabilities(0);
  double neg_entropy = 0;
  for (std::size_t a = 0; a < 4; ++a) neg_entropy += p[a] * std::log(p[a]);
  BOOST_REQUIRE_EQUAL(res.rounds.size(), 1u);
  BOOST_CHECK_CLOSE(res.rounds[0].generation_loglik, neg_entropy, 1e-9);
  BOOST_CHECK_CLOSE(res.rounds[0].demo_loglik, std::log(p[3]), 1e-9);
  // Sampling options need a policy that decodes (a tabular one has no generation() settings).
  o.sampling = sampling_options{.temperature = 0};
  BOOST_CHECK_THROW(irft(o).run(pi, demos, opt, exact{}), invalid_argument);
}

BOOST_FIXTURE_TEST_CASE(rft_reward_warmup_takes_its_steps_before_the_first_policy_step, rft_bandit) {
  o.iterations = 2;
  o.reward_steps = 1;
  o.reward_warmup = 3;
  const auto res = rft(o).run(pi, ref, r, demos, opt, step, exact{}, rec);
  BOOST_CHECK_EQUAL(res.warmup_updates, 3u);
  BOOST_CHECK_EQUAL(res.updates, 3u + 2u);
  std::vector<std::string> seq;
  seq.reserve(rec.events.size());
  for (const auto& e : rec.events) seq.emplace_back(e.algorithm);
  BOOST_CHECK((seq == std::vector<std::string>{"rft.reward_warmup", "rft.reward_warmup", "rft.reward_warmup", "rft.reward", "rft.policy",
                                               "rft.reward", "rft.policy"}));
  // The warm-up trains against the starting policy's generations: with the policy fixed, three full
  // steps of the exact logistic loss raise the demonstrated action's reward above the others.
  auto pi2 = ref.snapshot();
  tabular::reward<double, space> r2(sp);
  sgd opt2(sgd_hyper{0.5});
  o.iterations = 0;
  rft(o).run(pi2, ref, r2, demos, opt2, step, exact{});
  BOOST_CHECK(pi2.logits() == ref.logits());  // no policy step
  const auto rw = r2.rewards(test::bandit_rows({{0, 0}, {0, 1}, {0, 2}}));
  BOOST_CHECK_GT(rw(2), rw(0));
  BOOST_CHECK_GT(rw(2), rw(1));
}

BOOST_AUTO_TEST_CASE(error_paths_name_the_algorithm_and_step) {
  auto pi = random_policy(1, 3, 9);
  sgd opt(sgd_hyper{0.1});
  const sequence_batch empty(0, 2);
  BOOST_CHECK_THROW(sft().run(pi, empty, opt), invalid_argument);
  BOOST_CHECK_THROW(irft().run(pi, empty, opt), invalid_argument);
  irft_options o;
  o.beta = 0;
  BOOST_CHECK_THROW(irft{o}, invalid_argument);
  o = {};
  o.rounds = 0;
  BOOST_CHECK_THROW(irft{o}, invalid_argument);
  o = {};
  o.rounds = 5;
  const auto two = test::bandit_rows({{0, 0}, {0, 1}});
  try {
    irft(o).run(pi, two, opt);
    BOOST_ERROR("accepted 2 demonstrations for 5 rounds");
  } catch (const invalid_argument& e) {
    BOOST_CHECK_NE(std::string(e.what()).find("cannot be split into 5 rounds"), std::string::npos);
  }
  rft_options ro;
  ro.beta = -1;
  BOOST_CHECK_THROW(rft{ro}, invalid_argument);
  ro = {};
  ro.l2 = -1;
  BOOST_CHECK_THROW(rft{ro}, invalid_argument);

  // A token outside the vocabulary is named with its row and position.
  auto bad = test::bandit_rows({{0, 1}, {0, 7}});
  try {
    sft().run(pi, bad, opt);
    BOOST_ERROR("accepted token 7 with 3 actions");
  } catch (const invalid_argument& e) {
    BOOST_CHECK_NE(std::string(e.what()).find("row 1 position 1 has token 7"), std::string::npos);
  }

  // A NaN in the model surfaces as a numerical_error naming the step.
  pi.parameters()[0].value[0] = std::numeric_limits<double>::quiet_NaN();
  try {
    o = {};
    o.rounds = 1;
    irft(o).run(pi, two, opt, exact{});
    BOOST_ERROR("a NaN loss went unnoticed");
  } catch (const numerical_error& e) {
    BOOST_CHECK_NE(std::string(e.what()).find("juice::irft round 0 step 0"), std::string::npos);
  }
  try {
    sft().run(pi, two, opt);
    BOOST_ERROR("a NaN loss went unnoticed");
  } catch (const numerical_error& e) {
    BOOST_CHECK_NE(std::string(e.what()).find("juice::sft step 0"), std::string::npos);
  }
}
