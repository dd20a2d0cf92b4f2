// juice/experiments/toy_mdp.hpp
//
// Exact theory experiments on random token-level MDPs (prefix trees), after Li et al., "Getting More
// Juice Out of the SFT Data" (NeurIPS 2024):
//   rate        IRFT (linear loss, exact expectations) and RFT (linear reward loss, exact policy
//               step) with step size eta = c / sqrt(TK) for a range of budgets TK; per budget the
//               minimum over all iterates of the exact ||grad l(theta)||^2, and the least-squares
//               slope of log(min ||grad l||^2) against log(TK). The paper's claim is O(1/sqrt(TK)),
//               a slope of -0.5 or steeper.
//   robustness  a hidden token reward r*; demonstrations from the soft-optimal policy for r*, a
//               fraction eps of them replaced by demonstrations from the soft-optimal policy for -r*;
//               SFT, SPIN (T = 1), IRFT (T = 5) and RFT compared on the true expected reward, KL to
//               the expert, the log-prob gap on r*-labelled pairs and the win rate against the
//               initial policy under r*, as mean and standard error over seeds.
// Everything is exact (enumeration) unless sampled generation is asked for, and every random draw
// goes through juice::rng, so a seed gives the same numbers everywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "juice/algorithms/generation.hpp"
#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/tabular/tabular.hpp"
#include "juice/core/error.hpp"
#include "juice/diagnostics/alignment.hpp"
#include "juice/diagnostics/implicit_reward.hpp"
#include "juice/diagnostics/stationarity.hpp"
#include "juice/mdp/prefix_tree.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice/mdp/soft_bellman.hpp"
#include "juice/optim/sgd.hpp"

