// juice/experiments/ground_truth/protocol.hpp
//
// The ground-truth benchmark: the comparison of Li et al., "Getting More Juice Out of the SFT Data"
// (NeurIPS 2024) - SFT against reward learning from the same demonstrations (SPIN, IRFT, RFT) - on a
// real transformer, on tasks whose true reward r* is a program (juice/experiments/ground_truth/
// task_set.hpp). Per seed:
//   1. a small GPT-2 over bytes (+ EOS) is pre-trained by SFT on a mixed-quality corpus (a fraction
//      pretrain_quality of correct answers, the rest low-quality) into a weak base policy pi_0;
//   2. demonstrations: correct answers to fresh prompts, a fraction eps of them replaced by
//      low-quality answers (the same rows, in the same order, for every eps);
//   3. from pi_0, with the same number of policy gradient steps (`steps`) and minibatch size, each
//      with its own AdamW learning rate (lr, spin_lr, irft_lr, spin_sft_lr, irft_sft_lr; RFT ppo_lr
//      and reward_lr):
//        SFT   `steps` updates;
//        SPIN  IRFT with T = 1 and K = steps (y~ generated once by pi_0);
//        IRFT  T = irft_rounds rounds of K = steps / T updates, round t on the t-th 1/T of the data;
//        RFT   steps / ppo_epochs iterations, each one reward-model update (Bradley-Terry on
//              demonstration vs generation, reward model initialised from pi_0's trunk) and one PPO
//              call of ppo_epochs updates against pi_0 with KL weight beta;
//   4. on held-out prompts (disjoint from every training prompt): r* of greedy and of sampled
//      responses and the win rate of each against pi_0's (ties count half); exact-match rate; on the
//      held-out (correct, low-quality) pairs the log-prob gap E[log pi(correct) - log pi(low)] and the
//      accuracy of the implicit reward log(pi / pi_0); the mean |change of log pi(correct)| from pi_0
//      (how far the policy moved); KL(pi || pi_0) estimated on pi's samples; the NLL of the training
//      demonstrations and of held-out correct answers.
// Results are the mean and standard error over seeds, with paired differences against SFT.
//
// That is protocol "pi0" (every method from pi_0). Protocol "sft-start", the default, follows the
// paper's: an SFT checkpoint (sft_start_steps of SFT from pi_0 on the demonstrations, the "SFT" row)
// is the start point and the reference / KL anchor of every other method, which is then compared with
// two controls on the same seeds: SFT continued from the checkpoint for the same number of policy
// gradient steps ("same steps"), and SFT from pi_0 for the same total (sft_start_steps plus the
// method's steps, one run). SPIN runs spin_iterations iterations of spin_epochs epochs over the data,
// each iteration regenerating y~; IRFT cycles its irft_rounds chunks irft_epochs times, one pass per
// generation; RFT trains its reward model for reward_warmup steps before PPO starts; y~ is decoded
// greedily (gen_temperature 0); every run warms its learning rate up over its first
// warmup_fraction of steps. "SPIN+SFT" and "IRFT+SFT" add sft_alpha * NLL of the demonstrations to
// the loss. Each run records, per round, the mean log-likelihood of the demonstrations, of held-out
// correct answers and of the generations; RFT also the reward model's accuracy on held-out
// (correct, low-quality) pairs.
#pragma once

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "juice/algorithms/generation.hpp"
#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"
#include "juice/data/batching.hpp"
#include "juice/data/byte_tokenizer.hpp"
#include "juice/experiments/ground_truth/seed_statistics.hpp"
#include "juice/experiments/ground_truth/task_set.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/lr_schedule.hpp"

