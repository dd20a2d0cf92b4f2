// The generic algorithms run unchanged on the CPU transformer (tiny model): SFT memorises a few
// sequences; IRFT and SPIN lower their contrastive loss from log 2 at each round start and raise the
// demonstrations' likelihood; RFT with the PPO improver lowers its reward loss and separates
// demonstrations from generations; PPO alone raises the reward of a fixed scorer.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/data/batching.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/optim/adamw.hpp"
#include "juice_test.hpp"
#include "model_support.hpp"

using namespace juice;
using namespace juice::test;
using policy_t = transformer<cpu, float>;

namespace {

transformer_config small() { return {2, 2, 32, 16, 16}; }

sequence_batch demos() {
  return make_batch({{{1, 6}, {7, 8, 9, 5}}, {{1, 7}, {10, 11, 4, 5}}, {{1, 8}, {12, 2, 3, 5}}, {{1, 9}, {13, 14, 15, 5}}});
}

double demo_loglik(const policy_t& p, const sequence_batch& d) {
  const auto s = sequence_sum(p.logprobs(d), d);
  double out = 0;
  for (std::size_t b = 0; b < d.rows(); ++b) out += s(b) / static_cast<double>(d.rows());
  return out;
}

struct loss_log {
  std::vector<step_event> events;
  std::vector<double> losses;
  void operator()(const step_event& e) {
    events.push_back(e);
    losses.push_back(e.loss);
  }
};

// A fixed, parameter-free scorer: the number of token 3 in the response.
struct count_reward {
  using scalar_type = float;
  using backend_type = cpu;
  std::vector<parameter<cpu, float>> parameters() { return {}; }
  void zero_grad() {}
  sequence_values<float> rewards(const sequence_batch& b) const {
    sequence_values<float> r = xt::zeros<float>({b.rows()});
    for (std::size_t i = 0; i < b.rows(); ++i)
      for (auto t = b.prompt_length(i); t < b.length(i); ++t) r(i) += b.tokens(i, static_cast<std::size_t>(t)) == 3 ? 1.f : 0.f;
    return r;
  }
  void backward(const sequence_batch&, const sequence_values<float>&) {}
};
static_assert(RewardModel<count_reward>);

}  // namespace

BOOST_AUTO_TEST_CASE(sft_memorises_a_few_sequences) {
  policy_t p(small(), 1);
  adamw opt(adamw_hyper{1e-2, 0.9, 0.999, 1e-8, 0.0});
  const auto d = demos();
  const auto r = sft(sft_options{150, 0, sft_normalisation::token_mean, 0}).run(p, d, opt);
  BOOST_TEST_MESSAGE("SFT final token-mean loss " << r.last_loss);
  BOOST_CHECK_LT(r.last_loss, 0.02);
  BOOST_CHECK_GT(demo_loglik(p, d), -0.1);  // log pi(y|x) of 4 tokens near 0
}

BOOST_AUTO_TEST_CASE(irft_lowers_its_loss_each_round_and_raises_likelihood) {
  policy_t p(small(), 2, generation_options{4, 5, {}});
  adamw opt(adamw_hyper{3e-3, 0.9, 0.999, 1e-8, 0.0});
  const auto d = demos();
  const double before = demo_loglik(p, d);
  loss_log log;
  irft(irft_options{.beta = 0.1, .rounds = 3, .steps_per_round = 8, .batch_size = 0, .chunk_rounds = false, .online_probability = 0.0, .seed = 7}).run(p, d, opt, sampled{}, std::ref(log));
  BOOST_REQUIRE_EQUAL(log.losses.size(), 24u);
  for (std::size_t t = 0; t < 3; ++t) {
    BOOST_CHECK(log.events[t * 8].round_start);
    BOOST_CHECK_CLOSE(log.losses[t * 8], std::log(2.0), 1e-3);  // z = 0 when pi_theta = pi_ref
    BOOST_CHECK_LT(log.losses[t * 8 + 7], log.losses[t * 8] - 0.05);
  }
  BOOST_CHECK_GT(demo_loglik(p, d), before + 1.0);
}

BOOST_AUTO_TEST_CASE(spin_is_one_round_and_lowers_its_loss) {
  policy_t p(small(), 3, generation_options{4, 5, {}});
  adamw opt(adamw_hyper{3e-3, 0.9, 0.999, 1e-8, 0.0});
  const auto d = demos();
  loss_log log;
  spin(0.1, 10, 0, 11).run(p, d, opt, sampled{}, std::ref(log));
  BOOST_REQUIRE_EQUAL(log.losses.size(), 10u);
  for (const auto& e : log.events) BOOST_CHECK_EQUAL(e.round, 0u);
  BOOST_CHECK_CLOSE(log.losses.front(), std::log(2.0), 1e-3);
  BOOST_CHECK_LT(log.losses.back(), log.losses.front() - 0.1);
}

