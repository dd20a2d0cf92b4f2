// juice::transformer_config::validate: every size product checked for overflow, the bytes of a
// model's parameters and gradients computed and refused above juice's cap or the memory given,
// naming the field. Expected counts are GPT-2's published one and hand sums of the layer formula.
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <limits>
#include <string>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/io/transformer_config_json.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_config.hpp"

using namespace juice;

namespace {

// The message of the invalid_argument `f` throws ("" when it throws none).
template <class F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const invalid_argument& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(bytes_are_parameters_and_gradients) {
  // GPT-2 small has 124,439,808 parameters; parameters and gradients in float: 8 bytes each.
  BOOST_TEST(transformer_config::gpt2_124m().model_bytes(4) == std::size_t{124439808} * 8);
  // {1,1,1,1,1}: wte 1 + wpe 1 + one layer of 12 C^2 + 13 C = 25 + ln_f 2 = 29 parameters.
  const transformer_config one{1, 1, 1, 1, 1};
  BOOST_TEST(one.trunk_parameters() == 29U);
  const std::size_t bytes = std::size_t{2} * 29 * 8;  // parameters and gradients, 8 bytes each
  BOOST_TEST(one.model_bytes(8) == bytes);
  BOOST_CHECK_NO_THROW(one.validate(8, bytes));
  const std::string m = refusal([&] { one.validate(8, bytes - 1); });
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "this machine's 463 bytes of memory"));
}

BOOST_AUTO_TEST_CASE(sizes_beyond_int_are_refused_naming_the_field) {
  const std::size_t huge = std::numeric_limits<std::size_t>::max();
  BOOST_TEST(contains(refusal([&] { transformer_config{1, 1, 16, 32, huge}.validate(); }), "vocab (vocab_size) is 18446744073709551615"));
  BOOST_TEST(contains(refusal([&] { transformer_config{1, 1, 16, (std::size_t{1} << 62) + 1, 32}.validate(); }),
                      "context (n_positions) is 4611686018427387905"));
  BOOST_TEST(contains(refusal([&] { transformer_config{0, 1, 16, 32, 32}.validate(); }), "layers (n_layer) must be positive"));
}

BOOST_AUTO_TEST_CASE(overflowing_products_are_refused_not_wrapped) {
  // 2^32 channels: 12 C^2 = 3 * 2^66 does not fit 64 bits.
  const transformer_config wide{1, 1, std::size_t{1} << 32, 32, 32};
  const std::string m = refusal([&] { (void)wide.trunk_parameters(); });
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "channels (n_embd)"));
  BOOST_TEST(contains(m, "overflows"));
  BOOST_TEST(!refusal([&] { wide.validate(); }).empty());
  // 2^60 layers of 29 - 4 = 25 parameters each (C = 1) overflow too.
  BOOST_TEST(contains(refusal([&] { transformer_config{std::size_t{1} << 60, 1, 1, 1, 1}.validate(); }), "layers (n_layer)"));
}

BOOST_AUTO_TEST_CASE(a_model_above_the_cap_names_its_largest_part) {
  // 10^9 positions x 768 channels = 7.68e11 parameters, 6.1e12 bytes with gradients: above 2^40.
  const std::string m = refusal([&] { transformer_config{1, 2, 768, 1000000000, 257}.validate(4, 0); });
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "more than juice's cap of 1 TiB"));
  BOOST_TEST(contains(m, "the position embedding, context (1000000000) x channels (768)"));
  BOOST_TEST(contains(m, "Lower n_positions or n_embd"));
  // 10^6 vocab x 16 channels dominate a one-layer model; 2^20 bytes of memory are not enough.
  const std::string v = refusal([&] { transformer_config{1, 1, 16, 8, 1000000}.validate(4, std::size_t{1} << 20); });
  BOOST_TEST(contains(v, "the token embedding, vocab (1000000) x channels (16)"));
  BOOST_TEST(contains(v, "this machine's 1 MiB of memory"));
}

