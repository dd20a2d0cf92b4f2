// A complete token-level MDP experiment with juice's tabular backend:
//   1. a prefix tree (2 prompts, vocabulary 4 with EOS = 0, responses of up to 3 tokens);
//   2. a hidden token reward r*(s,a) and the expert = its soft-optimal policy (soft value iteration);
//   3. demonstrations sampled from the expert;
//   4. SFT, IRFT (T = 5) and RFT run through the generic algorithms with exact expectations;
//   5. diagnostics: true reward, KL to the expert, win rate against the start, and IRFT's
//      round-start stationarity estimate recorded by an observer and logged as JSONL.
// Build: part of the project (examples/); run: ./build/bin/example_token_mdp
#include <cstdio>
#include <iostream>

#include "juice/juice.hpp"
#include "juice/diagnostics/alignment.hpp"
#include "juice/diagnostics/stationarity.hpp"
#include "juice/diagnostics/writers.hpp"
#include "juice/mdp/prefix_tree.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice/mdp/soft_bellman.hpp"

int main() {
  using namespace juice;
  using tree = mdp::prefix_tree;
  using policy = tabular::policy<double, tree>;
  using reward = tabular::reward<double, tree>;

  // 1. The tree: states are (prompt, unfinished prefix); token 0 ends a response early.
  const tree t(2, 4, 3, token_t{0});
  std::printf("tree: %zu states, %zu responses per prompt\n", t.num_states(), t.responses_per_prompt());

  // 2. Hidden reward and expert: pi_E = pi_0 exp(r*/beta_E) / Z, by soft value iteration.
  rng g(42);
  const policy start = mdp::random_policy(t, 0.5, g);
  reward truth(t, tabular::reward_kind::token_sum);
  const auto rstar = mdp::random_token_table(t, 1.0, g);
  std::copy(rstar.begin(), rstar.end(), truth.table().data());
  policy expert(t);
  mdp::set_log_policy(expert, mdp::soft_value_iteration(truth, start, 0.25).log_policy);

  // 3. Demonstrations: 16 per prompt.
  const sequence_batch demos = expert.sample(t.prompts(), 16, g);

  // 4. Three ways to learn from them.
  policy sft_pi = start.snapshot();
  {
    sgd opt(sgd_hyper{1.0, 0.0});
    sft_options o;
    o.steps = 100;
    sft(o).run(sft_pi, demos, opt);
  }
  policy irft_pi = start.snapshot();
  stationarity_tracker round_starts(event_filter{"irft", true});
  jsonl_writer log(std::cout);
  {
    sgd opt(sgd_hyper{2.0, 0.0});
    irft_options o;
    o.beta = 0.5;
    o.rounds = 5;
    o.steps_per_round = 20;
    irft(o).run(irft_pi, demos, opt, exact{}, [&](const step_event& e) {
      round_starts(e);
      if (e.round_start) log.write(to_json(e));  // one JSON line per round start
    });
  }
  policy rft_pi = start.snapshot();
  {
    reward r(t, tabular::reward_kind::token_sum);
    sgd opt(sgd_hyper{1.0, 0.0});
    rft_options o;
    o.beta = 0.5;
    o.iterations = 100;
    tabular::exact_policy_step step;
    rft(o).run(rft_pi, start, r, demos, opt, step, exact{});
  }

  // 5. Diagnostics, exact by enumeration.
  const auto x = t.prompts();
  std::printf("%-8s %12s %14s %16s %14s\n", "policy", "true reward", "KL to expert", "win vs start", "demo NLL");
  auto row = [&](const char* name, const policy& p) {
    std::printf("%-8s %12.4f %14.4f %16.4f %14.4f\n", name, expected_reward(p, truth, x), kl_to_reference(p, expert, x),
                win_rate(p, start, truth, x), demonstration_nll(p, demos));
  };
  row("start", start);
  row("expert", expert);
  row("SFT", sft_pi);
  row("IRFT", irft_pi);
  row("RFT", rft_pi);
  std::printf("IRFT round-start ||grad||^2: first %.4g, min %.4g over %zu rounds\n",
              round_starts.series().values().front(), round_starts.min(), round_starts.series().size());
  return 0;
}
