// juice/core/events.hpp
//
// What the algorithms report to observers after every update. Observers (diagnostics, loggers,
// early stopping) receive these by const reference; they never see the model.
#pragma once

#include <cstddef>
#include <string_view>

namespace juice {

struct step_event {
  std::string_view algorithm;   // "sft", "rft.reward_warmup", "rft.reward", "rft.policy", "irft"
  std::size_t round = 0;        // IRFT round t / RFT iteration / 0 for SFT
  std::size_t step = 0;         // inner step k within the round (IRFT), global step otherwise
  std::size_t global_step = 0;  // updates made so far by this call, this one included
  double loss = 0;              // the minibatch loss whose gradient was taken
  double grad_norm_sq = 0;      // squared norm of that gradient (before the optimizer step)
  bool round_start = false;     // IRFT: first inner step of a round, where the gradient estimates
                                // a positive multiple of grad l(theta_t): the stationarity measure
};

}  // namespace juice
