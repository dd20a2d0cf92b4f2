// juice::transformer and juice::transformer_reward on the CPU backend: whole-model gradients of the
// LM, value and reward heads against central finite differences (double, every parameter), padding
// independence, KV-cache logits against full recompute, reproducible sampling, and top-k / top-p
// support of generated tokens checked against independently recomputed logits.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/algorithms/detail/gradient_step.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/gradients.hpp"
#include "juice/optim/sgd.hpp"
#include "juice/algorithms/ppo/value_policy.hpp"
#include "juice/backends/host/host.hpp"
#include "fd.hpp"
#include "model_support.hpp"

using namespace juice;
using namespace juice::test;

// The shipped types satisfy their concepts; a backend without the layer primitives is rejected.
static_assert(Policy<transformer<cpu, float>> && Policy<transformer<cpu, double>>);
static_assert(ValuePolicy<transformer<cpu, float>> && ValuePolicy<transformer<cpu, double>>);
static_assert(RewardModel<transformer_reward<cpu, float>> && RewardModel<transformer_reward<cpu, double>>);
static_assert(TransformerBackend<cpu, float> && TransformerBackend<cpu, double>);
static_assert(Backend<host> && !TransformerBackend<host, float>);

BOOST_AUTO_TEST_CASE(parameter_count_matches_gpt2) {
  BOOST_CHECK_EQUAL(transformer_config::gpt2_124m().trunk_parameters(), 124439808u);
  transformer<cpu, double> m(tiny_config());
  BOOST_CHECK_EQUAL(m.num_parameters(), tiny_config().trunk_parameters() + tiny_config().channels + 1);
}

BOOST_AUTO_TEST_CASE(lm_head_gradients_match_fd) {
  transformer<cpu, double> m(tiny_config(), 3);
  const auto batch = two_rows();
  rng g(1);
  const auto w = random_weights(batch, g);
  m.zero_grad();
  m.logprobs(batch);
  m.backward(batch, w);
  check_all_gradients(
      m, [&] { return weighted(m.logprobs(batch), w); }, "LM head");
}

// Random per-token weights on both heads; the joint backward pass against finite differences of
// sum(wl .* logp) + sum(wv .* value) over every parameter.
static void check_lm_and_value_gradients(transformer<cpu, double>& m, const sequence_batch& batch, std::uint64_t seed,
                                         const char* label) {
  rng g(seed);
  const auto wl = random_weights(batch, g), wv = random_weights(batch, g);
  auto loss = [&] {
    const auto [lp, v] = m.logprobs_and_values(batch);
    return weighted(lp, wl) + weighted(v, wv);
  };
  m.zero_grad();
  m.logprobs_and_values(batch);
  m.backward(batch, &wl, &wv);
  check_all_gradients(m, loss, label);
}

BOOST_AUTO_TEST_CASE(lm_and_value_heads_together_match_fd) {
  transformer<cpu, double> m(tiny_config(), 4);
  const auto batch = two_rows();
  check_lm_and_value_gradients(m, batch, 2, "LM+value heads");
}

BOOST_AUTO_TEST_CASE(reward_head_gradients_match_fd) {
  transformer_reward<cpu, double> r(tiny_config(), 5);
  const auto batch = two_rows();
  sequence_values<double> w = {0.7, -1.3};
  auto loss = [&] {
    const auto v = r.rewards(batch);
    return w(0) * v(0) + w(1) * v(1);
  };
  r.zero_grad();
  r.rewards(batch);
  r.backward(batch, w);
  check_all_gradients(r, loss, "reward head");
}