namespace juice::experiments {

// The random token MDP both experiments run on.
struct token_mdp_options {
  std::size_t vocabulary = 4;  // V
  std::size_t horizon = 3;     // H
  std::size_t prompts = 2;     // prompts x, uniform
  bool eos = false;            // token 0 ends a response early
};

struct toy_mdp_rate_options {
  token_mdp_options mdp{};
  std::size_t demonstrations = 8;  // per prompt, from a random expert
  double expert_scale = 2.0;       // the expert's logits ~ N(0, scale^2)
  double base_scale = 0.5;         // the initial policy's logits ~ N(0, scale^2)
  double beta = 1.0;
  double c = 4.0;                                             // eta = c / sqrt(TK)
  std::vector<std::size_t> budgets{16, 64, 256, 1024, 4096};  // TK
  std::size_t steps_per_round = 4;                            // IRFT's K (T = TK / K)
  double lambda = 0.0;                                        // RFT's L2 weight on the reward
  bool rft = true;                                            // also run RFT
  bool exact = true;                                          // exact expectations (else sampled y~)
  std::size_t samples = 1;                                    // y~ per prompt in sampled mode
  std::uint64_t seed = 1;
  // Called after every update with the method ("IRFT" or "RFT"), the budget, the algorithm's event
  // and the exact ||grad l||^2 at the new iterate (e.g. to write a JSONL run log); may be empty.
  std::function<void(const std::string&, std::size_t, const step_event&, double)> on_step;
};

struct rate_series {
  std::vector<double> min_grad_norm_sq;        // min over all iterates of the exact ||grad l||^2, per budget
  std::vector<double> final_grad_norm_sq;      // at the last iterate, per budget
  std::vector<double> min_event_grad_norm_sq;  // min of the algorithm's own reported estimate, per budget
  std::vector<double> step_size;               // eta per budget
  loglog_fit fit;                              // log min ||grad l||^2 against log TK
};

struct toy_mdp_rate_result {
  std::vector<std::size_t> budgets;
  rate_series irft;
  rate_series rft;  // empty when not run
};

struct toy_mdp_robustness_options {
  token_mdp_options mdp{4, 3, 4, false};
  std::size_t demonstrations = 64;         // in all, prompts drawn uniformly
  std::vector<double> eps{0.0, 0.2, 0.4};  // fractions of low-quality demonstrations
  std::size_t seeds = 5;
  std::uint64_t seed = 0;       // base seed; seed s of the run uses stream s
  double reward_scale = 1.0;    // r*(s,a) ~ N(0, scale^2)
  double base_scale = 0.5;      // initial policy logits ~ N(0, scale^2)
  double expert_beta = 0.25;    // expert = soft-optimal for r* at this KL weight
  double beta = 0.1;            // KL weight of SPIN, IRFT and RFT (the paper's 0.1)
  std::size_t steps = 100;      // policy updates of SFT, SPIN and IRFT
  double lr = 1.0;              // SGD step on the policy logits (SFT)
  double irft_lr = 10.0;        // SGD step for SPIN and IRFT: beta * irft_lr = lr, so
                                // their first step is -h'(0) = 1/2 of an SFT step
  std::size_t irft_rounds = 5;  // IRFT's T
  bool chunk_rounds = true;     // IRFT round t uses the t-th 1/T of the data
  std::size_t rft_iterations = 100;
  double rft_lr = 1.0;      // SGD step on the reward
  double rft_lambda = 0.0;  // RFT's L2 weight on the reward
  bool exact = true;        // exact expectations (else sampled y~)
  std::size_t samples = 1;  // y~ per demonstration in sampled mode
  std::vector<std::string> methods{"SFT", "SPIN", "IRFT", "RFT"};
  bool baselines = true;  // also report the initial policy and the expert
};

struct robustness_row {
  std::string method;
  double eps = 0;
  std::size_t seeds = 0;
  double true_reward_mean = 0, true_reward_se = 0;
  double logprob_gap_mean = 0, logprob_gap_se = 0;
  double logprob_gap_change_mean = 0, logprob_gap_change_se = 0;
  double implicit_accuracy_mean = 0, implicit_accuracy_se = 0;
  double win_rate_mean = 0, win_rate_se = 0;
  double kl_to_expert_mean = 0, kl_to_expert_se = 0;
  // Win rate minus SFT's on the same seed (paired: same MDP and demonstrations); NaN without SFT.
  double win_rate_minus_sft_mean = 0, win_rate_minus_sft_se = 0;
};

inline const std::vector<std::string>& toy_mdp_methods() {
  static const std::vector<std::string> m{"SFT", "SPIN", "IRFT", "RFT"};
  return m;
}

namespace detail {

inline void bad(const std::string& what) { throw invalid_argument(what); }

// Checks the tree's size and returns its number of responses per prompt.
inline double validate_mdp(const token_mdp_options& m) {
  if (m.vocabulary < 2) bad("the vocabulary needs at least 2 tokens (got " + std::to_string(m.vocabulary) + ")");
  if (m.horizon < 1) bad("the horizon H must be at least 1");
  if (m.prompts < 1) bad("there must be at least one prompt");
  double per = 0, level = 1;
  const double b = static_cast<double>(m.vocabulary - (m.eos ? 1 : 0));
  for (std::size_t d = 0; d < m.horizon; ++d, level *= b) per += level;
  if (per * static_cast<double>(m.prompts) > 2e5)
    bad("V = " + std::to_string(m.vocabulary) + ", H = " + std::to_string(m.horizon) + " and " +
        std::to_string(m.prompts) + " prompts give more than 200000 states; the exact experiments need a smaller tree");
  // Responses per prompt: b^H without EOS; sum_{d < H-1} b^d + b^{H-1} V with it.
  const double last = level / b;  // b^{H-1}
  const double responses = m.eos ? (per - last) + last * static_cast<double>(m.vocabulary) : level;
  if (responses > 4096)
    bad("more than 4096 responses per prompt; the exact experiments enumerate them, use a smaller V or H");
  return responses;
}

inline void check_positive(double v, const std::string& name) {
  if (!(v > 0) || !std::isfinite(v)) bad(name + " must be positive and finite (got " + std::to_string(v) + ")");
}

inline mdp::prefix_tree make_tree(const token_mdp_options& m) {
  return mdp::prefix_tree(m.prompts, m.vocabulary, m.horizon, m.eos ? std::optional<token_t>(0) : std::nullopt);
}

using tree_policy = tabular::policy<double, mdp::prefix_tree>;
using tree_reward = tabular::reward<double, mdp::prefix_tree>;

inline double mean_of(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m += x / static_cast<double>(v.size());
  return m;
}
inline double se_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()));
}

}  // namespace detail

