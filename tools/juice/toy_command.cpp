// `juice toy`: the one-state example of Li et al. (NeurIPS 2024, Table 1) as juice defines it; see
// docs/toy.md. Prints a table of the final policies of SFT, the regularised IRL optimum, RFT and
// IRFT, or (with --json) one JSON object.
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "juice/experiments/one_state.hpp"

namespace juice::cli {

namespace {

struct toy_args {
  experiments::one_state_options o;
  std::string mode = "exact";
  bool json = false;
};

nlohmann::json params_json(const experiments::one_state_options& o) {
  return {{"reference", o.reference}, {"counts", o.counts}, {"beta", o.beta}, {"lambda", o.lambda}, {"sft_steps", o.sft_steps}, {"sft_lr", o.sft_lr}, {"rft_iterations", o.rft_iterations}, {"rft_lr", o.rft_lr}, {"rft_policy_step", o.rft_policy_step}, {"rft_alpha", o.rft_alpha}, {"irft_rounds", o.irft_rounds}, {"irft_steps", o.irft_steps}, {"irft_lr", o.irft_lr}, {"irft_loss", o.irft_loss}, {"mode", o.exact ? "exact" : "sampled"}, {"samples", o.samples}, {"seed", o.seed}};
}

void print_table(const experiments::one_state_options& o) {
  const auto rows = experiments::run_one_state(o);
  fmt::print("One-state example (Li et al. 2024, Table 1): {} actions, beta = {}, lambda = {}, {} generation\n",
             o.reference.size(), o.beta, o.lambda, o.exact ? "exact" : "sampled");
  fmt::print("  reference {}\n  demonstration counts {}\n", o.reference, o.counts);
  fmt::print("  SFT: {} AdamW steps, lr {}; RFT: {} iterations, lr {}, {} policy step; IRFT ({}): T = {}, K = {}, lr {}\n\n",
             o.sft_steps, o.sft_lr, o.rft_iterations, o.rft_lr, o.rft_policy_step, o.irft_loss, o.irft_rounds,
             o.irft_steps, o.irft_lr);
  fmt::print("{:<13}", "method");
  for (std::size_t i = 0; i < o.reference.size(); ++i) fmt::print(" {:>11}", fmt::format("pi(a{})", i + 1));
  fmt::print("\n");
  for (const auto& r : rows) {
    fmt::print("{:<13}", r.method);
    for (double p : r.pi) fmt::print(" {:>11.7f}", p);
    fmt::print("\n");
  }
}

void run_toy(toy_args& a) {
  auto& o = a.o;
  o.exact = a.mode == "exact";
  if (a.json) {
    const auto rows = experiments::run_one_state(o);
    nlohmann::json out{{"params", params_json(o)}, {"rows", nlohmann::json::array()}};
    for (const auto& r : rows) out["rows"].push_back({{"method", r.method}, {"pi", r.pi}});
    fmt::print("{}\n", out.dump());
    return;
  }
  print_table(o);
}

}  // namespace

void print_toy_table() {
  experiments::one_state_options o;
  o.exact = true;
  print_table(o);
}

void add_toy_command(CLI::App& app) {
  auto args = std::make_shared<toy_args>();
  auto& o = args->o;
  auto* cmd = app.add_subcommand("toy", "The paper's one-state example: SFT vs IRL optimum vs RFT vs IRFT");
  cmd->add_option("--beta", o.beta, "KL weight beta")->check(finite_number())->capture_default_str();
  cmd->add_option("--lambda", o.lambda, "L2 weight of the reward")->check(finite_number())->capture_default_str();
  cmd->add_option("--reference", o.reference, "reference policy, comma-separated probabilities")
      ->delimiter(',')
      ->check(finite_number())
      ->capture_default_str();
  cmd->add_option("--counts", o.counts, "demonstrations of each action, comma-separated")
      ->delimiter(',')
      ->check(finite_number())
      ->capture_default_str();
  cmd->add_option("--sft-steps", o.sft_steps, "SFT AdamW steps")->check(count_range())->capture_default_str();
  cmd->add_option("--sft-lr", o.sft_lr, "SFT learning rate")->check(finite_number())->capture_default_str();
  cmd->add_option("--rft-iterations", o.rft_iterations, "RFT iterations")->check(count_range())->capture_default_str();
  cmd->add_option("--rft-lr", o.rft_lr, "RFT reward learning rate (SGD)")->check(finite_number())->capture_default_str();
  cmd->add_option("--rft-policy-step", o.rft_policy_step, "RFT policy step")
      ->check(CLI::IsMember(std::vector<std::string>{"exact", "mirror"}))
      ->capture_default_str();
  cmd->add_option("--rft-alpha", o.rft_alpha, "mirror policy step rate")->check(finite_number())->capture_default_str();
  cmd->add_option("--irft-rounds", o.irft_rounds, "IRFT rounds T")->check(count_range())->capture_default_str();
  cmd->add_option("--irft-steps", o.irft_steps, "IRFT steps per round K")->check(count_range())->capture_default_str();
  cmd->add_option("--irft-lr", o.irft_lr, "IRFT learning rate (SGD)")->check(finite_number())->capture_default_str();
  cmd->add_option("--irft-loss", o.irft_loss, "IRFT loss")
      ->check(CLI::IsMember(std::vector<std::string>{"sigmoid", "hinge", "linear", "ipo"}))
      ->capture_default_str();
  cmd->add_option("--mode", args->mode, "generation of y~ (exact: enumerate)")->check(mode_names())->capture_default_str();
  cmd->add_option("--samples", o.samples, "samples per demonstration in sampled mode")->check(count_range())->capture_default_str();
  cmd->add_option("--seed", o.seed, "random seed")->check(seed_range())->capture_default_str();
  cmd->add_option("--methods", o.methods, "methods to run, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember(experiments::one_state_methods()))
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "print one JSON object instead of a table");
  cmd->callback([args] { run_toy(*args); });
}

}  // namespace juice::cli
