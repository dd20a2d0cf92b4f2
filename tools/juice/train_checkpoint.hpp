// `juice train --save-every N` and `--resume`: the train_state (train_state.hpp) to and from a
// checkpoint folder OUT/checkpoint written by juice/io/checkpoint.hpp. The policy and its AdamW
// moments (RFT: PPO's policy optimizer) go into the checkpoint's model and optimizer files; RFT's
// reward model and its optimizer into named tensors (`reward.*`, `reward_opt.*`, exact copies; the
// frozen reference is the starting model, rebuilt from --model, so it is not saved); the rng, the
// counters, the minibatch order (its permutation and position) and the IRFT/SPIN round cache (the
// round's rows, the generated responses and their reference log-probs) into its state and named
// tensors; the run's options into state.json, so a resume with another value of an option that
// changes the result is refused naming the option. Options that only change what is printed or
// how often a checkpoint is written (--quiet, --log-every, --save-every, --out) may change.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "juice/io/atomic_file.hpp"
#include "juice/io/checkpoint.hpp"
#include "train.hpp"
#include "train_state.hpp"

namespace juice::cli {

// The options a checkpoint must be resumed with, keyed by their command-line names.
inline nlohmann::json run_options(const train_args& a) {
  return {{"--algo", a.algo},
          {"--model", a.model},
          {"--demos", a.demos},
          {"--pairs", a.pairs},
          {"--tokenizer", a.data.tokenizer},
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

// Saves `st` (SFT, SPIN, IRFT or RFT) with the run's options into `dir`, replacing the previous
// checkpoint as a whole.
inline void save_train_checkpoint(const std::filesystem::path& dir, train_state& st, const train_args& a) {
  io::training_state s;
  s.step = st.step;
  s.round = st.round;
  s.rngs["train"] = st.g.state();
  s.options = run_options(a);
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
  io::save_checkpoint(dir, st.policy, r.improver.optimizer(), s);
}

// Restores `st` (freshly built for the run's options) from the checkpoint in `dir`; refuses a
// checkpoint written with other options, naming the first that differs.
inline void load_train_checkpoint(const std::filesystem::path& dir, train_state& st, const train_args& a) {
  const io::training_state s = st.rft ? io::load_checkpoint(dir, st.policy, st.rft->improver.optimizer())
                                      : io::load_checkpoint(dir, st.policy, st.opt);
  io::check_resume_options(s.options, run_options(a), "--resume " + dir.string());
  auto g = s.rngs.find("train");
  if (g == s.rngs.end()) throw io::format_error("--resume " + dir.string() + ": state.json lacks the rng 'train'.");
  st.g = rng::from_state(g->second);
  st.step = s.step;
  st.round = s.round;
  const auto pos = detail::indices(s, "order.position", dir), cache_state = detail::indices(s, "cache.state", dir);
  if (pos.size() != 1 || cache_state.size() != 2)
    throw io::format_error("--resume " + dir.string() + ": the tensors 'order.position' and 'cache.state' have the wrong size.");
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
    if (at + n > tokens.size()) throw io::format_error("--resume " + dir.string() + ": the tensor 'cache.generated' is shorter than its lengths.");
    auto& g_i = c.generated.emplace_back();
    for (std::size_t k = 0; k < n; ++k) g_i.push_back(static_cast<token_t>(tokens[at + k]));
    at += n;
  }
  if (st.rft) load_reward(s, *st.rft, dir);
  if (c.ready && (c.generated.size() != c.rows.size() || c.ref_chosen.size() != c.rows.size() || c.ref_rejected.size() != c.rows.size()))
    throw io::format_error("--resume " + dir.string() + ": the round cache's tensors disagree in length.");
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
