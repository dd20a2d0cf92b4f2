// Must compile: the reducer's element type matches the model's scalar type.
#include "juice/optim/data_parallel.hpp"
#include "juice/optim/local_group.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

int main() {
  juice::local_group<double> group(1);
  juice::all_reduced opt(juice::sgd{}, group.rank(0));
  minimal_flat_model m;
  opt.step(m);
}
