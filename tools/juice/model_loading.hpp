// Where the commands get their model: `--model` (or `--ref`) names either a JSON file with Hugging
// Face GPT-2 keys (n_layer, n_head, n_embd, n_positions, vocab_size), which gives a freshly
// initialised model drawn from the seed, or a folder in HF's layout (config.json +
// model.safetensors or a sharded index, as `juice train` writes to OUT/final) of GPT-2, the Llama
// family (llama, mistral, qwen2) or GPT-NeoX, which is imported (io/hf_model.hpp). Every failure becomes one
// juice::error that starts with the option, so a message reads "--model m/: ...: tensor ... ".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/error.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/io/hf_model.hpp"
#include "juice/models/transformer.hpp"

namespace juice::cli {

// The model every command runs: a GPT-2 in single precision on the CPU.
using model_type = transformer<cpu, float>;

inline model_type load_model(const std::string& spec, std::uint64_t seed, const std::string& option) {
  namespace fs = std::filesystem;
  try {
    const fs::path path(spec);
    if (fs::is_directory(path)) return io::load_hf_model<float>(path, seed);
    if (fs::is_regular_file(path)) {
      const transformer_config c = io::read_hf_gpt2_config(path);
      c.validate();
      return model_type(c, seed);
    }
  } catch (const error& e) {
    throw invalid_argument(option + " " + spec + ": " + e.what());
  }
  throw invalid_argument(option + " " + spec + ": neither a model config (JSON file) nor a model folder (config.json + model.safetensors).");
}

}  // namespace juice::cli
