// juice/algorithms/detail/minibatches.hpp
//
// Minibatch index streams: the rows of a data set in shuffled order, reshuffled at each pass, cut
// into batches of a fixed size. batch_size 0 (or >= the data size) means the whole data set every
// time, in order, which makes full-batch (and exact) runs deterministic and sample-free.
#pragma once

#include <cstddef>
#include <numeric>
#include <utility>
#include <vector>

#include "juice/core/rng.hpp"

namespace juice::detail {

class minibatches {
public:
  minibatches(std::size_t rows, std::size_t batch_size) : order_(rows), batch_(batch_size) {
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (batch_ == 0 || batch_ >= rows) batch_ = rows;
    pos_ = rows;  // forces a shuffle before the first proper minibatch
  }

  // The stream's position, for a training checkpoint: the current permutation of the rows and how
  // far into it the next minibatch starts. restore() continues exactly where state() was taken.
  [[nodiscard]] const std::vector<std::size_t>& permutation() const { return order_; }
  [[nodiscard]] std::size_t position() const { return pos_; }
  [[nodiscard]] static minibatches restore(std::vector<std::size_t> order, std::size_t batch_size, std::size_t pos) {
    minibatches m(0, batch_size);
    m.order_ = std::move(order);
    m.batch_ = batch_size == 0 || batch_size >= m.order_.size() ? m.order_.size() : batch_size;
    m.pos_ = pos;
    return m;
  }

  [[nodiscard]] bool full_batch() const { return batch_ == order_.size(); }

  std::vector<std::size_t> next(rng& g) {
    if (full_batch()) return order_;
    std::vector<std::size_t> out;
    out.reserve(batch_);
    while (out.size() < batch_) {
      if (pos_ == order_.size()) {
        for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[g.below(i)]);
        pos_ = 0;
      }
      out.push_back(order_[pos_++]);
    }
    return out;
  }

private:
  std::vector<std::size_t> order_;
  std::size_t batch_;
  std::size_t pos_;
};

}  // namespace juice::detail