namespace juice::experiments::ground_truth {

inline std::vector<std::string> method_names() { return {"SFT", "SPIN", "IRFT", "RFT", "SPIN+SFT", "IRFT+SFT"}; }
inline std::vector<std::string> protocol_names() { return {"sft-start", "pi0"}; }
// The methods a protocol runs when none are given: pi0 the four of the original comparison.
inline std::vector<std::string> default_methods(const std::string& protocol) {
  if (protocol == "pi0") return {"SFT", "SPIN", "IRFT", "RFT"};
  return method_names();
}

struct ground_truth_options {
  std::vector<std::string> tasks = task_names();  // task families mixed uniformly
  // The model: GPT-2 over the byte vocabulary plus EOS (257 tokens).
  std::size_t layers = 2;
  std::size_t heads = 4;
  std::size_t channels = 64;
  std::size_t context = 32;
  std::size_t max_new_tokens = 8;  // response cap (answers are at most 5 bytes + EOS)
  // The base policy pi_0.
  std::size_t pretrain_examples = 2048;
  double pretrain_quality = 0.5;  // fraction of correct answers in the pre-training corpus
  std::size_t pretrain_steps = 600;
  double pretrain_lr = 3e-3;
  // Demonstrations.
  std::size_t demonstrations = 512;
  std::vector<double> eps{0.0, 0.2, 0.4};  // fractions replaced by low-quality answers
  // Fine-tuning, matched in policy gradient steps; the learning rates are tuned per protocol.
  std::vector<std::string> methods{};  // empty: the protocol's default_methods
  std::string protocol = "sft-start";  // "sft-start" (the paper's) or "pi0" (every method from pi_0)
  std::size_t steps = 200;             // pi0: policy gradient steps of every method
  std::size_t batch_size = 32;         // demonstrations (pairs, PPO prompts) per step
  double lr = 1e-3;                    // SFT's AdamW learning rate
  // The other methods' AdamW learning rates; 0 = the protocol's tuned rate (tuned_rates below).
  double spin_lr = 0;            // SPIN
  double irft_lr = 0;            // IRFT
  double ppo_lr = 0;             // RFT's policy (PPO)
  double spin_sft_lr = 0;        // SPIN+SFT
  double irft_sft_lr = 0;        // IRFT+SFT
  double beta = 0.1;             // SPIN/IRFT implicit-reward scale; RFT's KL weight
  std::size_t irft_rounds = 5;   // IRFT's T
  std::size_t ppo_epochs = 4;    // RFT: PPO updates per iteration (iterations = steps / ppo_epochs)
  double reward_lr = 1e-3;       // RFT reward model (AdamW)
  std::size_t reward_steps = 1;  // RFT: reward-model updates per iteration (K_r)
  // Protocol sft-start (the learning rates above are used from the SFT checkpoint; see docs/results.md).
  std::size_t sft_start_steps = 200;  // SFT steps from pi_0 that make the start checkpoint
  std::size_t spin_iterations = 3;    // SPIN iterations, each regenerating y~ ...
  std::size_t spin_epochs = 2;        // ... and passing over the data this often
  std::size_t irft_epochs = 2;        // IRFT: rounds = irft_rounds * irft_epochs, chunks cycled
  std::size_t irft_passes = 1;        // IRFT: passes over a round's chunk per generation
  std::size_t rft_iterations = 24;    // RFT iterations (ppo_epochs policy steps each)
  std::size_t reward_warmup = 100;    // RFT reward steps before the first policy step
  double gen_temperature = 0;         // y~ decoding for SPIN/IRFT; 0 = greedy
  double sft_alpha = 1;               // SPIN+SFT, IRFT+SFT: weight of the demonstrations' NLL
  double warmup_fraction = 0.1;       // linear learning-rate warm-up over this fraction of a run
  // Evaluation.
  std::size_t eval_prompts = 200;  // held-out prompts
  std::size_t eval_samples = 2;    // sampled responses per held-out prompt
  std::size_t seeds = 5;
  std::uint64_t seed = 1;  // base seed; seed s of the run uses stream s
  // Called with a line of progress (optional).
  std::function<void(const std::string&)> progress;
};

// Each method's learning rate as tuned for a protocol (docs/results.md): the best of a grid on tuning
// seeds disjoint from the reported ones (seed 1000 on, eps 0.2) by the paired difference in greedy
// r* against SFT. pi0: three points per method, one tuning seed, from pi_0. sft-start: six points
// per method (x1/30 .. x10 of pi0's rates), three tuning seeds, from the SFT start, against SFT
// continued for the same steps.
struct tuned_rates {
  double spin, irft, ppo, spin_sft, irft_sft;
};
inline tuned_rates protocol_rates(const std::string& protocol) {
  if (protocol == "pi0") return {3e-5, 1e-4, 3e-4, 3e-5, 1e-4};
  return {1e-5, 1e-5, 3e-5, 3e-5, 3e-4};
}
// `o` with every learning rate left at 0 replaced by its protocol's tuned rate.
inline ground_truth_options with_tuned_rates(ground_truth_options o) {
  const tuned_rates t = protocol_rates(o.protocol);
  for (auto [rate, tuned] : {std::pair{&o.spin_lr, t.spin}, {&o.irft_lr, t.irft}, {&o.ppo_lr, t.ppo}, {&o.spin_sft_lr, t.spin_sft}, {&o.irft_sft_lr, t.irft_sft}})
    if (*rate == 0) *rate = tuned;
  return o;
}

// The presets: the default run (the options above) and the quick one.
inline ground_truth_options quick_options() {
  ground_truth_options o;
  o.pretrain_examples = 1024;
  o.pretrain_steps = 300;
  o.demonstrations = 128;
  o.steps = 40;
  o.eval_prompts = 100;
  o.seeds = 2;
  o.sft_start_steps = 100;
  o.spin_iterations = 2;
  o.spin_epochs = 1;
  o.irft_epochs = 1;
  o.rft_iterations = 6;
  o.reward_warmup = 20;
  return o;
}

// Throws juice::invalid_argument naming the bad option.
inline void validate(const ground_truth_options& o) {
  auto fail = [](const std::string& m) { throw invalid_argument("juice::ground_truth: " + m); };
  (void)task_set(o.tasks);
  if (o.protocol != "sft-start" && o.protocol != "pi0") fail("unknown protocol '" + o.protocol + "'; choose sft-start or pi0.");
  for (const auto& m : o.methods) {
    bool known = false;
    for (const auto& n : method_names()) known = known || n == m;
    if (!known) fail("unknown method '" + m + "'; choose from SFT, SPIN, IRFT, RFT, SPIN+SFT, IRFT+SFT.");
  }
  if (o.layers == 0 || o.heads == 0 || o.channels == 0 || o.channels % o.heads != 0)
    fail("layers and heads must be positive and channels a positive multiple of heads.");
  if (o.context < 16 + o.max_new_tokens) fail("the context must hold a prompt (up to 16 bytes) plus max_new_tokens.");
  if (o.max_new_tokens == 0) fail("max_new_tokens must be at least 1.");
  if (!(o.pretrain_quality >= 0 && o.pretrain_quality <= 1)) fail("pretrain_quality must lie in [0, 1].");
  if (o.pretrain_examples == 0 || o.demonstrations == 0 || o.eval_prompts == 0 || o.eval_samples == 0 || o.seeds == 0)
    fail("pretrain_examples, demonstrations, eval_prompts, eval_samples and seeds must be at least 1.");
  if (o.batch_size == 0) fail("batch_size must be at least 1.");
  if (o.eps.empty()) fail("give at least one eps.");
  for (double e : o.eps)
    if (!(e >= 0 && e <= 1)) fail("eps must lie in [0, 1] (got " + to_text(e) + ").");
  if (o.steps == 0) fail("steps must be at least 1.");
  if (o.irft_rounds == 0 || o.steps < o.irft_rounds) fail("irft_rounds must lie in [1, steps].");
  if (o.demonstrations < o.irft_rounds) fail("IRFT needs at least irft_rounds demonstrations.");
  if (o.ppo_epochs == 0 || o.steps < o.ppo_epochs) fail("ppo_epochs must lie in [1, steps].");
  if (o.reward_steps == 0) fail("reward_steps must be at least 1.");
  if (o.sft_start_steps == 0 || o.spin_iterations == 0 || o.spin_epochs == 0 || o.irft_epochs == 0 || o.irft_passes == 0 ||
      o.rft_iterations == 0)
    fail("sft_start_steps, spin_iterations, spin_epochs, irft_epochs, irft_passes and rft_iterations must be at least 1.");
  if (!(o.gen_temperature >= 0) || !(o.sft_alpha >= 0) || !(o.warmup_fraction >= 0 && o.warmup_fraction <= 1))
    fail("gen_temperature and sft_alpha must be non-negative and warmup_fraction in [0, 1].");
  if (!(o.lr > 0) || !(o.pretrain_lr > 0) || !(o.reward_lr > 0) || !(o.beta > 0)) fail("learning rates and beta must be positive.");
  for (double r : {o.spin_lr, o.irft_lr, o.ppo_lr, o.spin_sft_lr, o.irft_sft_lr})
    if (!(r >= 0)) fail("a method's learning rate must be positive (or 0: the protocol's tuned rate).");
}

// What one policy scored on one seed.
struct evaluation {
  double win_rate = 0;             // greedy response vs pi_0's greedy response under r* (ties 1/2)
  double win_rate_sampled = 0;     // sampled vs pi_0 sampled, paired draw by draw
  double true_reward = 0;          // mean r* of greedy responses
  double true_reward_sampled = 0;  // mean r* of sampled responses
  double exact_match = 0;          // fraction of greedy responses exactly correct
  double logprob_gap = 0;          // E[log pi(correct) - log pi(low-quality)] on held-out pairs
  double implicit_accuracy = 0;    // P[log pi/pi_0 (correct) > log pi/pi_0 (low-quality)] (ties 1/2)
  double logprob_change = 0;       // E|log pi(correct) - log pi_0(correct)|
  double kl_to_base = 0;           // E_{y~pi}[log pi(y) - log pi_0(y)]
  double demo_nll = 0;             // E_D[-log pi(y|x)] on the training demonstrations
  double heldout_nll = 0;          // -log pi(correct) on held-out prompts
  double moved = 0;                // E|log pi(correct) - log pi_start(correct)|: how far from its start point
};

// The metric names, in output order, and each one's field.
inline const std::array<std::pair<const char*, double evaluation::*>, 12>& evaluation_fields() {
  static const std::array<std::pair<const char*, double evaluation::*>, 12> f{{
      {"win_rate", &evaluation::win_rate},
      {"win_rate_sampled", &evaluation::win_rate_sampled},
      {"true_reward", &evaluation::true_reward},
      {"true_reward_sampled", &evaluation::true_reward_sampled},
      {"exact_match", &evaluation::exact_match},
      {"logprob_gap", &evaluation::logprob_gap},
      {"implicit_accuracy", &evaluation::implicit_accuracy},
      {"logprob_change", &evaluation::logprob_change},
      {"kl_to_base", &evaluation::kl_to_base},
      {"demo_nll", &evaluation::demo_nll},
      {"heldout_nll", &evaluation::heldout_nll},
      {"moved", &evaluation::moved},
  }};
  return f;
}

struct metric_summary {
  std::string name;
  mean_se value;
  mean_se minus_sft;  // paired difference against SFT at the same eps (zero for SFT itself)
};

// A method against one of its SFT controls on the same seeds: paired differences (method - control).
struct control_comparison {
  mean_se win_rate;
  mean_se true_reward;
};

// One round of a run, averaged over seeds: the mean log-likelihood of the demonstrations, of held-out
// correct answers and of the generations y~ under the policy at the round's start (for SPIN/IRFT the
// round's own data and generations; for RFT all demonstrations and the policy's samples of their
// prompts), how many times the round's steps went over its pairs, and its training time.
struct round_summary {
  std::size_t round = 0;
  double demo_loglik = 0;
  double heldout_loglik = 0;
  double generation_loglik = 0;
  double passes = 0;
  double wall_seconds = 0;
};

// One method at one eps, over the seeds.
struct ground_truth_row {
  std::string method;
  double eps = 0;
  std::size_t seeds = 0;
  std::size_t policy_steps = 0;  // policy gradient steps actually taken per run
  double wall_seconds = 0;       // mean training time per run (evaluation excluded)
  std::vector<metric_summary> metrics;
  control_comparison vs_sft_same_steps;  // (non-SFT rows) against SFT continued for the same steps
  control_comparison vs_sft_same_total;  // (non-SFT rows) against SFT from pi_0 for the same total
  std::vector<round_summary> rounds;
  mean_se reward_accuracy;  // RFT: the reward model's accuracy on held-out (correct, low-quality) pairs