// Throws juice::invalid_argument with a one-sentence message for the first bad option.
inline void validate(const toy_mdp_rate_options& o) {
  using detail::bad;
  detail::validate_mdp(o.mdp);
  if (o.demonstrations < 1) bad("there must be at least one demonstration per prompt");
  detail::check_positive(o.beta, "beta");
  detail::check_positive(o.c, "the step-size constant c");
  if (!(o.expert_scale >= 0) || !(o.base_scale >= 0)) bad("the logit scales must be non-negative");
  if (!(o.lambda >= 0)) bad("lambda must be non-negative");
  if (o.steps_per_round < 1) bad("IRFT needs at least one step per round (K >= 1)");
  if (o.budgets.size() < 2) bad("the rate fit needs at least two budgets");
  for (std::size_t b : o.budgets) {
    if (b < o.steps_per_round || b % o.steps_per_round != 0)
      bad("every budget TK must be a positive multiple of K = " + std::to_string(o.steps_per_round) + " (got " +
          std::to_string(b) + ")");
    if (b > 1000000) bad("budgets above 1000000 steps are not supported by the exact experiment");
  }
  for (std::size_t i = 1; i < o.budgets.size(); ++i)
    if (o.budgets[i] <= o.budgets[i - 1]) bad("the budgets must be strictly increasing");
  if (!o.exact && o.samples < 1) bad("sampled mode needs at least one sample per prompt");
}

inline void validate(const toy_mdp_robustness_options& o) {
  using detail::bad;
  if (detail::validate_mdp(o.mdp) > 512)
    bad("more than 512 responses per prompt; the robustness experiment scores every pair of responses, use a smaller V or H");
  if (o.demonstrations < 1) bad("there must be at least one demonstration");
  if (o.eps.empty()) bad("no eps value given");
  for (double e : o.eps)
    if (!(e >= 0 && e <= 1)) bad("every eps must lie in [0, 1] (got " + std::to_string(e) + ")");
  if (o.seeds < 1) bad("there must be at least one seed");
  for (double v : {o.reward_scale, o.expert_beta, o.beta, o.lr, o.irft_lr, o.rft_lr})
    detail::check_positive(v, "the reward scale, betas and learning rates");
  if (!(o.base_scale >= 0)) bad("the base logit scale must be non-negative");
  if (!(o.rft_lambda >= 0)) bad("the RFT L2 weight must be non-negative");
  if (o.steps < 1) bad("the step budget must be at least 1");
  if (o.irft_rounds < 1) bad("IRFT needs at least one round");
  if (o.steps % o.irft_rounds != 0)
    bad("the step budget (" + std::to_string(o.steps) + ") must be a multiple of IRFT's rounds (" +
        std::to_string(o.irft_rounds) + ") so that IRFT and SPIN make the same number of updates");
  if (o.chunk_rounds && o.demonstrations < o.irft_rounds)
    bad("IRFT's " + std::to_string(o.irft_rounds) + " rounds need at least as many demonstrations");
  if (o.rft_iterations < 1) bad("RFT needs at least one iteration");
  if (!o.exact && o.samples < 1) bad("sampled mode needs at least one sample per demonstration");
  if (o.methods.empty()) bad("no method selected");
  for (const auto& m : o.methods)
    if (std::find(toy_mdp_methods().begin(), toy_mdp_methods().end(), m) == toy_mdp_methods().end())
      bad("unknown method '" + m + "' (use SFT, SPIN, IRFT or RFT)");
}

// ---------------------------------------------------------------------------------------------
// rate

