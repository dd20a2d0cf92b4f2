// juice/optim/data_parallel.hpp
//
// juice::all_reduced<Optimizer, Reducer>: data parallelism as an optimizer. Each rank holds a full
// replica of the model and back-propagates its own slice of the minibatch; all_reduced::step(m)
// replaces the replica's flat gradient block (FlatParameterised: one call, however many tensors) by
// its mean over the group through a juice::GradientReducer, optionally clips that averaged gradient,
// then lets the wrapped optimizer step. Because every rank then holds the same gradient and runs the
// same deterministic update, replicas that start equal stay equal without exchanging parameters
// (docs/scaling.md). Clipping lives here, after the reduce, because the norm that matters is the
// norm of the averaged gradient: a clip inside the algorithm (PPO's max_grad_norm) runs before
// step() and would see only the local gradient, so turn it off there and set max_grad_norm here.
// Nothing else changes: sft, irft, rft and ppo take an all_reduced optimizer wherever they take an
// optimizer (juice::Optimizer), provided every rank makes the same number of steps.
#pragma once

#include <string>
#include <utility>

#include "juice/concepts/gradient_reducer.hpp"
#include "juice/concepts/optimizer.hpp"
#include "juice/concepts/parameterised.hpp"
#include "juice/core/error.hpp"
#include "juice/optim/gradients.hpp"

namespace juice {

template <class Opt, class Reducer>
class all_reduced {
public:
  using optimizer_type = Opt;
  using reducer_type = Reducer;

  // `reducer` is this rank's handle on the group (moved in: an NCCL communicator is move-only).
  // max_grad_norm > 0 clips the averaged gradient to that global norm before every step; 0 = off.
  all_reduced(Opt opt, Reducer reducer, double max_grad_norm = 0)
      : opt_(std::move(opt)), reducer_(std::move(reducer)), max_grad_norm_(max_grad_norm) {
    if (!(max_grad_norm >= 0))
      throw invalid_argument("juice::all_reduced: max_grad_norm must be >= 0 (0 = no clipping); got " +
                             std::to_string(max_grad_norm) + ".");
  }

  // The wrapped optimizer (its hyper-parameters, schedule and state).
  Opt& optimizer() { return opt_; }
  [[nodiscard]] const Opt& optimizer() const { return opt_; }
  // This rank's reducer.
  Reducer& reducer() { return reducer_; }
  [[nodiscard]] const Reducer& reducer() const { return reducer_; }
  // The global gradient-norm bound (0 = no clipping).
  [[nodiscard]] double max_grad_norm() const { return max_grad_norm_; }

  // A collective: averages m's gradient over the group, clips it, steps m. Every rank calls it once
  // per update. Afterwards m's gradient block holds the averaged (and clipped) gradient.
  template <class M>
  void step(M& m) {
    static_assert(FlatParameterised<M>,
                  "juice::all_reduced: the model must satisfy juice::FlatParameterised (one flat gradient block, "
                  "reduced in one call); see juice/concepts/parameterised.hpp");
    using B = typename M::backend_type;
    using S = typename M::scalar_type;
    static_assert(GradientReducer<Reducer, B, S>,
                  "juice::all_reduced: the reducer must satisfy juice::GradientReducer for the model's backend "
                  "and scalar type; see juice/concepts/gradient_reducer.hpp");
    static_assert(Optimizer<Opt, M>, "juice::all_reduced: the wrapped optimizer must satisfy juice::Optimizer<M>");
    reducer_.all_reduce_mean(m.parameter_block().grad);
    // Every rank computes the same norm from the same averaged gradient, so all clip alike.
    if (max_grad_norm_ > 0) clip_grad_norm(m, max_grad_norm_);
    opt_.step(m);
  }

  // Checkpoints hold the wrapped optimizer's state (the same on every rank; rank 0 writes it).
  template <class M>
  auto export_state(M& m) const requires requires(const Opt& o) { o.export_state(m); }
  {
    return opt_.export_state(m);
  }
  template <class M, class State>
  void import_state(M& m, const State& s) requires requires(Opt& o) { o.import_state(m, s); }
  {
    opt_.import_state(m, s);
  }

private:
  Opt opt_;
  Reducer reducer_;
  double max_grad_norm_ = 0;
};

}  // namespace juice
