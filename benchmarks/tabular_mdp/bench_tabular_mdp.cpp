// Token-level MDP benchmarks on a V = 8, H = 5 prefix tree with 8 prompts (8 x 4681 = 37448 states,
// 8 x 32768 = 262144 complete responses):
//   BM_exact_irft_round        one IRFT round (T = 1, K = 1, linear loss) with exact expectations:
//                              enumerate every y~, cache reference log-probs, one update; items = pairs
//   BM_soft_value_iteration    one backward sweep of the soft Bellman backup; items = (state, action) pairs
//   BM_policy_logprobs         per-token log-probs of every enumerated response; items = tokens
//   BM_enumerate               listing every response with its probability; items = responses
// Each validates its computation once against an independent identity before timing.
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>

#include "juice/algorithms/irft/irft.hpp"
#include "juice/backends/tabular/tabular.hpp"
#include "juice/diagnostics/implicit_reward.hpp"
#include "juice/mdp/random_mdp.hpp"
#include "juice/mdp/soft_bellman.hpp"
#include "juice/optim/sgd.hpp"

namespace {

using namespace juice;
using tree = mdp::prefix_tree;
using tpolicy = tabular::policy<double, tree>;

struct setup {
  tree t{8, 8, 5};
  rng g{2024};
  tpolicy base = mdp::random_policy(t, 0.5, g);
  sequence_batch demos = mdp::random_policy(t, 2.0, g).sample(t.prompts(), 1, g);  // one per prompt
  std::vector<double> reward = mdp::random_token_table(t, 1.0, g);
};

setup& world() {
  static setup s;
  return s;
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("validation failed: " + what);
}

void BM_exact_irft_round(benchmark::State& state) {
  auto& w = world();
  irft_options o;
  o.beta = 1.0;
  o.rounds = 1;
  o.steps_per_round = 1;
  // Validate: the round-start squared gradient norm is beta^2 ||grad l(theta)||^2, computed independently.
  {
    tpolicy pi = w.base.snapshot(), copy = w.base.snapshot();
    const double want = implicit_irl_grad_norm_sq(copy, w.base, w.demos);
    double got = -1;
    sgd opt(sgd_hyper{0.1, 0.0});
    irft_linear(o).run(pi, w.demos, opt, exact{}, [&](const step_event& e) { got = e.grad_norm_sq; });
    require(std::abs(got - want) <= 1e-9 * want, "IRFT round-start gradient vs exact grad l");
  }
  for (auto _ : state) {
    tpolicy pi = w.base.snapshot();
    sgd opt(sgd_hyper{0.1, 0.0});
    irft_linear(o).run(pi, w.demos, opt, exact{});
    benchmark::DoNotOptimize(pi.logits().data());
  }
  const auto pairs = static_cast<std::int64_t>(w.demos.rows() * w.t.responses_per_prompt());
  state.SetItemsProcessed(state.iterations() * pairs);
  state.counters["states"] = static_cast<double>(w.t.num_states());
  state.counters["pairs"] = static_cast<double>(pairs);
}
BENCHMARK(BM_exact_irft_round)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_soft_value_iteration(benchmark::State& state) {
  auto& w = world();
  const auto lref = mdp::log_policy_table(w.base);
  {
    const auto sv = mdp::soft_value_iteration(w.t, w.reward, lref, 0.5);
    const auto res = mdp::soft_bellman_residual(w.t, w.reward, lref, sv);
    require(res.q < 1e-10 && res.v < 1e-10 && res.policy < 1e-10, "soft Bellman residual");
  }
  for (auto _ : state) {
    auto sv = mdp::soft_value_iteration(w.t, w.reward, lref, 0.5);
    benchmark::DoNotOptimize(sv.v.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(w.t.num_states() * w.t.num_actions()));
  state.counters["states"] = static_cast<double>(w.t.num_states());
}
BENCHMARK(BM_soft_value_iteration)->Unit(benchmark::kMicrosecond);

void BM_policy_logprobs(benchmark::State& state) {
  auto& w = world();
  const auto all = w.base.enumerate(w.t.prompts());
  {
    // Validate: the enumerated weights (from logits) and the log-probs agree, and sum to one per prompt.
    const auto lp = sequence_sum(w.base.logprobs(all), all);
    double total = 0, worst = 0;
    for (std::size_t b = 0; b < all.rows(); ++b) {
      total += all.weight(b);
      worst = std::max(worst, std::abs(all.weight(b) - std::exp(lp(b)) / 8.0));
    }
    require(std::abs(total - 1) < 1e-9 && worst < 1e-12, "enumeration weights vs log-probs");
  }
  std::int64_t tokens = 0;
  for (std::size_t b = 0; b < all.rows(); ++b) tokens += all.response_length(b);
  for (auto _ : state) {
    auto lp = w.base.logprobs(all);
    benchmark::DoNotOptimize(lp.data());
  }
  state.SetItemsProcessed(state.iterations() * tokens);
}
BENCHMARK(BM_policy_logprobs)->Unit(benchmark::kMillisecond);

void BM_enumerate(benchmark::State& state) {
  auto& w = world();
  require(w.base.enumerate(w.t.prompts()).rows() == w.t.num_prompts() * w.t.responses_per_prompt(), "response count");
  for (auto _ : state) {
    auto all = w.base.enumerate(w.t.prompts());
    benchmark::DoNotOptimize(all.weight.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(w.t.num_prompts() * w.t.responses_per_prompt()));
}
BENCHMARK(BM_enumerate)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
