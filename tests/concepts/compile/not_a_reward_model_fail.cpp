// Must not compile: RFT with a "reward model" whose rewards are per token.
#include "juice/algorithms/rft/rft.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

int main() {
  minimal_policy p;
  reward_with_token_values r;
  juice::sgd opt;
  do_nothing_improver i;
  juice::rft().run(p, p, r, juice::sequence_batch(1, 2), opt, i);
}
