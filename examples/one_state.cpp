// The paper's one-state example written directly against the library: SFT collapses onto the
// demonstrated action, RFT (explicit reward + exact policy step) finds the regularised IRL optimum,
// IRFT (implicit reward, sigmoid loss) lands in between. Compare with `juice toy`.
#include <cstdio>
#include <vector>

#include <juice/juice.hpp>

int main() {
  using space = juice::tabular::bandit_space;
  using policy = juice::tabular::policy<double, space>;

  const space sp(1, 3);  // one state (prompt token 0), three actions
  const std::vector<double> uniform{1.0 / 3, 1.0 / 3, 1.0 / 3};
  const policy reference = policy::from_probabilities(sp, uniform);

  // Ten demonstrations of a1: prompt [0], response [0].
  juice::sequence_batch demos(10, 2);
  for (std::size_t b = 0; b < demos.rows(); ++b) {
    demos.prompt_length(b) = 1;
    demos.length(b) = 2;
  }

  // SFT: maximum likelihood.
  policy sft_policy = reference.snapshot();
  juice::adamw adam(juice::adamw_hyper{0.1});
  juice::sft(juice::sft_options{500}).run(sft_policy, demos, adam);

  // RFT: linear reward loss with an L2 penalty, exact KL-regularised policy step, exact expectations.
  policy rft_policy = reference.snapshot();
  juice::tabular::reward<double, space> r(sp);
  juice::sgd reward_opt(juice::sgd_hyper{0.5});
  juice::rft_options ro;
  ro.beta = 1.0;
  ro.l2 = 1.0;
  ro.iterations = 200;
  juice::tabular::exact_policy_step step;
  juice::rft_linear(ro).run(rft_policy, reference, r, demos, reward_opt, step, juice::exact{});

  // IRFT: five rounds of ten steps, sigmoid loss; log the round-start gradient norms.
  policy irft_policy = reference.snapshot();
  juice::sgd opt(juice::sgd_hyper{0.2});
  juice::irft_options io;
  io.beta = 1.0;
  io.rounds = 5;
  io.steps_per_round = 10;
  juice::irft(io).run(irft_policy, demos, opt, juice::exact{}, [](const juice::step_event& e) {
    if (e.round_start) std::printf("IRFT round %zu: ||grad||^2 = %.6f\n", e.round, e.grad_norm_sq);
  });

  for (auto [name, pi] : {std::pair{"SFT ", &sft_policy}, {"RFT ", &rft_policy}, {"IRFT", &irft_policy}}) {
    const auto p = pi->probabilities(0);
    std::printf("%s pi = (%.7f, %.7f, %.7f)\n", name, p[0], p[1], p[2]);
  }
  return 0;
}