  [[nodiscard]] const metric_summary& metric(const std::string& name) const {
    for (const auto& m : metrics)
      if (m.name == name) return m;
    throw invalid_argument("juice::ground_truth_row: no metric '" + name + "'.");
  }
};

struct ground_truth_result {
  std::vector<ground_truth_row> rows;
  std::vector<metric_summary> base;  // pi_0 itself (win rates 1/2, KL 0 by definition)
  std::string protocol;
  double pretrain_seconds = 0;  // mean per seed
  double total_seconds = 0;
};

namespace detail {

using policy_t = transformer<cpu, float>;
inline constexpr token_t eos_token = 256;

inline std::vector<token_t> encode(const std::string& s) { return byte_tokenizer(true).encode(s); }

// Demonstration rows: prompt bytes, answer bytes + EOS.
inline sequence_batch demo_batch(const std::vector<task_item>& items) {
  std::vector<tokenized_demonstration> rows;
  rows.reserve(items.size());
  for (const auto& it : items) {
    tokenized_demonstration d{encode(it.prompt), encode(it.answer), 0};
    d.response.push_back(eos_token);
    rows.push_back(std::move(d));
  }
  return make_batch(rows, 0, rows.size());
}

// Prompt-only rows.
inline sequence_batch prompt_batch(const std::vector<task_item>& items) { return prompts_of(demo_batch(items)); }

// The text of row b's response (up to EOS).
inline std::string response_text(const sequence_batch& b, std::size_t row) {
  std::string s;
  for (auto t = b.prompt_length(row); t < b.length(row); ++t) {
    const token_t id = b.tokens(row, static_cast<std::size_t>(t));
    if (id == eos_token) break;
    s.push_back(static_cast<char>(static_cast<unsigned char>(id)));
  }
  return s;
}

inline std::vector<double> sequence_logprobs(const policy_t& p, const sequence_batch& b) {
  const auto s = sequence_sum(p.logprobs(b), b);
  return {s.begin(), s.end()};
}

inline double mean_of(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m += x / static_cast<double>(v.size());
  return m;
}

inline double win(double a, double b) { return a > b ? 1.0 : (a < b ? 0.0 : 0.5); }

// Everything the evaluation needs that depends only on the seed (held-out data and pi_0's side).
struct held_out {
  std::vector<task_item> items;
  sequence_batch prompts, correct, low;
  std::vector<double> base_greedy_reward, base_sampled_reward;  // pi_0's r*
  std::vector<double> base_logp_correct, base_logp_low;         // pi_0's log-probs
};

// Responses of `p` (greedy when temperature 0) and their r*.
inline std::pair<sequence_batch, std::vector<double>> respond(policy_t& p, const held_out& h, const task_set& tasks, std::size_t n,
                                                              double temperature, rng& g) {
  const double keep = p.generation().sampling.temperature;
  p.generation().sampling.temperature = temperature;
  sequence_batch out = p.sample(h.prompts, n, g);
  p.generation().sampling.temperature = keep;
  std::vector<double> r(out.rows());
  for (std::size_t i = 0; i < out.rows(); ++i) r[i] = tasks.reward(h.items[i / n].prompt, response_text(out, i));
  return {out, r};
}

inline evaluation evaluate(policy_t& p, const policy_t& base, const held_out& h, const sequence_batch& demos, const task_set& tasks,
                           std::size_t samples, rng& g) {
  evaluation e;
  const std::size_t N = h.items.size();
  const std::vector<double> rg = respond(p, h, tasks, 1, 0.0, g).second;
  const auto [sampled, rs] = respond(p, h, tasks, samples, 1.0, g);
  for (std::size_t i = 0; i < N; ++i) {
    e.win_rate += win(rg[i], h.base_greedy_reward[i]) / static_cast<double>(N);
    e.true_reward += rg[i] / static_cast<double>(N);
    e.exact_match += (rg[i] == 1.0 ? 1.0 : 0.0) / static_cast<double>(N);
  }
  for (std::size_t i = 0; i < rs.size(); ++i) {
    e.win_rate_sampled += win(rs[i], h.base_sampled_reward[i]) / static_cast<double>(rs.size());
    e.true_reward_sampled += rs[i] / static_cast<double>(rs.size());
  }
  const auto lc = sequence_logprobs(p, h.correct), ll = sequence_logprobs(p, h.low);
  for (std::size_t i = 0; i < N; ++i) {
    e.logprob_gap += (lc[i] - ll[i]) / static_cast<double>(N);
    const double zc = lc[i] - h.base_logp_correct[i], zl = ll[i] - h.base_logp_low[i];
    e.implicit_accuracy += win(zc, zl) / static_cast<double>(N);
    e.logprob_change += std::abs(zc) / static_cast<double>(N);
    e.heldout_nll -= lc[i] / static_cast<double>(N);
  }
  const auto lp = sequence_logprobs(p, sampled), lb = sequence_logprobs(base, sampled);
  for (std::size_t i = 0; i < lp.size(); ++i) e.kl_to_base += (lp[i] - lb[i]) / static_cast<double>(lp.size());
  e.demo_nll = -mean_of(sequence_logprobs(p, demos));
  return e;
}

// Prompts with answers, none of whose prompts is in `avoid` (held-out prompts stay unseen).
inline std::vector<task_item> draw_items(const task_set& tasks, std::size_t n, const std::unordered_set<std::string>& avoid, rng& g) {
  std::vector<task_item> out;
  out.reserve(n);
  std::size_t tries = 0;
  while (out.size() < n) {
    task_item it = tasks.draw(g);
    if (avoid.count(it.prompt)) {
      if (++tries > 100 * n + 1000)
        throw invalid_argument("juice::ground_truth: the task families have too few distinct prompts for the held-out set; lower eval_prompts.");
      continue;
    }
    out.push_back(std::move(it));
  }
  return out;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The policy's AdamW learning rate of `method` (RFT: its PPO policy's).
inline double method_lr(const std::string& method, const ground_truth_options& o) {
  if (method == "SPIN") return o.spin_lr;
  if (method == "SPIN+SFT") return o.spin_sft_lr;
  if (method == "IRFT") return o.irft_lr;
  if (method == "IRFT+SFT") return o.irft_sft_lr;
  if (method == "RFT") return o.ppo_lr;
  return o.lr;
}

inline adamw make_adamw(double lr) { return adamw(adamw_hyper{lr, 0.9, 0.999, 1e-8, 0.0}); }

// Runs `method` from a copy of pi_0 on the demonstrations; returns the policy and the number of
// policy gradient steps it took.
inline std::pair<policy_t, std::size_t> fine_tune(const std::string& method, const policy_t& base, const sequence_batch& demos,
                                                  const ground_truth_options& o, std::uint64_t seed) {
  policy_t p = base.snapshot();
  const bool spin_like = method == "SPIN" || method == "SPIN+SFT", irft_like = method == "IRFT" || method == "IRFT+SFT";
  auto opt = make_adamw(method_lr(method, o));
  if (method == "SFT") {
    sft(sft_options{o.steps, o.batch_size, sft_normalisation::sequence_sum, seed}).run(p, demos, opt);
    return {std::move(p), o.steps};
  }
  if (spin_like || irft_like) {  // SPIN: one round over all the data, K = steps
    irft_options io{.beta = o.beta, .rounds = spin_like ? 1 : o.irft_rounds, .steps_per_round = spin_like ? o.steps : o.steps / o.irft_rounds, .batch_size = o.batch_size, .chunk_rounds = irft_like, .online_probability = 0.0, .seed = seed};
    io.sft_alpha = method.ends_with("+SFT") ? o.sft_alpha : 0.0;
    const auto r = irft(io).run(p, demos, opt, sampled{});
    return {std::move(p), r.updates};
  }
  // RFT: reward model from pi_0's trunk, PPO against pi_0.
  transformer_reward<cpu, float> reward(base, seed);
  auto ropt = make_adamw(o.reward_lr);
  ppo improver(ppo_options{1, o.ppo_epochs, 0.2, 0.5, 1.0, 0.95, 1.0, true}, make_adamw(o.ppo_lr));
  const std::size_t iterations = o.steps / o.ppo_epochs;
  rft(rft_options{.beta = o.beta, .l2 = 0.0, .iterations = iterations, .reward_steps = o.reward_steps, .policy_steps = 1, .batch_size = o.batch_size, .seed = seed})
      .run(p, base, reward, demos, ropt, improver, sampled{});
  return {std::move(p), iterations * o.ppo_epochs};
}

// An AdamW whose learning rate warms up linearly over the first warmup_fraction of `total` steps.
inline adamw make_adamw(double lr, std::size_t total, double warmup_fraction) {
  adamw opt = make_adamw(lr);
  const auto warm = static_cast<std::size_t>(std::ceil(warmup_fraction * static_cast<double>(total)));
  opt.schedule(warmup_schedule(std::min(warm, total), total));
  return opt;
}

inline std::size_t batches_per_pass(std::size_t rows, std::size_t batch) { return (rows + batch - 1) / std::min(batch, rows); }

// SFT for `steps` from a copy of `from` (the start checkpoint, the controls).
inline policy_t sft_from(const policy_t& from, const sequence_batch& demos, std::size_t steps, const ground_truth_options& o, std::uint64_t seed) {
  policy_t p = from.snapshot();
  auto opt = make_adamw(o.lr, steps, o.warmup_fraction);
  sft(sft_options{steps, o.batch_size, sft_normalisation::sequence_sum, seed}).run(p, demos, opt);
  return p;
}

// What one run of protocol sft-start produced besides the policy.
struct run_record {
  std::size_t steps = 0;
  std::vector<round_summary> rounds;  // one seed's
  double reward_accuracy = 0;         // RFT
};

// The log-likelihoods of a round-start snapshot that the trainer does not report: held-out correct
// answers always; for RFT also all demonstrations and the policy's own samples of their prompts.
inline double mean_loglik(const policy_t& p, const sequence_batch& b) { return mean_of(sequence_logprobs(p, b)); }

// Runs `method` from the start checkpoint, which is also its reference (SPIN/IRFT's first pi_ref,
// RFT's KL anchor and its reward model's trunk).
inline std::pair<policy_t, run_record> fine_tune_from_start(const std::string& method, const policy_t& start, const sequence_batch& demos,
                                                            const held_out& h, const ground_truth_options& o, std::uint64_t seed) {
  const sequence_batch& heldout = h.correct;
  policy_t p = start.snapshot();
  run_record rec;
  const std::size_t N = demos.rows();
  const bool with_sft = method == "SPIN+SFT" || method == "IRFT+SFT";
  const double alpha = with_sft ? o.sft_alpha : 0.0;
  std::optional<sampling_options> decoding = sampling_options{.temperature = o.gen_temperature};
  // One IRFT round (SPIN iteration) on `data`, passes over it, from the current policy as pi_ref.
  auto round = [&](const sequence_batch& data, std::size_t passes, std::size_t t, adamw& opt) {
    const auto t0 = std::chrono::steady_clock::now();
    const double heldout_ll = mean_loglik(p, heldout);
    irft_options io{.beta = o.beta, .rounds = 1, .batch_size = o.batch_size, .chunk_rounds = false, .seed = seed + 104729ULL * t};
    io.sampling = decoding;
    io.sft_alpha = alpha;
    io.passes_per_round = passes;
    const irft_result r = irft(io).run(p, data, opt, sampled{});
    const irft_round_record& rr = r.rounds.front();
    rec.steps += r.updates;
    rec.rounds.push_back({t, rr.demo_loglik, heldout_ll, rr.generation_loglik, rr.passes, seconds_since(t0)});
  };
  if (method == "SPIN" || method == "SPIN+SFT") {
    auto opt = make_adamw(method_lr(method, o), o.spin_iterations * o.spin_epochs * batches_per_pass(N, o.batch_size), o.warmup_fraction);
    for (std::size_t t = 0; t < o.spin_iterations; ++t) round(demos, o.spin_epochs, t, opt);
    return {std::move(p), std::move(rec)};
  }
  if (method == "IRFT" || method == "IRFT+SFT") {
    const std::size_t C = o.irft_rounds, T = C * o.irft_epochs;
    std::size_t total = 0;
    for (std::size_t c = 0; c < C; ++c) total += o.irft_passes * batches_per_pass((c + 1) * N / C - c * N / C, o.batch_size);
    auto opt = make_adamw(method_lr(method, o), total * o.irft_epochs, o.warmup_fraction);
    for (std::size_t t = 0; t < T; ++t) {
      const std::size_t c = t % C;
      std::vector<std::size_t> rows;
      for (std::size_t i = c * N / C; i < (c + 1) * N / C; ++i) rows.push_back(i);
      round(select_rows(demos, rows), o.irft_passes, t, opt);
    }
    return {std::move(p), std::move(rec)};
  }
  // RFT: the reward model from the start's trunk, warmed up, then PPO against the start.
  transformer_reward<cpu, float> reward(start, seed);
  auto ropt = make_adamw(o.reward_lr, o.reward_warmup + o.rft_iterations * o.reward_steps, o.warmup_fraction);
  ppo improver(ppo_options{1, o.ppo_epochs, 0.2, 0.5, 1.0, 0.95, 1.0, true},
               make_adamw(o.ppo_lr, o.rft_iterations * o.ppo_epochs, o.warmup_fraction));
  const sequence_batch prompts = prompts_of(demos);
  rng sample_rng(seed ^ 0x5eedULL);
  auto snapshot = [&](std::size_t t, double secs) {
    const sequence_batch own = p.sample(prompts, 1, sample_rng);
    rec.rounds.push_back({t, mean_loglik(p, demos), mean_loglik(p, heldout), mean_loglik(p, own), 0.0, secs});
  };
  const std::size_t every = std::max<std::size_t>(1, o.rft_iterations / 4);
  auto t0 = std::chrono::steady_clock::now();
  snapshot(0, 0.0);
  const auto r = rft(rft_options{.beta = o.beta, .l2 = 0.0, .iterations = o.rft_iterations, .reward_steps = o.reward_steps, .policy_steps = 1, .batch_size = o.batch_size, .seed = seed, .reward_warmup = o.reward_warmup})
                     .run(p, start, reward, demos, ropt, improver, sampled{}, [&](const step_event& e) {
                       if (e.algorithm == "rft.policy" && (e.round + 1) % every == 0 && e.round + 1 < o.rft_iterations) {
                         snapshot((e.round + 1) / every, seconds_since(t0));
                         t0 = std::chrono::steady_clock::now();
                       }
                     });
  (void)r;
  const auto rc = reward.rewards(h.correct), rl = reward.rewards(h.low);
  for (std::size_t i = 0; i < rc.size(); ++i) rec.reward_accuracy += win(rc(i), rl(i)) / static_cast<double>(rc.size());
  rec.steps = o.rft_iterations * o.ppo_epochs;
  for (auto& rs : rec.rounds) rs.passes = static_cast<double>(o.batch_size * every) / static_cast<double>(N);
  return {std::move(p), std::move(rec)};
}

}  // namespace detail

inline ground_truth_result run_ground_truth(const ground_truth_options& given) {
  validate(given);
  using namespace detail;
  ground_truth_options o = with_tuned_rates(given);
  if (o.methods.empty()) o.methods = default_methods(o.protocol);
  const bool from_sft = o.protocol == "sft-start";
  const auto began = std::chrono::steady_clock::now();
  const task_set tasks(o.tasks);
  const transformer_config cfg{o.layers, o.heads, o.channels, o.context, 257};
  const generation_options gen{o.max_new_tokens, eos_token, {}};
  auto say = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };

