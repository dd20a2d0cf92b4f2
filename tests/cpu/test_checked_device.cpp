// The transformer seam, proven on a backend with opaque memory (tests/support/checked_device.hpp):
// juice::transformer and juice::transformer_reward compile against juice::TransformerBackend alone,
// give bit-identical log-probs, values, gradients, updates, logits and samples to juice::cpu, and
// talk to the host a constant number of times per training step and per decoded token, however
// many layers the model has.
#include <boost/test/unit_test.hpp>

#include <boost/mpl/list.hpp>

#include <cstddef>
#include <vector>

#include "checked_device.hpp"
#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/algorithms/ppo/value_policy.hpp"
#include "juice/concepts/policy_improver.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/rng.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/gradients.hpp"
#include "model_support.hpp"

using namespace juice;
using dev = juice::test::checked_device;
using scalar_types = boost::mpl::list<float, double>;

// Conformance of the models on both backends (the model headers assert nothing about a backend).
static_assert(FlatParameterised<transformer<cpu, float>> && ValuePolicy<transformer<cpu, float>> &&
              ValuePolicy<transformer<cpu, double>>);
static_assert(FlatParameterised<transformer<dev, float>> && ValuePolicy<transformer<dev, float>> &&
              ValuePolicy<transformer<dev, double>>);
static_assert(RewardModel<transformer_reward<cpu, float>> && RewardModel<transformer_reward<dev, double>>);
static_assert(PolicyImprover<ppo, transformer<cpu, float>, transformer_reward<cpu, float>> &&
              PolicyImprover<ppo, transformer<dev, float>, transformer_reward<dev, float>>);

namespace {

template <class T>
std::vector<T> host_copy(std::span<T> v) { return {v.begin(), v.end()}; }
template <class T>
std::vector<T> host_copy(dev::view<T> v, dev& d) { return d.to_host(v); }

template <class T>
std::vector<T> values_of(transformer<cpu, T>& m) { return host_copy(m.parameter_block().value); }
template <class T>
std::vector<T> values_of(transformer<dev, T>& m) { return host_copy(m.parameter_block().value, m.backend()); }
template <class T>
std::vector<T> grads_of(transformer<cpu, T>& m) { return host_copy(m.parameter_block().grad); }
template <class T>
std::vector<T> grads_of(transformer<dev, T>& m) { return host_copy(m.parameter_block().grad, m.backend()); }

// Number of elements that differ in any bit-relevant way (exact comparison).
template <class A, class B>
std::size_t mismatches(const A& a, const B& b) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += *(a.begin() + static_cast<std::ptrdiff_t>(i)) != *(b.begin() + static_cast<std::ptrdiff_t>(i));
  return n;
}

sequence_batch ragged_batch() {
  return juice::test::make_batch({{{1, 2, 3}, {4, 5, 6, 7}}, {{8}, {9, 10}}, {{2, 2, 2, 2, 2}, {3}}, {{5, 4}, {}}});
}

template <class T>
token_values<T> some_weights(const sequence_batch& batch, double scale) {
  token_values<T> w = xt::zeros<T>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (std::size_t t = 0; t < batch.width(); ++t) w(b, t) = static_cast<T>(scale * (0.3 + 0.1 * double(b) - 0.07 * double(t)));
  return w;
}

}  // namespace

BOOST_AUTO_TEST_CASE_TEMPLATE(checked_device_transformer_equals_cpu_bit_for_bit, T, scalar_types) {
  const auto cfg = juice::test::tiny_config();
  generation_options gen;
  gen.max_new_tokens = 5;
  gen.sampling.temperature = 0.9;
  transformer<cpu, T> a(cfg, 7, gen);
  transformer<dev, T> b(dev{}, cfg, 7, gen);
  BOOST_TEST(mismatches(values_of(a), values_of(b)) == 0u);

  const auto batch = ragged_batch();
  const auto [lpa, va] = a.logprobs_and_values(batch);
  const auto [lpb, vb] = b.logprobs_and_values(batch);
  BOOST_TEST(mismatches(lpa, lpb) == 0u);
  BOOST_TEST(mismatches(va, vb) == 0u);

  const auto wl = some_weights<T>(batch, 1.0), wv = some_weights<T>(batch, -0.5);
  a.zero_grad();
  b.zero_grad();
  a.backward(batch, &wl, &wv);
  b.backward(batch, &wl, &wv);
  BOOST_TEST(mismatches(grads_of(a), grads_of(b)) == 0u);
  BOOST_TEST(grad_norm_sq(a) == grad_norm_sq(b));  // one fused dot on each

  adamw oa(adamw_hyper{1e-2}), ob(adamw_hyper{1e-2});
  oa.step(a);
  ob.step(b);
  BOOST_TEST(mismatches(values_of(a), values_of(b)) == 0u);

  BOOST_TEST(mismatches(a.logits(batch), b.logits(batch)) == 0u);
  BOOST_TEST(mismatches(a.logits_cached(batch), b.logits_cached(batch)) == 0u);

  for (const double top_p : {1.0, 0.7}) {
    a.generation().sampling.top_p = b.generation().sampling.top_p = top_p;
    rng ga(11), gb(11);
    const auto prompts = juice::test::make_batch({{{1, 2}, {}}, {{3}, {}}, {{4, 5, 6}, {}}});
    const auto sa = a.sample(prompts, 2, ga), sb = b.sample(prompts, 2, gb);
    BOOST_TEST(mismatches(sa.tokens, sb.tokens) == 0u);
    BOOST_TEST(mismatches(sa.length, sb.length) == 0u);
  }

  // The reward model, started from each policy's trunk.
  transformer_reward<cpu, T> ra(a, 3);
  transformer_reward<dev, T> rb(b, 3);
  BOOST_TEST(mismatches(ra.rewards(batch), rb.rewards(batch)) == 0u);
  sequence_values<T> rw = xt::zeros<T>({batch.rows()});
  for (std::size_t i = 0; i < batch.rows(); ++i) rw(i) = static_cast<T>(0.5 - 0.25 * double(i));
  ra.backward(batch, rw);
  rb.backward(batch, rw);
  BOOST_TEST(mismatches(host_copy(ra.parameter_block().grad), host_copy(rb.parameter_block().grad, rb.backend())) == 0u);
}

