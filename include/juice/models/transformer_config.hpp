// juice/models/transformer_config.hpp
//
// The shape of a GPT-2 family transformer (learned positions, pre-LayerNorm blocks, GELU MLP of
// width 4C, LM head tied to the token embedding) and the options of its sampler.
#pragma once

#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <string>
#include <utility>

#include "juice/core/error.hpp"
#include "juice/core/memory.hpp"
#include "juice/core/sampling.hpp"

namespace juice {

// The most bytes the parameters and gradients of a model may take, whatever the machine: 2^40
// (1 TiB), about 70 times GPT-2 XL's (1.5e9 parameters) in single precision.
inline constexpr std::size_t max_model_bytes = std::size_t{1} << 40;

struct transformer_config {
  std::size_t layers = 2;     // L
  std::size_t heads = 2;      // NH; channels must be a multiple
  std::size_t channels = 16;  // C
  std::size_t context = 32;   // maximum sequence length (positions)
  std::size_t vocab = 32;     // V

  // GPT-2 small ("124M"): L=12, NH=12, C=768, context 1024, vocab 50257.
  static transformer_config gpt2_124m() { return {12, 12, 768, 1024, 50257}; }

  // Throws juice::invalid_argument naming the bad field (and its key in an HF config.json): a size
  // of zero; channels not a multiple of heads; a vocab or context an int token id or position
  // cannot index; a size product that does not fit std::size_t; or a model whose parameters and
  // gradients (model_bytes(element_size)) need more than max_model_bytes or than `memory` bytes (the
  // machine's by default; 0 = unknown). Nothing is allocated before this passes, so a hostile
  // config is refused in a sentence rather than by the system running out of memory.
  void validate(std::size_t element_size = sizeof(float), std::size_t memory = physical_memory_bytes()) const {
    auto fail = [](const std::string& m) { throw invalid_argument("juice::transformer_config: " + m); };
    const std::pair<const char*, std::size_t> fields[] = {
        {"layers (n_layer)", layers}, {"heads (n_head)", heads}, {"channels (n_embd)", channels}, {"context (n_positions)", context}, {"vocab (vocab_size)", vocab}};
    for (const auto& [name, value] : fields)
      if (value == 0) fail(std::string(name) + " must be positive.");
    if (channels % heads != 0)
      fail("channels (" + std::to_string(channels) + ") must be a multiple of heads (" + std::to_string(heads) + ").");
    constexpr auto int_max = static_cast<std::size_t>(std::numeric_limits<int>::max());
    if (vocab > int_max)
      fail("vocab (vocab_size) is " + std::to_string(vocab) + "; token ids are int, so at most " + std::to_string(int_max) + ".");
    if (context > int_max)
      fail("context (n_positions) is " + std::to_string(context) + "; positions are int, so at most " + std::to_string(int_max) + ".");
    const part largest = largest_part();
    const std::size_t bytes = model_bytes(element_size);
    auto too_big = [&](const std::string& limit) {
      fail("the model needs " + byte_text(bytes) + " for its parameters and gradients, more than " + limit + "; its largest part is " +
           largest.what + ". Lower " + largest.field + ".");
    };
    if (bytes > max_model_bytes) too_big("juice's cap of " + byte_text(max_model_bytes));
    if (memory > 0 && bytes > memory) too_big("this machine's " + byte_text(memory) + " of memory");
  }

  // Parameters of the trunk with the tied LM head (GPT-2's count: 124,439,808 for gpt2_124m()).
  // Throws juice::invalid_argument naming the product that does not fit std::size_t.
  [[nodiscard]] std::size_t trunk_parameters() const {
    const std::size_t C = channels;
    const std::size_t per_layer = add(mul(mul(12, C, "channels (n_embd)"), C, "channels (n_embd) squared"), mul(13, C, "channels (n_embd)"),
                                      "channels (n_embd)");
    std::size_t n = add(part_size("vocab (vocab_size)", vocab), part_size("context (n_positions)", context), "vocab + context");
    n = add(n, mul(layers, per_layer, "layers (n_layer) x the parameters of a layer"), "layers (n_layer)");
    return add(n, mul(2, C, "channels (n_embd)"), "channels (n_embd)");
  }

  // Bytes of the model's own buffers, its parameters and their gradients, with elements of
  // `element_size` bytes. Throws like trunk_parameters().
  [[nodiscard]] std::size_t model_bytes(std::size_t element_size) const {
    return mul(mul(2, trunk_parameters(), "the parameter count"), element_size, "the parameter count");
  }

private:
  struct part {
    std::string what, field;
  };

  static std::size_t mul(std::size_t a, std::size_t b, const std::string& what) {
    if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a)
      throw invalid_argument("juice::transformer_config: " + what + " overflows std::size_t (" + std::to_string(a) + " x " +
                             std::to_string(b) + ").");
    return a * b;
  }
  static std::size_t add(std::size_t a, std::size_t b, const std::string& what) {
    if (b > std::numeric_limits<std::size_t>::max() - a)
      throw invalid_argument("juice::transformer_config: the parameter count overflows std::size_t at " + what + ".");
    return a + b;
  }
  // An embedding's elements: `field` x channels.
  [[nodiscard]] std::size_t part_size(const std::string& field, std::size_t rows) const {
    return mul(rows, channels, field + " x channels (n_embd)");
  }
  // The largest of the token embedding, the position embedding and the blocks, in words.
  [[nodiscard]] part largest_part() const {
    const std::size_t C = channels, wte = part_size("vocab (vocab_size)", vocab), wpe = part_size("context (n_positions)", context);
    const std::size_t blocks = trunk_parameters() - wte - wpe - 2 * C;
    if (wte >= wpe && wte >= blocks)
      return {"the token embedding, vocab (" + std::to_string(vocab) + ") x channels (" + std::to_string(C) + ")", "vocab_size or n_embd"};
    if (wpe >= blocks)
      return {"the position embedding, context (" + std::to_string(context) + ") x channels (" + std::to_string(C) + ")",
              "n_positions or n_embd"};
    return {"the blocks, layers (" + std::to_string(layers) + ") x 12 channels^2 (channels " + std::to_string(C) + ")", "n_layer or n_embd"};
  }
  // Bytes as a person reads them: "512 MiB", "5.6 TiB".
  static std::string byte_text(std::size_t bytes) {
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double x = static_cast<double>(bytes);
    std::size_t u = 0;
    while (x >= 1024 && u + 1 < std::size(units)) {
      x /= 1024;
      ++u;
    }
    return to_text(std::round(x * 10) / 10) + " " + units[u];
  }
};

// How transformer::sample generates: up to max_new_tokens per response, and no further than the
// context after the response's own prompt, stopping after eos (when eos >= 0; the eos token is part
// of the response), drawing with the sampling options.
struct generation_options {
  std::size_t max_new_tokens = 16;
  int eos = -1;
  sampling_options sampling{};
};

}  // namespace juice
