// Must not compile: RFT with PPO as the policy step for a policy without a value head. PPO's
// improve() is constrained on juice::ValuePolicy, so juice::PolicyImprover<ppo, P, R> is false and
// RFT's entry check says so.
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/optim/sgd.hpp"
#include "minimal_models.hpp"

int main() {
  minimal_policy p;
  minimal_reward r;
  juice::sgd opt;
  juice::ppo improver;
  juice::rft().run(p, p, r, juice::sequence_batch(1, 2), opt, improver);
}
