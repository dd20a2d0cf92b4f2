// `juice train`: its options as one struct and the function that runs them, so `juice demo` can
// train through exactly the code path the command uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "options.hpp"

namespace juice::cli {

struct train_args {
  std::string algo = "sft";  // sft | spin | irft | rft
  std::string model;         // CONFIG.json or an HF GPT-2 folder
  std::string demos, pairs, out;
  data_args data;
  std::size_t steps = 100;  // policy optimizer updates
  std::size_t batch_size = 8;
  double lr = 1e-3;
  double weight_decay = 0;
  std::string schedule = "constant";  // constant | linear | cosine (after warmup)
  std::size_t warmup = 0;
  double max_grad_norm = 0;                 // 0 = no clipping
  std::string sft_normalisation = "token";  // token | sequence
  // IRFT / SPIN / RFT
  double beta = 0.1;
  std::size_t rounds = 5;
  std::string loss = "sigmoid";  // sigmoid | hinge | linear | ipo (RFT: sigmoid | linear)
  sampling_args gen{};
  std::size_t gens_per_prompt = 1;   // y~ per demonstration (IRFT/SPIN)
  double sft_alpha = 0;              // IRFT/SPIN: + alpha * NLL of the demonstrations
  std::size_t passes_per_round = 0;  // IRFT/SPIN: > 0 sets the steps (each round sees its pairs this often)
  // RFT
  double reward_lr = 1e-4;
  std::size_t reward_steps = 1;
  double l2 = 0;
  std::size_t ppo_epochs = 1;
  std::size_t reward_warmup = 0;  // reward steps before the first policy step
  // run
  std::uint64_t seed = 0;
  int threads = 0;
  std::size_t log_every = 0;  // 0 = about 20 progress lines
  bool quiet = false;
  std::size_t save_every = 0;        // save OUT/checkpoint every N policy updates (0 = never)
  bool resume = false;               // continue from OUT/checkpoint
  std::string distributed = "auto";  // auto | none | mpi (train_group.hpp)
};

// Runs the training described by `a`; throws juice::error (naming the file and line, option,
// tensor or step) on bad input or a non-finite loss, leaving no OUT/final behind.
void run_train(const train_args& a);

}  // namespace juice::cli