namespace {

// The host traffic between the second and third optimizer updates of a run (steady state).
template <class Run>
juice::test::transfer_stats traffic_of_one_update(dev& d, Run&& run) {
  std::vector<juice::test::transfer_stats> at;
  run([&](const step_event&) { at.push_back(d.stats()); });
  BOOST_REQUIRE_GE(at.size(), 3u);
  return at[2] - at[1];
}

}  // namespace

BOOST_AUTO_TEST_CASE(checked_device_transfers_are_constant_in_the_number_of_layers) {
  const auto demos = juice::test::make_batch({{{1, 2}, {3, 4, 5}}, {{6}, {7, 8}}, {{2, 3, 4}, {5}}, {{9}, {1, 1, 1, 1}}});
  for (const std::size_t layers : {1u, 2u, 4u}) {
    auto cfg = juice::test::tiny_config();
    cfg.layers = layers;
    BOOST_TEST_CONTEXT("layers = " << layers) {
      // An SFT update: logprobs (uploads: tokens, positions, scored indices, targets; one download of
      // log-probs and values), backward (one upload of the weights), the gradient norm (one dot) and
      // the fused AdamW update (no traffic).
      {
        transformer<dev, float> m(dev{}, cfg, 1);
        adamw opt(adamw_hyper{1e-3});
        sft_options o;
        o.steps = 3;
        const auto s = traffic_of_one_update(m.backend(), [&](auto obs) { sft(o).run(m, demos, opt, obs); });
        BOOST_TEST(s.uploads == 5u);
        BOOST_TEST(s.downloads == 1u);
        BOOST_TEST(s.dots == 1u);
        BOOST_TEST(s.syncs() == 2u);
      }
      // An IRFT inner step scores chosen and rejected rows in one pass: the same traffic.
      {
        transformer<dev, float> m(dev{}, cfg, 1);
        m.generation().max_new_tokens = 3;
        adamw opt(adamw_hyper{1e-3});
        irft_options o;
        o.rounds = 1;
        o.steps_per_round = 3;
        o.chunk_rounds = false;
        const auto s = traffic_of_one_update(m.backend(), [&](auto obs) { irft(o).run(m, demos, opt, sampled{1}, obs); });
        BOOST_TEST(s.uploads == 5u);
        BOOST_TEST(s.downloads == 1u);
        BOOST_TEST(s.dots == 1u);
      }
      // A decoded token: one upload of the rows' uniforms, one of their positions, one download of
      // the sampled ids.
      {
        transformer<dev, float> m(dev{}, cfg, 1);
        const auto prompts = juice::test::make_batch({{{1, 2}, {}}, {{3}, {}}});
        auto traffic = [&](std::size_t new_tokens) {
          m.generation().max_new_tokens = new_tokens;
          m.backend().reset_stats();
          rng g(5);
          (void)m.sample(prompts, 3, g);
          return m.backend().stats();
        };
        const auto four = traffic(4), eight = traffic(8);
        const auto d = eight - four;
        BOOST_TEST(d.uploads == std::size_t{4} * 2);
        BOOST_TEST(d.downloads == std::size_t{4});
        BOOST_TEST(d.download_bytes == std::size_t{4} * 6 * sizeof(int));  // B = 6 ids per token
        BOOST_TEST(d.dots == 0u);
      }
    }
  }
}