BOOST_AUTO_TEST_CASE(logprobs_are_normalised_and_ignore_padding) {
  transformer<cpu, double> m(tiny_config(), 6);
  const auto batch = two_rows();
  const auto lp = m.logprobs(batch);
  // Row 1 alone (no padding) gives the same log-probs.
  const auto alone = make_batch({{{7}, {8, 9}}});
  const auto lp1 = m.logprobs(alone);
  for (std::size_t t = 1; t < 3; ++t) BOOST_CHECK_CLOSE(lp(1, t), lp1(0, t), 1e-9);
  // Prompt and padding positions are zero.
  BOOST_CHECK_EQUAL(lp(0, 0), 0.0);
  BOOST_CHECK_EQUAL(lp(1, 0), 0.0);
  BOOST_CHECK_EQUAL(lp(1, 4), 0.0);
  // Probabilities of all next tokens sum to one.
  const auto logits = m.logits(batch);
  double z = 0;
  for (std::size_t v = 0; v < tiny_config().vocab; ++v) z += std::exp(logits(0, 2, v));
  BOOST_CHECK_CLOSE(lp(0, 3), logits(0, 2, 4) - std::log(z), 1e-9);
}

BOOST_AUTO_TEST_CASE(kv_cache_logits_match_recompute) {
  const auto batch = make_batch({{{1, 2, 3}, {4, 5, 6, 7, 8}}, {{7}, {8, 9}}, {{3, 3}, {10, 0, 1, 2}}});
  {
    transformer<cpu, double> m(tiny_config(), 7);
    const auto full = m.logits(batch), cached = m.logits_cached(batch);
    check_close(std::vector<double>(full.begin(), full.end()), std::vector<double>(cached.begin(), cached.end()), 1e-12,
                1e-10, "cached vs recomputed logits (double)");
  }
  {
    transformer<cpu, float> m(tiny_config(), 7);
    const auto full = m.logits(batch), cached = m.logits_cached(batch);
    check_close(std::vector<double>(full.begin(), full.end()), std::vector<double>(cached.begin(), cached.end()), 1e-5,
                1e-4, "cached vs recomputed logits (float)");
  }
}

BOOST_AUTO_TEST_CASE(sampling_is_reproducible_and_well_formed) {
  transformer<cpu, float> m(tiny_config(), 8, generation_options{6, 10, {}});
  const auto prompts = make_batch({{{1, 2}, {}}, {{3}, {}}});
  rng a(42), b(42), c(43);
  const auto s1 = m.sample(prompts, 3, a), s2 = m.sample(prompts, 3, b), s3 = m.sample(prompts, 3, c);
  BOOST_CHECK(s1.tokens == s2.tokens);
  BOOST_CHECK(s1.length == s2.length);
  BOOST_CHECK(s1.tokens != s3.tokens);
  BOOST_CHECK_EQUAL(s1.rows(), 6u);
  for (std::size_t r = 0; r < s1.rows(); ++r) {
    BOOST_CHECK_EQUAL(s1.source(r), static_cast<int>(r / 3));
    BOOST_CHECK_CLOSE(s1.weight(r), 0.5 / 3, 1e-12);
    BOOST_CHECK(s1.response_length(r) >= 1 && s1.response_length(r) <= 6);
    // Stops right after eos (10), and only there.
    for (auto t = s1.prompt_length(r); t < s1.length(r) - 1; ++t) BOOST_CHECK_NE(s1.tokens(r, static_cast<std::size_t>(t)), 10);
    if (s1.response_length(r) < 6) BOOST_CHECK_EQUAL(s1.tokens(r, static_cast<std::size_t>(s1.length(r) - 1)), 10);
  }
  // The length distribution is the model's: a response of length 1 is an eos drawn first, whose
  // probability the teacher-forced log-prob of the one-token response (1, 2 | 10) gives. Over n
  // draws the observed fraction lies within 4 standard errors of it.
  // The token embedding (tied to the LM head) is scaled up so that the logits are far from uniform
  // and the check has power.
  for (auto& p : m.parameters())
    if (p.name == "wte")
      for (auto& v : p.value) v *= 6;
  const std::size_t n = 20000;
  rng d(7);
  const auto many = m.sample(make_batch({{{1, 2}, {}}}), n, d);
  const auto eos_first = make_batch({{{1, 2}, {10}}});
  const double p_eos = std::exp(sequence_sum(m.logprobs(eos_first), eos_first)(0));
  double ones = 0;
  for (std::size_t r = 0; r < many.rows(); ++r) ones += many.response_length(r) == 1 ? 1.0 : 0.0;
  const double se = std::sqrt(p_eos * (1 - p_eos) / static_cast<double>(n));
  BOOST_TEST(std::abs(ones / static_cast<double>(n) - p_eos) <= 4 * se,
             "P(length 1): observed " << ones / static_cast<double>(n) << " vs model " << p_eos << " (se " << se << ")");
}

