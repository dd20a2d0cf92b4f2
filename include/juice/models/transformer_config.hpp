// juice/models/transformer_config.hpp
//
// The shape of a decoder-only transformer and the options of its sampler. By default it is GPT-2's
// family (learned positions, pre-LayerNorm blocks, GELU MLP of width 4C with biases, multi-head
// attention, LM head tied to the token embedding); the architecture fields describe the variants of
// the Llama family (Llama, Mistral, Qwen2: RMSNorm, rotary positions, SwiGLU MLP, grouped-query
// attention, no biases or only q, k, v biases, untied head) and of GPT-NeoX (Pythia: partial rotary,
// parallel attention and MLP residual, untied head). juice::transformer runs all three through one
// trunk (juice/models/decoder_trunk.hpp), whose parameter tensors tensors() lists.
#pragma once

#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "juice/core/error.hpp"
#include "juice/core/memory.hpp"
#include "juice/core/sampling.hpp"

namespace juice {

// The most bytes the parameters and gradients of a model may take, whatever the machine: 2^40
// (1 TiB), about 70 times GPT-2 XL's (1.5e9 parameters) in single precision.
inline constexpr std::size_t max_model_bytes = std::size_t{1} << 40;

// Normalisation of the blocks and of the final hidden state.
enum class norm_kind {
  layernorm,  // (x - mean) rstd w + b (GPT-2, GPT-NeoX)
  rmsnorm,    // x rstd w, no mean, no bias (Llama family)
};

// How a token's position enters the model.
enum class position_kind {
  learned,  // a position embedding (context x C) added to the token embedding (GPT-2)
  rotary,   // q and k turned by position-dependent angles in every layer, no parameters (RoPE)
};

// The MLP of a block.
enum class mlp_kind {
  gelu,        // down(gelu(up x)), the tanh approximation of GELU (GPT-2; HF "gelu_new")
  swiglu,      // down(silu(gate x) * up x) (Llama family)
  gelu_exact,  // down(gelu(up x)), GELU with erf, x Phi(x) (GPT-NeoX / Pythia; HF "gelu")
};

// One parameter tensor of a transformer: its name and shape (row-major; a linear layer's weight is
// (out, in), as torch.nn.Linear's).
struct tensor_spec {
  std::string name;
  std::vector<std::size_t> shape;
  // The number of elements.
  [[nodiscard]] std::size_t size() const {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    return n;
  }
};

struct transformer_config {
  std::size_t layers = 2;     // L
  std::size_t heads = 2;      // NH; channels must be a multiple
  std::size_t channels = 16;  // C
  std::size_t context = 32;   // maximum sequence length (positions)
  std::size_t vocab = 32;     // V

  // --- the architecture; every default is GPT-2's ---
  std::size_t kv_heads = 0;               // NKV key/value heads; 0 = heads; heads a multiple
  norm_kind norm = norm_kind::layernorm;  // of the blocks and the final norm
  double norm_eps = 1e-5;                 // the norm's epsilon (LayerNorm: 1e-5 only, so far)
  position_kind positions = position_kind::learned;
  double rope_theta = 10000;   // rotary: the base of the angles' frequencies
  double rotary_fraction = 1;  // rotary: the fraction of each head that turns
  mlp_kind mlp = mlp_kind::gelu;
  std::size_t intermediate = 0;    // the MLP's hidden width; 0 = 4 channels
  bool qkv_bias = true;            // biases on the q, k, v projections
  bool attention_out_bias = true;  // a bias on the attention's output projection
  bool mlp_bias = true;            // biases on the MLP's projections
  bool parallel_residual = false;  // x + attn(ln1 x) + mlp(ln2 x) (GPT-NeoX)
  bool tied_head = true;           // the LM head is the token embedding
  // The Hugging Face family the model was imported as or is exported to (its model_type: "gpt2",
  // "llama", "mistral", "qwen2", "gpt_neox"). Names the layout only: the fields above fix the network.
  enum class hf_family { gpt2,
                         llama,
                         mistral,
                         qwen2,
                         gpt_neox } hf_model_type = hf_family::gpt2;

  // GPT-2 small ("124M"): L=12, NH=12, C=768, context 1024, vocab 50257.
  static transformer_config gpt2_124m() { return {12, 12, 768, 1024, 50257}; }

