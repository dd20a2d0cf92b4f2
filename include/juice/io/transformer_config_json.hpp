// juice/io/transformer_config_json.hpp
//
// A juice::transformer_config as a JSON object and back. The five sizes always, under GPT-2's
// Hugging Face keys (n_layer, n_head, n_embd, n_positions, vocab_size); the architecture fields
// only where they differ from GPT-2's, under the keys of Hugging Face's Llama and GPT-NeoX configs
// where one exists:
//   num_key_value_heads (kv_heads)      norm: "layernorm" | "rmsnorm"    norm_eps
//   position_embedding: "learned" | "rotary"   rope_theta   rotary_pct (rotary_fraction)
//   mlp: "gelu" | "swiglu" | "gelu_exact"   intermediate_size (intermediate)   qkv_bias   attention_out_bias
//   mlp_bias   use_parallel_residual (parallel_residual)   tie_word_embeddings (tied_head)
//   hf_model_type: the Hugging Face family a model came from or goes to ("llama", "gpt_neox", ...)
// So a GPT-2 is written as the five keys it always was, and a file with only those (an existing
// model.json or a checkpoint's config.json) reads as GPT-2. Other keys are ignored, as
// io/hf_gpt2.hpp ignores the HF keys that do not change the network.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "juice/core/error.hpp"
#include "juice/io/atomic_file.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::io {

namespace detail {

inline const char* norm_name(norm_kind k) { return k == norm_kind::rmsnorm ? "rmsnorm" : "layernorm"; }
inline const char* position_name(position_kind k) { return k == position_kind::rotary ? "rotary" : "learned"; }
}  // namespace detail

// The model_type of a Hugging Face family ("gpt2", "llama", ...), and the family of a model_type.
inline const char* hf_family_name(transformer_config::hf_family f) {
  using F = transformer_config::hf_family;
  return f == F::llama ? "llama" : f == F::mistral ? "mistral"
                               : f == F::qwen2     ? "qwen2"
                               : f == F::gpt_neox  ? "gpt_neox"
                                                   : "gpt2";
}
inline std::optional<transformer_config::hf_family> hf_family_from_name(const std::string& name) {
  using F = transformer_config::hf_family;
  for (const F f : {F::gpt2, F::llama, F::mistral, F::qwen2, F::gpt_neox})
    if (name == hf_family_name(f)) return f;
  return std::nullopt;
}

namespace detail {

inline const char* mlp_name(mlp_kind k) {
  return k == mlp_kind::swiglu ? "swiglu" : k == mlp_kind::gelu_exact ? "gelu_exact"
                                                                      : "gelu";
}

}  // namespace detail

// The JSON object of `c` (keys sorted by nlohmann).
inline nlohmann::json transformer_config_to_json(const transformer_config& c) {
  nlohmann::json j = {{"n_layer", c.layers}, {"n_head", c.heads}, {"n_embd", c.channels}, {"n_positions", c.context}, {"vocab_size", c.vocab}};
  const transformer_config d{};
  if (c.kv_heads != 0 && c.kv_heads != c.heads) j["num_key_value_heads"] = c.kv_heads;
  if (c.norm != d.norm) j["norm"] = detail::norm_name(c.norm);
  if (c.norm_eps != d.norm_eps) j["norm_eps"] = c.norm_eps;
  if (c.positions != d.positions) j["position_embedding"] = detail::position_name(c.positions);
  if (c.rope_theta != d.rope_theta) j["rope_theta"] = c.rope_theta;
  if (c.rotary_fraction != d.rotary_fraction) j["rotary_pct"] = c.rotary_fraction;
  if (c.mlp != d.mlp) j["mlp"] = detail::mlp_name(c.mlp);
  if (c.intermediate != 0 && c.intermediate != 4 * c.channels) j["intermediate_size"] = c.intermediate;
  if (c.qkv_bias != d.qkv_bias) j["qkv_bias"] = c.qkv_bias;
  if (c.attention_out_bias != d.attention_out_bias) j["attention_out_bias"] = c.attention_out_bias;
  if (c.mlp_bias != d.mlp_bias) j["mlp_bias"] = c.mlp_bias;
  if (c.parallel_residual != d.parallel_residual) j["use_parallel_residual"] = c.parallel_residual;
  if (c.tied_head != d.tied_head) j["tie_word_embeddings"] = c.tied_head;
  if (c.hf_model_type != d.hf_model_type) j["hf_model_type"] = hf_family_name(c.hf_model_type);
  return j;
}

