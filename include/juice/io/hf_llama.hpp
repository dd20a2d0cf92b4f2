// juice/io/hf_llama.hpp
//
// The Llama family's Hugging Face layout (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM;
// model_type "llama", "mistral", "qwen2"): config.json to a juice::transformer_config and back, and
// the map between its tensors and juice's (io/hf_tensor_map.hpp):
//   model.embed_tokens.weight                      -> wte
//   model.layers.{l}.input_layernorm.weight        -> h.{l}.ln_1.weight
//   model.layers.{l}.self_attn.{q,k,v}_proj.weight -> h.{l}.attn.c_attn.weight, rows [q | k | v]
//   model.layers.{l}.self_attn.{q,k,v}_proj.bias   -> h.{l}.attn.c_attn.bias (Qwen2; Llama's attention_bias)
//   model.layers.{l}.self_attn.o_proj.{weight,bias}-> h.{l}.attn.c_proj (bias: Llama's attention_bias)
//   model.layers.{l}.post_attention_layernorm.weight -> h.{l}.ln_2.weight
//   model.layers.{l}.mlp.{gate,up}_proj.{weight,bias}-> h.{l}.mlp.c_fc, rows [gate | up] (bias: mlp_bias)
//   model.layers.{l}.mlp.down_proj.{weight,bias}   -> h.{l}.mlp.c_proj
//   model.norm.weight -> ln_f.weight;  lm_head.weight -> lm_head (untied; tied: must equal the embedding)
// Rotary `inv_freq` buffers are skipped. HF's q and k rows are already in the rotate-half layout
// juice's rotary uses, so no row moves within a head. The config keys read (others do not change
// the network and are ignored): hidden_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, intermediate_size, max_position_embeddings, vocab_size, rms_norm_eps,
// hidden_act ("silu"), the rotary keys (io/hf_config.hpp), tie_word_embeddings, attention_bias and
// mlp_bias (Llama), head_dim; refused by name: sliding-window attention narrower than the context
// (Mistral's sliding_window, Qwen2's use_sliding_window), experts (num_experts, num_local_experts),
// rope scaling, a head_dim other than hidden_size / num_attention_heads, another hidden_act.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "juice/io/hf_config.hpp"
#include "juice/io/hf_tensor_map.hpp"
#include "juice/io/transformer_config_json.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::io {

// Whether `model_type` is one of the Llama family's.
inline bool is_hf_llama_type(const std::string& model_type) {
  return model_type == "llama" || model_type == "mistral" || model_type == "qwen2";
}

// The config a Llama-family config.json describes (`model_type` already known to be one of the
// family's), hf_model_type set to it.
inline transformer_config parse_hf_llama_config(const hf_config_reader& r, const std::string& model_type) {
  transformer_config c;
  c.hf_model_type = hf_family_from_name(model_type).value_or(transformer_config::hf_family::llama);
  r.decoder_sizes(c);
  c.kv_heads = r.get("num_key_value_heads") ? r.positive("num_key_value_heads") : c.heads;
  c.norm = norm_kind::rmsnorm;
  c.norm_eps = r.number("rms_norm_eps", 1e-6);
  c.positions = position_kind::rotary;
  c.mlp = mlp_kind::swiglu;
  if (const std::string act = r.text("hidden_act", "silu"); act != "silu")
    r.fail("hidden_act is \"" + act + "\"; the " + model_type + " MLP juice computes is SwiGLU with \"silu\".");
  r.rotary(c, {"rope_theta"}, 10000, nullptr, 1);
  r.no_experts({"num_experts", "num_local_experts", "num_experts_per_tok"});
  if (model_type == "qwen2") {
    c.qkv_bias = true;
    c.attention_out_bias = c.mlp_bias = false;
    if (r.flag("use_sliding_window", false))
      if (const nlohmann::json* w = r.get("sliding_window"); w && r.positive_value("sliding_window", *w) < c.context)
        r.fail("use_sliding_window is true with sliding_window " + w->dump() + " below max_position_embeddings " + std::to_string(c.context) +
               "; juice's attention sees the whole context (sliding-window attention is not supported).");
  } else if (model_type == "mistral") {
    c.qkv_bias = c.attention_out_bias = c.mlp_bias = false;
    if (const nlohmann::json* w = r.get("sliding_window"); w && r.positive_value("sliding_window", *w) < c.context)
      r.fail("sliding_window is " + w->dump() + ", below max_position_embeddings " + std::to_string(c.context) +
             "; juice's attention sees the whole context (sliding-window attention is not supported).");
  } else {
    c.qkv_bias = c.attention_out_bias = r.flag("attention_bias", false);
    c.mlp_bias = r.flag("mlp_bias", false);
  }
  c.tied_head = r.flag("tie_word_embeddings", false);
  c.parallel_residual = false;
  r.head_dim(c);
  r.validate(c);
  return c;
}