  // The key/value heads (kv_heads, or heads when 0).
  [[nodiscard]] std::size_t kv_head_count() const { return kv_heads == 0 ? heads : kv_heads; }
  // Channels per head, C / NH.
  [[nodiscard]] std::size_t head_size() const { return channels / heads; }
  // The MLP's hidden width (intermediate, or 4 C when 0). Throws like trunk_parameters().
  [[nodiscard]] std::size_t mlp_width() const { return intermediate != 0 ? intermediate : mul(4, channels, "channels (n_embd)"); }
  // Channels of each head that rotary embedding turns: floor(head_size() x rotary_fraction), as
  // GPT-NeoX computes it; 0 with learned positions.
  [[nodiscard]] std::size_t rotary_dims() const {
    if (positions != position_kind::rotary) return 0;
    return static_cast<std::size_t>(static_cast<double>(head_size()) * rotary_fraction);
  }
  // Whether every architecture field is GPT-2's (the arrangement juice::transformer runs).
  [[nodiscard]] bool is_gpt2() const {
    const transformer_config d{};
    return kv_head_count() == heads && norm == d.norm && norm_eps == d.norm_eps && positions == d.positions &&
           mlp == d.mlp && (intermediate == 0 || (intermediate % 4 == 0 && intermediate / 4 == channels)) && qkv_bias && attention_out_bias && mlp_bias && !parallel_residual && tied_head;
  }

  // Throws juice::invalid_argument naming the bad field (and its key in an HF config.json): a size
  // of zero; channels not a multiple of heads; a vocab or context an int token id or position
  // cannot index; heads not a multiple of kv_heads; a norm_eps that is not positive and finite, or
  // other than 1e-5 for LayerNorm; a rope_theta not above 1 or a rotary_fraction outside (0, 1]
  // (both finite), or, with rotary positions, rotary_dims() odd or zero; a size product that does not fit std::size_t; or a model whose parameters and
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
    validate_architecture(fail);
    const part largest = largest_part();
    const std::size_t bytes = model_bytes(element_size);
    auto too_big = [&](const std::string& limit) {
      fail("the model needs " + byte_text(bytes) + " for its parameters and gradients, more than " + limit + "; its largest part is " +
           largest.what + ". Lower " + largest.field + ".");
    };
    if (bytes > max_model_bytes) too_big("juice's cap of " + byte_text(max_model_bytes));
    if (memory > 0 && bytes > memory) too_big("this machine's " + byte_text(memory) + " of memory");
  }

  // Parameters of the model: embeddings, blocks, final norm and, when untied, the LM head (GPT-2's
  // count: 124,439,808 for gpt2_124m()). Throws juice::invalid_argument naming the product that does
  // not fit std::size_t.
  [[nodiscard]] std::size_t trunk_parameters() const {
    std::size_t n = add(part_size("vocab (vocab_size)", vocab), positions == position_kind::learned ? part_size("context (n_positions)", context) : 0,
                        "vocab + context");
    n = add(n, mul(layers, layer_parameters(), "layers (n_layer) x the parameters of a layer"), "layers (n_layer)");
    if (!tied_head) n = add(n, part_size("vocab (vocab_size)", vocab), "the LM head");
    return add(n, norm_parameters(), "channels (n_embd)");
  }

  // Parameters of one norm: weight and bias (LayerNorm) or weight (RMSNorm).
  [[nodiscard]] std::size_t norm_parameters() const { return mul(norm == norm_kind::layernorm ? 2 : 1, channels, "channels (n_embd)"); }
  // Parameters of one block: two norms, the q, k, v and output projections, the MLP.
  [[nodiscard]] std::size_t layer_parameters() const {
    const std::size_t C = channels, kv = mul(kv_head_count(), head_size(), "kv_heads x head size");
    const std::size_t I = mlp_width(), C2 = mul(C, C, "channels (n_embd) squared");
    std::size_t n = mul(2, norm_parameters(), "channels (n_embd)");
    n = add(n, add(C2, mul(mul(2, kv, "kv_heads x head size"), C, "channels (n_embd) x kv channels"), "the q, k, v projections"), "the q, k, v projections");
    if (qkv_bias) n = add(n, add(C, 2 * kv, "the q, k, v biases"), "the q, k, v biases");
    n = add(n, add(C2, attention_out_bias ? C : 0, "the attention's output"), "the attention's output");
    const std::size_t ins = mlp == mlp_kind::swiglu ? 2 : 1;  // gate and up, or up
    n = add(n, mul(mul(ins + 1, I, "the MLP's width (intermediate_size)"), C, "the MLP's width (intermediate_size) x channels (n_embd)"),
            "the MLP");
    if (mlp_bias) n = add(n, add(mul(ins, I, "the MLP's width (intermediate_size)"), C, "the MLP's biases"), "the MLP's biases");
    return n;
  }