  const std::size_t E = o.eps.size(), M = o.methods.size();
  // per[e][m][metric] = values over seeds; base_values[metric] = pi_0's values over seeds.
  const auto& fields = evaluation_fields();
  std::vector<std::vector<std::vector<std::vector<double>>>> per(
      E, std::vector<std::vector<std::vector<double>>>(M, std::vector<std::vector<double>>(fields.size())));
  std::vector<std::vector<double>> base_values(fields.size());
  std::vector<std::vector<double>> wall(E, std::vector<double>(M, 0.0));
  std::vector<std::vector<std::size_t>> steps_taken(E, std::vector<std::size_t>(M, 0));
  // Protocol sft-start: each method's controls over seeds (win rate, r*), its rounds and reward accuracy.
  using over_seeds = std::vector<std::vector<std::vector<double>>>;  // [e][m][seed]
  over_seeds same_steps_win(E, std::vector<std::vector<double>>(M)), same_steps_reward = same_steps_win, same_total_win = same_steps_win,
                                                                     same_total_reward = same_steps_win, reward_acc = same_steps_win;
  std::vector<std::vector<std::vector<std::vector<round_summary>>>> rounds(E, std::vector<std::vector<std::vector<round_summary>>>(M));
  ground_truth_result result;
  result.protocol = o.protocol;

