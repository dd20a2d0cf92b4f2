// `juice train`: SFT, SPIN, IRFT or RFT of a GPT-2 on a JSONL demonstration file, from a model
// config (fresh weights from the seed) or an HF GPT-2 folder, to OUT/final (HF layout) with a
// per-step metrics log in OUT/metrics.jsonl. See docs/cli.md.
//
// The loops are written here on the algorithms' per-minibatch functions (sft_loss, irft_prepare /
// irft_loss, rft_reward_loss + the PPO improver) rather than through the trainers' run(), for two
// reasons: everything that changes while training lives in one train_state (so a checkpoint can
// save and restore it), and IRFT/SPIN/RFT generate and score in minibatches of the batch size,
// never a whole round at once, so peak memory is set by the batch size and not by the data set.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "data_loading.hpp"
#include "folder_lock.hpp"
#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/losses/pairwise.hpp"
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/io/atomic_file.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/io/hf_model.hpp"
#include "juice/optim/data_parallel.hpp"
#include "juice/optim/gradients.hpp"
#include "juice/optim/lr_schedule.hpp"
#include "model_loading.hpp"
#include "run_log.hpp"
#include "scoring.hpp"
#include "stop_signals.hpp"
#include "train.hpp"
#include "train_checkpoint.hpp"
#include "train_group.hpp"
#include "train_state.hpp"

namespace juice::cli {

namespace {

namespace fs = std::filesystem;

// The learning-rate multiplier at (0-based) step s: linear warmup over `warmup` steps, then
// constant, or a linear or cosine decay to zero at the last step (juice::warmup_schedule).
std::function<double(std::size_t)> lr_schedule(const train_args& a) {
  const lr_decay decay = a.schedule == "linear" ? lr_decay::linear : a.schedule == "cosine" ? lr_decay::cosine
                                                                                            : lr_decay::constant;
  return warmup_schedule(a.warmup, a.steps, decay);
}

std::size_t token_count(const sequence_batch& b) {
  std::size_t n = 0;
  for (std::size_t r = 0; r < b.rows(); ++r) n += static_cast<std::size_t>(b.length(r));
  return n;
}

// Clears the gradients, back-propagates, refuses a non-finite gradient naming the step, clips if
// asked, and steps. Returns the gradient norm before clipping.
template <class M, class O, class Backward>
double update(M& model, O& opt, double max_norm, const std::string& where, Backward&& backward) {
  model.zero_grad();
  backward();
  const double norm = std::sqrt(grad_norm_sq(model));
  check_finite(norm, "gradient norm", where);
  if (max_norm > 0) clip_grad_norm(model, max_norm);
  opt.step(model);
  return norm;
}

// The same on a group of ranks (train_group.hpp), where `model` holds this rank's gradient: refuses a
// non-finite loss (this rank's term) or gradient on every rank alike, naming the rank that saw it,
// averages the gradient over the group, then measures, clips and steps as above; every rank
// returns the norm of the averaged gradient (the whole minibatch's).
template <class M, class O, class Backward>
double update_on(train_group& group, M& model, O& opt, double loss, double max_norm, const std::string& where, Backward&& backward,
                 const char* loss_name = "loss") {
  model.zero_grad();
  backward();
  const double local = grad_norm_sq(model);
  check_finite_everywhere(group, {{loss_name, loss}, {"gradient norm", local}}, where);
  if (group.size() == 1) {
    if (max_norm > 0) clip_grad_norm(model, max_norm);
    opt.step(model);
    return std::sqrt(local);
  }
  group.all_reduce_mean(model.parameter_block().grad);
  const double norm = std::sqrt(grad_norm_sq(model));  // the same on every rank: the same averaged buffer
  check_finite(norm, "gradient norm", where);
  if (max_norm > 0) clip_grad_norm(model, max_norm);
  opt.step(model);
  return norm;
}

// The per-step reporting: step, round, loss, learning rate, tokens/s (since the start), plus the
// algorithm's own fields; appended to metrics.jsonl and shown as progress. After the line is
// written, `after_step` runs (the checkpoint of --save-every): a checkpoint at step s always finds
// metrics.jsonl holding steps 1..s.
class reporter {
public:
  reporter(run_log& log, const train_args& a) : log_(log), a_(a), schedule_(lr_schedule(a)) {}

  void record(const train_state& st, double loss, std::optional<double> grad_norm, std::size_t tokens, const nlohmann::json& extra) {
    tokens_ += tokens;
    nlohmann::json m{{"step", st.step}, {"round", st.round}, {"loss", loss}};
    if (grad_norm) m["grad_norm"] = *grad_norm;
    m["learning_rate"] = a_.lr * schedule_(st.step - 1);
    m["tokens_per_s"] = static_cast<double>(tokens_) / std::max(log_.elapsed(), 1e-9);
    m.update(extra);
    log_.record(m);
    if (after_step) after_step();
  }