BOOST_AUTO_TEST_CASE(sampling_caps_each_row_at_its_own_room_in_the_context) {
  // Context 12 (tiny_config): a 2-token prompt leaves 10 positions, a 10-token one 2. With
  // max_new_tokens 8 and no eos, greedy responses are 8 and 2 tokens long, and each row's tokens
  // are those it gets alone: a row's cap and tokens never depend on the other prompts in its batch.
  transformer<cpu, float> m(tiny_config(), 5, generation_options{8, -1, {}});
  m.generation().sampling.temperature = 0;
  const std::vector<int> short_prompt{1, 2}, long_prompt{3, 4, 5, 6, 7, 8, 9, 1, 2, 3};
  rng g(1);
  const auto both = m.sample(make_batch({{short_prompt, {}}, {long_prompt, {}}}), 1, g);
  const auto alone_short = m.sample(make_batch({{short_prompt, {}}}), 1, g);
  const auto alone_long = m.sample(make_batch({{long_prompt, {}}}), 1, g);
  BOOST_TEST(both.response_length(0) == 8U);
  BOOST_TEST(both.response_length(1) == 2U);
  for (std::size_t t = 0; t < 10; ++t) BOOST_TEST(both.tokens(0, t) == alone_short.tokens(0, t));
  for (std::size_t t = 0; t < 12; ++t) BOOST_TEST(both.tokens(1, t) == alone_long.tokens(0, t));
  // The KV-cache path scores rows of different lengths side by side too (their cache is the
  // longest row's, not the longest prompt plus the longest response).
  const auto cached = m.logits_cached(both), full = m.logits(both);
  double worst = 0;
  for (std::size_t i = 0; i < full.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(cached.data()[i] - full.data()[i])));
  BOOST_TEST(worst <= 1e-4);
  // A prompt that fills the context leaves no room: refused.
  BOOST_CHECK_THROW(m.sample(make_batch({{std::vector<int>(12, 1), {}}}), 1, g), invalid_argument);
}

BOOST_AUTO_TEST_CASE(top_k_and_top_p_never_emit_excluded_tokens) {
  for (int mode = 0; mode < 2; ++mode) {
    generation_options gen{8, -1, {}};
    if (mode == 0) gen.sampling.top_k = 3;
    else gen.sampling.top_p = 0.5;
    gen.sampling.temperature = 0.8;
    transformer<cpu, double> m(tiny_config(), 9, gen);
    const auto prompts = make_batch({{{1, 2}, {}}, {{5}, {}}});
    rng g(3);
    const auto s = m.sample(prompts, 10, g);
    const auto logits = m.logits(s);  // independent full recompute
    std::size_t checked = 0;
    for (std::size_t r = 0; r < s.rows(); ++r)
      for (auto t = s.prompt_length(r); t < s.length(r); ++t) {
        const std::size_t pos = static_cast<std::size_t>(t) - 1, V = tiny_config().vocab;
        std::vector<double> row(V);
        for (std::size_t v = 0; v < V; ++v) row[v] = logits(r, pos, v);
        std::vector<std::size_t> order(V);
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](auto x, auto y) { return row[x] > row[y]; });
        const auto tok = static_cast<std::size_t>(s.tokens(r, static_cast<std::size_t>(t)));
        const auto rank = static_cast<std::size_t>(std::find(order.begin(), order.end(), tok) - order.begin());
        if (mode == 0) {
          BOOST_CHECK_LT(rank, 3u);
        } else {
          // The nucleus: tokens ranked before the first prefix whose tempered mass reaches 0.5.
          double z = 0;
          for (double x : row) z += std::exp((x - row[order[0]]) / 0.8);
          double acc = 0;
          std::size_t n = 0;
          while (n < V) {
            acc += std::exp((row[order[n]] - row[order[0]]) / 0.8) / z;
            ++n;
            if (acc >= 0.5 - 1e-12) break;
          }
          BOOST_CHECK_LT(rank, n);
        }
        ++checked;
      }
    BOOST_CHECK_EQUAL(checked, 20u * 8u);
  }
}

