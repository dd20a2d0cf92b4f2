// A program outside the juice tree: the one-state example's IRL optimum through the installed headers.
#include <cstdio>

#include <juice/juice.hpp>

int main() {
  using space = juice::tabular::bandit_space;
  const space sp(1, 3);
  const double third = 1.0 / 3;
  const double ref_p[] = {third, third, third};
  const auto ref = juice::tabular::policy<double, space>::from_probabilities(sp, ref_p);
  juice::tabular::reward<double, space> r(sp);
  juice::sequence_batch demos(10, 2);
  for (std::size_t b = 0; b < 10; ++b) {
    demos.prompt_length(b) = 1;
    demos.length(b) = 2;
  }
  juice::tabular::solve_irl_optimum(ref, r, demos, {1.0, 1.0});
  auto pi = ref.snapshot();
  juice::rng g;
  juice::tabular::exact_policy_step{}.improve(pi, ref, r, juice::prompts_of(demos), 1.0, g);
  std::printf("IRL optimum pi(a1) = %.7f\n", pi.probabilities(0)[0]);
  return 0;
}
