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
//
// A rank must never throw between two collectives on its own: the others would wait in the next
// all-reduce forever. So the trainers do not refuse a non-finite loss or gradient norm locally;
// they pass both to juice::check_finite_everywhere, which under all_reduced first sums one flag per
// rank over the group (GradientReducer's all_reduce_sum) and then throws on every rank the same
// juice::numerical_error, naming the first rank that saw a non-finite value, before any gradient
// is reduced. With a plain optimizer it is the local check it always was.
#pragma once

#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

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

// A value an update depends on, by the name an error gives it ("loss", "gradient norm").
struct named_value {
  const char* what;
  double value;
};

// Throws juice::numerical_error "<where>: the <what> is NaN|infinite[ on rank r of N]; lower the
// learning rate or check the data." when one of `values` is not finite. When `opt` is collective
// (it has a reducer(), as all_reduced does) this is itself a collective: every rank of the group
// calls it once per update, learns whether any rank's values were non-finite, and all throw the same
// error, naming the lowest such rank and its first non-finite value, or none does.
template <class O>
void check_finite_everywhere(O& opt, std::initializer_list<named_value> values, const std::string& where) {
  // 0 = all finite; 2 i + 1 = values[i] is NaN; 2 i + 2 = values[i] is infinite (the first such i).
  double code = 0;
  std::size_t i = 0;
  for (const named_value& v : values) {
    if (!std::isfinite(v.value)) {
      code = static_cast<double>(2 * i + (std::isnan(v.value) ? 1 : 2));
      break;
    }
    ++i;
  }
  std::size_t rank = 0, size = 1;
  if constexpr (requires { opt.reducer().all_reduce_sum(std::span<double>{}); }) {
    auto& reducer = opt.reducer();
    rank = reducer.rank();
    size = reducer.size();
    if (size > 1) {
      std::vector<double> codes(size, 0.0);
      codes[rank] = code;
      reducer.all_reduce_sum(codes);
      code = 0;
      for (std::size_t r = 0; r < size && code == 0; ++r)
        if (codes[r] != 0) {
          code = codes[r];
          rank = r;
        }
    }
  }
  if (code == 0) return;
  const auto k = static_cast<std::size_t>(code) - 1;
  const std::string on = size > 1 ? " on rank " + std::to_string(rank) + " of " + std::to_string(size) : "";
  throw numerical_error(where + ": the " + std::data(values)[k / 2].what + " is " + (k % 2 == 0 ? "NaN" : "infinite") + on +
                        "; lower the learning rate or check the data.");
}

}  // namespace juice