BOOST_AUTO_TEST_CASE(bad_input_is_rejected_with_a_sentence) {
  transformer<cpu, float> m(tiny_config());
  auto bad = make_batch({{{1, 2}, {99}}});
  BOOST_CHECK_THROW(m.logprobs(bad), invalid_argument);
  auto too_long = make_batch({{{1, 2, 3, 4, 5, 6, 7}, {1, 2, 3, 4, 5, 6}}});
  BOOST_CHECK_THROW(m.logprobs(too_long), invalid_argument);
  const auto ok = two_rows();
  token_values<float> w = xt::zeros<float>({ok.rows(), ok.width()});
  BOOST_CHECK_THROW(m.backward(ok, w), invalid_argument);  // no forward pass yet
  BOOST_CHECK_THROW((transformer<cpu, float>(transformer_config{1, 3, 8, 4, 5})), invalid_argument);
}

BOOST_AUTO_TEST_CASE(snapshot_is_a_frozen_copy) {
  transformer<cpu, double> m(tiny_config(), 10);
  const auto batch = two_rows();
  auto ref = m.snapshot();
  const auto before = ref.logprobs(batch);
  for (auto& p : m.parameters()) cpu::fill<double>(p.grad, 1.0);
  sgd opt(sgd_hyper{0.1, 0});
  opt.step(m);
  const auto after_ref = ref.logprobs(batch), after = m.logprobs(batch);
  BOOST_CHECK(before == after_ref);
  BOOST_CHECK(before != after);
}

BOOST_AUTO_TEST_CASE(global_grad_norm_and_clipping_through_the_backend) {
  transformer<cpu, double> m(tiny_config(), 11);
  const auto batch = two_rows();
  rng g(4);
  const auto w = random_weights(batch, g);
  m.zero_grad();
  m.logprobs(batch);
  m.backward(batch, w);
  // ||g||^2 from the loss itself: f(theta) = sum w . logp has directional derivative ||g|| along
  // g / ||g||; a central difference along that direction measures it without reading the norm code.
  std::vector<std::vector<double>> dir;
  double norm = 0;
  for (auto& p : m.parameters()) {
    dir.emplace_back(p.grad.begin(), p.grad.end());
    for (double x : p.grad) norm += x * x;
  }
  norm = std::sqrt(norm);
  auto f_at = [&](double h) {
    std::size_t i = 0;
    std::vector<std::vector<double>> saved;
    for (auto& p : m.parameters()) {
      saved.emplace_back(p.value.begin(), p.value.end());
      for (std::size_t k = 0; k < p.value.size(); ++k) p.value[k] += h * dir[i][k] / norm;
      ++i;
    }
    const double f = weighted(m.logprobs(batch), w);
    i = 0;
    for (auto& p : m.parameters()) std::copy(saved[i].begin(), saved[i].end(), p.value.begin()), ++i;
    return f;
  };
  const double h = 1e-5;
  const double directional = (f_at(h) - f_at(-h)) / (2 * h);
  const double expect = directional * directional;
  BOOST_CHECK_CLOSE(grad_norm_sq(m), expect, 1e-5);
  const double before = grad_norm_sq(m), target = 0.5 * std::sqrt(before);
  BOOST_CHECK_CLOSE(clip_grad_norm(m, target), std::sqrt(before), 1e-10);
  BOOST_CHECK_CLOSE(grad_norm_sq(m), target * target, 1e-9);
}

