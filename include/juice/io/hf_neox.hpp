// juice/io/hf_neox.hpp
//
// GPT-NeoX's Hugging Face layout (GPTNeoXForCausalLM, model_type "gpt_neox": Pythia):
// config.json to a juice::transformer_config and back, and the map between its tensors and
// juice's (io/hf_tensor_map.hpp):
//   gpt_neox.embed_in.weight                               -> wte
//   gpt_neox.layers.{l}.input_layernorm.{weight,bias}      -> h.{l}.ln_1
//   gpt_neox.layers.{l}.attention.query_key_value.{weight,bias} -> h.{l}.attn.c_attn, de-interleaved
//   gpt_neox.layers.{l}.attention.dense.{weight,bias}      -> h.{l}.attn.c_proj
//   gpt_neox.layers.{l}.post_attention_layernorm.{weight,bias} -> h.{l}.ln_2
//   gpt_neox.layers.{l}.mlp.dense_h_to_4h.{weight,bias}    -> h.{l}.mlp.c_fc
//   gpt_neox.layers.{l}.mlp.dense_4h_to_h.{weight,bias}    -> h.{l}.mlp.c_proj
//   gpt_neox.final_layer_norm.{weight,bias} -> ln_f;  embed_out.weight -> lm_head (tied: must equal)
// query_key_value's 3C rows are per head [h0: q k v | h1: q k v | ...] (HF views them as
// (NH, 3, hs)); juice's c_attn is [q | k | v], so row h*3hs + j*hs + r of the fused tensor is row
// j*C + h*hs + r of juice's, and back on export. The buffers attention.bias, attention.masked_bias
// and attention.rotary_emb.inv_freq are skipped. Config keys read: hidden_size, num_hidden_layers,
// num_attention_heads, intermediate_size, max_position_embeddings, vocab_size, layer_norm_eps,
// hidden_act ("gelu" is GELU with erf; "gelu_new" and "gelu_pytorch_tanh" the tanh one), the rotary
// keys (io/hf_config.hpp; 4.x rotary_pct, rotary_emb_base), use_parallel_residual (false: the
// sequential residual), attention_bias, tie_word_embeddings; refused by name: another activation,
// rope scaling, experts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "juice/io/hf_config.hpp"
#include "juice/io/hf_tensor_map.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::io {

// The config a GPT-NeoX config.json describes, hf_model_type "gpt_neox".
inline transformer_config parse_hf_neox_config(const hf_config_reader& r) {
  transformer_config c;
  c.hf_model_type = transformer_config::hf_family::gpt_neox;
  r.decoder_sizes(c);
  c.norm = norm_kind::layernorm;
  c.norm_eps = r.number("layer_norm_eps", 1e-5);
  c.positions = position_kind::rotary;
  const std::string act = r.text("hidden_act", "gelu");
  if (act == "gelu") c.mlp = mlp_kind::gelu_exact;
  else if (act == "gelu_new" || act == "gelu_pytorch_tanh") c.mlp = mlp_kind::gelu;
  else
    r.fail("hidden_act is \"" + act +
           "\"; juice computes GPT-NeoX's \"gelu\" (erf) and the tanh GELU (\"gelu_new\", \"gelu_pytorch_tanh\") only.");
  r.rotary(c, {"rotary_emb_base", "rope_theta"}, 10000, "rotary_pct", 0.25);
  r.no_experts({"num_experts", "num_local_experts"});
  c.qkv_bias = c.attention_out_bias = r.flag("attention_bias", true);
  c.mlp_bias = true;
  c.parallel_residual = r.flag("use_parallel_residual", true);
  c.tied_head = r.flag("tie_word_embeddings", false);
  r.head_dim(c);
  r.validate(c);
  return c;
}

