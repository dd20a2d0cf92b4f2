// Must not compile: a reducer of float gradients for a model of double gradients.
#include "juice/optim/data_parallel.hpp"
#include "juice/optim/local_group.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

int main() {
  juice::local_group<float> group(1);
  juice::all_reduced opt(juice::sgd{}, group.rank(0));
  minimal_flat_model m;
  opt.step(m);
}
