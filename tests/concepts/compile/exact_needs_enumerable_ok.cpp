// Must compile: the same policy with sampled generation.
#include "juice/algorithms/irft/irft.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

int main() {
  minimal_policy p;
  juice::sgd opt;
  juice::irft().run(p, juice::sequence_batch(1, 2), opt, juice::sampled{1});
}
