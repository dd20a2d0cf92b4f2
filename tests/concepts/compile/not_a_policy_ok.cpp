// Must compile: the same call with a type that satisfies juice::Policy.
#include "juice/algorithms/sft/sft.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

int main() {
  minimal_policy p;
  juice::sgd opt;
  juice::sft().run(p, juice::sequence_batch(1, 2), opt);
}
