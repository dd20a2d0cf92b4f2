// juice/juice.hpp
//
// Everything in juice that runs on the host: concepts, generic algorithms (SFT, RFT, IRFT/SPIN),
// optimizers, token-level MDP utilities, diagnostics and the tabular backend. (The CSV/JSONL
// writers, juice/diagnostics/writers.hpp, need nlohmann-json and are included on their own.)
// The CPU transformer stack is included on its own too: juice/backends/cpu/cpu.hpp,
// juice/models/transformer.hpp, juice/models/transformer_reward.hpp, juice/algorithms/ppo/ppo.hpp. The CUDA backend has its own umbrella header.
#pragma once

#include "juice/algorithms/generation.hpp"
#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/losses/pairwise.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/host/host.hpp"
#include "juice/backends/tabular/tabular.hpp"
#include "juice/concepts/backend.hpp"
#include "juice/concepts/gradient_reducer.hpp"
#include "juice/concepts/observer.hpp"
#include "juice/concepts/optimizer.hpp"
#include "juice/concepts/pairwise_loss.hpp"
#include "juice/concepts/parameterised.hpp"
#include "juice/concepts/policy.hpp"
#include "juice/concepts/policy_improver.hpp"
#include "juice/concepts/reward_model.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"
#include "juice/diagnostics/diagnostics.hpp"
#include "juice/mdp/mdp.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/data_parallel.hpp"
#include "juice/optim/gradients.hpp"
#include "juice/optim/local_group.hpp"
#include "juice/optim/lr_schedule.hpp"
#include "juice/optim/sgd.hpp"
