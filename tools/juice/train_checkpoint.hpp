// `juice train --save-every N` and `--resume`: the train_state (train_state.hpp) to and from a
// checkpoint folder OUT/checkpoint written by juice/io/checkpoint.hpp. The policy and its AdamW
// moments (RFT: PPO's policy optimizer) go into the checkpoint's model and optimizer files; RFT's
// reward model and its optimizer into named tensors (`reward.*`, `reward_opt.*`, exact copies; the
// frozen reference is the starting model, rebuilt from --model, so it is not saved); the rng, the
// counters, the minibatch order (its permutation and position) and the IRFT/SPIN round cache (the
// round's rows, the generated responses and their reference log-probs) into its state and named
// tensors; the run's options into state.json, so a resume with another value of an option that
// changes the result is refused naming the option. The input files (--model, --demos, --pairs,
// --tokenizer) are recorded by content (file_identity.hpp), not by path. Options that only change
// what is printed or how often a checkpoint is written (--quiet, --log-every, --save-every, --out)
// may change. Nothing restored is trusted: every index, count and length is checked against the
// data and the options before the run continues (check_restored), and the rng's draw count against
// what the steps so far can have drawn, so a tampered checkpoint is refused in one line.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "file_identity.hpp"
#include "juice/io/atomic_file.hpp"
#include "juice/io/checkpoint.hpp"
#include "train.hpp"
#include "train_state.hpp"

