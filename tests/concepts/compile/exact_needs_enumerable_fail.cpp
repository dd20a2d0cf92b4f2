// Must not compile: exact expectations with a policy that cannot enumerate its responses.
#include "juice/algorithms/irft/irft.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

int main() {
  minimal_policy p;
  juice::sgd opt;
  juice::irft().run(p, juice::sequence_batch(1, 2), opt, juice::exact{});
}
