// juice/concepts/gradient_reducer.hpp
//
// The GradientReducer concept: one rank's handle on a group of data-parallel replicas, as the
// data-parallel optimizer wrapper (juice/optim/data_parallel.hpp) sees it. Every replica holds the
// same parameters and a gradient from its own slice of the minibatch; the reducer replaces each
// replica's gradient by the mean over the group, so that all replicas take the same step.
//
// R satisfies GradientReducer<R, B, T> when:
//   1. B satisfies juice::Backend (the memory the gradients live in);
//   2. r.all_reduce_mean(v), for a B::view<T> v, replaces v on every rank, in place, by the
//      element-wise mean of the group's v (same size on every rank); it is a collective: every rank
//      of the group calls it, in the same order, or none returns;
//   3. r.rank() is this replica's index in [0, size());
//   4. r.size() is the number of replicas (1 is a valid group: the mean is the value itself);
//   5. r.all_reduce_sum(s), for a std::span<double> s of a few host values (flags, counts), replaces
//      s on every rank by the element-wise sum of the group's s (same size on every rank); a
//      collective like 2, but synchronous: the sums are on the host when it returns. The trainers
//      use it to agree, before the gradients are reduced, on whether any rank's loss or gradient is
//      non-finite (juice::check_finite_everywhere, juice/optim/data_parallel.hpp), so that every rank
//      stops with the same error instead of leaving the others waiting in 2.
// All ranks must end with the same values (bit for bit) so that the replicas stay equal without ever
// exchanging parameters (for 5 this holds at least for integer values, which sum exactly).
// Deliberately not required: a broadcast (replicas start equal by seeding), gathers, or that the
// result of 2 is ready when the call returns (a device reducer enqueues on the backend's stream,
// like every other primitive).
#pragma once

#include <concepts>
#include <cstddef>
#include <span>

#include "juice/concepts/backend.hpp"

namespace juice {

template <class R, class B, class T>
concept GradientReducer =
    // 1.
    Backend<B> &&
    requires(R& r, const R& cr, typename B::template view<T> v) {
  // 2.
  r.all_reduce_mean(v);
  // 3.
  { cr.rank() } -> std::convertible_to<std::size_t>;
  // 4.
  { cr.size() } -> std::convertible_to<std::size_t>;
  // 5.
  r.all_reduce_sum(std::span<double>{});
};

}  // namespace juice
