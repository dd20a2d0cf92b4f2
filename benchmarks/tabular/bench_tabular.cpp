// Tabular SFT, RFT and IRFT updates per second, on the paper's one-state example and on a wider
// bandit (64 prompts x 32 actions), in exact-expectation and sampled modes. Each benchmark first
// checks that its setting is valid (the one-state RFT run lands on the closed-form optimum), then
// times; items are algorithm updates.
#include <cmath>
#include <stdexcept>

#include <benchmark/benchmark.h>

#include "juice/experiments/one_state.hpp"
#include "juice/juice.hpp"

namespace {

using space = juice::tabular::bandit_space;
using policy = juice::tabular::policy<double, space>;
using reward = juice::tabular::reward<double, space>;

// Demonstrations: `per_prompt` rows per prompt, action (x * 7) mod A.
juice::sequence_batch demos(std::size_t prompts, std::size_t actions, std::size_t per_prompt) {
  juice::sequence_batch d(prompts * per_prompt, 2);
  for (std::size_t x = 0; x < prompts; ++x)
    for (std::size_t k = 0; k < per_prompt; ++k) {
      const std::size_t r = x * per_prompt + k;
      d.tokens(r, 0) = static_cast<juice::token_t>(x);
      d.tokens(r, 1) = static_cast<juice::token_t>((x * 7 + k) % actions);
      d.prompt_length(r) = 1;
      d.length(r) = 2;
    }
  return d;
}

void validate_once() {
  static const bool ok = [] {
    juice::experiments::one_state_options o;
    o.methods = {"IRL-optimum", "RFT"};
    const auto rows = juice::experiments::run_one_state(o);
    if (std::abs(rows[0].pi[0] - rows[1].pi[0]) > 1e-6) throw std::runtime_error("RFT does not reach the IRL optimum");
    return true;
  }();
  (void)ok;
}

template <class Mode>
void BM_sft(benchmark::State& state) {
  validate_once();
  const auto P = static_cast<std::size_t>(state.range(0)), A = static_cast<std::size_t>(state.range(1));
  const auto d = demos(P, A, 4);
  policy pi(space(P, A));
  juice::adamw opt(juice::adamw_hyper{0.01});
  juice::sft_options o;
  o.steps = 1;
  for (auto _ : state) benchmark::DoNotOptimize(juice::sft(o).run(pi, d, opt).last_loss);
  state.SetItemsProcessed(state.iterations());
  state.counters["rows"] = static_cast<double>(d.rows());
}

template <class Mode>
void BM_rft(benchmark::State& state) {
  validate_once();
  const auto P = static_cast<std::size_t>(state.range(0)), A = static_cast<std::size_t>(state.range(1));
  const auto d = demos(P, A, 4);
  const policy ref(space(P, A));
  policy pi = ref.snapshot();
  reward r(space(P, A));
  juice::sgd opt(juice::sgd_hyper{0.1});
  juice::rft_options o;
  o.iterations = 1;
  o.l2 = 0.1;
  juice::tabular::exact_policy_step step;
  for (auto _ : state) benchmark::DoNotOptimize(juice::rft_linear(o).run(pi, ref, r, d, opt, step, Mode{}).last_loss);
  state.SetItemsProcessed(state.iterations());
}

template <class Mode>
void BM_irft(benchmark::State& state) {
  validate_once();
  const auto P = static_cast<std::size_t>(state.range(0)), A = static_cast<std::size_t>(state.range(1));
  const auto d = demos(P, A, 4);
  policy pi(space(P, A));
  juice::sgd opt(juice::sgd_hyper{0.1});
  juice::irft_options o;
  o.rounds = 1;
  o.steps_per_round = 8;
  o.chunk_rounds = false;
  for (auto _ : state) benchmark::DoNotOptimize(juice::irft(o).run(pi, d, opt, Mode{}).last_loss);
  state.SetItemsProcessed(state.iterations() * 8);  // inner steps
}

}  // namespace

BENCHMARK(BM_sft<juice::exact>)->Args({1, 3})->Args({64, 32})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_rft<juice::exact>)->Args({1, 3})->Args({64, 32})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_rft<juice::sampled>)->Args({1, 3})->Args({64, 32})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_irft<juice::exact>)->Args({1, 3})->Args({64, 32})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_irft<juice::sampled>)->Args({1, 3})->Args({64, 32})->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