// --- the architecture fields (Llama family, GPT-NeoX) ---

BOOST_AUTO_TEST_CASE(architecture_defaults_are_gpt2s) {
  const transformer_config c = transformer_config::gpt2_124m();
  BOOST_TEST(c.is_gpt2());
  BOOST_TEST(c.kv_head_count() == 12U);
  BOOST_TEST(c.mlp_width() == 4U * 768U);
  BOOST_TEST(c.rotary_dims() == 0U);
  BOOST_TEST(c.norm_parameters() == 2U * 768U);
  transformer_config untied = c;
  untied.tied_head = false;
  BOOST_TEST(!untied.is_gpt2());
}

BOOST_AUTO_TEST_CASE(published_parameter_counts_of_other_families) {
  // TinyLlama-1.1B: 22 layers, 2048 channels, 32 query and 4 key/value heads, SwiGLU of 5632, vocab
  // 32000, RMSNorm, rotary, no biases, untied head: 1,100,048,384 parameters.
  transformer_config llama{22, 32, 2048, 2048, 32000};
  llama.kv_heads = 4, llama.norm = norm_kind::rmsnorm, llama.norm_eps = 1e-5, llama.positions = position_kind::rotary;
  llama.mlp = mlp_kind::swiglu, llama.intermediate = 5632, llama.qkv_bias = llama.attention_out_bias = llama.mlp_bias = false;
  llama.tied_head = false;
  BOOST_TEST(llama.trunk_parameters() == std::size_t{1100048384});
  BOOST_TEST(llama.rotary_dims() == 64U);
  // Qwen2-0.5B: 24 layers, 896 channels, 14 and 2 heads, SwiGLU of 4864, vocab 151936, q, k, v
  // biases only, tied head: 494,032,768.
  transformer_config qwen = llama;
  qwen.layers = 24, qwen.heads = 14, qwen.kv_heads = 2, qwen.channels = 896, qwen.intermediate = 4864, qwen.vocab = 151936;
  qwen.qkv_bias = true, qwen.tied_head = true, qwen.norm_eps = 1e-6, qwen.rope_theta = 1e6;
  BOOST_TEST(qwen.trunk_parameters() == std::size_t{494032768});
  // Pythia-160M (GPT-NeoX): 12 layers, 768 channels, 12 heads, GELU of 3072, vocab 50304,
  // LayerNorm with biases, rotary on 25% of each head, parallel residual, untied: 162,322,944.
  transformer_config pythia{12, 12, 768, 2048, 50304};
  pythia.positions = position_kind::rotary, pythia.rotary_fraction = 0.25, pythia.parallel_residual = true, pythia.tied_head = false;
  BOOST_TEST(pythia.trunk_parameters() == std::size_t{162322944});
  BOOST_TEST(pythia.rotary_dims() == 16U);
  for (const auto* c : {&llama, &qwen, &pythia}) {
    BOOST_TEST(!c->is_gpt2());
    BOOST_CHECK_NO_THROW(c->validate(4, 0));
  }
}

