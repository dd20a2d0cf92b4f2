// The juice command-line tool: one function per subcommand registers it on the application. A
// subcommand's callback throws juice::error (or CLI::Error) on bad input; main() turns that into a
// one-line message and a non-zero exit.
#pragma once

#include <CLI/CLI.hpp>

namespace juice::cli {

// `juice toy`: the paper's one-state example (Table 1).
void add_toy_command(CLI::App& app);

// `juice toy-mdp rate|robustness`: exact theory experiments on random token-level MDPs.
void add_toy_mdp_command(CLI::App& app);

}  // namespace juice::cli
