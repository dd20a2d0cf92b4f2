// The juice command-line tool: one function per subcommand registers it on the application. A
// subcommand's callback throws juice::error (or CLI::Error) on bad input; main() turns that into a
// one-line message and a non-zero exit.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

namespace juice::cli {

// Shared option checks: CLI11 validators, so that --help lists the allowed values and ranges and a
// bad value is rejected before anything runs.
// Counts (steps, rounds, samples, ...): a non-negative number small enough to finish.
inline CLI::Range count_range() { return CLI::Range(0.0, 1e7); }
// Seeds: a non-negative number that fits std::uint64_t.
inline CLI::Range seed_range() { return CLI::Range(0.0, 1.8e19); }
// Floating-point values: a finite number in [lo, hi] (in (lo, hi] when `open_low`). Every float
// option of every command is checked by one of these: CLI::Range and CLI::PositiveNumber let NaN
// through (every comparison with it is false), and an infinity or a NaN never makes sense as a rate,
// a weight or a scale.
inline CLI::Validator finite_range(double lo, double hi, bool open_low = false) {
  constexpr double big = std::numeric_limits<double>::max();
  std::string range;  // what the value must be, for --help and the message
  if (lo == -big && hi == big) range = "finite";
  else if (hi == big) range = fmt::format("finite and {} {}", open_low ? ">" : ">=", lo);
  else range = fmt::format("in {}{}, {}]", open_low ? "(" : "[", lo, hi);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return text + " is not a number";
        if (!std::isfinite(v)) return text + " is not a finite number";
        if (v < lo || v > hi || (open_low && v == lo)) return text + " is not " + range;
        return {};
      },
      range, "FINITE");
}
// Any finite number (the command or the library checks the sign).
inline CLI::Validator finite_number() {
  constexpr double big = std::numeric_limits<double>::max();
  return finite_range(-big, big);
}
// Rates, betas, scales: finite and > 0.
inline CLI::Validator finite_positive() { return finite_range(0, std::numeric_limits<double>::max(), true); }
// Weights and norms where 0 means "off": finite and >= 0.
inline CLI::Validator finite_non_negative() { return finite_range(0, std::numeric_limits<double>::max()); }
// AdamW learning rates: in (0, 10]. AdamW moves every weight by about the rate each step, so no
// run that trains exceeds it; a rate like 1e30 is refused here, not met as overflowed weights.
inline CLI::Validator learning_rate() { return finite_range(0, 10, true); }
// KL weights beta: in (0, 100] (the rewards beta log(pi/pi_ref) and their gradients scale with it).
inline CLI::Validator kl_weight() { return finite_range(0, 100, true); }
// Weight decay and L2 weights: in [0, 10] (AdamW's decay multiplies a weight by 1 - lr x decay).
inline CLI::Validator decay_weight() { return finite_range(0, 10); }
// Generation of y~.
inline CLI::IsMember mode_names() { return CLI::IsMember(std::vector<std::string>{"exact", "sampled"}); }

// Refuses a word where a subcommand must be (`juice tokenze`, `juice toy-mdp rat --help`), naming it
// and the subcommands there are; CLI11 alone says "A subcommand is required" without the word, or
// prints the parent's help for `--help` after it and exits 0. Throws CLI::ExtrasError (exit 2).
inline void check_subcommand_names(CLI::App& app, int argc, const char* const* argv) {
  CLI::App* level = &app;
  for (int i = 1; i < argc; ++i) {
    const auto subs = level->get_subcommands([](const CLI::App*) { return true; });
    const std::string word = argv[i];
    if (subs.empty() || word.empty() || word[0] == '-') return;
    std::string names;
    CLI::App* next = nullptr;
    for (CLI::App* s : subs) {
      names += (names.empty() ? "" : ", ") + s->get_name();
      if (s->check_name(word)) next = s;
    }
    if (!next)
      throw CLI::ExtrasError("unknown subcommand '" + word + "' of " + level->get_name() + "; the subcommands are " + names + ".",
                             CLI::ExitCodes::ExtrasError);
    level = next;
  }
}

// `juice toy`: the paper's one-state example (Table 1).
void add_toy_command(CLI::App& app);
// What `juice toy` prints with its defaults (for `juice demo`).
void print_toy_table();

// `juice toy-mdp rate|robustness`: exact theory experiments on random token-level MDPs.
void add_toy_mdp_command(CLI::App& app);

// `juice train`: SFT, SPIN, IRFT or RFT of a GPT-2 on a JSONL file (train_command.cpp).
void add_train_command(CLI::App& app);

// `juice eval`: log-prob gap, implicit-reward accuracy and demonstration NLL (eval_command.cpp).
void add_eval_command(CLI::App& app);

// `juice generate`: sample responses from a model (generate_command.cpp).
void add_generate_command(CLI::App& app);

// `juice demo`: the one-state table, then SFT and IRFT of a small transformer (demo_command.cpp).
void add_demo_command(CLI::App& app);

// `juice tokenize`: token ids of a text, or the text of token ids (tokenize_command.cpp).
void add_tokenize_command(CLI::App& app);

// `juice ground-truth`: SFT vs SPIN vs IRFT vs RFT on a transformer, scored by a programmatic true reward.
void add_ground_truth_command(CLI::App& app);

}  // namespace juice::cli