BOOST_AUTO_TEST_CASE(architecture_errors_name_the_field) {
  auto error_of = [](auto&& change) {
    transformer_config c{1, 4, 16, 8, 8};
    change(c);
    return refusal([&] { c.validate(); });
  };
  BOOST_TEST(contains(error_of([](auto& c) { c.kv_heads = 3; }),
                      "heads (n_head) is 4; it must be a multiple of kv_heads (num_key_value_heads), 3."));
  BOOST_TEST(contains(error_of([](auto& c) { c.norm = norm_kind::rmsnorm, c.norm_eps = -1; }), "norm_eps (layer_norm_eps or rms_norm_eps) is -1"));
  BOOST_TEST(contains(error_of([](auto& c) { c.norm_eps = 1e-6; }), "norm_eps (layer_norm_eps) is 1e-06; juice's LayerNorm uses 1e-05."));
  BOOST_TEST(contains(error_of([](auto& c) { c.rope_theta = 1; }), "rope_theta is 1; it must be a finite number above 1."));
  BOOST_TEST(contains(error_of([](auto& c) { c.rope_theta = std::numeric_limits<double>::infinity(); }), "rope_theta is inf"));
  BOOST_TEST(contains(error_of([](auto& c) { c.rotary_fraction = 0; }), "rotary_fraction (rotary_pct) is 0; it must be in (0, 1]."));
  BOOST_TEST(contains(error_of([](auto& c) { c.rotary_fraction = 1.5; }), "rotary_fraction (rotary_pct) is 1.5"));
  BOOST_TEST(contains(error_of([](auto& c) { c.rotary_fraction = std::nan(""); }), "rotary_fraction (rotary_pct) is nan"));
  // Head size 4: a fraction of 0.25 turns one channel, 0.75 three; 0.5 turns two and is fine.
  BOOST_TEST(contains(error_of([](auto& c) { c.positions = position_kind::rotary, c.rotary_fraction = 0.25; }),
                      "turns 1 channels per head; rotary embedding turns pairs"));
  BOOST_TEST(contains(error_of([](auto& c) { c.positions = position_kind::rotary, c.rotary_fraction = 0.75; }), "turns 3 channels"));
  BOOST_TEST(error_of([](auto& c) { c.positions = position_kind::rotary, c.rotary_fraction = 0.5; }).empty());
  // Head size 3 (12 channels, 4 heads): odd, so full rotary is refused.
  BOOST_TEST(contains(error_of([](auto& c) { c.channels = 12, c.positions = position_kind::rotary; }), "of the head size 3 turns 3"));
  // A huge MLP: the product overflows, or the bytes exceed the cap, naming it.
  BOOST_TEST(contains(error_of([](auto& c) { c.intermediate = std::size_t{1} << 62; }), "the MLP's width (intermediate_size)"));
  const std::string big = error_of([](auto& c) { c.intermediate = std::size_t{1} << 36; });
  BOOST_TEST_INFO(big);
  BOOST_TEST(contains(big, "its largest part is the blocks, layers (1) x "));
  BOOST_TEST(contains(big, "Lower n_layer, n_embd or intermediate_size."));
}

BOOST_AUTO_TEST_CASE(gpt2_configs_round_trip_unchanged) {
  // A GPT-2 is the five keys it always was, and those five keys read as GPT-2.
  const auto j = io::transformer_config_to_json(transformer_config::gpt2_124m());
  BOOST_TEST(j.dump() == R"({"n_embd":768,"n_head":12,"n_layer":12,"n_positions":1024,"vocab_size":50257})");
  const transformer_config c = io::transformer_config_from_json(
      nlohmann::json::parse(R"({"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 16, "vocab_size": 257, "activation_function": "gelu_new"})"));
  BOOST_TEST(c.is_gpt2());
  BOOST_TEST((c.layers == 2 && c.heads == 2 && c.channels == 32 && c.context == 16 && c.vocab == 257));
  // kv_heads equal to heads and intermediate 4 C are GPT-2's too, written as such.
  transformer_config explicit_mha = c;
  explicit_mha.kv_heads = 2, explicit_mha.intermediate = 128;
  BOOST_TEST(explicit_mha.is_gpt2());
  BOOST_TEST(io::transformer_config_to_json(explicit_mha) == io::transformer_config_to_json(c));
  // The HF GPT-2 config.json juice writes is unchanged, and parsed back to the same shape.
  const transformer_config back = io::parse_hf_gpt2_config(io::hf_gpt2_config_json(c));
  BOOST_TEST(back.is_gpt2());
  BOOST_TEST(io::transformer_config_to_json(back) == io::transformer_config_to_json(c));
}