  std::function<void()> after_step;

private:
  run_log& log_;
  const train_args& a_;
  std::function<double(std::size_t)> schedule_;
  std::size_t tokens_ = 0;
};

std::string step_where(const train_state& st) {
  return fmt::format("juice train: step {} (round {})", st.step + 1, st.round);
}

// The generation length for a minibatch of prompts: --gen-length (the model shortens each response
// to the room its own prompt leaves in the context, so a row's y~ never depends on its neighbours);
// a prompt that fills the context is an error naming its line.
std::size_t generation_room(const std::vector<tokenized_demonstration>& demos, std::span<const std::size_t> rows,
                            const train_args& a, const transformer_config& c) {
  for (const std::size_t r : rows) {
    const std::size_t p = demos[r].prompt.size();
    if (p >= c.context)
      throw data_error(data::detail::where(a.demos, demos[r].line) + ": the prompt (" + std::to_string(p) +
                       " tokens) fills the context of " + std::to_string(c.context) +
                       " tokens and leaves no room to generate a response.");
  }
  return a.gen.max_new_tokens;
}

// The sums behind the pair metrics (rewards of the chosen and the rejected rows, accuracy, and,
// when given, their log-probs), so that ranks can add theirs before the means are taken.
std::vector<double> pair_sums(std::span<const double> chosen_reward, std::span<const double> rejected_reward,
                              std::span<const double> chosen_logp, std::span<const double> rejected_logp) {
  std::vector<double> s(5, 0.0);  // rewards/chosen, rewards/rejected, accuracy, logps/chosen, logps/rejected
  for (std::size_t i = 0; i < chosen_reward.size(); ++i) {
    s[0] += chosen_reward[i];
    s[1] += rejected_reward[i];
    s[2] += chosen_reward[i] > rejected_reward[i] ? 1 : 0;
    if (!chosen_logp.empty()) {
      s[3] += chosen_logp[i];
      s[4] += rejected_logp[i];
    }
  }
  return s;
}

// The means over the n pairs of a minibatch, from pair_sums (summed over the ranks).
nlohmann::json pair_metrics_of(std::span<const double> s, std::size_t n, bool with_logp) {
  const double dn = static_cast<double>(n);
  nlohmann::json m{{"rewards/chosen", s[0] / dn}, {"rewards/rejected", s[1] / dn}, {"rewards/accuracies", s[2] / dn}, {"rewards/margins", (s[0] - s[1]) / dn}};
  if (with_logp) {
    m["logps/chosen"] = s[3] / dn;
    m["logps/rejected"] = s[4] / dn;
  }
  return m;
}

// On a group of N ranks every rank draws the same minibatch (the same rng) and takes rows
// [r n/N, (r+1) n/N) of it. The loss is normalised by the whole minibatch's denominator (its
// sequences' weights or, for token_mean, its response tokens), summed over the ranks before the
// backward pass, so that the mean of the ranks' gradients is the whole minibatch's gradient even
// when the slices are uneven in rows or tokens.
void train_sft(train_state& st, const train_args& a, const std::vector<tokenized_demonstration>& demos, reporter& rep,
               train_group& group) {
  const auto norm = a.sft_normalisation == "sequence" ? sft_normalisation::sequence_sum : sft_normalisation::token_mean;
  if (st.step == 0) st.order = juice::detail::minibatches(demos.size(), a.batch_size);  // a restored state keeps its order
  const std::size_t N = group.size(), r = group.rank();
  while (st.step < a.steps) {
    const auto idx = st.order.next(st.g);
    const std::size_t n = idx.size(), first = n * r / N, last = n * (r + 1) / N;
    sequence_batch mb = select_examples(demos, std::span<const std::size_t>(idx.data() + first, last - first));
    for (std::size_t b = 0; b < mb.rows(); ++b) mb.weight(b) = 1.0 / static_cast<double>(n);  // a row of the whole minibatch
    const auto logp = st.policy.logprobs(mb);
    token_values<float> w;
    double loss = sft_loss(mb, logp, norm, &w);
    if (N > 1) {  // this rank's term of the whole minibatch's loss, and N times its gradient weights (the reduce averages)
      std::vector<double> denom{0};
      for (std::size_t b = 0; b < mb.rows(); ++b)
        denom[0] += mb.weight(b) * (norm == sft_normalisation::token_mean ? static_cast<double>(mb.response_length(b)) : 1.0);
      const double local = denom[0];
      group.all_reduce_sum(denom);
      const double share = local / denom[0];
      loss *= share;
      w *= static_cast<float>(share * static_cast<double>(N));
    }
    const std::string where = step_where(st);
    const double gn = update_on(group, st.policy, st.opt, loss, a.max_grad_norm, where, [&] { st.policy.backward(mb, w); });
    ++st.step;
    const auto seq = sequence_sum(logp, mb);
    std::vector<double> totals{loss, 0, static_cast<double>(token_count(mb))};  // loss, sum of log pi(y|x), tokens
    for (const double v : seq) totals[1] += v;
    group.all_reduce_sum(totals);
    nlohmann::json extra{{"logps/chosen", totals[1] / static_cast<double>(n)}};
    if (N > 1) extra["allreduce_s"] = group.take_reduce_seconds();  // rank 0's time in this step's all-reduces
    rep.record(st, totals[0], gn, static_cast<std::size_t>(totals[2]), extra);
  }
}

// The generator of demonstration i's y~ in round `round`: its own stream, keyed by the seed, the
// round and the demonstration's index in --demos, so that a response does not depend on which rank
// generates it, how many ranks there are, or what was generated before it.
rng generation_stream(std::uint64_t seed, std::size_t round, std::size_t i) { return rng::stream(rng::stream(seed, round)(), i); }

// y~ for the demonstrations `rows` (G of each, demonstration-major), as response tokens, one
// demonstration at a time from its own generator, stream(k) for rows[k]: a response is decoded in a
// batch of the same shape (its G rows) whichever rank makes it and however many ranks share the
// minibatch.
template <class Stream>
std::vector<std::vector<token_t>> generate_responses(const model_type& policy, const std::vector<tokenized_demonstration>& demos,
                                                     std::span<const std::size_t> rows, std::size_t G, Stream&& stream) {
  std::vector<std::vector<token_t>> out;
  out.reserve(rows.size() * G);
  for (std::size_t k = 0; k < rows.size(); ++k) {
    rng g = stream(k);
    const sequence_batch y = policy.sample(prompts_of(select_examples(demos, rows.subspan(k, 1))), G, g);
    for (std::size_t j = 0; j < y.rows(); ++j)
      out.emplace_back(&y.tokens(j, static_cast<std::size_t>(y.prompt_length(j))), &y.tokens(j, 0) + y.length(j));
  }
  return out;
}

// On several ranks, every rank's rows [from, from + count) of the round's cache, the rank that made
// each row holding it and the others zeros: one all_reduce_sum of a row per pair (the response's
// length, the two reference log-probs, then at most `width` tokens), exact since every element has
// one non-zero term.
void share_rows(round_cache& c, std::size_t from, std::size_t count, std::size_t own_first, std::size_t own_last,
                std::size_t width, train_group& group) {
  const std::size_t stride = 3 + width;
  std::vector<double> buf(count * stride, 0.0);
  for (std::size_t i = own_first; i < own_last; ++i) {
    double* row = &buf[(i - from) * stride];
    const auto& y = c.generated[i];
    row[0] = static_cast<double>(y.size());
    row[1] = c.ref_chosen[i];
    row[2] = c.ref_rejected[i];
    for (std::size_t t = 0; t < y.size(); ++t) row[3 + t] = static_cast<double>(y[t]);
  }
  group.all_reduce_sum(buf);
  for (std::size_t i = from; i < from + count; ++i) {
    if (i >= own_first && i < own_last) continue;
    const double* row = &buf[(i - from) * stride];
    c.generated[i].resize(static_cast<std::size_t>(row[0]));
    c.ref_chosen[i] = row[1];
    c.ref_rejected[i] = row[2];
    for (std::size_t t = 0; t < c.generated[i].size(); ++t) c.generated[i][t] = static_cast<token_t>(row[3 + t]);
  }
}

// Generates y~ for the round's demonstrations (--gens-per-prompt of them each, the demonstration's
// row repeated once per y~) and caches the reference log-probs, one minibatch of the batch size at a
// time. On several ranks each rank generates and scores its slice of every such minibatch (the
// slicing of the steps), then the slices are shared, so that every rank holds the round (the steps
// draw their minibatches from all of it, and rank 0 checkpoints it).
void prepare_round(train_state& st, const train_args& a, const std::vector<tokenized_demonstration>& demos, std::size_t T,
                   bool chunk, train_group& group) {
  round_cache& c = st.cache;
  const std::size_t N = demos.size(), R = group.size(), r = group.rank();
  c = round_cache{};
  c.round = st.round;
  const std::size_t lo = chunk ? st.round * N / T : 0, hi = chunk ? (st.round + 1) * N / T : N;
  const std::size_t G = a.gens_per_prompt;
  std::vector<std::size_t> demo_rows;
  for (std::size_t i = lo; i < hi; ++i) demo_rows.push_back(i);
  for (const std::size_t i : demo_rows) c.rows.insert(c.rows.end(), G, i);
  c.generated.resize(c.rows.size());
  c.ref_chosen.resize(c.rows.size());
  c.ref_rejected.resize(c.rows.size());
  for (std::size_t first = 0; first < demo_rows.size(); first += a.batch_size) {
    const std::size_t n = std::min(a.batch_size, demo_rows.size() - first);
    const std::size_t mine = first + n * r / R, m = first + n * (r + 1) / R - mine;  // this rank's demonstrations
    if (m > 0) {
      const std::span<const std::size_t> rows(demo_rows.data() + mine, m);
      st.policy.generation().max_new_tokens = generation_room(demos, rows, a, st.policy.config());
      auto generated = generate_responses(st.policy, demos, rows, G, [&](std::size_t k) { return generation_stream(a.seed, st.round, rows[k]); });
      std::vector<std::size_t> chosen_rows;
      std::vector<tokenized_demonstration> gen;
      for (std::size_t k = 0; k < m * G; ++k) {
        const std::size_t d = rows[k / G];
        chosen_rows.push_back(d);
        gen.push_back(tokenized_demonstration{demos[d].prompt, generated[k], demos[d].line});
      }
      const pair_batch p{select_examples(demos, chosen_rows), make_batch(gen, 0, gen.size()), xt::xtensor<double, 1>({m * G}, 1.0)};
      const std::vector<double> ref = irft_reference_logprobs(st.policy, p);
      for (std::size_t k = 0; k < m * G; ++k) {  // the pairs, demonstration-major
        c.generated[mine * G + k] = std::move(generated[k]);
        c.ref_chosen[mine * G + k] = ref[k];
        c.ref_rejected[mine * G + k] = ref[m * G + k];
      }
    }
    if (R > 1) share_rows(c, first * G, n * G, mine * G, (mine + m) * G, a.gen.max_new_tokens, group);
  }
  (void)group.take_reduce_seconds();  // the steps report their own all-reduces
  st.order = juice::detail::minibatches(c.rows.size(), a.batch_size);
  c.ready = true;
}

// On a group of ranks IRFT and SPIN slice every minibatch of pairs as SFT does (rows [r n/N,
// (r+1) n/N) of the same draw on every rank): each pair weighs 1/n of the whole minibatch, so the
// ranks' loss terms sum to the whole minibatch's loss, and their gradients, scaled by N before the
// mean, to its gradient.
template <PairwiseLoss Loss>
void train_irft(train_state& st, const train_args& a, const std::vector<tokenized_demonstration>& demos, bool chunk,
                reporter& rep, train_group& group) {
  const std::size_t T = chunk ? a.rounds : 1, N = demos.size(), R = group.size(), r = group.rank();
  if (chunk && N < T)
    throw invalid_argument(fmt::format("--rounds {}: the {} demonstrations of {} cannot be split into {} rounds; lower --rounds.",
                                       T, N, a.demos, T));
  for (; st.round < T; ++st.round) {
    const std::size_t K = a.steps / T + (st.round < a.steps % T ? 1 : 0);
    const std::size_t end = (a.steps / T) * (st.round + 1) + std::min(st.round + 1, a.steps % T);
    if (K == 0) continue;
    if (!st.cache.ready || st.cache.round != st.round) prepare_round(st, a, demos, T, chunk, group);
    const round_cache& c = st.cache;
    while (st.step < end) {
      const auto idx = st.order.next(st.g);
      const std::size_t n = idx.size(), first = n * r / R, m = n * (r + 1) / R - first;
      std::vector<std::size_t> rows(m);
      std::vector<tokenized_demonstration> gen(m);
      std::vector<double> ref(2 * m);
      for (std::size_t i = 0; i < m; ++i) {
        const std::size_t p = idx[first + i];
        rows[i] = c.rows[p];
        gen[i] = tokenized_demonstration{demos[rows[i]].prompt, c.generated[p], demos[rows[i]].line};
        ref[i] = c.ref_chosen[p];
        ref[m + i] = c.ref_rejected[p];
      }
      pair_batch mb{select_examples(demos, rows), make_batch(gen, 0, m), xt::xtensor<double, 1>({m}, 1.0 / static_cast<double>(n))};
      const sequence_batch both = concat_rows(mb.chosen, mb.rejected);
      const auto logp = st.policy.logprobs(both);
      token_values<float> w;
      const double loss = irft_loss<Loss>(mb, both, logp, ref, a.beta, &w, nullptr, a.sft_alpha);
      if (R > 1) w *= static_cast<float>(R);  // the reduce averages the ranks' gradients
      const std::string where = step_where(st);
      const double gn = update_on(group, st.policy, st.opt, loss, a.max_grad_norm, where, [&] { st.policy.backward(both, w); });
      ++st.step;
      const auto seq = sequence_sum(logp, both);
      std::vector<double> rc(m), rr(m), lc(m), lr(m);
      for (std::size_t i = 0; i < m; ++i) {
        lc[i] = seq(i);
        lr[i] = seq(m + i);
        rc[i] = a.beta * (lc[i] - ref[i]);
        rr[i] = a.beta * (lr[i] - ref[m + i]);
      }
      std::vector<double> totals = pair_sums(rc, rr, lc, lr);
      totals.push_back(loss);
      totals.push_back(static_cast<double>(token_count(both)));
      group.all_reduce_sum(totals);
      nlohmann::json extra = pair_metrics_of(totals, n, true);
      if (R > 1) extra["allreduce_s"] = group.take_reduce_seconds();  // rank 0's time in this step's all-reduces
      rep.record(st, totals[5], gn, static_cast<std::size_t>(totals[6]), extra);
    }
  }
}

// RFT on a group of ranks slices every minibatch of demonstrations as SFT does (rows [r n/N,
// (r+1) n/N) of the same draw on every rank). Each draw of y~ and each PPO rollout comes from a
// stream keyed by a draw of the shared generator and the row's index in the minibatch, so it does not
// depend on which rank makes it. Each pair weighs 1/n of the whole minibatch: the reward model's loss
// terms are summed over the ranks and its gradient (scaled by N) averaged before it is clipped; PPO
// sums its normalisers and statistics and averages the policy's gradient through its all_reduced
// optimizer (juice/algorithms/ppo/ppo.hpp).
template <PairwiseLoss Loss>
void train_rft(train_state& st, const train_args& a, const std::vector<tokenized_demonstration>& demos, reporter& rep,
               train_group& group) {
  rft_parts& r = st.rft.value();
  const std::size_t R = group.size(), rank = group.rank();
  if (st.step == 0) st.order = juice::detail::minibatches(demos.size(), a.batch_size);  // a restored state keeps its order
  // The next minibatch, this rank's share of it, and y~ for each of its demonstrations: the pairs
  // (each weighing 1/n of the whole minibatch), their rows stacked, the prompts, the first row's index.
  struct draw {
    pair_batch pairs;
    sequence_batch both, prompts;
    std::size_t n = 0, first = 0;
  };
  auto next_draw = [&] {
    const auto idx = st.order.next(st.g);
    const std::uint64_t key = st.g();
    const std::size_t n = idx.size(), first = n * rank / R, m = n * (rank + 1) / R - first;
    const std::span<const std::size_t> rows(idx.data() + first, m);
    st.policy.generation().max_new_tokens = generation_room(demos, idx, a, st.policy.config());
    // y~ of the minibatch's row first + k, from its own stream
    auto responses = generate_responses(st.policy, demos, rows, 1, [&](std::size_t k) { return rng::stream(key, first + k); });
    std::vector<tokenized_demonstration> gen;
    gen.reserve(m);
    for (std::size_t k = 0; k < m; ++k) gen.push_back(tokenized_demonstration{demos[rows[k]].prompt, std::move(responses[k]), demos[rows[k]].line});
    draw out{pair_batch{select_examples(demos, rows), make_batch(gen, 0, m), xt::xtensor<double, 1>({m}, 1.0 / static_cast<double>(n))},
             {},
             {},
             n,
             first};
    for (std::size_t k = 0; k < m; ++k) out.pairs.chosen.weight(k) = 1.0 / static_cast<double>(n);
    out.both = concat_rows(out.pairs.chosen, out.pairs.rejected);
    out.prompts = prompts_of(out.pairs.chosen);
    return out;
  };
  // One reward-model update on this rank's pairs; returns the whole minibatch's loss and the norm of
  // the averaged gradient, and leaves the rewards it saw in `rw`.
  auto reward_step = [&](const draw& d, const std::string& where, sequence_values<float>& rw) {
    rw = r.reward.rewards(d.both);
    sequence_values<float> w;
    std::vector<double> loss{rft_reward_loss<Loss>(d.pairs, rw, margin_scale<Loss>(a.beta), &w)};
    const double penalty = l2_penalty(r.reward, a.l2);
    if (R > 1) w *= static_cast<float>(R);  // the reduce averages the ranks' gradients
    const double gn = update_on(
        group, r.reward, r.reward_opt, loss[0] + penalty, a.max_grad_norm, where, [&] {
          r.reward.backward(d.both, w);
          // A pairwise loss is unchanged when every reward shifts by one constant, so the head's
          // bias has no gradient: what the backward pass sums for it is rounding, which differs
          // between 1 and 2 ranks and which AdamW would scale to steps of about the learning rate.
          // It is set to its exact value.
          for (auto& p : r.reward.parameters())
            if (p.name == "reward_head.bias") cpu::fill(p.grad, 0.0F);
          add_l2_gradient(r.reward, a.l2);  // on every rank: its mean is itself
        },
        "reward loss");
    group.all_reduce_sum(loss);
    return std::pair{loss[0] + penalty, gn};
  };
  // --reward-warmup: reward steps on demonstration-vs-generation minibatches before the first policy
  // step; their mean loss goes into the first iteration's metrics line.
  double warmup_loss = 0;
  sequence_values<float> rw;
  for (std::size_t k = 0; st.step == 0 && k < a.reward_warmup; ++k) {
    const draw d = next_draw();
    warmup_loss += reward_step(d, fmt::format("juice train: reward warm-up step {}", k + 1), rw).first / static_cast<double>(a.reward_warmup);
  }
  while (st.step < a.steps) {
    const draw d = next_draw();
    const std::string where = step_where(st);
    double reward_loss = 0, reward_gn = 0;
    for (std::size_t k = 0; k < a.reward_steps; ++k)
      std::tie(reward_loss, reward_gn) = reward_step(d, where + " reward step " + std::to_string(k), rw);
    r.improver.improve(st.policy, r.reference, r.reward, d.prompts, a.beta, ppo_streams{st.g(), d.first});
    st.step += a.ppo_epochs;
    ++st.round;
    const ppo_stats& s = r.improver.last_stats();
    check_finite(s.last_loss, "loss", where);  // the whole minibatch's: the same on every rank
    const std::size_t m = d.pairs.rows();
    std::vector<double> rc(m), rr(m);
    for (std::size_t i = 0; i < m; ++i) {
      rc[i] = rw(i);
      rr[i] = rw(m + i);
    }
    std::vector<double> totals = pair_sums(rc, rr, {}, {});
    totals.push_back(static_cast<double>(token_count(d.both)));
    group.all_reduce_sum(totals);
    nlohmann::json metrics = pair_metrics_of(totals, d.n, false);
    metrics["reward_loss"] = reward_loss;
    metrics["reward_grad_norm"] = reward_gn;
    metrics["ppo/mean_score"] = s.mean_score;
    metrics["ppo/kl"] = s.kl;
    metrics["ppo/clipped_fraction"] = s.clipped_fraction;
    if (st.round == 1 && a.reward_warmup > 0) metrics["reward_warmup_loss"] = warmup_loss;
    if (R > 1) metrics["allreduce_s"] = group.take_reduce_seconds();  // rank 0's time in this iteration's all-reduces
    rep.record(st, s.last_loss, std::nullopt, static_cast<std::size_t>(totals[5]), metrics);
  }
}

template <template <class> class Run, class... Args>
void with_loss(const std::string& loss, Args&&... args) {
  if (loss == "sigmoid") Run<sigmoid_loss>{}(std::forward<Args>(args)...);
  else if (loss == "hinge") Run<hinge_loss>{}(std::forward<Args>(args)...);
  else if (loss == "linear") Run<linear_loss>{}(std::forward<Args>(args)...);
  else Run<ipo_loss>{}(std::forward<Args>(args)...);
}

template <class Loss>
struct run_irft {
  template <class... Args>
  void operator()(Args&&... args) const { train_irft<Loss>(std::forward<Args>(args)...); }
};

void check_args(const train_args& a) {
  if (a.algo == "rft" && a.loss != "sigmoid" && a.loss != "linear")
    throw invalid_argument("--loss " + a.loss + ": RFT's reward loss is sigmoid (Bradley-Terry) or linear (ML-IRL).");
  if (a.algo == "rft" && a.steps % a.ppo_epochs != 0)
    throw invalid_argument(fmt::format("--steps {}: RFT makes --ppo-epochs ({}) policy updates per iteration; make --steps a multiple of it.",
                                       a.steps, a.ppo_epochs));
  const bool pairwise = a.algo == "irft" || a.algo == "spin";
  if (!pairwise && (a.passes_per_round > 0 || a.gens_per_prompt != 1 || a.sft_alpha != 0))
    throw invalid_argument("--passes-per-round, --gens-per-prompt and --sft-alpha apply to IRFT and SPIN only (--algo " + a.algo + ").");
  if (a.algo != "rft" && a.reward_warmup > 0) throw invalid_argument("--reward-warmup applies to RFT only (--algo " + a.algo + ").");
  if (a.algo == "irft" && a.rounds > a.steps)
    throw invalid_argument(fmt::format("--rounds {}: more IRFT rounds than --steps ({}); every round needs at least one step.", a.rounds, a.steps));
  if (a.warmup > a.steps) throw invalid_argument(fmt::format("--warmup {}: more warmup steps than --steps ({}).", a.warmup, a.steps));
}

// --out must be a new or empty-of-runs folder: one run's metrics and result never mix with
// another's. Checked before any work, created only once every input has been read.
void check_out(const fs::path& out) {
  std::error_code ec;
  const auto st = fs::status(out, ec);
  if (fs::exists(st) && !fs::is_directory(st)) throw invalid_argument("--out " + out.string() + ": exists and is not a folder.");
  if (fs::exists(out / "final", ec) || fs::exists(out / "metrics.jsonl", ec))
    throw invalid_argument("--out " + out.string() + ": already holds a run (final/ or metrics.jsonl); choose a new folder.");
}

// --resume needs OUT/checkpoint (or the complete leftover of an interrupted save) and a run that
// has not finished.
void check_resume_out(const fs::path& out, const fs::path& checkpoint) {
  std::error_code ec;
  if (!io::resolve_directory(checkpoint))
    throw invalid_argument("--resume: there is no checkpoint in " + checkpoint.string() + " (train with --save-every N first).");
  if (fs::exists(out / "final", ec)) throw invalid_argument("--resume: " + out.string() + " already holds a finished run (final/).");
  if (!fs::is_regular_file(out / "metrics.jsonl", ec))
    throw invalid_argument("--resume: " + out.string() + " has a checkpoint but no metrics.jsonl.");
}

// Creates --out; returns whether it did (so that a failure can remove what this run made).
bool create_out(const fs::path& out) {
  std::error_code ec;
  const bool existed = fs::is_directory(out, ec);
  fs::create_directories(out, ec);
  if (ec) throw io::io_error("--out " + out.string() + ": cannot create the folder (" + ec.message() + ").");
  return !existed;
}

// The trained model, checked before it is published: every parameter finite, and finite
// log-probabilities for the first minibatch of demonstrations (weights that overflowed to huge but
// finite values, as a learning rate like 1e30 gives after one step, fail there). A run that fails
// here writes no final/; its metrics stay.
void check_final_model(train_state& st, const train_args& a, const std::vector<tokenized_demonstration>& demos) {
  const std::string where = fmt::format("juice train: after step {}", st.step);
  for (auto& p : st.policy.parameters())
    for (std::size_t i = 0; i < p.value.size(); ++i)
      if (const double v = p.value.data()[i]; !std::isfinite(v))
        throw numerical_error(fmt::format("{}: the parameter '{}' is {} at element {}; final/ is not written (lower the learning rate).",
                                          where, p.name, std::isnan(v) ? "NaN" : "infinite", i));
  std::vector<std::size_t> first(std::min(a.batch_size, demos.size()));
  for (std::size_t i = 0; i < first.size(); ++i) first[i] = i;
  const sequence_batch mb = select_examples(demos, first);
  for (const double lp : sequence_sum(st.policy.logprobs(mb), mb))
    if (!std::isfinite(lp))
      throw numerical_error(where + ": the trained model's log-probabilities of " + a.demos +
                            " are not finite; final/ is not written (lower the learning rate).");
}

// OUT/final, all or nothing: exported into a hidden folder, then renamed, in the model's own family
// layout (GPT-2, Llama family or GPT-NeoX). config.json names the tokenizer's EOS as bos_token_id /
// eos_token_id.
void write_final(const model_type& m, const fs::path& out, std::optional<token_t> eos) {
  const fs::path tmp = out / ".final.tmp", final_dir = out / "final";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  try {
    io::hf_export_options o;
    if (eos) o.eos_token_id = *eos;
    io::export_hf_model(m, tmp, o);
    fs::rename(tmp, final_dir, ec);
    if (ec) throw io::io_error("--out " + out.string() + ": cannot move the result into final/ (" + ec.message() + ").");
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

// Several ranks: what this version trains across ranks, and a minibatch every rank has a row of.
void check_group_args(const train_args& a, const train_group& group) {
  if (group.size() == 1) return;
  if (a.batch_size < group.size())
    throw invalid_argument(fmt::format("--batch-size {}: smaller than the number of ranks ({}); every rank needs a row of each minibatch.",
                                       a.batch_size, group.size()));
}

// IRFT/SPIN on several ranks: the smallest round must have a pair for every rank (a round with
// fewer pairs than the batch size is one minibatch of all of them).
void check_group_pairs(const train_args& a, std::size_t demos, const train_group& group) {
  if (group.size() == 1 || (a.algo != "irft" && a.algo != "spin")) return;
  if (a.algo == "irft" && demos < a.rounds) return;  // refused by train_irft, naming --rounds
  const std::size_t pairs = (a.algo == "irft" ? demos / a.rounds : demos) * a.gens_per_prompt;
  if (pairs < group.size())
    throw invalid_argument(fmt::format(
        "--demos {}: the smallest round has {} pair{}, fewer than the number of ranks ({}); every rank "
        "needs a pair of each minibatch (lower --rounds or the ranks).",
        a.demos, pairs, pairs == 1 ? "" : "s", group.size()));
}

// The replicas must still be equal when the run ends: a digest of the parameters' bytes, rank 0's
// compared on every rank (it catches a rank that drifted, e.g. through a different thread count).
void check_replicas_equal(model_type& m, train_group& group) {
  if (group.size() == 1) return;
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a over the parameter block's bytes
  for (const float v : m.parameter_block().value) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    for (int k = 0; k < 4; ++k) h = (h ^ ((bits >> (8 * k)) & 0xffU)) * 1099511628211ULL;
  }
  std::vector<std::uint64_t> root{h};
  group.broadcast(root);
  if (root[0] != h)
    throw numerical_error(fmt::format(
        "juice train: rank {}'s parameters differ from rank 0's at the end of the run; "
        "run every rank with the same --threads and the same juice build.",
        group.rank()));
}

}  // namespace

void run_train_on(const train_args& given, train_group& group);

void run_train(const train_args& a) {
  train_group group(a.distributed);
  try {
    run_train_on(a, group);
  } catch (const interrupted& e) {
    group.abort_on_error(e, e.exit_code());
    throw;
  } catch (const juice::error& e) {
    group.abort_on_error(e, 1);
    throw;
  } catch (const std::exception& e) {
    group.abort_on_error(e, 3);
    throw;
  }
}

// Rank 0 (the writer) checks, locks and creates --out and writes into it; the other ranks read the
// inputs (and the checkpoint, with --resume) and write nothing.
// --passes-per-round P: every round makes P x ceil(pairs of the largest round / batch) steps (the
// rounds' chunks differ by one demonstration at most), which sets --steps.
std::size_t steps_for_passes(const train_args& a, std::size_t demos) {
  const std::size_t T = a.algo == "irft" ? a.rounds : 1;
  if (a.algo == "irft" && demos < T)
    throw invalid_argument(fmt::format("--rounds {}: the {} demonstrations of {} cannot be split into {} rounds; lower --rounds.", T, demos,
                                       a.demos, T));
  const std::size_t pairs = (demos + T - 1) / T * a.gens_per_prompt;
  return T * a.passes_per_round * ((pairs + a.batch_size - 1) / a.batch_size);
}

void run_train_on(const train_args& given, train_group& group) {
  train_args a = given;                                                                        // --passes-per-round sets a.steps once the demonstrations are read
  if (a.passes_per_round > 0) a.steps = std::max<std::size_t>({a.steps, a.warmup, a.rounds});  // checked again below
  check_args(a);
  check_group_args(a, group);
  const bool writer = group.writer();
  const fs::path out(a.out), checkpoint = out / "checkpoint";
  auto check = [&] {
    if (a.resume) check_resume_out(out, checkpoint);
    else if (writer) check_out(out);
  };
  // One run per folder (folder_lock.hpp): a run in progress is named before anything else is
  // said about its folder; a new folder is locked as soon as it is made, and checked again then.
  std::optional<folder_lock> lock;
  std::error_code lock_ec;
  if (writer && fs::exists(out / folder_lock_name, lock_ec)) lock.emplace(out, "--out");
  check();

  model_type policy = load_model(a.model, a.seed, "--model");
  group.broadcast(policy.parameter_block().value);  // replicas start equal: rank 0's parameters
  const std::string threads = apply_threads(a.threads, step_flops(policy.config(), a.batch_size));
  any_tokenizer tok = load_tokenizer_option(a.data);
  const batch_options bo = make_batch_options(a.data, tok, policy.config());
  const auto demos = load_demonstrations(a.demos, tok, bo, policy.config());
  if (a.passes_per_round > 0) {
    a.steps = steps_for_passes(a, demos.size());
    check_args(a);
  }
  check_group_pairs(a, demos.size(), group);
  std::optional<std::vector<tokenized_pair>> pairs;
  std::optional<pair_scores> before;
  if (!a.pairs.empty()) {
    pairs = load_pairs(a.pairs, tok, bo, policy.config());
    before = score_pairs(policy, *pairs, a.batch_size);  // the starting model is the pairs' reference
  }
  if (a.algo != "sft") {  // every prompt must leave room to generate, checked before anything is written
    std::vector<std::size_t> all(demos.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    (void)generation_room(demos, all, a, policy.config());
  }
  policy.generation().eos = bo.append_eos ? tok.eos().value() : -1;
  policy.generation().sampling = a.gen.sampling;

  const nlohmann::json options = run_options(a);  // the inputs by content: hashed once, before anything is written
  const bool created = writer && create_out(out);
  if (writer && !lock) {  // outside the try below: a refused run never removes the folder another run holds
    lock.emplace(out, "--out");
    check();
  }
  if (!a.quiet && writer)  // once every input and --out are good
    fmt::print(stderr, "juice train: {}{}\n", threads, group.size() > 1 ? fmt::format(", {} ranks", group.size()) : "");
  try {
    train_state st{std::move(policy), adamw(adamw_hyper{a.lr, 0.9, 0.999, 1e-8, a.weight_decay, 1, 1}), rng(a.seed), 0, 0, {0, 0}, {}, std::nullopt};
    st.opt.schedule(lr_schedule(a));
    if (a.algo == "rft") {  // built from the starting policy, before a checkpoint replaces it
      adamw policy_opt(adamw_hyper{a.lr, 0.9, 0.999, 1e-8, a.weight_decay, 1, 1});
      policy_opt.schedule(lr_schedule(a));
      ppo_options po;
      po.epochs = a.ppo_epochs;
      po.max_grad_norm = 0;  // clipped after the average over the ranks, by all_reduced
      st.rft.emplace(rft_parts{st.policy.snapshot(), transformer_reward<cpu, float>(st.policy, a.seed + 1),
                               adamw(adamw_hyper{a.reward_lr, 0.9, 0.999, 1e-8, 0, 1, 1}),
                               rft_improver(po, all_reduced(std::move(policy_opt), group_reducer(group), a.max_grad_norm))});
    }
    if (a.resume) {
      load_train_checkpoint(checkpoint, st, a, options, demos.size());
      if (writer) truncate_metrics(out / "metrics.jsonl", a.algo == "rft" ? st.round : st.step);  // RFT: a line per iteration
    }
    run_log log(writer ? out / "metrics.jsonl" : fs::path(), a.steps, a.log_every ? a.log_every : std::max<std::size_t>(1, a.steps / 20),
                a.quiet || !writer, a.resume);
    reporter rep(log, a);
    std::size_t saved_at = st.step;  // RFT's step advances by --ppo-epochs: save once N more have passed
    const stop_signals signals;      // SIGINT/SIGTERM: finish the step, save, stop (stop_signals.hpp)
    rep.after_step = [&] {
      if (a.save_every > 0 && st.step >= saved_at + a.save_every && st.step < a.steps) {
        if (writer) save_train_checkpoint(checkpoint, st, options);
        saved_at = st.step;
      }
      int sig = signals.requested();
      if (group.size() > 1) {  // a signal reaches the ranks at different steps: all stop at the first step any saw it
        std::vector<double> seen(group.size(), 0.0);
        seen[group.rank()] = sig;
        group.all_reduce_sum(seen);
        sig = 0;
        for (const double v : seen)
          if (sig == 0) sig = static_cast<int>(v);
      }
      if (sig != 0 && st.step < a.steps) {
        if (saved_at != st.step && writer) save_train_checkpoint(checkpoint, st, options);
        throw interrupted(sig, fmt::format("stopped by {} after step {} of {}; {} holds the run: to continue, run the same "
                                           "command with --resume.",
                                           stop_signals::name(sig), st.step, a.steps, checkpoint.string()));
      }
    };
    if (a.algo == "sft") {
      train_sft(st, a, demos, rep, group);
    } else if (a.algo == "spin" || a.algo == "irft") {
      with_loss<run_irft>(a.loss, st, a, demos, a.algo == "irft", rep, group);
    } else {
      if (a.loss == "linear") train_rft<linear_loss>(st, a, demos, rep, group);
      else train_rft<sigmoid_loss>(st, a, demos, rep, group);
    }
    check_final_model(st, a, demos);
    check_replicas_equal(st.policy, group);
    group.barrier();  // every rank finished and agrees: rank 0 alone writes the result
    if (!writer) return;
    write_final(st.policy, out, tok.eos());
    if (pairs) {
      const pair_scores after = score_pairs(st.policy, *pairs, a.batch_size);
      io::write_file_atomically(out / "eval.json", pair_summary(*pairs, after, before, a.beta, false).dump(2) + "\n");
    }
  } catch (...) {
    // A run that stopped before its first step (an unwritable folder, bad data found late) leaves
    // nothing behind if it made the folder; one that stopped later keeps its metrics, never a final/.
    std::error_code ec;
    const auto size = writer ? fs::file_size(out / "metrics.jsonl", ec) : 0;
    if (created && (ec || size == 0)) fs::remove_all(out, ec);
    throw;
  }
}

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<train_args>();
  auto* cmd = app.add_subcommand("train", "Train a GPT-2 with SFT, SPIN, IRFT or RFT on a JSONL demonstration file");
  cmd->add_option("--algo", a->algo, "algorithm")
      ->check(CLI::IsMember(std::vector<std::string>{"sft", "spin", "irft", "rft"}))
      ->capture_default_str();
  cmd->add_option("--model", a->model, "model config (JSON, HF GPT-2 keys) or an HF GPT-2 folder")->required();
  cmd->add_option("--demos", a->demos, "demonstrations, JSONL {\"prompt\", \"response\"}")->required();
  cmd->add_option("--pairs", a->pairs, "preference pairs to evaluate the result on (OUT/eval.json)");
  cmd->add_option("--out", a->out, "output folder: metrics.jsonl, final/ (and eval.json)")->required();
  cmd->add_option("--steps", a->steps, "policy optimizer updates")->check(CLI::Range(1.0, 1e9))->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "demonstrations per update (and per generation minibatch)")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--lr", a->lr, "learning rate (AdamW)")->check(learning_rate())->capture_default_str();
  cmd->add_option("--weight-decay", a->weight_decay, "AdamW weight decay")->check(decay_weight())->capture_default_str();
  cmd->add_option("--schedule", a->schedule, "learning-rate schedule after warmup")
      ->check(CLI::IsMember(std::vector<std::string>{"constant", "linear", "cosine"}))
      ->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "linear warmup steps")->check(count_range())->capture_default_str();
  cmd->add_option("--max-grad-norm", a->max_grad_norm, "clip the gradient norm; 0 = off")
      ->check(finite_non_negative())
      ->capture_default_str();
  cmd->add_option("--sft-normalisation", a->sft_normalisation, "SFT loss per response token or per sequence")
      ->check(CLI::IsMember(std::vector<std::string>{"token", "sequence"}))
      ->capture_default_str();
  cmd->add_option("--beta", a->beta, "KL weight beta of the implicit (IRFT/SPIN) or explicit (RFT) reward")
      ->check(kl_weight())
      ->capture_default_str();
  cmd->add_option("--rounds", a->rounds, "IRFT rounds T (each on 1/T of the data; SPIN: 1)")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--loss", a->loss, "IRFT/SPIN loss h(z); RFT: sigmoid or linear")
      ->check(CLI::IsMember(std::vector<std::string>{"sigmoid", "hinge", "linear", "ipo"}))
      ->capture_default_str();
  add_sampling_options(cmd, a->gen, "--gen-length", "most tokens generated per response y~");
  auto* temperature = cmd->get_option("--temperature");
  auto* gen_temperature = cmd->add_option("--gen-temperature", a->gen.sampling.temperature, "the same as --temperature: y~'s sampling temperature")
                              ->check(finite_range(0, 1e6))
                              ->excludes(temperature);
  cmd->add_flag_callback(
         "--greedy", [a] { a->gen.sampling.temperature = 0; }, "decode y~ greedily (temperature 0)")
      ->excludes(temperature)
      ->excludes(gen_temperature);
  cmd->add_option("--gens-per-prompt", a->gens_per_prompt, "IRFT/SPIN: y~ generated per demonstration (pairs per demonstration)")
      ->check(CLI::Range(1.0, 1e4))
      ->capture_default_str();
  cmd->add_option("--sft-alpha", a->sft_alpha, "IRFT/SPIN: weight of an SFT term alpha * NLL(demonstrations) added to the loss; 0 = off")
      ->check(finite_range(0, 1e6))
      ->capture_default_str();
  auto* steps = cmd->get_option("--steps");
  cmd->add_option("--passes-per-round", a->passes_per_round,
                  "IRFT/SPIN: passes over each round's pairs per generation; sets the steps (0 = use --steps)")
      ->check(CLI::Range(0.0, 1e6))
      ->excludes(steps)
      ->capture_default_str();
  cmd->add_option("--reward-lr", a->reward_lr, "RFT: reward model learning rate")->check(learning_rate())->capture_default_str();
  cmd->add_option("--reward-steps", a->reward_steps, "RFT: reward updates per iteration")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--l2", a->l2, "RFT: L2 weight lambda on the reward parameters")->check(decay_weight())->capture_default_str();
  cmd->add_option("--ppo-epochs", a->ppo_epochs, "RFT: PPO updates per rollout")->check(CLI::Range(1.0, 1e6))->capture_default_str();
  cmd->add_option("--reward-warmup", a->reward_warmup, "RFT: reward-model steps before the first policy step")
      ->check(count_range())
      ->capture_default_str();
  add_data_options(cmd, a->data);
  cmd->add_option("--seed", a->seed, "random seed (initialisation, minibatch order, generation)")->check(seed_range())->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->add_option("--log-every", a->log_every, "progress line every N steps; 0 = about 20 lines")->check(count_range())->capture_default_str();
  cmd->add_flag("--quiet", a->quiet, "no progress lines");
  cmd->add_option("--save-every", a->save_every, "save OUT/checkpoint every N policy updates; 0 = never (not with rft)")
      ->check(count_range())
      ->capture_default_str();
  cmd->add_flag("--resume", a->resume, "continue the run in --out from OUT/checkpoint (same options)");
  cmd->add_option("--distributed", a->distributed, "several ranks: mpi (one process per rank, under mpirun); auto = mpi under an MPI launcher")
      ->check(CLI::IsMember(std::vector<std::string>{"auto", "none", "mpi"}))
      ->capture_default_str();
  cmd->callback([a] { run_train(*a); });
}

}  // namespace juice::cli