namespace detail {

template <class Mode>
void run_rate_budget(const toy_mdp_rate_options& o, const mdp::prefix_tree& tree, const tree_policy& base,
                     const sequence_batch& demos, std::size_t budget, Mode mode, toy_mdp_rate_result& out) {
  const double eta = o.c / std::sqrt(static_cast<double>(budget));
  {
    tree_policy pi = base.snapshot();
    tree_policy probe_copy = base.snapshot();  // scratch model for the probe's gradients
    auto probe = [&] {
      auto logits = probe_copy.logits();
      logits = pi.logits();
      return implicit_irl_grad_norm_sq(probe_copy, base, demos);
    };
    probe_tracker<decltype(probe)> exact_track(probe, event_filter{"irft", false});
    exact_track.record(0);
    stationarity_tracker reported(event_filter{"irft", true});
    irft_options io;
    io.beta = o.beta;
    io.rounds = budget / o.steps_per_round;
    io.steps_per_round = o.steps_per_round;
    io.chunk_rounds = false;
    io.seed = o.seed;
    sgd opt(sgd_hyper{eta, 0.0});
    irft_linear(io).run(pi, demos, opt, mode, [&](const step_event& e) {
      exact_track(e);
      reported(e);
      if (o.on_step) o.on_step("IRFT", budget, e, exact_track.series().values().back());
    });
    out.irft.min_grad_norm_sq.push_back(exact_track.series().min());
    out.irft.final_grad_norm_sq.push_back(exact_track.series().values().back());
    // The round-start estimate is beta^2 ||grad l||^2 in exact mode: report it on the same scale.
    out.irft.min_event_grad_norm_sq.push_back(reported.min() / (o.beta * o.beta));
    out.irft.step_size.push_back(eta);
  }
  if (o.rft) {
    tree_policy pi = base.snapshot();
    tree_reward r(tree, tabular::reward_kind::sequence);
    tree_reward probe_copy(tree, tabular::reward_kind::sequence);
    auto probe = [&] {
      auto t = probe_copy.table();
      t = r.table();
      return irl_grad_norm_sq(base, probe_copy, demos, o.beta);
    };
    probe_tracker<decltype(probe)> exact_track(probe, event_filter{"rft.reward", false});
    exact_track.record(0);
    stationarity_tracker reported(event_filter{"rft.reward", false});
    rft_options ro;
    ro.beta = o.beta;
    ro.l2 = o.lambda;
    ro.iterations = budget;
    ro.seed = o.seed;
    sgd opt(sgd_hyper{eta, 0.0});
    tabular::exact_policy_step step;
    rft_linear(ro).run(pi, base, r, demos, opt, step, mode, [&](const step_event& e) {
      exact_track(e);
      reported(e);
      if (o.on_step && e.algorithm == "rft.reward") o.on_step("RFT", budget, e, exact_track.series().values().back());
    });
    out.rft.min_grad_norm_sq.push_back(exact_track.series().min());
    out.rft.final_grad_norm_sq.push_back(exact_track.series().values().back());
    out.rft.min_event_grad_norm_sq.push_back(reported.min());
    out.rft.step_size.push_back(eta);
  }
}

}  // namespace detail

inline toy_mdp_rate_result run_toy_mdp_rate(const toy_mdp_rate_options& o) {
  validate(o);
  const auto tree = detail::make_tree(o.mdp);
  rng g = rng::stream(o.seed, 0);
  const auto base = mdp::random_policy(tree, o.base_scale, g);
  const auto expert = mdp::random_policy(tree, o.expert_scale, g);
  const sequence_batch demos = expert.sample(tree.prompts(), o.demonstrations, g);
  toy_mdp_rate_result out;
  out.budgets = o.budgets;
  for (std::size_t b : o.budgets) {
    if (o.exact) detail::run_rate_budget(o, tree, base, demos, b, exact{}, out);
    else detail::run_rate_budget(o, tree, base, demos, b, sampled{o.samples}, out);
  }
  std::vector<double> x(o.budgets.begin(), o.budgets.end());
  out.irft.fit = log_log_slope(x, out.irft.min_grad_norm_sq);
  if (o.rft) out.rft.fit = log_log_slope(x, out.rft.min_grad_norm_sq);
  return out;
}

// ---------------------------------------------------------------------------------------------
// robustness

