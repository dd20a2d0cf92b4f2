// The juice command-line tool: one function per subcommand registers it on the application. A
// subcommand's callback throws juice::error (or CLI::Error) on bad input; main() turns that into a
// one-line message and a non-zero exit.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace juice::cli {

// Shared option checks: CLI11 validators, so that --help lists the allowed values and ranges and a
// bad value is rejected before anything runs.
// Counts (steps, rounds, samples, ...): a non-negative number small enough to finish.
inline CLI::Range count_range() { return CLI::Range(0.0, 1e7); }
// Seeds: a non-negative number that fits std::uint64_t.
inline CLI::Range seed_range() { return CLI::Range(0.0, 1.8e19); }
// Generation of y~.
inline CLI::IsMember mode_names() { return CLI::IsMember(std::vector<std::string>{"exact", "sampled"}); }

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

// `juice ground-truth`: SFT vs SPIN vs IRFT vs RFT on a transformer, scored by a programmatic true reward.
void add_ground_truth_command(CLI::App& app);

}  // namespace juice::cli