  for (std::size_t s = 0; s < o.seeds; ++s) {
    rng data_rng = rng::stream(o.seed, 4 * s), eval_rng = rng::stream(o.seed, 4 * s + 1);
    const std::uint64_t model_seed = o.seed * 1000003ULL + s;
    // Held-out prompts first; every training prompt avoids them.
    held_out h;
    h.items = draw_items(tasks, o.eval_prompts, {}, data_rng);
    std::unordered_set<std::string> avoid;
    for (const auto& it : h.items) avoid.insert(it.prompt);
    std::vector<task_item> low_items;
    low_items.reserve(h.items.size());
    for (const auto& it : h.items) low_items.push_back({it.prompt, tasks.low_quality(it.prompt, data_rng)});
    h.prompts = prompt_batch(h.items);
    h.correct = demo_batch(h.items);
    h.low = demo_batch(low_items);

    // pi_0: SFT on a mixed-quality corpus.
    auto t0 = std::chrono::steady_clock::now();
    std::vector<task_item> corpus = draw_items(tasks, o.pretrain_examples, avoid, data_rng);
    for (auto& it : corpus)
      if (data_rng.uniform() >= o.pretrain_quality) it.answer = tasks.low_quality(it.prompt, data_rng);
    policy_t base(cfg, model_seed, gen);
    {
      auto opt = make_adamw(o.pretrain_lr);
      sft(sft_options{o.pretrain_steps, o.batch_size, sft_normalisation::sequence_sum, model_seed}).run(base, demo_batch(corpus), opt);
    }
    result.pretrain_seconds += seconds_since(t0) / static_cast<double>(o.seeds);
    h.base_greedy_reward = respond(base, h, tasks, 1, 0.0, eval_rng).second;
    h.base_sampled_reward = respond(base, h, tasks, o.eval_samples, 1.0, eval_rng).second;
    h.base_logp_correct = sequence_logprobs(base, h.correct);
    h.base_logp_low = sequence_logprobs(base, h.low);

    // Demonstrations: correct answers; the first round(eps N) rows of a fixed permutation replaced.
    const std::vector<task_item> clean = draw_items(tasks, o.demonstrations, avoid, data_rng);
    std::vector<std::string> low(clean.size());
    for (std::size_t i = 0; i < clean.size(); ++i) low[i] = tasks.low_quality(clean[i].prompt, data_rng);
    std::vector<std::size_t> order(clean.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[data_rng.below(i)]);

    for (std::size_t e = 0; e < E; ++e) {
      std::vector<task_item> items = clean;
      const auto replaced = static_cast<std::size_t>(std::llround(o.eps[e] * static_cast<double>(clean.size())));
      for (std::size_t i = 0; i < replaced; ++i) items[order[i]].answer = low[order[i]];
      const sequence_batch demos = demo_batch(items);
      if (e == 0) {
        rng g = rng::stream(o.seed, 4 * s + 2);
        evaluation b = evaluate(base, base, h, demos, tasks, o.eval_samples, g);
        for (std::size_t f = 0; f < fields.size(); ++f) base_values[f].push_back(b.*(fields[f].second));
      }
      const std::uint64_t run_seed = model_seed + 7919ULL * (e + 1);
      // The start point: pi_0 (pi0) or the SFT checkpoint (sft-start, the "SFT" row).
      t0 = std::chrono::steady_clock::now();
      const policy_t start = from_sft ? sft_from(base, demos, o.sft_start_steps, o, run_seed) : base.snapshot();
      const double start_seconds = seconds_since(t0);
      const std::vector<double> start_logp = sequence_logprobs(start, h.correct);
      // Each evaluation uses the same stream: greedy and sampled draws share their uniforms.
      auto score = [&](policy_t& p) {
        rng g = rng::stream(o.seed, 4 * s + 3);
        evaluation ev = evaluate(p, base, h, demos, tasks, o.eval_samples, g);
        const auto lp = sequence_logprobs(p, h.correct);
        for (std::size_t i = 0; i < lp.size(); ++i) ev.moved += std::abs(lp[i] - start_logp[i]) / static_cast<double>(lp.size());
        return ev;
      };
      // The two SFT controls of a method that took k steps from the start, each run once per k.
      std::map<std::size_t, evaluation> same_steps, same_total;
      auto controls = [&](std::size_t k) {
        if (!same_steps.count(k)) {
          policy_t c = sft_from(start, demos, k, o, run_seed + 1);
          same_steps[k] = score(c);
          policy_t t = sft_from(base, demos, o.sft_start_steps + k, o, run_seed);
          same_total[k] = score(t);
        }
      };
      for (std::size_t m = 0; m < M; ++m) {
        const std::string& method = o.methods[m];
        t0 = std::chrono::steady_clock::now();
        policy_t p = start.snapshot();
        std::size_t taken = 0;
        run_record rec;
        if (!from_sft) {
          auto [q, k] = fine_tune(method, base, demos, o, run_seed);
          p = std::move(q);
          taken = k;
        } else if (method == "SFT") {
          taken = o.sft_start_steps;
        } else {
          auto [q, r] = fine_tune_from_start(method, start, demos, h, o, run_seed);
          p = std::move(q);
          rec = std::move(r);
          taken = rec.steps;
        }
        const double secs = seconds_since(t0) + (from_sft && method == "SFT" ? start_seconds : 0.0);
        wall[e][m] += secs / static_cast<double>(o.seeds);
        steps_taken[e][m] = taken;
        evaluation ev = score(p);
        if (from_sft && method == "SFT") ev.moved = ev.logprob_change;  // the start itself: how far it moved from pi_0
        for (std::size_t f = 0; f < fields.size(); ++f) per[e][m][f].push_back(ev.*(fields[f].second));
        rounds[e][m].push_back(rec.rounds);
        reward_acc[e][m].push_back(rec.reward_accuracy);
        if (from_sft && method != "SFT") {
          controls(taken);
          same_steps_win[e][m].push_back(ev.win_rate - same_steps[taken].win_rate);
          same_steps_reward[e][m].push_back(ev.true_reward - same_steps[taken].true_reward);
          same_total_win[e][m].push_back(ev.win_rate - same_total[taken].win_rate);
          same_total_reward[e][m].push_back(ev.true_reward - same_total[taken].true_reward);
        }
        std::string versus;
        if (from_sft && method != "SFT")
          versus = "; r* - SFT same steps " + to_text(ev.true_reward - same_steps[taken].true_reward) + ", r* - SFT same total " +
                   to_text(ev.true_reward - same_total[taken].true_reward) + ", win - SFT same steps " +
                   to_text(ev.win_rate - same_steps[taken].win_rate);
        say("seed " + std::to_string(s) + " eps " + to_text(o.eps[e]) + " " + method + ": " + std::to_string(taken) + " steps, win rate " +
            to_text(ev.win_rate) + ", r* " + to_text(ev.true_reward) + " (pi_0 " + to_text(mean_of(h.base_greedy_reward)) + "), " +
            to_text(secs) + " s" + versus);
      }
    }
  }

