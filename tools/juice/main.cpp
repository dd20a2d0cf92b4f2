// juice — command-line tool for reward learning from demonstrations.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "commands.hpp"
#include "juice/backends/cpu/wait_policy.hpp"
#include "juice/core/error.hpp"
#include "stop_signals.hpp"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"juice: reward learning from demonstrations (SFT, RFT, IRFT/SPIN)", "juice"};
  app.set_version_flag("--version", "juice " JUICE_VERSION);
  app.require_subcommand(1);
  juice::cli::add_toy_command(app);
  juice::cli::add_toy_mdp_command(app);
  juice::cli::add_train_command(app);
  juice::cli::add_eval_command(app);
  juice::cli::add_generate_command(app);
  juice::cli::add_demo_command(app);
  juice::cli::add_ground_truth_command(app);
  juice::cli::add_tokenize_command(app);
  try {
    juice::cli::check_subcommand_names(app, argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "juice: error: {}\n", e.what());
    return 2;
  } catch (const juice::cli::interrupted& e) {
    fmt::print(stderr, "juice: {}\n", e.what());
    return e.exit_code();
  } catch (const juice::error& e) {
    fmt::print(stderr, "juice: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "juice: internal error: {}\n", e.what());
    return 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Idle OpenMP threads sleep instead of spinning for milliseconds (juice/backends/cpu/wait_policy.hpp),
  // unless the user chose: re-executes the tool once with OMP_WAIT_POLICY and GOMP_SPINCOUNT set.
  juice::cpu_kernels::use_passive_openmp_waiting(argv);
  // Setting up the command line or reporting an error can throw too (allocation, a failed write):
  // nothing may escape main.
  try {
    return run(argc, argv);
  } catch (...) {
    std::fputs("juice: internal error\n", stderr);
    return 3;
  }
}