// The Llama-family config.json for `c` (c.hf_model_type "llama", "mistral" or "qwen2") in
// transformers 4.x's form (which 5.x reads too): the keys LlamaConfig / MistralConfig / Qwen2Config
// write, with juice's values; `dtype` is torch_dtype ("float32", ...); bos/eos token ids when given.
inline nlohmann::json hf_llama_config_json(const transformer_config& c, const std::string& dtype, std::optional<std::int64_t> eos) {
  const std::string t = hf_family_name(c.hf_model_type);
  if (!is_hf_llama_type(t) || c.norm != norm_kind::rmsnorm || c.positions != position_kind::rotary || c.mlp != mlp_kind::swiglu ||
      c.parallel_residual || c.rotary_fraction != 1 || (t == "qwen2" && (!c.qkv_bias || c.attention_out_bias || c.mlp_bias)) ||
      (t == "mistral" && (c.qkv_bias || c.attention_out_bias || c.mlp_bias)) || (t == "llama" && c.qkv_bias != c.attention_out_bias))
    throw invalid_argument("juice::io::hf_model: the config is not a " + (t == "gpt2" ? std::string("Llama-family") : t) +
                           " model (RMSNorm, full rotary, SwiGLU, sequential residual and the family's biases), so its config.json cannot describe it.");
  nlohmann::json j = {{"architectures", {t == "llama" ? "LlamaForCausalLM" : t == "mistral" ? "MistralForCausalLM"
                                                                                            : "Qwen2ForCausalLM"}},
                      {"attention_dropout", 0.0},
                      {"hidden_act", "silu"},
                      {"hidden_size", c.channels},
                      {"initializer_range", 0.02},
                      {"intermediate_size", c.mlp_width()},
                      {"max_position_embeddings", c.context},
                      {"model_type", t},
                      {"num_attention_heads", c.heads},
                      {"num_hidden_layers", c.layers},
                      {"num_key_value_heads", c.kv_head_count()},
                      {"rms_norm_eps", c.norm_eps},
                      {"rope_scaling", nullptr},
                      {"rope_theta", c.rope_theta},
                      {"tie_word_embeddings", !!c.tied_head},
                      {"torch_dtype", dtype},
                      {"use_cache", true},
                      {"vocab_size", c.vocab}};
  if (t == "llama") {
    j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = c.mlp_bias;
    j["pretraining_tp"] = 1;
    j["head_dim"] = c.head_size();
  } else if (t == "mistral") {
    j["sliding_window"] = nullptr;
    j["head_dim"] = c.head_size();
  } else {
    j["max_window_layers"] = 28;  // Qwen2Config's default; without a sliding window it changes nothing
    j["sliding_window"] = nullptr;
    j["use_sliding_window"] = false;
  }
  if (eos) j["bos_token_id"] = j["eos_token_id"] = *eos;
  return j;
}

// The Llama family's tensors for `c`.
inline hf_tensor_map hf_llama_map(const transformer_config& c) {
  const std::size_t C = c.channels, Ckv = c.kv_head_count() * c.head_size(), I = c.mlp_width();
  hf_tensor_map m;
  m.family = std::string("a ") + hf_family_name(c.hf_model_type) + " model with num_hidden_layers=" + std::to_string(c.layers) + ", hidden_size=" + std::to_string(C) +
             ", num_attention_heads=" + std::to_string(c.heads) + ", num_key_value_heads=" + std::to_string(c.kv_head_count()) +
             ", intermediate_size=" + std::to_string(I) + ", vocab_size=" + std::to_string(c.vocab);
  m.same("wte", "model.embed_tokens.weight", {c.vocab, C});
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".", p = "model.layers." + std::to_string(l) + ".";
    m.same(h + "ln_1.weight", p + "input_layernorm.weight", {C});
    m.stack(h + "attn.c_attn.weight", {{p + "self_attn.q_proj.weight", C}, {p + "self_attn.k_proj.weight", Ckv}, {p + "self_attn.v_proj.weight", Ckv}}, C);
    if (c.qkv_bias)
      m.stack(h + "attn.c_attn.bias", {{p + "self_attn.q_proj.bias", C}, {p + "self_attn.k_proj.bias", Ckv}, {p + "self_attn.v_proj.bias", Ckv}}, 0);
    m.same(h + "attn.c_proj.weight", p + "self_attn.o_proj.weight", {C, C});
    if (c.attention_out_bias) m.same(h + "attn.c_proj.bias", p + "self_attn.o_proj.bias", {C});
    m.same(h + "ln_2.weight", p + "post_attention_layernorm.weight", {C});
    m.stack(h + "mlp.c_fc.weight", {{p + "mlp.gate_proj.weight", I}, {p + "mlp.up_proj.weight", I}}, C);
    if (c.mlp_bias) m.stack(h + "mlp.c_fc.bias", {{p + "mlp.gate_proj.bias", I}, {p + "mlp.up_proj.bias", I}}, 0);
    m.same(h + "mlp.c_proj.weight", p + "mlp.down_proj.weight", {C, I});
    if (c.mlp_bias) m.same(h + "mlp.c_proj.bias", p + "mlp.down_proj.bias", {C});
  }
  m.same("ln_f.weight", "model.norm.weight", {C});
  if (c.tied_head) m.tied = std::make_pair(std::string("lm_head.weight"), std::string("model.embed_tokens.weight"));
  else m.same("lm_head", "lm_head.weight", {c.vocab, C});
  const std::size_t layers = c.layers;
  m.buffer = [layers](const std::string& name) {
    const std::string suffix = ".self_attn.rotary_emb.inv_freq";
    if (name.size() <= suffix.size() + 13 || name.rfind("model.layers.", 0) != 0 || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      return false;
    const std::string digits = name.substr(13, name.size() - suffix.size() - 13);
    return digits.size() < 19 && digits.find_first_not_of("0123456789") == std::string::npos && (digits.size() == 1 || digits[0] != '0') &&
           std::stoull(digits) < layers;
  };
  return m;
}

}  // namespace juice::io