namespace detail {

// What one run of one method on one seed and eps is scored on.
struct robustness_env {
  mdp::prefix_tree tree;
  tree_policy base, expert, low;
  tree_reward truth;
  sequence_batch prompts;
  pair_batch pairs;  // pairs of base responses labelled by r*, weighted by their probability
};

// Pairs (y, y') of responses to the same prompt with r*(y) > r*(y'), weighted by rho(x) pi0(y) pi0(y'):
// the exact distribution of r*-labelled pairs drawn from the initial policy (ties dropped).
inline pair_batch labelled_pairs(const tree_policy& base, tree_reward& truth, const sequence_batch& prompts) {
  const auto all = base.enumerate(prompts);
  const auto r = truth.rewards(all);
  std::vector<std::size_t> ci, ri;
  std::vector<double> w;
  for (std::size_t a = 0; a < all.rows(); ++a)
    for (std::size_t b = 0; b < all.rows(); ++b)
      if (all.source(a) == all.source(b) && r(a) > r(b)) {
        ci.push_back(a);
        ri.push_back(b);
        const double wx = prompts.weight(static_cast<std::size_t>(all.source(a)));
        w.push_back(all.weight(a) * all.weight(b) / wx);
      }
  pair_batch p{select_rows(all, ci), select_rows(all, ri), xt::zeros<double>({w.size()})};
  for (std::size_t i = 0; i < w.size(); ++i) p.weight(i) = w[i];
  return p;
}

inline robustness_env make_env(const toy_mdp_robustness_options& o, std::uint64_t seed_index) {
  auto tree = make_tree(o.mdp);
  rng g = rng::stream(o.seed, 2 * seed_index);
  tree_policy base = mdp::random_policy(tree, o.base_scale, g);
  tree_reward truth(tree, tabular::reward_kind::token_sum);
  const auto rstar = mdp::random_token_table(tree, o.reward_scale, g);
  std::copy(rstar.begin(), rstar.end(), truth.table().data());
  std::vector<double> neg(rstar);
  for (double& v : neg) v = -v;
  const auto lref = mdp::log_policy_table(base);
  tree_policy expert(tree), low(tree);
  mdp::set_log_policy(expert, mdp::soft_value_iteration(tree, rstar, lref, o.expert_beta).log_policy);
  mdp::set_log_policy(low, mdp::soft_value_iteration(tree, neg, lref, o.expert_beta).log_policy);
  sequence_batch prompts = tree.prompts();
  pair_batch pairs = labelled_pairs(base, truth, prompts);
  return {std::move(tree), std::move(base), std::move(expert), std::move(low), std::move(truth), std::move(prompts),
          std::move(pairs)};
}

// N demonstrations: prompts uniform, responses from the expert; then round(eps N) of them, chosen at
// random, replaced by responses of the low-quality policy to the same prompts. The expert draws and
// the replacement order are shared across eps (common random numbers).
inline sequence_batch make_demos(const toy_mdp_robustness_options& o, const robustness_env& env,
                                 std::uint64_t seed_index, double eps) {
  rng g = rng::stream(o.seed, 2 * seed_index + 1);
  const std::size_t N = o.demonstrations;
  sequence_batch x(N, 1);
  for (std::size_t i = 0; i < N; ++i) {
    x.tokens(i, 0) = static_cast<token_t>(g.below(o.mdp.prompts));
    x.prompt_length(i) = x.length(i) = 1;
  }
  sequence_batch good = env.expert.sample(x, 1, g);
  const sequence_batch poor = env.low.sample(x, 1, g);
  std::vector<std::size_t> order(N);
  for (std::size_t i = 0; i < N; ++i) order[i] = i;
  for (std::size_t i = N; i > 1; --i) std::swap(order[i - 1], order[g.below(i)]);
  const auto replace = static_cast<std::size_t>(std::llround(eps * static_cast<double>(N)));
  for (std::size_t k = 0; k < replace; ++k) {
    const std::size_t i = order[k];
    for (std::size_t t = 0; t < good.width(); ++t) good.tokens(i, t) = t < poor.width() ? poor.tokens(i, t) : 0;
    good.length(i) = poor.length(i);
  }
  for (std::size_t i = 0; i < N; ++i) good.weight(i) = 1.0 / static_cast<double>(N);
  return good;
}

template <class Mode>
tree_policy train(const toy_mdp_robustness_options& o, const std::string& method, robustness_env& env,
                  const sequence_batch& demos, std::uint64_t seed, Mode mode) {
  tree_policy pi = env.base.snapshot();
  if (method == "SFT") {
    sgd opt(sgd_hyper{o.lr, 0.0});
    sft_options so;
    so.steps = o.steps;
    so.seed = seed;
    sft(so).run(pi, demos, opt);
  } else if (method == "SPIN" || method == "IRFT") {
    sgd opt(sgd_hyper{o.irft_lr, 0.0});
    irft_options io;
    io.beta = o.beta;
    io.rounds = method == "SPIN" ? 1 : o.irft_rounds;
    io.steps_per_round = o.steps / io.rounds;
    io.chunk_rounds = method == "SPIN" ? false : o.chunk_rounds;
    io.seed = seed;
    irft(io).run(pi, demos, opt, mode);
  } else {
    tree_reward r(env.tree, tabular::reward_kind::token_sum);
    sgd opt(sgd_hyper{o.rft_lr, 0.0});
    rft_options ro;
    ro.beta = o.beta;
    ro.l2 = o.rft_lambda;
    ro.iterations = o.rft_iterations;
    ro.seed = seed;
    tabular::exact_policy_step step;
    rft(ro).run(pi, env.base, r, demos, opt, step, mode);
  }
  return pi;
}

struct robustness_scores {
  double reward, gap, gap_change, accuracy, win, kl;
};

inline robustness_scores score(const tree_policy& pi, robustness_env& env) {
  return {expected_reward(pi, env.truth, env.prompts),
          logprob_gap(pi, env.pairs),
          logprob_gap_change(pi, env.base, env.pairs),
          implicit_reward_accuracy(pi, env.base, env.pairs),
          win_rate(pi, env.base, env.truth, env.prompts),
          kl_to_reference(pi, env.expert, env.prompts)};
}

inline robustness_row summarise(const std::string& method, double eps, const std::vector<robustness_scores>& s) {
  robustness_row row;
  row.method = method;
  row.eps = eps;
  row.seeds = s.size();
  auto stat = [&](auto field, double& mean, double& se) {
    std::vector<double> v;
    v.reserve(s.size());
    for (const auto& x : s) v.push_back(field(x));
    mean = mean_of(v);
    se = se_of(v);
  };
  stat([](const robustness_scores& x) { return x.reward; }, row.true_reward_mean, row.true_reward_se);
  stat([](const robustness_scores& x) { return x.gap; }, row.logprob_gap_mean, row.logprob_gap_se);
  stat([](const robustness_scores& x) { return x.gap_change; }, row.logprob_gap_change_mean, row.logprob_gap_change_se);
  stat([](const robustness_scores& x) { return x.accuracy; }, row.implicit_accuracy_mean, row.implicit_accuracy_se);
  stat([](const robustness_scores& x) { return x.win; }, row.win_rate_mean, row.win_rate_se);
  stat([](const robustness_scores& x) { return x.kl; }, row.kl_to_expert_mean, row.kl_to_expert_se);
  return row;
}

}  // namespace detail