BOOST_AUTO_TEST_CASE(irft_greedy_generation_is_the_argmax_and_leaves_the_policy_sampling_alone) {
  // One-token responses (max_new_tokens 1, no EOS): greedy y~ is the most likely next token, so the
  // round's generation log-likelihood is max_a log pi(a|x), found here by scoring every token.
  policy_t p(small(), 8, generation_options{1, -1, {}});
  const auto d = demos();
  adamw opt(adamw_hyper{1e-3, 0.9, 0.999, 1e-8, 0.0});
  irft_options o{.beta = 0.1, .rounds = 1, .steps_per_round = 1, .chunk_rounds = false, .seed = 3};
  o.sampling = sampling_options{.temperature = 0};
  const auto before = p.snapshot();
  const auto res = irft(o).run(p, d, opt, sampled{2});
  BOOST_REQUIRE_EQUAL(res.rounds.size(), 1u);
  BOOST_CHECK_EQUAL(res.rounds[0].pairs, 2 * d.rows());
  double expect = 0;
  for (std::size_t b = 0; b < d.rows(); ++b) {
    std::vector<tokenized_demonstration> rows;
    for (int a = 0; a < 16; ++a) {
      std::vector<token_t> prompt(&d.tokens(b, 0), &d.tokens(b, 0) + d.prompt_length(b));
      rows.push_back({prompt, {a}, 0});
    }
    const auto all = make_batch(rows, 0, rows.size());
    const auto lp = sequence_sum(before.logprobs(all), all);
    double best = -1e300;
    for (std::size_t a = 0; a < 16; ++a) best = std::max(best, static_cast<double>(lp(a)));
    expect += best / static_cast<double>(d.rows());
  }
  BOOST_CHECK_CLOSE(res.rounds[0].generation_loglik, expect, 1e-3);
  BOOST_CHECK_EQUAL(p.generation().sampling.temperature, 1.0);  // restored after the round
}

BOOST_AUTO_TEST_CASE(ppo_raises_a_fixed_reward) {
  policy_t p(small(), 4, generation_options{4, -1, {}});
  const auto ref = p.snapshot();
  count_reward reward;
  ppo improver(ppo_options{4, 4, 0.2, 0.5, 1.0, 0.95, 1.0, true}, adamw(adamw_hyper{1e-2, 0.9, 0.999, 1e-8, 0.0}));
  const auto prompts = prompts_of(demos());
  rng g(5);
  improver.improve(p, ref, reward, prompts, 0.01, g);
  const double first = improver.last_stats().mean_score;
  double last = 0;
  for (int i = 0; i < 14; ++i) {
    improver.improve(p, ref, reward, prompts, 0.01, g);
    last = improver.last_stats().mean_score;
    BOOST_CHECK(std::isfinite(improver.last_stats().kl));
  }
  BOOST_TEST_MESSAGE("PPO mean score " << first << " -> " << last);
  BOOST_CHECK_GT(last, first + 1.0);  // 4 tokens: from ~4/16 towards 4
  BOOST_CHECK_GT(improver.last_stats().kl, 0.0);
}

BOOST_AUTO_TEST_CASE(rft_with_ppo_lowers_reward_loss_and_separates_demonstrations) {
  policy_t p(small(), 5, generation_options{4, 5, {}});
  const auto ref = p.snapshot();
  transformer_reward<cpu, float> r(p, 6);
  adamw ropt(adamw_hyper{1e-3, 0.9, 0.999, 1e-8, 0.0});
  ppo improver(ppo_options{1, 2, 0.2, 0.5, 1.0, 0.95, 1.0, true}, adamw(adamw_hyper{1e-3, 0.9, 0.999, 1e-8, 0.0}));
  const auto d = demos();
  loss_log log;
  rft(rft_options{.beta = 0.1, .l2 = 0.0, .iterations = 4, .reward_steps = 3, .policy_steps = 1, .batch_size = 0, .seed = 9}).run(p, ref, r, d, ropt, improver, sampled{}, std::ref(log));
  std::vector<double> reward_losses;
  std::size_t policy_steps = 0;
  for (const auto& e : log.events) {
    if (e.algorithm == "rft.reward") reward_losses.push_back(e.loss);
    if (e.algorithm == "rft.policy") ++policy_steps;
  }
  BOOST_REQUIRE_EQUAL(reward_losses.size(), 12u);
  BOOST_CHECK_EQUAL(policy_steps, 4u);
  for (std::size_t it = 0; it < 4; ++it)  // same pairs within an iteration: the loss goes down
    BOOST_CHECK_LT(reward_losses[it * 3 + 2], reward_losses[it * 3]);
  BOOST_CHECK_LT(reward_losses.back(), std::log(2.0));
  // Demonstrations now score above fresh generations, by more than 4 standard errors of the mean
  // margin over 16 fresh generations per prompt (a margin the sampling noise cannot produce).
  rng g(1);
  const std::size_t n = 16;
  const auto gen = p.sample(prompts_of(d), n, g);
  const auto rd = r.rewards(d), rg = r.rewards(gen);
  double mean = 0, sq = 0;
  for (std::size_t i = 0; i < gen.rows(); ++i) {
    const double m = rd(i / n) - rg(i);
    mean += m / static_cast<double>(gen.rows());
    sq += m * m / static_cast<double>(gen.rows());
  }
  const double se = std::sqrt(std::max(sq - mean * mean, 0.0) / static_cast<double>(gen.rows() - 1));
  BOOST_TEST(mean > 4 * se, "mean margin " << mean << " (se " << se << ")");
}
