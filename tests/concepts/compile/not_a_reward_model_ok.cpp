// Must compile: RFT with a type that satisfies juice::RewardModel.
#include "juice/algorithms/rft/rft.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

int main() {
  minimal_policy p;
  minimal_reward r;
  juice::sgd opt;
  do_nothing_improver i;
  juice::rft().run(p, p, r, juice::sequence_batch(1, 2), opt, i);
}
