// Must not compile: SFT on a type without backward().
#include "juice/algorithms/sft/sft.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

int main() {
  policy_without_backward p;
  juice::sgd opt;
  juice::sft().run(p, juice::sequence_batch(1, 2), opt);
}