BOOST_AUTO_TEST_CASE(gradients_match_fd_for_another_shape) {
  // One layer, three heads of size 4, batch rows of very different lengths.
  transformer<cpu, double> m(transformer_config{1, 3, 12, 9, 7}, 12);
  const auto batch = make_batch({{{1}, {2, 3, 4, 5, 6, 0, 1}}, {{6, 5, 4}, {3}}, {{2, 2}, {2, 2}}});
  check_lm_and_value_gradients(m, batch, 6, "L=1 NH=3 C=12");
}

// Rows longer than one attention block (64 positions) so the tiled attention runs several query and
// key blocks with a ragged tail: rows of different lengths padded to one width, and a prompt-only
// row (no scored token) in the same batch.
namespace {
transformer_config long_config() { return {1, 2, 4, 128, 5}; }
sequence_batch long_rows() {
  auto tokens = [](std::size_t n, int k) {
    std::vector<int> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<int>((i * 3 + static_cast<std::size_t>(k)) % 5);
    return v;
  };
  return make_batch({{tokens(5, 0), tokens(66, 1)}, {tokens(30, 2), tokens(3, 3)}, {tokens(40, 4), {}}});
}
}  // namespace

BOOST_AUTO_TEST_CASE(gradients_match_fd_across_attention_blocks) {
  transformer<cpu, double> m(long_config(), 13);
  check_lm_and_value_gradients(m, long_rows(), 7, "T=71 over attention blocks");
}

BOOST_AUTO_TEST_CASE(kv_cache_logits_match_recompute_across_attention_blocks) {
  const auto batch = long_rows();
  {
    transformer<cpu, double> m(long_config(), 14);
    const auto full = m.logits(batch), cached = m.logits_cached(batch);
    check_close(std::vector<double>(full.begin(), full.end()), std::vector<double>(cached.begin(), cached.end()), 1e-12,
                1e-10, "cached vs recomputed logits over attention blocks (double)");
  }
  {
    transformer<cpu, float> m(long_config(), 14);
    const auto full = m.logits(batch), cached = m.logits_cached(batch);
    check_close(std::vector<double>(full.begin(), full.end()), std::vector<double>(cached.begin(), cached.end()), 1e-5,
                1e-4, "cached vs recomputed logits over attention blocks (float)");
  }
}

// The algorithms' step (detail::gradient_step: AdamW fused with clearing the gradients, and a
// zero_grad that then skips its pass) follows the same trajectory as the unfused sequence
// zero_grad, backward, step; and zero_grad still clears gradients written through a view.
BOOST_AUTO_TEST_CASE(fused_step_and_zero_grad_match_the_unfused_sequence) {
  // A loop of one's own with step_and_zero_grad (no zero_grad: the fused step leaves the gradients
  // zero) against zero_grad, backward, step; and the algorithms' step keeps the gradient readable.
  const auto batch = two_rows();
  transformer<cpu, float> fused(tiny_config(), 12), plain(tiny_config(), 12);
  adamw opt_fused(adamw_hyper{1e-2, 0.9, 0.95, 1e-8, 0.01}), opt_plain(adamw_hyper{1e-2, 0.9, 0.95, 1e-8, 0.01});
  rng g(3);
  for (int step = 0; step < 3; ++step) {
    const auto wd = random_weights(batch, g);
    const token_values<float> w = xt::cast<float>(wd);
    (void)fused.logprobs(batch);
    fused.backward(batch, w);
    opt_fused.step_and_zero_grad(fused);
    BOOST_CHECK(std::all_of(fused.parameter_block().grad.begin(), fused.parameter_block().grad.end(),
                            [](float e) { return e == 0.0f; }));
    (void)plain.logprobs(batch);
    const double gn = detail::gradient_step(plain, opt_plain, "test", [&] { plain.backward(batch, w); });
    BOOST_TEST(grad_norm_sq(plain) == gn);  // the gradient survives the algorithms' step
  }
  const auto a = fused.parameter_block(), b = plain.parameter_block();
  check_close(to_vector<float>(std::span<const float>(a.value)), to_vector<float>(std::span<const float>(b.value)), 1e-6, 1e-5,
              "parameters after fused steps");
}
