// Must compile: the twin of all_reduced_reducer_sum_fail with all_reduce_sum.
#include <cstddef>
#include <span>

#include "juice/optim/data_parallel.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

struct mean_and_sum {
  void all_reduce_mean(std::span<double>) {}
  void all_reduce_sum(std::span<double>) {}
  std::size_t rank() const { return 0; }
  std::size_t size() const { return 1; }
};

int main() {
  juice::all_reduced opt(juice::sgd{}, mean_and_sum{});
  minimal_flat_model m;
  opt.step(m);
}