// One row per (eps, method) in the order eps-major, methods as given; with baselines, rows
// "initial" and "expert" first for every eps.
inline std::vector<robustness_row> run_toy_mdp_robustness(const toy_mdp_robustness_options& o) {
  validate(o);
  std::vector<std::string> names;
  if (o.baselines) names = {"initial", "expert"};
  names.insert(names.end(), o.methods.begin(), o.methods.end());
  // scores[eps][method][seed]
  std::vector<std::vector<std::vector<detail::robustness_scores>>> scores(
      o.eps.size(), std::vector<std::vector<detail::robustness_scores>>(names.size()));
  for (std::size_t s = 0; s < o.seeds; ++s) {
    auto env = detail::make_env(o, s);
    for (std::size_t e = 0; e < o.eps.size(); ++e) {
      const auto demos = detail::make_demos(o, env, s, o.eps[e]);
      for (std::size_t m = 0; m < names.size(); ++m) {
        const auto& name = names[m];
        if (name == "initial") {
          scores[e][m].push_back(detail::score(env.base, env));
          continue;
        }
        if (name == "expert") {
          scores[e][m].push_back(detail::score(env.expert, env));
          continue;
        }
        const std::uint64_t run_seed = o.seed * 1000003 + s;
        const auto pi = o.exact ? detail::train(o, name, env, demos, run_seed, exact{})
                                : detail::train(o, name, env, demos, run_seed, sampled{o.samples});
        scores[e][m].push_back(detail::score(pi, env));
      }
    }
  }
  const auto sft = std::find(names.begin(), names.end(), std::string("SFT"));
  std::vector<robustness_row> rows;
  for (std::size_t e = 0; e < o.eps.size(); ++e)
    for (std::size_t m = 0; m < names.size(); ++m) {
      auto row = detail::summarise(names[m], o.eps[e], scores[e][m]);
      if (sft == names.end()) {
        row.win_rate_minus_sft_mean = row.win_rate_minus_sft_se = std::numeric_limits<double>::quiet_NaN();
      } else {
        const auto& base = scores[e][static_cast<std::size_t>(sft - names.begin())];
        std::vector<double> diff;
        diff.reserve(base.size());
        for (std::size_t s = 0; s < base.size(); ++s) diff.push_back(scores[e][m][s].win - base[s].win);
        row.win_rate_minus_sft_mean = detail::mean_of(diff);
        row.win_rate_minus_sft_se = detail::se_of(diff);
      }
      rows.push_back(row);
    }
  return rows;
}

}  // namespace juice::experiments