namespace juice::cli {

// The options a checkpoint must be resumed with, keyed by their command-line names; the inputs
// by their content (file_identity), computed here once per run.
inline nlohmann::json run_options(const train_args& a) {
  return {{"--algo", a.algo},
          {"--model", file_identity(a.model, "--model")},
          {"--demos", file_identity(a.demos, "--demos")},
          {"--pairs", file_identity(a.pairs, "--pairs")},
          {"--tokenizer", file_identity(a.data.tokenizer, "--tokenizer")},
          {"--bos", a.data.bos},
          {"--no-eos", a.data.no_eos},
          {"--truncate-prompt", a.data.truncate_prompt},
          {"--steps", a.steps},
          {"--batch-size", a.batch_size},
          {"--lr", a.lr},
          {"--weight-decay", a.weight_decay},
          {"--schedule", a.schedule},
          {"--warmup", a.warmup},
          {"--max-grad-norm", a.max_grad_norm},
          {"--sft-normalisation", a.sft_normalisation},
          {"--beta", a.beta},
          {"--rounds", a.rounds},
          {"--loss", a.loss},
          {"--gen-length", a.gen.max_new_tokens},
          {"--temperature", a.gen.sampling.temperature},
          {"--top-k", a.gen.sampling.top_k},
          {"--top-p", a.gen.sampling.top_p},
          {"--reward-lr", a.reward_lr},
          {"--reward-steps", a.reward_steps},
          {"--l2", a.l2},
          {"--ppo-epochs", a.ppo_epochs},
          {"--gens-per-prompt", a.gens_per_prompt},
          {"--sft-alpha", a.sft_alpha},
          {"--passes-per-round", a.passes_per_round},
          {"--reward-warmup", a.reward_warmup},
          {"--seed", a.seed},
          {"--threads", a.threads}};  // the result is bit-identical only for the same thread count
}

namespace detail {

inline io::host_tensor<std::int64_t> index_tensor(const std::vector<std::size_t>& v) {
  io::host_tensor<std::int64_t> t{{v.size()}, {}};
  t.values.reserve(v.size());
  for (const std::size_t x : v) t.values.push_back(static_cast<std::int64_t>(x));
  return t;
}

inline std::vector<std::size_t> indices(const io::training_state& s, const std::string& name, const std::filesystem::path& dir) {
  auto it = s.i64.find(name);
  if (it == s.i64.end()) throw io::format_error(fmt::format("--resume {}: reference.safetensors lacks the tensor '{}'.", dir.string(), name));
  std::vector<std::size_t> v;
  v.reserve(it->second.values.size());
  for (const std::int64_t x : it->second.values) {
    if (x < 0) throw io::format_error(fmt::format("--resume {}: tensor '{}' holds the negative value {}.", dir.string(), name, x));
    v.push_back(static_cast<std::size_t>(x));
  }
  return v;
}

inline std::vector<double> reals(const io::training_state& s, const std::string& name, const std::filesystem::path& dir) {
  auto it = s.f64.find(name);
  if (it == s.f64.end()) throw io::format_error(fmt::format("--resume {}: reference.safetensors lacks the tensor '{}'.", dir.string(), name));
  return it->second.values;
}

}  // namespace detail

// RFT's reward model and its optimizer from the checkpoint's named tensors (checked before any
// change: every parameter present with its size; the optimizer's state by check_state).
inline void load_reward(const io::training_state& s, rft_parts& r, const std::filesystem::path& dir) {
  auto params = r.reward.parameters();
  for (const auto& p : params) {
    auto it = s.f32.find("reward." + p.name);
    if (it == s.f32.end() || it->second.values.size() != p.value.size())
      throw io::format_error("--resume " + dir.string() + ": the tensor 'reward." + p.name + "' is missing or has the wrong size.");
  }
  optimizer_state o = r.reward_opt.export_state(r.reward);  // rule, scalar and hyper-parameters of this run
  const auto steps = detail::indices(s, "reward_opt.steps", dir);
  if (steps.size() != 1) throw io::format_error("--resume " + dir.string() + ": the tensor 'reward_opt.steps' has the wrong size.");
  o.steps = steps[0];
  o.tensors.clear();
  for (const auto& [name, t] : s.f64)
    if (name.rfind("reward_opt.", 0) == 0) o.tensors.push_back({name.substr(11), t.values});
  try {
    r.reward_opt.check_state(r.reward, o);
  } catch (const invalid_argument& e) {
    throw io::format_error("--resume " + dir.string() + ": the reward optimizer's state: " + e.what());
  }
  for (auto& p : params) {
    const auto& v = s.f32.at("reward." + p.name).values;
    std::copy(v.begin(), v.end(), p.value.begin());
  }
  r.reward_opt.import_state(r.reward, o);
}

// Saves `st` (SFT, SPIN, IRFT or RFT) with the run's options (run_options) into `dir`, replacing
// the previous checkpoint as a whole.
inline void save_train_checkpoint(const std::filesystem::path& dir, train_state& st, const nlohmann::json& options) {
  io::training_state s;
  s.step = st.step;
  s.round = st.round;
  s.rngs["train"] = st.g.state();
  s.options = options;
  s.i64["order.permutation"] = detail::index_tensor(st.order.permutation());
  s.i64["order.position"] = detail::index_tensor({st.order.position()});
  const round_cache& c = st.cache;
  s.i64["cache.state"] = detail::index_tensor({c.ready ? 1u : 0u, c.round});
  s.i64["cache.rows"] = detail::index_tensor(c.rows);
  std::vector<std::size_t> lengths;
  io::host_tensor<std::int64_t> tokens;
  for (const auto& g : c.generated) {
    lengths.push_back(g.size());
    for (const token_t t : g) tokens.values.push_back(static_cast<std::int64_t>(t));
  }
  tokens.shape = {tokens.values.size()};
  s.i64["cache.generated_lengths"] = detail::index_tensor(lengths);
  s.i64["cache.generated"] = std::move(tokens);
  s.f64["cache.ref_chosen"] = {{c.ref_chosen.size()}, c.ref_chosen};
  s.f64["cache.ref_rejected"] = {{c.ref_rejected.size()}, c.ref_rejected};
  if (!st.rft) {
    io::save_checkpoint(dir, st.policy, st.opt, s);
    return;
  }
  rft_parts& r = *st.rft;
  for (const auto& p : r.reward.parameters())
    s.f32["reward." + p.name] = {{p.value.size()}, std::vector<float>(p.value.begin(), p.value.end())};
  const optimizer_state o = r.reward_opt.export_state(r.reward);
  s.i64["reward_opt.steps"] = detail::index_tensor({o.steps});
  for (const auto& t : o.tensors) s.f64["reward_opt." + t.name] = {{t.values.size()}, t.values};
  io::save_checkpoint(dir, st.policy, r.improver.optimizer().optimizer(), s);
}

// The inputs of the checkpoint's options against this run's (both from run_options): a file that
// changed is refused naming the option and how it changed. A checkpoint of an older juice names
// its inputs by path only: accepted with a warning when the path is the same file, its identity
// then taken as this run's. Returns the saved options with those identities filled in.
inline nlohmann::json check_resume_inputs(nlohmann::json saved, const nlohmann::json& now, const train_args& a, const std::string& source) {
  namespace fs = std::filesystem;
  if (!saved.is_object() || !now.is_object()) return saved;
  const std::pair<const char*, const std::string*> inputs[] = {
      {"--model", &a.model}, {"--demos", &a.demos}, {"--pairs", &a.pairs}, {"--tokenizer", &a.data.tokenizer}};
  for (const auto& [key, current] : inputs) {
    auto s = saved.find(key);
    auto n = now.find(key);
    if (s == saved.end() || n == now.end() || *s == *n) continue;
    if (s->is_string() && !n->is_string()) {  // an older checkpoint: the path it was given
      std::error_code ec;
      const std::string path = s->get<std::string>();
      if (!path.empty() && fs::equivalent(path, *current, ec)) {
        fmt::print(stderr, "juice: warning: {}: the checkpoint names {} by its path only (an older juice wrote it); a change to {} since cannot be detected.\n",
                   source, key, path);
        *s = *n;
        continue;
      }
    }
    if (s->is_object() && n->is_object())
      throw invalid_argument(fmt::format("{}: {} is not the input the run started with: {}; resume with the same input.", source, key,
                                         identity_difference(*s, *n)));
  }
  return saved;
}

// Everything restored from a checkpoint against the data (`demos` demonstrations, tokens below
// `vocab`) and the run's options, so that no index, count or length read from the files reaches the
// training loops unchecked; `source` begins each message.
inline void check_restored(const train_state& st, const train_args& a, std::size_t demos, const std::string& source) {
  auto fail = [&](const std::string& why) { throw io::format_error(source + ": " + why + "; the checkpoint does not belong to this run's data and options."); };
  const round_cache& c = st.cache;
  const bool pairwise = a.algo == "irft" || a.algo == "spin";
  if (st.step > a.steps) fail(fmt::format("its step {} is beyond --steps {}", st.step, a.steps));
  if (a.algo == "sft" && st.round != 0) fail(fmt::format("its round is {} but SFT has no rounds", st.round));
  if (a.algo == "rft" && st.step != st.round * a.ppo_epochs)
    fail(fmt::format("its step {} is not its iteration {} x --ppo-epochs {}", st.step, st.round, a.ppo_epochs));
  if (pairwise) {
    const std::size_t T = a.algo == "irft" ? a.rounds : 1;
    if (st.round >= T) fail(fmt::format("its round {} is beyond the run's {} rounds", st.round, T));
    const std::size_t first = (a.steps / T) * st.round + std::min(st.round, a.steps % T),
                      end = (a.steps / T) * (st.round + 1) + std::min(st.round + 1, a.steps % T);
    if (st.step < first || st.step > end)
      fail(fmt::format("its step {} is outside round {} (steps {} to {})", st.step, st.round, first, end));
    if (c.ready) {
      if (c.round != st.round) fail(fmt::format("its round cache is for round {} but the run is in round {}", c.round, st.round));
      const bool chunk = a.algo == "irft";
      const std::size_t lo = chunk ? c.round * demos / T : 0, hi = chunk ? (c.round + 1) * demos / T : demos;
      const std::size_t g = a.gens_per_prompt;  // each demonstration's row repeated once per y~
      bool rows_ok = c.rows.size() == (hi - lo) * g;
      for (std::size_t i = 0; rows_ok && i < c.rows.size(); ++i) rows_ok = c.rows[i] == lo + i / g;
      if (!rows_ok) fail(fmt::format("the tensor 'cache.rows' is not the demonstrations {} to {} of round {}", lo, hi, c.round));
      const std::size_t context = st.policy.config().context, vocab = st.policy.config().vocab;
      for (std::size_t i = 0; i < c.generated.size(); ++i) {
        if (c.generated[i].size() > a.gen.max_new_tokens || c.generated[i].size() >= context)
          fail(fmt::format("the response {} in 'cache.generated' has {} tokens, more than --gen-length {} allows", i,
                           c.generated[i].size(), a.gen.max_new_tokens));
        for (const token_t t : c.generated[i])
          if (t < 0 || static_cast<std::size_t>(t) >= vocab)
            fail(fmt::format("'cache.generated' holds the token id {}, outside the model's vocabulary of {}", t, vocab));
      }
    }
  } else if (c.ready || !c.rows.empty() || !c.generated.empty()) {
    fail("it holds a round cache, which only IRFT and SPIN use");
  }
  // The minibatch order: a permutation of the rows it draws from, and a position inside it.
  const std::size_t n = pairwise && c.ready ? c.rows.size() : demos;
  const std::vector<std::size_t>& perm = st.order.permutation();
  if (st.step > 0 || !perm.empty()) {
    std::vector<char> seen(n, 0);
    bool ok = perm.size() == n;
    for (std::size_t i = 0; ok && i < perm.size(); ++i) {
      ok = perm[i] < n && !seen[perm[i]];
      if (ok) seen[perm[i]] = 1;
    }
    if (!ok) fail(fmt::format("the tensor 'order.permutation' is not a permutation of the {} rows it orders", n));
    if (st.order.position() > n) fail(fmt::format("the tensor 'order.position' is {}, beyond the {} rows", st.order.position(), n));
  }
}

// The most words the run's rng can have drawn after `step` policy updates in `round` rounds (IRFT,
// SPIN) or iterations (RFT): every data shuffle (one below() per row and pass, a few passes per
// round), and every generation (one uniform per row and token). Four times the count, for the
// rejections of below(): a tampered draw count beyond it would replay the stream for days.
inline double max_draws(const train_args& a, std::size_t demos, std::size_t step, std::size_t round) {
  const double N = static_cast<double>(demos), b = static_cast<double>(a.batch_size), S = static_cast<double>(step),
               R = static_cast<double>(round) + 1, g = static_cast<double>(a.gen.max_new_tokens) + 1;
  double words = S * b + 2 * N * (R + 1);                        // shuffles
  if (a.algo == "irft" || a.algo == "spin") words += N * g * R;  // each round's responses
  if (a.algo == "rft") words += 2 * b * g * R;                   // y~ and PPO's rollout per iteration
  return 4 * words + 1024;
}

// Restores `st` (freshly built for the run's options) from the checkpoint in `dir`; refuses a
// checkpoint written with other options or inputs (naming the first that differs) and one whose
// state does not fit the `demos` demonstrations and the options (check_restored). `options` is
// this run's run_options(a).
inline void load_train_checkpoint(const std::filesystem::path& dir, train_state& st, const train_args& a, const nlohmann::json& options,
                                  std::size_t demos) {
  const std::string source = "--resume " + dir.string();
  const io::training_state s = st.rft ? io::load_checkpoint(dir, st.policy, st.rft->improver.optimizer().optimizer())
                                      : io::load_checkpoint(dir, st.policy, st.opt);
  io::check_resume_options(check_resume_inputs(s.options, options, a, source), options, source);
  auto g = s.rngs.find("train");
  if (g == s.rngs.end()) throw io::format_error(source + ": state.json lacks the rng 'train'.");
  st.step = s.step;
  st.round = s.round;
  const auto pos = detail::indices(s, "order.position", dir), cache_state = detail::indices(s, "cache.state", dir);
  if (pos.size() != 1 || cache_state.size() != 2)
    throw io::format_error(source + ": the tensors 'order.position' and 'cache.state' have the wrong size.");
  st.order = juice::detail::minibatches::restore(detail::indices(s, "order.permutation", dir), a.batch_size, pos[0]);
  round_cache& c = st.cache;
  c.ready = cache_state[0] != 0;
  c.round = cache_state[1];
  c.rows = detail::indices(s, "cache.rows", dir);
  c.ref_chosen = detail::reals(s, "cache.ref_chosen", dir);
  c.ref_rejected = detail::reals(s, "cache.ref_rejected", dir);
  const auto lengths = detail::indices(s, "cache.generated_lengths", dir), tokens = detail::indices(s, "cache.generated", dir);
  std::size_t at = 0;
  c.generated.clear();
  for (const std::size_t n : lengths) {
    if (n > tokens.size() - at) throw io::format_error(source + ": the tensor 'cache.generated' is shorter than its lengths.");
    auto& g_i = c.generated.emplace_back();
    for (std::size_t k = 0; k < n; ++k) {
      if (tokens[at + k] > static_cast<std::size_t>(std::numeric_limits<token_t>::max()))
        throw io::format_error(fmt::format("{}: the tensor 'cache.generated' holds the token id {}, not a token.", source, tokens[at + k]));
      g_i.push_back(static_cast<token_t>(tokens[at + k]));
    }
    at += n;
  }
  if (st.rft) load_reward(s, *st.rft, dir);
  if (c.ready && (c.generated.size() != c.rows.size() || c.ref_chosen.size() != c.rows.size() || c.ref_rejected.size() != c.rows.size()))
    throw io::format_error(source + ": the round cache's tensors disagree in length.");
  check_restored(st, a, demos, source);
  // Last: the rng's restore replays its stream, and the bound on the draws holds only for a step
  // and round that check_restored has found inside the run's options.
  if (static_cast<double>(g->second.draws) > max_draws(a, demos, s.step, s.round))
    throw io::format_error(fmt::format(
        "{}: state.json: rngs.train.draws is {}, more than {} steps can draw; the checkpoint does not "
        "belong to this run's data and options.",
        source, g->second.draws, s.step));
  st.g = rng::from_state(g->second);
}

// Keeps the first `steps` lines of the metrics log (one per step): the lines a killed run wrote
// after its last checkpoint are written again by the resumed run, so each step appears once.
inline void truncate_metrics(const std::filesystem::path& file, std::size_t steps) {
  const std::vector<std::uint8_t> bytes = io::read_file(file);
  std::size_t end = 0, lines = 0;
  while (lines < steps && end < bytes.size()) {
    if (bytes[end++] == '\n') ++lines;
  }
  if (lines < steps)
    throw io::format_error(fmt::format("--resume: {} holds {} complete lines but the checkpoint is at step {}.", file.string(), lines, steps));
  io::write_file_atomically(file, std::span<const std::uint8_t>(bytes.data(), end));
}

}  // namespace juice::cli
