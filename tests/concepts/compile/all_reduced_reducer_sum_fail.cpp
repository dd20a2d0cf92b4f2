// Must not compile: a reducer without all_reduce_sum (GradientReducer's requirement 5: without it
// the ranks cannot agree that a loss or gradient was non-finite, and one rank's error would leave
// the others waiting in the all-reduce).
#include <cstddef>
#include <span>

#include "juice/optim/data_parallel.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

struct mean_only {
  void all_reduce_mean(std::span<double>) {}
  std::size_t rank() const { return 0; }
  std::size_t size() const { return 1; }
};

int main() {
  juice::all_reduced opt(juice::sgd{}, mean_only{});
  minimal_flat_model m;
  opt.step(m);
}