// GPT-NeoX's config.json for `c` in transformers 4.x's form, keys as GPTNeoXConfig writes them.
inline nlohmann::json hf_neox_config_json(const transformer_config& c, const std::string& dtype, std::optional<std::int64_t> eos) {
  if (c.norm != norm_kind::layernorm || c.positions != position_kind::rotary || (c.mlp != mlp_kind::gelu && c.mlp != mlp_kind::gelu_exact) ||
      c.qkv_bias != c.attention_out_bias || !c.mlp_bias || c.kv_head_count() != c.heads)
    throw invalid_argument(
        "juice::io::hf_model: the config is not a GPT-NeoX (LayerNorm, rotary, GELU MLP with biases, "
        "multi-head attention), so its config.json cannot describe it.");
  nlohmann::json j = {{"architectures", {"GPTNeoXForCausalLM"}},
                      {"attention_bias", c.qkv_bias},
                      {"attention_dropout", 0.0},
                      {"classifier_dropout", 0.1},
                      {"hidden_act", c.mlp == mlp_kind::gelu_exact ? "gelu" : "gelu_new"},
                      {"hidden_dropout", 0.0},
                      {"hidden_size", c.channels},
                      {"initializer_range", 0.02},
                      {"intermediate_size", c.mlp_width()},
                      {"layer_norm_eps", c.norm_eps},
                      {"max_position_embeddings", c.context},
                      {"model_type", "gpt_neox"},
                      {"num_attention_heads", c.heads},
                      {"num_hidden_layers", c.layers},
                      {"partial_rotary_factor", c.rotary_fraction},
                      {"rope_scaling", nullptr},
                      {"rope_theta", c.rope_theta},
                      {"rotary_emb_base", c.rope_theta},
                      {"rotary_pct", c.rotary_fraction},
                      {"tie_word_embeddings", !!c.tied_head},
                      {"torch_dtype", dtype},
                      {"use_cache", true},
                      {"use_parallel_residual", c.parallel_residual},
                      {"vocab_size", c.vocab}};
  if (eos) j["bos_token_id"] = j["eos_token_id"] = *eos;
  return j;
}

// GPT-NeoX's tensors for `c`.
inline hf_tensor_map hf_neox_map(const transformer_config& c) {
  const std::size_t C = c.channels, NH = c.heads, hs = c.head_size(), I = c.mlp_width();
  hf_tensor_map m;
  m.family = "a gpt_neox model with num_hidden_layers=" + std::to_string(c.layers) + ", hidden_size=" + std::to_string(C) +
             ", num_attention_heads=" + std::to_string(NH) + ", intermediate_size=" + std::to_string(I) + ", vocab_size=" + std::to_string(c.vocab);
  auto norm = [&](const std::string& juice, const std::string& hf) {
    m.same(juice + ".weight", hf + ".weight", {C});
    m.same(juice + ".bias", hf + ".bias", {C});
  };
  // query_key_value (3C rows, per head q k v) -> c_attn rows [q | k | v].
  auto fused = [&](const std::string& juice, const std::string& hf, std::size_t width) {
    m.hf.push_back({hf, width ? std::vector<std::size_t>{3 * C, width} : std::vector<std::size_t>{3 * C}});
    std::vector<hf_row_block> b;
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t h = 0; h < NH; ++h) b.push_back({m.hf.size() - 1, h * 3 * hs + j * hs, j * C + h * hs, hs});
    m.juice.push_back({juice, m.hf.back().shape});
    m.blocks.push_back(std::move(b));
  };
  m.same("wte", "gpt_neox.embed_in.weight", {c.vocab, C});
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".", p = "gpt_neox.layers." + std::to_string(l) + ".";
    norm(h + "ln_1", p + "input_layernorm");
    fused(h + "attn.c_attn.weight", p + "attention.query_key_value.weight", C);
    if (c.qkv_bias) fused(h + "attn.c_attn.bias", p + "attention.query_key_value.bias", 0);
    m.same(h + "attn.c_proj.weight", p + "attention.dense.weight", {C, C});
    if (c.attention_out_bias) m.same(h + "attn.c_proj.bias", p + "attention.dense.bias", {C});
    norm(h + "ln_2", p + "post_attention_layernorm");
    m.same(h + "mlp.c_fc.weight", p + "mlp.dense_h_to_4h.weight", {I, C});
    m.same(h + "mlp.c_fc.bias", p + "mlp.dense_h_to_4h.bias", {I});
    m.same(h + "mlp.c_proj.weight", p + "mlp.dense_4h_to_h.weight", {C, I});
    m.same(h + "mlp.c_proj.bias", p + "mlp.dense_4h_to_h.bias", {C});
  }
  norm("ln_f", "gpt_neox.final_layer_norm");
  if (c.tied_head) m.tied = std::make_pair(std::string("embed_out.weight"), std::string("gpt_neox.embed_in.weight"));
  else m.same("lm_head", "embed_out.weight", {c.vocab, C});
  const std::size_t layers = c.layers;
  m.buffer = [layers](const std::string& name) {
    const std::string prefix = "gpt_neox.layers.";
    if (name.rfind(prefix, 0) != 0) return false;
    const std::size_t dot = name.find('.', prefix.size());
    if (dot == std::string::npos) return false;
    const std::string digits = name.substr(prefix.size(), dot - prefix.size()), rest = name.substr(dot);
    if (rest != ".attention.bias" && rest != ".attention.masked_bias" && rest != ".attention.rotary_emb.inv_freq") return false;
    return !digits.empty() && digits.size() < 19 && digits.find_first_not_of("0123456789") == std::string::npos &&
           (digits.size() == 1 || digits[0] != '0') && std::stoull(digits) < layers;
  };
  return m;
}

}  // namespace juice::io
