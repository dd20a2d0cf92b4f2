// Everything `juice train` changes while it runs, in one value: the policy, its optimizer, the
// random generator, the step and round counters, the minibatch order, and the current IRFT/SPIN
// round's cache (which demonstrations it covers, the responses generated for them and their
// reference log-probs); for RFT also the frozen reference, the reward model and its optimizer, and
// the PPO improver (which owns the policy's optimizer there). Nothing else carries over from one
// step to the next, so saving and restoring this struct is all a checkpoint has to do.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "juice/algorithms/detail/minibatches.hpp"
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/rng.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/data_parallel.hpp"
#include "model_loading.hpp"
#include "train_group.hpp"

namespace juice::cli {

// One IRFT/SPIN round: the reference is the policy as the round began, so its log-probs are taken
// once, when the round's responses are generated (in minibatches of the batch size).
struct round_cache {
  std::size_t round = 0;
  bool ready = false;                            // generated and scored for `round`
  std::vector<std::size_t> rows;                 // the round's demonstrations (indices into the file)
  std::vector<std::vector<token_t>> generated;   // y~ for each of them (response tokens only)
  std::vector<double> ref_chosen, ref_rejected;  // log pi_ref(y|x), log pi_ref(y~|x)
};

// PPO with the policy optimizer, averaged and clipped over the ranks (one rank: the plain AdamW).
using rft_improver = ppo_improver<all_reduced<adamw, group_reducer>>;

// RFT's extra models: the frozen reference (the starting policy), the reward model (initialised
// from the policy's trunk), the reward optimizer, and PPO with the policy optimizer.
struct rft_parts {
  model_type reference;
  transformer_reward<cpu, float> reward;
  adamw reward_opt;
  rft_improver improver;
};

struct train_state {
  model_type policy;
  adamw opt;                               // the policy's optimizer (SFT, IRFT, SPIN)
  rng g;                                   // every draw: minibatch order, generation
  std::size_t step = 0;                    // policy updates made
  std::size_t round = 0;                   // IRFT/SPIN round, RFT iteration
  juice::detail::minibatches order{0, 0};  // minibatch order of the data set (SFT, RFT) or of the round (IRFT)
  round_cache cache;
  std::optional<rft_parts> rft;
};

}  // namespace juice::cli
