// algorithms/ppo/ppo.hpp under data parallelism: PPO on two replicas of the CPU transformer
// (double) in a local_group, each improving on its half of a batch of prompts with an all_reduced
// AdamW, ends with the parameters and the statistics of PPO on the whole batch in one process. That
// holds only if every rollout comes from its prompt's own stream (not from the rank's generator),
// c_t and the advantages' mean and variance are the whole batch's (summed over the group), and the
// gradient is clipped after the average (all_reduced), not on each rank before it.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "check_throws.hpp"
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/data_parallel.hpp"
#include "juice/optim/local_group.hpp"
#include "juice_test.hpp"
#include "../cpu/model_support.hpp"

using namespace juice;
using juice::test::check_throws_with;

namespace {

using model = transformer<cpu, double>;
using reward_model = transformer_reward<cpu, double>;
using member = local_group<double>::member;

constexpr std::uint64_t model_seed = 7, reward_seed = 8, stream_key = 42;
constexpr double beta = 0.1;

// Four prompts of different lengths, each a quarter of the batch.
sequence_batch prompts() {
  sequence_batch p = test::make_batch({{{1, 2}, {}}, {{3, 4, 5}, {}}, {{6}, {}}, {{7, 8, 9, 10}, {}}});
  for (std::size_t b = 0; b < p.rows(); ++b) p.weight(b) = 0.25;
  return p;
}

ppo_options options(double max_grad_norm) {
  ppo_options o;
  o.samples_per_prompt = 2;
  o.epochs = 3;
  o.max_grad_norm = max_grad_norm;
  return o;
}

adamw optimizer() { return adamw(adamw_hyper{1e-2, 0.9, 0.999, 1e-8, 0.0, 1, 1}); }

model policy() {
  model m(test::tiny_config(), model_seed);
  m.generation().max_new_tokens = 5;  // longest prompt 4 + 5 < context 12
  return m;
}

struct outcome {
  std::vector<double> params;
  ppo_stats stats;
};

std::vector<double> copy_of(std::span<const double> v) { return {v.begin(), v.end()}; }

// Two PPO iterations on the whole batch in one process, clipping its gradient at max_norm.
outcome single(double max_norm) {
  model m = policy();
  const model ref = policy();
  reward_model r(m, reward_seed);
  ppo_improver<adamw> improver(options(max_norm), optimizer());
  for (std::uint64_t it = 0; it < 2; ++it) improver.improve(m, ref, r, prompts(), beta, ppo_streams{stream_key + it, 0});
  return {copy_of(m.parameter_block().value), improver.last_stats()};
}

// The same on two replicas, rank r improving on prompts {2r, 2r + 1}; all_reduced clips at max_norm.
std::vector<outcome> replicas(double max_norm) {
  constexpr std::size_t N = 2;
  local_group<double> group(N);
  std::vector<outcome> out(N);
  std::vector<std::exception_ptr> errors(N);
  std::vector<std::thread> threads;
  threads.reserve(N);
  for (std::size_t rank = 0; rank < N; ++rank)
    threads.emplace_back([&, rank] {
      try {  // no Boost.Test assertions in the threads (its log is not thread-safe)
        model m = policy();
        const model ref = policy();
        reward_model r(m, reward_seed);
        const std::vector<std::size_t> rows{2 * rank, 2 * rank + 1};
        const sequence_batch half = select_rows(prompts(), rows);
        ppo_improver<all_reduced<adamw, member>> improver(options(0), all_reduced(optimizer(), group.rank(rank), max_norm));
        for (std::uint64_t it = 0; it < 2; ++it) improver.improve(m, ref, r, half, beta, ppo_streams{stream_key + it, 2 * rank});
        out[rank] = {copy_of(m.parameter_block().value), improver.last_stats()};
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

void check_close(double got, double want, const std::string& what) {
  BOOST_CHECK_MESSAGE(std::abs(got - want) <= 1e-12 * std::max(1.0, std::abs(want)), what << ": " << got << " vs " << want);
}

void check_equal_to_single(double max_norm, const std::string& what) {
  const outcome one = single(max_norm);
  model initial = policy();
  BOOST_REQUIRE(one.params != copy_of(initial.parameter_block().value));  // it trained
  const auto two = replicas(max_norm);
  BOOST_CHECK_MESSAGE(std::memcmp(two[0].params.data(), two[1].params.data(), two[0].params.size() * sizeof(double)) == 0,
                      what << ": rank 1's parameters differ from rank 0's");
  double worst = 0;
  for (std::size_t i = 0; i < one.params.size(); ++i)
    worst = std::max(worst, std::abs(two[0].params[i] - one.params[i]) / std::max(1.0, std::abs(one.params[i])));
  BOOST_CHECK_MESSAGE(worst <= 1e-12, what << ": the parameters differ from one process's by " << worst << " (relative)");
  for (const auto& o : two) {
    check_close(o.stats.mean_score, one.stats.mean_score, what + ", mean score");
    check_close(o.stats.kl, one.stats.kl, what + ", KL");
    check_close(o.stats.first_loss, one.stats.first_loss, what + ", first loss");
    check_close(o.stats.last_loss, one.stats.last_loss, what + ", last loss");
    check_close(o.stats.clipped_fraction, one.stats.clipped_fraction, what + ", clipped fraction");
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_replicas_on_the_halves_equal_one_process_on_the_whole_batch) { check_equal_to_single(0, "no clipping"); }

BOOST_AUTO_TEST_CASE(the_clip_applies_to_the_averaged_gradient) {
  // 1e-3 binds at every update: the whitened advantages give gradients far larger.
  check_equal_to_single(1e-3, "clipped at 1e-3");
}

BOOST_AUTO_TEST_CASE(rollouts_come_from_the_prompts_streams) {
  // The same key gives the same rollouts whatever else was drawn; another key, others.
  const auto run = [](std::uint64_t key) {
    model m = policy();
    const model ref = policy();
    reward_model r(m, reward_seed);
    ppo_improver<adamw> improver(options(0), optimizer());
    improver.improve(m, ref, r, prompts(), beta, ppo_streams{key, 0});
    return improver.last_stats().mean_score;
  };
  BOOST_CHECK_EQUAL(run(5), run(5));
  BOOST_CHECK_NE(run(5), run(6));
}

BOOST_AUTO_TEST_CASE(a_local_clip_is_refused_with_a_data_parallel_optimizer) {
  local_group<double> group(1);
  check_throws_with([&] { ppo_improver<all_reduced<adamw, member>> p(options(1.0), all_reduced(optimizer(), group.rank(0))); },
                    "juice::ppo: max_grad_norm must be 0 with a data-parallel optimizer (got 1.000000); the averaged gradient is "
                    "clipped by juice::all_reduced's max_grad_norm.");
}
