// juice/optim/local_group.hpp
//
// juice::local_group<T>: a juice::GradientReducer for replicas that run in threads of one process
// on host memory (juice::host, juice::cpu: views are std::span<T>). It is the reference the device
// reducer (juice::nccl_communicator) mirrors, and what lets CI check the mathematics of data
// parallelism without a GPU. The group of N ranks owns two std::barrier phases per call: all ranks
// publish their spans, then rank k averages the k-th contiguous chunk of the elements over all
// ranks (summed in rank order, so the result never depends on thread timing) and writes that chunk
// back into every rank's span. The chunks are disjoint, so no element is read and written by two
// threads; the second barrier makes every chunk visible before any rank returns. Like every
// collective (NCCL, MPI), all ranks must call all_reduce_mean the same number of times: a rank that
// stops calling (an exception before the call) leaves the others waiting. all_reduce_sum (a few
// host doubles: the trainers' finiteness flags) uses the same barrier: every rank sums all ranks'
// values in rank order into its own copy, and writes it back only after a second barrier.
#pragma once

#include <barrier>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "juice/concepts/gradient_reducer.hpp"
#include "juice/core/error.hpp"

namespace juice {

template <std::floating_point T>
class local_group {
public:
  // One rank's handle on the group (cheap to copy; the group must outlive it).
  class member {
  public:
    // Replaces `v` by the element-wise mean of every rank's v; a collective (see above).
    void all_reduce_mean(std::span<T> v) const { group_->reduce(rank_, v); }
    // Replaces `s` by the element-wise sum of every rank's s, in rank order; a collective.
    void all_reduce_sum(std::span<double> s) const { group_->sum(rank_, s); }
    [[nodiscard]] std::size_t rank() const { return rank_; }           // in [0, size())
    [[nodiscard]] std::size_t size() const { return group_->size(); }  // number of ranks

  private:
    friend class local_group;
    member(local_group* g, std::size_t r) : group_(g), rank_(r) {}
    local_group* group_;
    std::size_t rank_;
  };

  explicit local_group(std::size_t size) : barrier_(check_size(size)), slots_(size), sum_slots_(size) {}
  local_group(const local_group&) = delete;
  local_group& operator=(const local_group&) = delete;

  [[nodiscard]] std::size_t size() const { return slots_.size(); }

  // The handle of rank `rank`; give each thread its own.
  member rank(std::size_t rank) {
    if (rank >= size())
      throw invalid_argument("juice::local_group::rank: rank " + std::to_string(rank) + " is out of range (the group has " +
                             std::to_string(size()) + " ranks).");
    return member(this, rank);
  }

private:
  static std::ptrdiff_t check_size(std::size_t n) {
    if (n == 0) throw invalid_argument("juice::local_group: a group needs at least one rank.");
    return static_cast<std::ptrdiff_t>(n);
  }

  // After the first barrier: every rank sees the same slots, so either all ranks throw here or none does.
  template <class U>
  void check_sizes(const std::vector<std::span<U>>& slots, const char* call) {
    for (std::size_t r = 0; r < slots.size(); ++r)
      if (slots[r].size() != slots[0].size()) {
        const std::string msg = std::string("juice::local_group::") + call + ": rank " + std::to_string(r) + " passed " +
                                std::to_string(slots[r].size()) + " elements but rank 0 passed " +
                                std::to_string(slots[0].size()) + "; every rank must reduce a buffer of the same size.";
        barrier_.arrive_and_wait();  // nobody may republish a slot while another rank still reads it
        throw invalid_argument(msg);
      }
  }

  void sum(std::size_t rank, std::span<double> s) {
    sum_slots_[rank] = s;
    barrier_.arrive_and_wait();
    check_sizes(sum_slots_, "all_reduce_sum");
    std::vector<double> total(s.size(), 0.0);
    for (std::size_t i = 0; i < s.size(); ++i)
      for (const auto& slot : sum_slots_) total[i] += slot[i];
    barrier_.arrive_and_wait();  // every rank has read every slot: now each may overwrite its own
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = total[i];
  }

  void reduce(std::size_t rank, std::span<T> v) {
    using acc = std::common_type_t<T, double>;
    slots_[rank] = v;
    barrier_.arrive_and_wait();
    check_sizes(slots_, "all_reduce_mean");
    const std::size_t n = v.size(), N = slots_.size();
    const std::size_t begin = n * rank / N, end = n * (rank + 1) / N;
    for (std::size_t i = begin; i < end; ++i) {
      acc s = 0;
      for (std::size_t r = 0; r < N; ++r) s += static_cast<acc>(slots_[r][i]);
      const T mean = static_cast<T>(s / static_cast<acc>(N));
      for (std::size_t r = 0; r < N; ++r) slots_[r][i] = mean;
    }
    barrier_.arrive_and_wait();
  }

  std::barrier<> barrier_;
  std::vector<std::span<T>> slots_;
  std::vector<std::span<double>> sum_slots_;
};

}  // namespace juice