  // The trunk's parameter tensors in storage order, one naming for every family (GPT-2's names,
  // extended; docs/backends.md): wte (V,C); wpe (context,C) with learned positions; per layer l,
  // under "h.l.": ln_1.weight (C) and, with LayerNorm, ln_1.bias (C); attn.c_attn.weight (W,C), rows
  // [q (C) | k (Ckv) | v (Ckv)], W = C + 2 Ckv, Ckv = kv_head_count() x head_size(); attn.c_attn.bias
  // (W) with qkv_bias; attn.c_proj.weight (C,C) and, with attention_out_bias, attn.c_proj.bias (C);
  // ln_2 as ln_1; mlp.c_fc.weight (I,C), or (2I,C) with rows [gate | up] for SwiGLU, I =
  // mlp_width(); mlp.c_fc.bias (I or 2I) and mlp.c_proj.bias (C) with mlp_bias; mlp.c_proj.weight
  // (C,I); then ln_f.weight (C), ln_f.bias (C) with LayerNorm, and lm_head (V,C) when `lm_head` (a
  // policy with an untied head; a reward model has none). Call validate() first: the shapes are
  // not checked for overflow here.
  [[nodiscard]] std::vector<tensor_spec> tensors(bool lm_head) const {
    const std::size_t C = channels, Ckv = kv_head_count() * head_size(), W = C + 2 * Ckv, I = mlp_width();
    const std::size_t fc = mlp == mlp_kind::swiglu ? 2 * I : I;
    const bool ln = norm == norm_kind::layernorm;
    std::vector<tensor_spec> out;
    out.push_back({"wte", {vocab, C}});
    if (positions == position_kind::learned) out.push_back({"wpe", {context, C}});
    for (std::size_t l = 0; l < layers; ++l) {
      const std::string p = "h." + std::to_string(l) + ".";
      out.push_back({p + "ln_1.weight", {C}});
      if (ln) out.push_back({p + "ln_1.bias", {C}});
      out.push_back({p + "attn.c_attn.weight", {W, C}});
      if (qkv_bias) out.push_back({p + "attn.c_attn.bias", {W}});
      out.push_back({p + "attn.c_proj.weight", {C, C}});
      if (attention_out_bias) out.push_back({p + "attn.c_proj.bias", {C}});
      out.push_back({p + "ln_2.weight", {C}});
      if (ln) out.push_back({p + "ln_2.bias", {C}});
      out.push_back({p + "mlp.c_fc.weight", {fc, C}});
      if (mlp_bias) out.push_back({p + "mlp.c_fc.bias", {fc}});
      out.push_back({p + "mlp.c_proj.weight", {C, I}});
      if (mlp_bias) out.push_back({p + "mlp.c_proj.bias", {C}});
    }
    out.push_back({"ln_f.weight", {C}});
    if (ln) out.push_back({"ln_f.bias", {C}});
    if (lm_head) out.push_back({"lm_head", {vocab, C}});
    return out;
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
  // The largest of the token embedding (or LM head), the position embedding and the blocks, in words.
  [[nodiscard]] part largest_part() const {
    const std::size_t C = channels, wte = part_size("vocab (vocab_size)", vocab);
    const std::size_t wpe = positions == position_kind::learned ? part_size("context (n_positions)", context) : 0;
    const std::size_t blocks = layers * layer_parameters();  // fits: trunk_parameters() did
    if (wte >= wpe && wte >= blocks)
      return {"the token embedding, vocab (" + std::to_string(vocab) + ") x channels (" + std::to_string(C) + ")", "vocab_size or n_embd"};
    if (wpe >= blocks)
      return {"the position embedding, context (" + std::to_string(context) + ") x channels (" + std::to_string(C) + ")",
              "n_positions or n_embd"};
    if (is_gpt2())
      return {"the blocks, layers (" + std::to_string(layers) + ") x 12 channels^2 (channels " + std::to_string(C) + ")", "n_layer or n_embd"};
    return {"the blocks, layers (" + std::to_string(layers) + ") x " + std::to_string(layer_parameters()) + " parameters (channels " +
                std::to_string(C) + ", intermediate " + std::to_string(mlp_width()) + ")",
            "n_layer, n_embd or intermediate_size"};
  }
  // The architecture fields' checks of validate(); `fail` throws.
  template <class Fail>
  void validate_architecture(const Fail& fail) const {
    if (heads % kv_head_count() != 0)
      fail("heads (n_head) is " + std::to_string(heads) + "; it must be a multiple of kv_heads (num_key_value_heads), " +
           std::to_string(kv_head_count()) + ".");
    if (!(norm_eps > 0) || !std::isfinite(norm_eps))
      fail("norm_eps (layer_norm_eps or rms_norm_eps) is " + to_text(norm_eps) + "; it must be positive and finite.");
    if (norm == norm_kind::layernorm && norm_eps != 1e-5)
      fail("norm_eps (layer_norm_eps) is " + to_text(norm_eps) + "; juice's LayerNorm uses 1e-05.");
    if (!(rope_theta > 1) || !std::isfinite(rope_theta))
      fail("rope_theta is " + to_text(rope_theta) + "; it must be a finite number above 1.");
    if (!(rotary_fraction > 0 && rotary_fraction <= 1))
      fail("rotary_fraction (rotary_pct) is " + to_text(rotary_fraction) + "; it must be in (0, 1].");
    if (positions == position_kind::rotary) {
      const std::size_t r = rotary_dims();
      if (r == 0 || r % 2 != 0)
        fail("rotary_fraction (rotary_pct) " + to_text(rotary_fraction) + " of the head size " + std::to_string(head_size()) + " turns " +
             std::to_string(r) + " channels per head; rotary embedding turns pairs, so it must be a positive even number.");
    }
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