// The config a JSON object describes, validated (transformer_config::validate). Throws
// juice::io::format_error "juice::io::transformer_config: SOURCE: ..." naming the key that is
// missing, of the wrong type or out of range.
inline transformer_config transformer_config_from_json(const nlohmann::json& j, const std::string& source = "config.json") {
  auto fail = [&](const std::string& why) -> void { throw format_error("juice::io::transformer_config: " + source + ": " + why); };
  if (!j.is_object()) fail("not a JSON object.");
  auto positive = [&](const char* key, std::size_t& out, bool required) {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) fail(std::string("the key '") + key + "' is missing.");
      return;
    }
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0)
      fail(std::string("'") + key + "' must be a positive integer, not " + it->dump() + ".");
    out = static_cast<std::size_t>(it->get<std::uint64_t>());
  };
  auto number = [&](const char* key, double& out) {
    if (auto it = j.find(key); it != j.end()) {
      if (!it->is_number()) fail(std::string("'") + key + "' must be a number, not " + it->dump() + ".");
      out = it->get<double>();
    }
  };
  auto flag = [&](const char* key, bool& out) {
    if (auto it = j.find(key); it != j.end()) {
      if (!it->is_boolean()) fail(std::string("'") + key + "' must be true or false, not " + it->dump() + ".");
      out = it->get<bool>();
    }
  };
  // One of two names: `a` is the value's first kind, `b` its second.
  auto choice = [&](const char* key, const char* a, const char* b, auto& out, auto kind_a, auto kind_b) {
    if (auto it = j.find(key); it != j.end()) {
      if (*it == a) out = kind_a;
      else if (*it == b) out = kind_b;
      else fail(std::string("'") + key + "' is " + it->dump() + "; it must be \"" + a + "\" or \"" + b + "\".");
    }
  };
  transformer_config c;
  positive("n_layer", c.layers, true);
  positive("n_head", c.heads, true);
  positive("n_embd", c.channels, true);
  positive("n_positions", c.context, true);
  positive("vocab_size", c.vocab, true);
  positive("num_key_value_heads", c.kv_heads, false);
  choice("norm", "layernorm", "rmsnorm", c.norm, norm_kind::layernorm, norm_kind::rmsnorm);
  number("norm_eps", c.norm_eps);
  choice("position_embedding", "learned", "rotary", c.positions, position_kind::learned, position_kind::rotary);
  number("rope_theta", c.rope_theta);
  number("rotary_pct", c.rotary_fraction);
  if (auto it = j.find("mlp"); it != j.end()) {
    if (*it == "gelu") c.mlp = mlp_kind::gelu;
    else if (*it == "swiglu") c.mlp = mlp_kind::swiglu;
    else if (*it == "gelu_exact") c.mlp = mlp_kind::gelu_exact;
    else fail("'mlp' is " + it->dump() + "; it must be \"gelu\", \"swiglu\" or \"gelu_exact\".");
  }
  positive("intermediate_size", c.intermediate, false);
  flag("qkv_bias", c.qkv_bias);
  flag("attention_out_bias", c.attention_out_bias);
  flag("mlp_bias", c.mlp_bias);
  flag("use_parallel_residual", c.parallel_residual);
  flag("tie_word_embeddings", c.tied_head);
  if (auto it = j.find("hf_model_type"); it != j.end()) {
    const auto f = it->is_string() ? hf_family_from_name(it->get<std::string>()) : std::nullopt;
    if (!f) fail("'hf_model_type' is " + it->dump() + "; it must be \"gpt2\", \"llama\", \"mistral\", \"qwen2\" or \"gpt_neox\".");
    c.hf_model_type = *f;
  }
  try {
    c.validate();
  } catch (const invalid_argument& e) {
    fail(e.what());
  }
  return c;
}

}  // namespace juice::io
