// Must compile: RFT with PPO for the transformer policy (a ValuePolicy) and reward model.
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/algorithms/rft/rft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
#include "juice/optim/adamw.hpp"

int main() {
  const juice::transformer_config cfg{};
  juice::transformer<juice::cpu, float> p(cfg), ref(cfg);
  juice::transformer_reward<juice::cpu, float> r(p);
  juice::adamw opt;
  juice::ppo improver;
  juice::rft().run(p, ref, r, juice::sequence_batch(1, 2), opt, improver);
}
