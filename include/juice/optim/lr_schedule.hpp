// juice/optim/lr_schedule.hpp
//
// Learning-rate multipliers for gradient_descent::schedule: a linear warm-up from lr/W at step 0 to
// lr at step W-1, then constant, or a linear or cosine decay reaching zero at the last of `total`
// steps. Warm-up matters for the fine-tuning methods started from a trained checkpoint (the paper's
// SPIN/IRFT runs warm up over the first 10% of their steps), where a full first step of AdamW, whose
// first update has the size of the learning rate in every coordinate, undoes what the start point
// learned.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <numbers>
#include <string>

#include "juice/core/error.hpp"

namespace juice {

enum class lr_decay {
  constant,  // 1 after the warm-up
  linear,    // 1 - p, p the fraction of the post-warm-up steps taken
  cosine,    // (1 + cos(pi p)) / 2
};

// The multiplier at (0-based) step s: (s + 1) / warmup for s < warmup; then the decay with
// p = min(1, (s - warmup) / max(1, total - warmup)).
inline std::function<double(std::size_t)> warmup_schedule(std::size_t warmup, std::size_t total, lr_decay decay = lr_decay::constant) {
  if (warmup > total)
    throw invalid_argument("juice::warmup_schedule: " + std::to_string(warmup) + " warm-up steps exceed the " + std::to_string(total) +
                           " steps of the run.");
  const double warm = static_cast<double>(warmup), all = static_cast<double>(total);
  return [=](std::size_t s) {
    const double x = static_cast<double>(s);
    if (x < warm) return (x + 1) / warm;
    if (decay == lr_decay::constant) return 1.0;
    const double p = std::min(1.0, (x - warm) / std::max(1.0, all - warm));
    return decay == lr_decay::linear ? 1 - p : 0.5 * (1 + std::cos(std::numbers::pi * p));
  };
}

}  // namespace juice
