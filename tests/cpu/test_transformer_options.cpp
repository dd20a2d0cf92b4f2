// Options of the algorithms on the CPU transformer that change behaviour, each against a number
// derived outside the code under test: PPO's per-token KL leash (the policy moves less from the
// reference as beta grows), max_grad_norm (one SGD step moves the parameters by exactly lr * the
// clip), normalise_advantages = false (the first surrogate is -sum_t c_t (score - V_t) with GAE at
// gamma = lambda = 1); IRFT's online variant (a fresh sample per step) and batch_size > 0 (each step
// scores its minibatch only); the reward model's copy of a policy's trunk.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/sgd.hpp"
#include "juice_test.hpp"
#include "model_support.hpp"

using namespace juice;
using namespace juice::test;

namespace {

transformer_config small() { return {2, 2, 16, 16, 16}; }

sequence_batch demos() {
  return make_batch({{{1, 6}, {7, 8, 9, 5}}, {{1, 7}, {10, 11, 4, 5}}, {{1, 8}, {12, 2, 3, 5}}, {{1, 9}, {13, 14, 15, 5}}});
}

// A fixed, parameter-free scorer: the number of token 3 in the response.
template <class T>
struct count_reward {
  using scalar_type = T;
  using backend_type = cpu;
  std::vector<parameter<cpu, T>> parameters() { return {}; }
  void zero_grad() {}
  sequence_values<T> rewards(const sequence_batch& b) const {
    sequence_values<T> r = xt::zeros<T>({b.rows()});
    for (std::size_t i = 0; i < b.rows(); ++i)
      for (auto t = b.prompt_length(i); t < b.length(i); ++t) r(i) += b.tokens(i, static_cast<std::size_t>(t)) == 3 ? T(1) : T(0);
    return r;
  }
  void backward(const sequence_batch&, const sequence_values<T>&) {}
};

std::vector<double> all_values(transformer<cpu, double>& m) {
  std::vector<double> out;
  for (auto& p : m.parameters()) out.insert(out.end(), p.value.begin(), p.value.end());
  return out;
}

// The policy, counting its sample() calls and the rows of each logprobs() call.
struct counted : transformer<cpu, float> {
  using base = transformer<cpu, float>;
  using base::base;
  explicit counted(base&& b) : base(std::move(b)) {}
  std::shared_ptr<std::size_t> samples = std::make_shared<std::size_t>(0);
  std::shared_ptr<std::vector<std::size_t>> scored = std::make_shared<std::vector<std::size_t>>();
  sequence_batch sample(const sequence_batch& prompts, std::size_t n, rng& g) const {
    ++*samples;
    return base::sample(prompts, n, g);
  }
  token_values<float> logprobs(const sequence_batch& b) const {
    scored->push_back(b.rows());
    return base::logprobs(b);
  }
  counted snapshot() const {
    counted c(base::snapshot());
    c.samples = std::make_shared<std::size_t>(0);
    c.scored = std::make_shared<std::vector<std::size_t>>();
    return c;
  }
};
static_assert(Policy<counted>);

double demo_loglik(const transformer<cpu, float>& p, const sequence_batch& d) {
  const auto s = sequence_sum(p.transformer<cpu, float>::logprobs(d), d);
  double out = 0;
  for (std::size_t b = 0; b < d.rows(); ++b) out += s(b) / static_cast<double>(d.rows());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(ppo_kl_leash_holds_the_policy_closer_as_beta_grows) {
  // Same model, seeds and reward; only beta differs. KL(pi || pi_ref) measured on fresh samples.
  const auto prompts = prompts_of(demos());
  std::vector<double> kls;
  for (double beta : {0.0, 0.3, 3.0}) {
    transformer<cpu, float> p(small(), 4, generation_options{4, -1, {}});
    const auto reference = p.snapshot();
    count_reward<float> reward;
    ppo improver(ppo_options{4, 4, 0.2, 0.5, 1.0, 0.95, 1.0, true}, adamw(adamw_hyper{1e-2, 0.9, 0.999, 1e-8, 0.0}));
    rng g(5);
    for (int i = 0; i < 8; ++i) improver.improve(p, reference, reward, prompts, beta, g);
    rng h(9);
    const auto s = p.sample(prompts, 64, h);
    const auto lp = sequence_sum(p.logprobs(s), s), lr = sequence_sum(reference.logprobs(s), s);
    double kl = 0;
    for (std::size_t b = 0; b < s.rows(); ++b) kl += (lp(b) - lr(b)) / static_cast<double>(s.rows());
    BOOST_TEST_MESSAGE("beta " << beta << ": KL(pi || pi_ref) ~ " << kl);
    kls.push_back(kl);
  }
  BOOST_TEST(kls[0] > kls[1]);
  BOOST_TEST(kls[1] > kls[2]);
  BOOST_TEST(kls[2] >= 0.0);
}

BOOST_AUTO_TEST_CASE(ppo_max_grad_norm_bounds_the_step) {
  // One epoch of plain SGD: the parameters move by lr * g_clipped, whose norm is lr * max_grad_norm
  // when the raw gradient is larger (it is, by orders of magnitude, at max_grad_norm = 1e-4).
  for (double clip : {1e-4, 0.0}) {
    transformer<cpu, double> p(small(), 6, generation_options{4, -1, {}});
    const auto reference = p.snapshot();
    count_reward<double> reward;
    ppo_improver<sgd> improver(ppo_options{4, 1, 0.2, 0.5, 1.0, 0.95, clip, false}, sgd(sgd_hyper{0.5, 0.0}));
    const auto before = all_values(p);
    rng g(7);
    improver.improve(p, reference, reward, prompts_of(demos()), 0.1, g);
    const auto after = all_values(p);
    double moved = 0;
    for (std::size_t i = 0; i < before.size(); ++i) moved += (after[i] - before[i]) * (after[i] - before[i]);
    moved = std::sqrt(moved);
    if (clip > 0) BOOST_TEST(moved == 0.5 * clip, boost::test_tools::tolerance(1e-6));
    else BOOST_TEST(moved > 100 * 0.5 * 1e-4);  // unclipped, the same step is far longer
  }
}

BOOST_AUTO_TEST_CASE(ppo_without_advantage_normalisation_uses_raw_gae) {
  // value_coef = 0 and one epoch: the first loss is the surrogate at rho = 1, -sum_t c_t A_t. With
  // beta = 0 and gamma = lambda = 1, A_t = score - V_t; c_t = w_b / sum_b w_b |y_b|. Whitened
  // advantages have weighted mean zero, so the same loss is then 0.
  const auto prompts = prompts_of(demos());
  for (bool normalise : {false, true}) {
    transformer<cpu, double> p(small(), 8, generation_options{4, -1, {}});
    const auto reference = p.snapshot();
    count_reward<double> reward;
    ppo_improver<sgd> improver(ppo_options{8, 1, 0.2, 0.0, 1.0, 1.0, 0.0, normalise}, sgd(sgd_hyper{0.0, 0.0}));
    rng g(11);
    rng replay = g;  // the rollout is the first draw improve() makes
    const auto rollout = p.sample(prompts, 8, replay);
    const auto score = reward.rewards(rollout);
    const auto [logp, values] = p.logprobs_and_values(rollout);
    double mass = 0, surrogate = 0;
    for (std::size_t b = 0; b < rollout.rows(); ++b) mass += rollout.weight(b) * static_cast<double>(rollout.response_length(b));
    for (std::size_t b = 0; b < rollout.rows(); ++b)
      for (auto t = rollout.prompt_length(b); t < rollout.length(b); ++t)
        surrogate -= rollout.weight(b) / mass * (score(b) - values(b, static_cast<std::size_t>(t)));
    improver.improve(p, reference, reward, prompts, 0.0, g);
    const double want = normalise ? 0.0 : surrogate;
    BOOST_TEST(std::abs(improver.last_stats().first_loss - want) <= 1e-9 + 1e-9 * std::abs(want),
               "normalise " << normalise << ": first loss " << improver.last_stats().first_loss << " vs " << want);
    if (!normalise) BOOST_TEST(std::abs(surrogate) > 1e-3);  // the two cases are distinguishable
  }
}

BOOST_AUTO_TEST_CASE(irft_online_variant_samples_every_step_and_learns) {
  // T rounds of K steps with p = 1: one generation per round plus one fresh y~ per step.
  const std::size_t T = 2, K = 5;
  for (double prob : {0.0, 1.0}) {
    counted p(small(), 2, generation_options{4, 5, {}});
    adamw opt(adamw_hyper{3e-3, 0.9, 0.999, 1e-8, 0.0});
    const auto d = demos();
    const double before = demo_loglik(p, d);
    irft_options o;
    o.rounds = T;
    o.steps_per_round = K;
    o.chunk_rounds = false;
    o.online_probability = prob;
    o.seed = 3;
    irft(o).run(p, d, opt, sampled{});
    BOOST_TEST(*p.samples == (prob > 0 ? T + T * K : T));
    BOOST_TEST(demo_loglik(p, d) > before + 0.5);
  }
}

BOOST_AUTO_TEST_CASE(irft_minibatches_score_only_their_rows) {
  // batch_size = 2 of 4 demonstrations: a reference pass over all 4 pairs (8 rows) per round, then
  // each step scores 2 pairs (4 rows).
  counted p(small(), 2, generation_options{4, 5, {}});
  adamw opt(adamw_hyper{3e-3, 0.9, 0.999, 1e-8, 0.0});
  const auto d = demos();
  const double before = demo_loglik(p, d);
  irft_options o;
  o.rounds = 2;
  o.steps_per_round = 6;
  o.batch_size = 2;
  o.chunk_rounds = false;
  o.seed = 4;
  irft(o).run(p, d, opt, sampled{});
  std::vector<std::size_t> want;
  for (std::size_t t = 0; t < 2; ++t) {
    want.push_back(8);
    for (std::size_t k = 0; k < 6; ++k) want.push_back(4);
  }
  BOOST_TEST(*p.scored == want, boost::test_tools::per_element());
  BOOST_TEST(demo_loglik(p, d) > before + 0.5);
}

BOOST_AUTO_TEST_CASE(reward_model_copies_the_policy_trunk_and_owns_it) {
  transformer<cpu, double> policy(small(), 12);
  transformer_reward<cpu, double> fresh(small(), 13);
  transformer_reward<cpu, double> r(policy, 13);
  std::map<std::string, std::vector<double>> pv, rv, fv;
  for (auto& p : policy.parameters()) pv[p.name] = {p.value.begin(), p.value.end()};
  for (auto& p : r.parameters()) rv[p.name] = {p.value.begin(), p.value.end()};
  for (auto& p : fresh.parameters()) fv[p.name] = {p.value.begin(), p.value.end()};
  std::size_t shared = 0;
  for (auto& [name, v] : rv) {
    if (name.rfind("reward_head.", 0) == 0) {
      // The head is the one a fresh reward model of the same seed gets.
      BOOST_TEST(v == fv.at(name), boost::test_tools::per_element());
      continue;
    }
    BOOST_REQUIRE_MESSAGE(pv.count(name), "reward tensor " << name << " is not in the policy");
    BOOST_TEST(v == pv.at(name), boost::test_tools::per_element());
    ++shared;
  }
  BOOST_TEST(shared == pv.size() - 2);  // every trunk tensor: all of the policy's but its two value-head tensors
  // The copy is the reward model's own: changing the policy leaves the rewards alone.
  const auto batch = make_batch({{{1, 2}, {3, 4}}, {{5}, {6, 7, 8}}});
  const auto r0 = r.rewards(batch);
  for (auto& p : policy.parameters())
    for (auto& v : p.value) v += 0.1;
  const auto r1 = r.rewards(batch);
  BOOST_TEST(r0 == r1, boost::test_tools::per_element());
}
