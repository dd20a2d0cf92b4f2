// juice/experiments/one_state.hpp
//
// The one-state example of Li et al., "Getting More Juice Out of the SFT Data" (NeurIPS 2024,
// Table 1), as juice defines it: one state, three actions, a uniform reference, beta = 1,
// demonstrations of a1 only (10 copies), a free tabular reward with L2 weight lambda = 1.
//   SFT (maximum likelihood over tabular logits) drives pi to (1, 0, 0);
//   the regularised ML-IRL optimum solves (e1 - pi_r)/beta = lambda r, so r = (2u, -u, -u) with
//   u = 1/(exp(3u) + 2) and pi = (0.5103358, 0.2448321, 0.2448321);
//   RFT (linear reward loss + L2, exact policy step) converges to that optimum;
//   IRFT (sigmoid loss) with a finite budget ends between the two.
// Every number above is an option; the defaults are the table. The paper's own table numbers are
// not reproduced (they are not available); its claim (IRL spreads probability, SFT collapses) is.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "juice/algorithms/generation.hpp"
#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/tabular/tabular.hpp"
#include "juice/core/error.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/sgd.hpp"

namespace juice::experiments {

struct one_state_options {
  std::vector<double> reference{1.0 / 3, 1.0 / 3, 1.0 / 3};  // pi_ref over the actions
  std::vector<double> counts{10, 0, 0};                      // demonstrations of each action
  double beta = 1.0;
  double lambda = 1.0;  // L2 weight of the reward (RFT, IRL optimum)
  // SFT: AdamW on the logits, full batch.
  std::size_t sft_steps = 500;
  double sft_lr = 0.1;
  // RFT: SGD on the reward, linear loss + L2, one policy step per iteration.
  std::size_t rft_iterations = 200;
  double rft_lr = 0.5;
  std::string rft_policy_step = "exact";  // "exact" or "mirror"
  double rft_alpha = 0.5;                 // mirror step rate
  // IRFT: SGD on the logits, T rounds of K steps, one round's data chunk each.
  std::size_t irft_rounds = 5;
  std::size_t irft_steps = 10;
  double irft_lr = 0.2;
  std::string irft_loss = "sigmoid";  // sigmoid, hinge, linear, ipo
  // Generation of y~: exact expectations or samples.
  bool exact = true;
  std::size_t samples = 1;  // per demonstration, sampled mode
  std::uint64_t seed = 0;
  std::vector<std::string> methods{"SFT", "IRL-optimum", "RFT", "IRFT"};
};

struct one_state_row {
  std::string method;
  std::vector<double> pi;  // final pi(a|x) for every action
};

inline const std::vector<std::string>& one_state_methods() {
  static const std::vector<std::string> m{"SFT", "IRL-optimum", "RFT", "IRFT"};
  return m;
}

// Throws juice::invalid_argument with a one-sentence message for the first bad option.
inline void validate(const one_state_options& o) {
  auto bad = [](const std::string& what) { throw invalid_argument(what); };
  if (o.reference.size() < 2) bad("the reference policy needs at least two actions");
  double total = 0;
  for (double p : o.reference) {
    if (!(p > 0) || !std::isfinite(p)) bad("every reference probability must be positive and finite");
    total += p;
  }
  if (std::abs(total - 1) > 1e-9) bad("the reference probabilities sum to " + to_text(total) + ", not 1");
  if (o.counts.size() != o.reference.size())
    bad("there are " + std::to_string(o.counts.size()) + " demonstration counts for " +
        std::to_string(o.reference.size()) + " actions");
  double n = 0;
  for (double c : o.counts) {
    if (!(c >= 0) || c != std::floor(c)) bad("demonstration counts must be non-negative integers");
    n += c;
  }
  if (n < 1) bad("there must be at least one demonstration");
  if (!(o.beta > 0) || !std::isfinite(o.beta)) bad("beta must be positive (got " + to_text(o.beta) + ")");
  if (!(o.lambda > 0) || !std::isfinite(o.lambda)) bad("lambda must be positive (got " + to_text(o.lambda) + ")");
  for (double lr : {o.sft_lr, o.rft_lr, o.irft_lr})
    if (!(lr > 0) || !std::isfinite(lr)) bad("learning rates must be positive");
  if (o.rft_policy_step != "exact" && o.rft_policy_step != "mirror")
    bad("unknown RFT policy step '" + o.rft_policy_step + "' (use exact or mirror)");
  if (!(o.rft_alpha > 0 && o.rft_alpha <= 1)) bad("the mirror step rate alpha must lie in (0, 1]");
  if (o.irft_loss != "sigmoid" && o.irft_loss != "hinge" && o.irft_loss != "linear" && o.irft_loss != "ipo")
    bad("unknown IRFT loss '" + o.irft_loss + "' (use sigmoid, hinge, linear or ipo)");
  if (o.irft_rounds == 0) bad("IRFT needs at least one round");
  if (o.irft_rounds > static_cast<std::size_t>(n))
    bad("IRFT's " + std::to_string(o.irft_rounds) + " rounds need at least as many demonstrations");
  if (o.samples == 0) bad("samples per demonstration must be at least 1");
  if (o.methods.empty()) bad("no method selected");
  for (const auto& m : o.methods)
    if (std::find(one_state_methods().begin(), one_state_methods().end(), m) == one_state_methods().end())
      bad("unknown method '" + m + "' (use SFT, IRL-optimum, RFT or IRFT)");
}

namespace detail {

using space = tabular::bandit_space;
using policy = tabular::policy<double, space>;
using reward = tabular::reward<double, space>;

// One row per demonstration: prompt token 0 (the state), response token a.
inline sequence_batch one_state_demonstrations(const std::vector<double>& counts) {
  std::size_t n = 0;
  for (double c : counts) n += static_cast<std::size_t>(c);
  sequence_batch d(n, 2);
  std::size_t row = 0;
  for (std::size_t a = 0; a < counts.size(); ++a)
    for (std::size_t k = 0; k < static_cast<std::size_t>(counts[a]); ++k, ++row) {
      d.tokens(row, 0) = 0;
      d.tokens(row, 1) = static_cast<token_t>(a);
      d.prompt_length(row) = 1;
      d.length(row) = 2;
    }
  return d;
}

template <class Mode>
std::vector<double> run_rft(const one_state_options& o, const policy& ref, const sequence_batch& demos, Mode mode) {
  policy pi = ref.snapshot();
  reward r(ref.space());
  sgd opt(sgd_hyper{o.rft_lr, 0.0});
  rft_options ro;
  ro.beta = o.beta;
  ro.l2 = o.lambda;
  ro.iterations = o.rft_iterations;
  ro.seed = o.seed;
  rft_linear alg(ro);
  if (o.rft_policy_step == "exact") {
    tabular::exact_policy_step step;
    alg.run(pi, ref, r, demos, opt, step, mode);
  } else {
    tabular::mirror_policy_step step{o.rft_alpha};
    alg.run(pi, ref, r, demos, opt, step, mode);
  }
  return pi.probabilities(0);
}

template <class Loss, class Mode>
std::vector<double> run_irft(const one_state_options& o, const policy& ref, const sequence_batch& demos, Mode mode) {
  policy pi = ref.snapshot();
  sgd opt(sgd_hyper{o.irft_lr, 0.0});
  irft_options io;
  io.beta = o.beta;
  io.rounds = o.irft_rounds;
  io.steps_per_round = o.irft_steps;
  io.seed = o.seed;
  irft_trainer<Loss>(io).run(pi, demos, opt, mode);
  return pi.probabilities(0);
}

template <class Mode>
std::vector<double> run_irft(const one_state_options& o, const policy& ref, const sequence_batch& demos, Mode mode) {
  if (o.irft_loss == "hinge") return run_irft<hinge_loss>(o, ref, demos, mode);
  if (o.irft_loss == "linear") return run_irft<linear_loss>(o, ref, demos, mode);
  if (o.irft_loss == "ipo") return run_irft<ipo_loss>(o, ref, demos, mode);
  return run_irft<sigmoid_loss>(o, ref, demos, mode);
}

}  // namespace detail

// Runs the selected methods and returns one row per method, in the order of o.methods.
inline std::vector<one_state_row> run_one_state(const one_state_options& o) {
  validate(o);
  const detail::space sp(1, o.reference.size());
  const detail::policy ref = detail::policy::from_probabilities(sp, o.reference);
  const sequence_batch demos = detail::one_state_demonstrations(o.counts);
  std::vector<one_state_row> rows;
  for (const auto& m : o.methods) {
    if (m == "SFT") {
      detail::policy pi = ref.snapshot();
      adamw opt(adamw_hyper{o.sft_lr});
      sft_options so;
      so.steps = o.sft_steps;
      so.seed = o.seed;
      sft(so).run(pi, demos, opt);
      rows.push_back({m, pi.probabilities(0)});
    } else if (m == "IRL-optimum") {
      detail::reward r(sp);
      tabular::solve_irl_optimum(ref, r, demos, {o.beta, o.lambda});
      detail::policy pi = ref.snapshot();
      rng unused(o.seed);
      tabular::exact_policy_step{}.improve(pi, ref, r, prompts_of(demos), o.beta, unused);
      rows.push_back({m, pi.probabilities(0)});
    } else if (m == "RFT") {
      rows.push_back({m, o.exact ? detail::run_rft(o, ref, demos, exact{})
                                 : detail::run_rft(o, ref, demos, sampled{o.samples})});
    } else {
      rows.push_back({m, o.exact ? detail::run_irft(o, ref, demos, exact{})
                                 : detail::run_irft(o, ref, demos, sampled{o.samples})});
    }
  }
  return rows;
}

}  // namespace juice::experiments