  for (std::size_t f = 0; f < fields.size(); ++f) result.base.push_back({fields[f].first, summarise(base_values[f]), {}});
  std::size_t sft_index = M;
  for (std::size_t m = 0; m < M; ++m)
    if (o.methods[m] == "SFT") sft_index = m;
  for (std::size_t e = 0; e < E; ++e)
    for (std::size_t m = 0; m < M; ++m) {
      ground_truth_row row{o.methods[m], o.eps[e], o.seeds, steps_taken[e][m], wall[e][m], {}, {}, {}, {}, {}};
      for (std::size_t f = 0; f < fields.size(); ++f) {
        metric_summary ms{fields[f].first, summarise(per[e][m][f]), {}};
        if (sft_index < M) ms.minus_sft = summarise_paired(per[e][m][f], per[e][sft_index][f]);
        row.metrics.push_back(ms);
      }
      if (from_sft && o.methods[m] != "SFT") {
        row.vs_sft_same_steps = {summarise(same_steps_win[e][m]), summarise(same_steps_reward[e][m])};
        row.vs_sft_same_total = {summarise(same_total_win[e][m]), summarise(same_total_reward[e][m])};
      } else if (!from_sft && o.methods[m] != "SFT" && sft_index < M) {  // pi0: SFT from pi_0 is both controls
        row.vs_sft_same_steps = {row.metric("win_rate").minus_sft, row.metric("true_reward").minus_sft};
        row.vs_sft_same_total = row.vs_sft_same_steps;
      }
      if (o.methods[m] == "RFT") row.reward_accuracy = summarise(reward_acc[e][m]);
      // Rounds: the mean over seeds of each round's entry (every seed runs the same rounds).
      const auto& rs = rounds[e][m];
      for (std::size_t t = 0; !rs.empty() && t < rs.front().size(); ++t) {
        round_summary sum{rs.front()[t].round, 0, 0, 0, 0, 0};
        for (const auto& seed_rounds : rs) {
          const double w = 1.0 / static_cast<double>(rs.size());
          sum.demo_loglik += w * seed_rounds[t].demo_loglik;
          sum.heldout_loglik += w * seed_rounds[t].heldout_loglik;
          sum.generation_loglik += w * seed_rounds[t].generation_loglik;
          sum.passes += w * seed_rounds[t].passes;
          sum.wall_seconds += w * seed_rounds[t].wall_seconds;
        }
        row.rounds.push_back(sum);
      }
      result.rows.push_back(std::move(row));
    }
  result.total_seconds = seconds_since(began);
  return result;
}

}  // namespace juice::experiments::ground_truth
