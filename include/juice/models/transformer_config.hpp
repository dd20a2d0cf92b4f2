// juice/models/transformer_config.hpp
//
// The shape of a GPT-2 family transformer (learned positions, pre-LayerNorm blocks, GELU MLP of
// width 4C, LM head tied to the token embedding) and the options of its sampler.
#pragma once

#include <cstddef>
#include <string>

#include "juice/core/sampling.hpp"
#include "juice/core/error.hpp"

namespace juice {

struct transformer_config {
  std::size_t layers = 2;     // L
  std::size_t heads = 2;      // NH; channels must be a multiple
  std::size_t channels = 16;  // C
  std::size_t context = 32;   // maximum sequence length (positions)
  std::size_t vocab = 32;     // V

  // GPT-2 small ("124M"): L=12, NH=12, C=768, context 1024, vocab 50257.
  static transformer_config gpt2_124m() { return {12, 12, 768, 1024, 50257}; }

  // Throws juice::invalid_argument naming the bad field.
  void validate() const {
    auto fail = [](const std::string& m) { throw invalid_argument("juice::transformer_config: " + m); };
    if (layers == 0 || heads == 0 || channels == 0 || context == 0 || vocab == 0)
      fail("layers, heads, channels, context and vocab must all be positive.");
    if (channels % heads != 0)
      fail("channels (" + std::to_string(channels) + ") must be a multiple of heads (" + std::to_string(heads) + ").");
  }

  // Parameters of the trunk with the tied LM head (GPT-2's count: 124,439,808 for gpt2_124m()).
  [[nodiscard]] std::size_t trunk_parameters() const {
    const std::size_t C = channels;
    const std::size_t per_layer = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (4 * C * C + 4 * C) + (4 * C * C + C);
    return vocab * C + context * C + layers * per_layer + 2 * C;
  }
};

// How transformer::sample generates: up to max_new_tokens per response, stopping after eos (when
// eos >= 0; the eos token is part of the response), drawing with the sampling options.
struct generation_options {
  std::size_t max_new_tokens = 16;
  int eos = -1;
  sampling_options sampling{};
};

}  // namespace juice
