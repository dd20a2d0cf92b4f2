// Options shared by the commands that read data or run a model (train, eval, generate, demo): how
// text becomes tokens (tokenizer, start token, EOS, prompt truncation), how responses are sampled,
// and the thread count. Each group is a plain struct plus one function that registers its flags on
// a CLI11 subcommand, so every command spells and checks them the same way.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/sampling.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::cli {

// Tokenization of the JSONL files.
struct data_args {
  std::string tokenizer = "byte";  // "byte", a *.tiktoken file, or a folder (vocab.json + merges.txt)
  bool bos = false;                // put the tokenizer's EOS before every prompt as a start token
  bool no_eos = false;             // do not end responses with the EOS token
  bool truncate_prompt = false;    // drop a long prompt's oldest tokens instead of failing
};

// `responses`: the command reads responses from files (train, eval), so --no-eos applies; generate
// makes its responses and always stops one at the EOS, so it has no --no-eos to ignore.
inline void add_data_options(CLI::App* cmd, data_args& a, bool responses = true) {
  cmd->add_option("--tokenizer", a.tokenizer, "byte, a *.tiktoken file, or a folder with vocab.json + merges.txt")
      ->capture_default_str();
  cmd->add_flag("--bos", a.bos, "start every prompt with the EOS token (needed for empty prompts)");
  if (responses) cmd->add_flag("--no-eos", a.no_eos, "do not end responses with the EOS token");
  cmd->add_flag("--truncate-prompt", a.truncate_prompt,
                responses ? "drop a long prompt's oldest tokens instead of failing (responses are never cut)"
                          : "drop a long prompt's oldest tokens to leave room for the response instead of failing");
}

// Sampling of responses.
struct sampling_args {
  std::size_t max_new_tokens = 32;
  sampling_options sampling{};
};

inline void add_sampling_options(CLI::App* cmd, sampling_args& a, const std::string& length_flag,
                                 const std::string& length_help) {
  cmd->add_option(length_flag, a.max_new_tokens, length_help)->check(CLI::Range(1.0, 1e6))->capture_default_str();
  cmd->add_option("--temperature", a.sampling.temperature, "sampling temperature; 0 = greedy")
      ->check(finite_range(0, 1e6))
      ->capture_default_str();
  cmd->add_option("--top-k", a.sampling.top_k, "sample among the k most likely tokens; 0 = all")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  cmd->add_option("--top-p", a.sampling.top_p, "sample from the smallest set of tokens with this much mass")
      ->check(finite_range(0, 1, true))
      ->capture_default_str();
}

// Threads of the CPU backend. 0 (the default) lets the tool choose: OMP_NUM_THREADS when the user
// set it, else one thread for a model whose step is small and every usable core otherwise
// (cpu::default_threads; docs/performance.md).
inline void add_threads_option(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "CPU threads; 0 = chosen for the model and the machine (one for small models)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
}

// The floating-point operations of one pass of `rows` rows over the whole context through a model
// of this shape, forward and backward (the weights' multiply-adds, 6 per parameter and token, as
// in the usual estimate; attention's quadratic term is left out): what the thread choice weighs.
inline double step_flops(const transformer_config& c, std::size_t rows) {
  const auto C = static_cast<double>(c.channels), L = static_cast<double>(c.layers);
  const double params = L * 12 * C * C + static_cast<double>(c.vocab + c.context) * C;
  return 6 * params * static_cast<double>(rows) * static_cast<double>(c.context);
}

// Sets the backend's thread count: `threads` when positive, else as add_threads_option says, for
// a step of `flops`. Returns a line saying how many and why ("1 CPU thread (chosen for the model)").
inline std::string apply_threads(int threads, double flops) {
  const char* why = "--threads";
  if (threads > 0) {
    cpu::set_num_threads(threads);
  } else if (std::getenv("OMP_NUM_THREADS") != nullptr) {
    why = "OMP_NUM_THREADS";
  } else {
    cpu::set_num_threads(cpu::default_threads(flops));
    why = "chosen for the model and the machine; --threads N to set";
  }
  const int n = cpu::num_threads();
  return std::to_string(n) + (n == 1 ? " CPU thread (" : " CPU threads (") + why + ")";
}

}  // namespace juice::cli