BOOST_AUTO_TEST_CASE(architecture_fields_round_trip) {
  transformer_config c{3, 8, 64, 128, 1000};
  c.kv_heads = 2, c.norm = norm_kind::rmsnorm, c.norm_eps = 1e-6, c.positions = position_kind::rotary, c.rope_theta = 1e6;
  c.rotary_fraction = 0.5, c.mlp = mlp_kind::swiglu, c.intermediate = 176, c.qkv_bias = true, c.attention_out_bias = false;
  c.mlp_bias = false, c.parallel_residual = true, c.tied_head = false;
  const auto j = io::transformer_config_to_json(c);
  BOOST_TEST(j.at("num_key_value_heads") == 2);
  BOOST_TEST(j.at("norm") == "rmsnorm");
  BOOST_TEST(j.at("position_embedding") == "rotary");
  BOOST_TEST(j.at("rotary_pct") == 0.5);
  BOOST_TEST(j.at("mlp") == "swiglu");
  BOOST_TEST(j.at("intermediate_size") == 176);
  BOOST_TEST(j.at("tie_word_embeddings") == false);
  BOOST_TEST(!j.contains("qkv_bias"));  // GPT-2's value
  const transformer_config r = io::transformer_config_from_json(nlohmann::json::parse(j.dump()));
  BOOST_TEST((r.layers == 3 && r.heads == 8 && r.channels == 64 && r.context == 128 && r.vocab == 1000));
  BOOST_TEST(r.kv_heads == 2U);
  BOOST_TEST((r.norm == norm_kind::rmsnorm && r.positions == position_kind::rotary && r.mlp == mlp_kind::swiglu));
  BOOST_TEST(r.norm_eps == 1e-6);
  BOOST_TEST(r.rope_theta == 1e6);
  BOOST_TEST(r.rotary_fraction == 0.5);
  BOOST_TEST(r.intermediate == 176U);
  BOOST_TEST((r.qkv_bias && !r.attention_out_bias && !r.mlp_bias && r.parallel_residual && !r.tied_head));
}

BOOST_AUTO_TEST_CASE(config_json_errors_name_the_key) {
  auto error_of = [](const std::string& extra) {
    try {
      (void)io::transformer_config_from_json(
          nlohmann::json::parse(R"({"n_layer": 1, "n_head": 4, "n_embd": 16, "n_positions": 8, "vocab_size": 8)" + extra + "}"),
          "m.json");
    } catch (const io::format_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  BOOST_TEST(error_of("").empty());
  BOOST_TEST(error_of(R"(, "norm": "batchnorm")") ==
             R"(juice::io::transformer_config: m.json: 'norm' is "batchnorm"; it must be "layernorm" or "rmsnorm".)");
  BOOST_TEST(contains(error_of(R"(, "num_key_value_heads": 0)"), "m.json: 'num_key_value_heads' must be a positive integer, not 0."));
  BOOST_TEST(contains(error_of(R"(, "rope_theta": "big")"), "m.json: 'rope_theta' must be a number, not \"big\"."));
  BOOST_TEST(contains(error_of(R"(, "qkv_bias": 1)"), "m.json: 'qkv_bias' must be true or false, not 1."));
  BOOST_TEST(contains(error_of(R"(, "num_key_value_heads": 3)"), "m.json: juice::transformer_config: heads (n_head) is 4"));
  BOOST_TEST(contains(error_of(R"(, "position_embedding": "rotary", "rotary_pct": 0.25)"), "m.json: juice::transformer_config: rotary_fraction"));
}

BOOST_AUTO_TEST_CASE(models_run_other_architectures_that_gpt2s_config_json_cannot_describe) {
  transformer_config c{1, 2, 16, 8, 8};
  c.norm = norm_kind::rmsnorm;
  BOOST_TEST(refusal([&] { transformer<cpu, double> model(c, 1); }).empty());  // tests/cpu/test_family_models.cpp
  BOOST_TEST(contains(refusal([&] { (void)io::hf_gpt2_config_json(c); }), "an HF GPT-2 config.json cannot describe it"));
}
