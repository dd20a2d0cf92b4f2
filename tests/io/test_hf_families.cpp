// juice/io/hf_model.hpp with hf_llama.hpp, hf_neox.hpp, hf_safetensors_folder.hpp: the folders
// transformers wrote (tests/fixtures/{llama,qwen2,neox}, made by tests/fixtures/make_families.py)
// read into the contract's layout, checked value by value against the HF tensors by index
// arithmetic written here (q/k/v and gate/up stacked; GPT-NeoX's per-head fused q k v
// de-interleaved); the sharded copy reads as the single file and the BF16 copy within BF16
// rounding; export(import(folder)) gives every HF tensor back bit for bit and a config.json with
// the same keys; transformers 5.x's config form reads as 4.x's; and every refusal names its key,
// tensor or file.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "check_throws.hpp"
#include "juice/io/hf_model.hpp"
#include "juice/io/transformer_config_json.hpp"
#include "scratch_dir.hpp"

using namespace juice;
using namespace juice::io;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = JUICE_FIXTURES;

std::vector<double> hf(const fs::path& file, const std::string& name) { return safetensors_file::load(file).read<double>(name); }

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}
void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// A copy of fixture folder `from` in `to`, its config.json changed by `edit`.
template <class Edit>
fs::path variant(const fs::path& from, const fs::path& to, Edit edit) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from)) fs::copy_file(e.path(), to / e.path().filename(), fs::copy_options::overwrite_existing);
  nlohmann::json j = read_json(to / "config.json");
  edit(j);
  write_text(to / "config.json", j.dump(2));
  return to;
}

// Rewrites `dir`/model.safetensors with `edit` applied to its tensors (name -> (shape, values)).
template <class Edit>
void edit_tensors(const fs::path& dir, Edit edit) {
  const safetensors_file f = safetensors_file::load(dir / "model.safetensors");
  std::map<std::string, std::pair<std::vector<std::size_t>, std::vector<double>>> t;
  for (const auto& info : f.tensors()) t[info.name] = {info.shape, f.read<double>(info.name)};
  edit(t);
  safetensors_writer w;
  w.set_metadata("format", "pt");
  for (const auto& [name, v] : t) w.add(name, v.first, v.second, dtype::F64);
  w.write(dir / "model.safetensors");
}

}  // namespace

BOOST_AUTO_TEST_CASE(llama_config_reads_as_the_family) {
  const transformer_config c = read_hf_model_config(fixtures / "llama/model");
  BOOST_TEST(hf_family_name(c.hf_model_type) == std::string("llama"));
  BOOST_TEST(c.layers == 2u);
  BOOST_TEST(c.channels == 32u);
  BOOST_TEST(c.heads == 4u);
  BOOST_TEST(c.kv_head_count() == 2u);
  BOOST_TEST(c.mlp_width() == 88u);
  BOOST_TEST(c.vocab == 96u);
  BOOST_TEST(c.context == 64u);
  BOOST_TEST((c.norm == norm_kind::rmsnorm));
  BOOST_TEST(c.norm_eps == 1e-6);
  BOOST_TEST((c.positions == position_kind::rotary));
  BOOST_TEST(c.rope_theta == 5000.0);
  BOOST_TEST(c.rotary_fraction == 1.0);
  BOOST_TEST((c.mlp == mlp_kind::swiglu));
  BOOST_TEST(!c.qkv_bias);
  BOOST_TEST(!c.attention_out_bias);
  BOOST_TEST(!c.mlp_bias);
  BOOST_TEST(!c.tied_head);
  BOOST_TEST(!c.parallel_residual);
  const transformer_config q = read_hf_model_config(fixtures / "qwen2/model");
  BOOST_TEST(hf_family_name(q.hf_model_type) == std::string("qwen2"));
  BOOST_TEST(q.qkv_bias);
  BOOST_TEST(!q.attention_out_bias);
  BOOST_TEST(q.rope_theta == 20000.0);
}

BOOST_AUTO_TEST_CASE(neox_config_reads_as_the_family) {
  const transformer_config c = read_hf_model_config(fixtures / "neox/model");
  BOOST_TEST(hf_family_name(c.hf_model_type) == std::string("gpt_neox"));
  BOOST_TEST(c.heads == 4u);
  BOOST_TEST(c.kv_head_count() == 4u);
  BOOST_TEST(c.mlp_width() == 128u);
  BOOST_TEST((c.norm == norm_kind::layernorm));
  BOOST_TEST((c.mlp == mlp_kind::gelu_exact));
  BOOST_TEST(c.rotary_fraction == 0.5);
  BOOST_TEST(c.rotary_dims() == 4u);
  BOOST_TEST(c.rope_theta == 2000.0);
  BOOST_TEST(c.parallel_residual);
  BOOST_TEST(c.qkv_bias);
  BOOST_TEST(c.attention_out_bias);
  BOOST_TEST(c.mlp_bias);
  BOOST_TEST(!c.tied_head);
}

// transformers 5.x writes rope_parameters {rope_theta, rope_type, partial_rotary_factor}: the same
// network as the 4.x file of the same model.
BOOST_AUTO_TEST_CASE(transformers_5_config_form_reads_as_the_4_form) {
  for (const char* family : {"llama", "qwen2", "neox"}) {
    BOOST_TEST_CONTEXT(family) {
      const nlohmann::json v5 = read_json(fixtures / family / "config_v5.json");
      BOOST_TEST(v5.contains("rope_parameters"));
      test::scratch_dir s(std::string("juice-hf5-") + family);
      write_text(s.dir / "config.json", v5.dump());
      const transformer_config a = read_hf_model_config(s.dir), b = read_hf_model_config(fixtures / family / "model");
      BOOST_TEST(transformer_config_to_json(a).dump() == transformer_config_to_json(b).dump());
    }
  }
  BOOST_TEST(!read_json(fixtures / "llama/config_v5.json").contains("rope_theta"));  // only in rope_parameters
}

BOOST_AUTO_TEST_CASE(llama_tensors_map_onto_the_contract) {
  const fs::path dir = fixtures / "llama/model", file = dir / "model.safetensors";
  const auto m = read_hf_model<double>(dir);
  const std::size_t C = 32, Ckv = 16, I = 88;
  BOOST_TEST(m.tensors.at("wte") == hf(file, "model.embed_tokens.weight"));
  BOOST_TEST(m.tensors.at("lm_head") == hf(file, "lm_head.weight"));
  BOOST_TEST(m.tensors.at("ln_f.weight") == hf(file, "model.norm.weight"));
  BOOST_TEST(!m.tensors.count("wpe"));
  BOOST_TEST(!m.tensors.count("ln_f.bias"));
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".", h = "h." + std::to_string(l) + ".";
    const auto& qkv = m.tensors.at(h + "attn.c_attn.weight");
    BOOST_REQUIRE(qkv.size() == (C + 2 * Ckv) * C);
    const auto q = hf(file, p + "self_attn.q_proj.weight"), k = hf(file, p + "self_attn.k_proj.weight"), v = hf(file, p + "self_attn.v_proj.weight");
    for (std::size_t r = 0; r < C; ++r)
      for (std::size_t i = 0; i < C; ++i) BOOST_TEST(qkv[r * C + i] == q[r * C + i]);
    for (std::size_t r = 0; r < Ckv; ++r)
      for (std::size_t i = 0; i < C; ++i) {
        BOOST_TEST(qkv[(C + r) * C + i] == k[r * C + i]);
        BOOST_TEST(qkv[(C + Ckv + r) * C + i] == v[r * C + i]);
      }
    const auto& fc = m.tensors.at(h + "mlp.c_fc.weight");
    const auto gate = hf(file, p + "mlp.gate_proj.weight"), up = hf(file, p + "mlp.up_proj.weight");
    BOOST_REQUIRE(fc.size() == 2 * I * C);
    for (std::size_t r = 0; r < I; ++r)
      for (std::size_t i = 0; i < C; ++i) {
        BOOST_TEST(fc[r * C + i] == gate[r * C + i]);
        BOOST_TEST(fc[(I + r) * C + i] == up[r * C + i]);
      }
    BOOST_TEST(m.tensors.at(h + "mlp.c_proj.weight") == hf(file, p + "mlp.down_proj.weight"));
    BOOST_TEST(m.tensors.at(h + "attn.c_proj.weight") == hf(file, p + "self_attn.o_proj.weight"));
    BOOST_TEST(m.tensors.at(h + "ln_1.weight") == hf(file, p + "input_layernorm.weight"));
    BOOST_TEST(m.tensors.at(h + "ln_2.weight") == hf(file, p + "post_attention_layernorm.weight"));
    BOOST_TEST(!m.tensors.count(h + "attn.c_attn.bias"));
  }
  BOOST_TEST(m.tensors.size() == 3u + 2 * 6);
}

BOOST_AUTO_TEST_CASE(qwen2_qkv_biases_are_stacked) {
  const fs::path file = fixtures / "qwen2/model/model.safetensors";
  const auto m = read_hf_model<double>(fixtures / "qwen2/model");
  const auto& b = m.tensors.at("h.1.attn.c_attn.bias");
  const auto q = hf(file, "model.layers.1.self_attn.q_proj.bias"), k = hf(file, "model.layers.1.self_attn.k_proj.bias"),
             v = hf(file, "model.layers.1.self_attn.v_proj.bias");
  BOOST_REQUIRE(b.size() == 64u);
  for (std::size_t r = 0; r < 32; ++r) BOOST_TEST(b[r] == q[r]);
  for (std::size_t r = 0; r < 16; ++r) {
    BOOST_TEST(b[32 + r] == k[r]);
    BOOST_TEST(b[48 + r] == v[r]);
  }
  BOOST_TEST(!m.tensors.count("h.1.attn.c_proj.bias"));
}

// query_key_value is (NH, 3, hs) along its rows: row h*3*hs + j*hs + r is head h's row r of q (j=0),
// k (1) or v (2); juice's c_attn row j*C + h*hs + r.
BOOST_AUTO_TEST_CASE(neox_fused_qkv_is_de_interleaved_per_head) {
  const fs::path file = fixtures / "neox/model/model.safetensors";
  const auto m = read_hf_model<double>(fixtures / "neox/model");
  const std::size_t C = 32, NH = 4, hs = 8;
  for (int l = 0; l < 2; ++l) {
    const std::string p = "gpt_neox.layers." + std::to_string(l) + ".", h = "h." + std::to_string(l) + ".";
    const auto w = hf(file, p + "attention.query_key_value.weight"), b = hf(file, p + "attention.query_key_value.bias");
    const auto& jw = m.tensors.at(h + "attn.c_attn.weight");
    const auto& jb = m.tensors.at(h + "attn.c_attn.bias");
    for (std::size_t head = 0; head < NH; ++head)
      for (std::size_t j = 0; j < 3; ++j)
        for (std::size_t r = 0; r < hs; ++r) {
          const std::size_t fused = head * 3 * hs + j * hs + r, mine = j * C + head * hs + r;
          BOOST_TEST(jb[mine] == b[fused]);
          for (std::size_t i = 0; i < C; ++i) BOOST_TEST(jw[mine * C + i] == w[fused * C + i]);
        }
    BOOST_TEST(m.tensors.at(h + "ln_1.bias") == hf(file, p + "input_layernorm.bias"));
    BOOST_TEST(m.tensors.at(h + "mlp.c_fc.weight") == hf(file, p + "mlp.dense_h_to_4h.weight"));
    BOOST_TEST(m.tensors.at(h + "mlp.c_proj.bias") == hf(file, p + "mlp.dense_4h_to_h.bias"));
    BOOST_TEST(m.tensors.at(h + "attn.c_proj.weight") == hf(file, p + "attention.dense.weight"));
  }
  BOOST_TEST(m.tensors.at("lm_head") == hf(file, "embed_out.weight"));
  BOOST_TEST(m.tensors.at("ln_f.bias") == hf(file, "gpt_neox.final_layer_norm.bias"));
}

BOOST_AUTO_TEST_CASE(sharded_equals_single_file_and_bf16_is_within_rounding) {
  const auto one = read_hf_model<double>(fixtures / "llama/model");
  const auto sharded = read_hf_model<double>(fixtures / "llama/model_sharded");
  BOOST_TEST(fs::exists(fixtures / "llama/model_sharded/model-00003-of-00003.safetensors"));
  BOOST_TEST((one.tensors == sharded.tensors));
  const auto bf = read_hf_model<double>(fixtures / "llama/model_bf16");
  BOOST_REQUIRE(bf.tensors.size() == one.tensors.size());
  double worst = 0;
  for (const auto& [name, v] : one.tensors)
    for (std::size_t i = 0; i < v.size(); ++i) worst = std::max(worst, std::abs(bf.tensors.at(name)[i] - v[i]) / std::max(std::abs(v[i]), 1e-30));
  BOOST_TEST(worst <= std::ldexp(1.0, -8));  // round to nearest with 8 significant bits
  BOOST_TEST(worst > 0);
}

// export(import(folder)) in float64 gives every HF tensor back bit for bit, and a config.json with
// the keys transformers wrote (less its version) and the same values for the network's keys.
BOOST_AUTO_TEST_CASE(export_of_import_reproduces_the_folder) {
  for (const char* family : {"llama", "qwen2", "neox"}) {
    BOOST_TEST_CONTEXT(family) {
      const fs::path dir = fixtures / family / "model";
      const auto m = read_hf_model<double>(dir);
      test::scratch_dir s(std::string("juice-hf-export-") + family);
      const nlohmann::json original = read_json(dir / "config.json");
      hf_export_options o;
      o.type = dtype::F64;
      o.eos_token_id = original["eos_token_id"].get<std::int64_t>();
      write_hf_model(s.dir, m.config, m.tensors, o);
      const safetensors_file a = safetensors_file::load(dir / "model.safetensors"), b = safetensors_file::load(s.dir / "model.safetensors");
      BOOST_TEST(a.tensors().size() == b.tensors().size());
      for (const auto& t : a.tensors()) {
        const tensor_info* u = b.find(t.name);
        BOOST_TEST_REQUIRE(u, t.name);
        BOOST_TEST(u->shape == t.shape);
        const auto x = a.raw(t), y = b.raw(*u);
        BOOST_TEST(std::equal(x.begin(), x.end(), y.begin(), y.end()), t.name);
      }
      BOOST_TEST(b.metadata().at("format") == "pt");
      const nlohmann::json written = read_json(s.dir / "config.json");
      std::set<std::string> ka, kb;
      for (const auto& [k, v] : original.items())
        if (k != "transformers_version") ka.insert(k);
      for (const auto& [k, v] : written.items()) kb.insert(k);
      BOOST_TEST(ka == kb, boost::test_tools::per_element());
      for (const auto& [k, v] : original.items())
        if (k != "transformers_version" && k != "bos_token_id") BOOST_TEST(written[k] == v, k << ": " << written[k].dump() << " vs " << v.dump());
      BOOST_TEST(read_hf_model<double>(s.dir).tensors == m.tensors);
    }
  }
}

// The family survives juice's own config JSON (checkpoints), and so does the erf GELU.
BOOST_AUTO_TEST_CASE(family_survives_juice_config_json) {
  for (const char* family : {"llama", "qwen2", "neox"}) {
    const transformer_config c = read_hf_model_config(fixtures / family / "model");
    const transformer_config back = transformer_config_from_json(transformer_config_to_json(c));
    BOOST_TEST((back.hf_model_type == c.hf_model_type));
    BOOST_TEST((back.mlp == c.mlp));
    BOOST_TEST(transformer_config_to_json(back).dump() == transformer_config_to_json(c).dump());
  }
  BOOST_TEST(transformer_config_to_json(read_hf_model_config(fixtures / "neox/model"))["mlp"] == "gelu_exact");
  BOOST_TEST(!transformer_config_to_json(transformer_config{}).contains("hf_model_type"));
  test::check_throws_with([] { (void)transformer_config_from_json({{"n_layer", 1u}, {"n_head", 1u}, {"n_embd", 8u}, {"n_positions", 8u}, {"vocab_size", 8u}, {"hf_model_type", "mixtral"}}); },
                          "'hf_model_type' is \"mixtral\"");
}

BOOST_AUTO_TEST_CASE(configs_juice_does_not_compute_are_refused_by_name) {
  test::scratch_dir s("juice-hf-refusals");
  const fs::path llama = fixtures / "llama/model", qwen = fixtures / "qwen2/model", neox = fixtures / "neox/model";
  int n = 0;
  auto refused = [&](const fs::path& from, auto edit, const std::string& needle) {
    const fs::path d = variant(from, s.dir / std::to_string(n++), edit);
    test::check_throws_with([&] { (void)read_hf_model<double>(d); }, needle);
    test::check_throws_with([&] { (void)read_hf_model<double>(d); }, d.string());
  };
  refused(
      llama, [](nlohmann::json& j) { j["model_type"] = "mistral", j["sliding_window"] = 16; }, "sliding_window is 16");
  refused(
      qwen, [](nlohmann::json& j) { j["use_sliding_window"] = true, j["sliding_window"] = 16; }, "use_sliding_window is true");
  refused(
      llama, [](nlohmann::json& j) { j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}}; }, "'rope_scaling' has rope_type \"linear\"");
  refused(
      llama, [](nlohmann::json& j) { j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 5000.0}}; },
      "'rope_parameters' has rope_type \"yarn\"");
  refused(
      llama, [](nlohmann::json& j) { j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 7.0e3}}; }, "'rope_parameters.rope_theta' is 7000");
  refused(
      llama, [](nlohmann::json& j) { j["num_local_experts"] = 8; }, "'num_local_experts' is 8");
  refused(
      qwen, [](nlohmann::json& j) { j["num_experts"] = 4; }, "'num_experts' is 4");
  refused(
      llama, [](nlohmann::json& j) { j["head_dim"] = 16; }, "'head_dim' is 16");
  refused(
      llama, [](nlohmann::json& j) { j["hidden_act"] = "gelu"; }, "hidden_act is \"gelu\"");
  refused(
      neox, [](nlohmann::json& j) { j["hidden_act"] = "gelu_fast"; }, "hidden_act is \"gelu_fast\"");
  refused(
      neox, [](nlohmann::json& j) { j["rotary_pct"] = 0.25; }, "another rotary fraction key says");
  refused(
      llama, [](nlohmann::json& j) { j["model_type"] = "mixtral"; }, "model_type is \"mixtral\"");
  refused(
      llama, [](nlohmann::json& j) { j.erase("model_type"), j["architectures"] = {"PhiForCausalLM"}; }, "\"PhiForCausalLM\"");
  refused(
      llama, [](nlohmann::json& j) { j["num_hidden_layers"] = 3; }, "tensor 'model.layers.2.input_layernorm.weight' is missing");
  refused(
      llama, [](nlohmann::json& j) { j["num_hidden_layers"] = 10000; }, "num_hidden_layers is 10000 but the weights hold 21 tensors");
  refused(
      neox, [](nlohmann::json& j) { j["layer_norm_eps"] = 1e-6; }, "juice's LayerNorm uses 1e-05");
}

BOOST_AUTO_TEST_CASE(variants_the_families_allow_are_accepted) {
  test::scratch_dir s("juice-hf-variants");
  const auto seq = variant(fixtures / "neox/model", s.dir / "seq", [](nlohmann::json& j) { j["use_parallel_residual"] = false; });
  BOOST_TEST(!read_hf_model_config(seq).parallel_residual);
  const auto tanh = variant(fixtures / "neox/model", s.dir / "tanh", [](nlohmann::json& j) { j["hidden_act"] = "gelu_new"; });
  BOOST_TEST((read_hf_model_config(tanh).mlp == mlp_kind::gelu));
  // Tied: the LM head may be left out, or stored equal to the embedding.
  const auto tied = variant(fixtures / "llama/model", s.dir / "tied", [](nlohmann::json& j) { j["tie_word_embeddings"] = true; });
  edit_tensors(tied, [](auto& t) { t["lm_head.weight"] = t["model.embed_tokens.weight"]; });
  const auto m = read_hf_model<double>(tied);
  BOOST_TEST(m.config.tied_head);
  BOOST_TEST(!m.tensors.count("lm_head"));
  edit_tensors(tied, [](auto& t) { t.erase("lm_head.weight"); });
  BOOST_TEST(read_hf_model<double>(tied).tensors.size() == m.tensors.size());
  edit_tensors(tied, [](auto& t) { t["lm_head.weight"] = t["model.embed_tokens.weight"], t["lm_head.weight"].second[5] += 1; });
  test::check_throws_with([&] { (void)read_hf_model<double>(tied); }, "tensor 'lm_head.weight' differs from 'model.embed_tokens.weight' (element 5)");
  // A Mistral whose window covers the whole context computes the same as full attention.
  const auto wide = variant(fixtures / "llama/model", s.dir / "wide", [](nlohmann::json& j) { j["model_type"] = "mistral", j["sliding_window"] = 64; });
  BOOST_TEST((read_hf_model_config(wide).hf_model_type == transformer_config::hf_family::mistral));
}

BOOST_AUTO_TEST_CASE(tensors_that_do_not_fit_are_refused_naming_tensor_and_file) {
  test::scratch_dir s("juice-hf-tensors");
  int n = 0;
  auto refused = [&](const fs::path& from, auto edit, const std::string& needle) {
    const fs::path d = variant(from, s.dir / std::to_string(n++), [](nlohmann::json&) {});
    edit_tensors(d, edit);
    test::check_throws_with([&] { (void)read_hf_model<double>(d); }, needle);
    test::check_throws_with([&] { (void)read_hf_model<double>(d); }, (d / "model.safetensors").string());
  };
  const fs::path llama = fixtures / "llama/model", neox = fixtures / "neox/model";
  refused(
      llama, [](auto& t) { t.erase("model.layers.1.self_attn.k_proj.weight"); }, "tensor 'model.layers.1.self_attn.k_proj.weight' is missing");
  refused(
      llama, [](auto& t) { t["model.layers.0.self_attn.o_proj.bias"] = {{32}, std::vector<double>(32)}; },
      "tensor 'model.layers.0.self_attn.o_proj.bias' is not part of a llama model");
  refused(
      llama, [](auto& t) { t["model.layers.0.mlp.up_proj.weight"] = {{32, 88}, t["model.layers.0.mlp.up_proj.weight"].second}; },
      "tensor 'model.layers.0.mlp.up_proj.weight' has shape [32, 88] but");
  refused(
      llama, [](auto& t) { t["model.norm.weight"].second[3] = std::nan(""); }, "tensor 'model.norm.weight' holds NaN at element 3");
  refused(
      neox, [](auto& t) { t["gpt_neox.layers.0.attention.query_key_value.bias"].second[7] = INFINITY; },
      "tensor 'gpt_neox.layers.0.attention.query_key_value.bias' holds an infinity at element 7");
  refused(
      neox, [](auto& t) { t["gpt_neox.layers.5.attention.masked_bias"] = {{1}, {0.0}}; }, "tensor 'gpt_neox.layers.5.attention.masked_bias' is not part of");
  refused(
      llama, [](auto& t) { t["juice.value_head.weight"] = {{1, 32}, std::vector<double>(32)}; }, "is stored without 'juice.value_head.bias'");
  // The family's buffers are skipped.
  const fs::path buffers = variant(neox, s.dir / "buffers", [](nlohmann::json&) {});
  edit_tensors(buffers, [](auto& t) {
    t["gpt_neox.layers.1.attention.masked_bias"] = {{1}, {-1e9}};
    t["gpt_neox.layers.1.attention.bias"] = {{1, 1, 4, 4}, std::vector<double>(16, 1.0)};
    t["gpt_neox.layers.0.attention.rotary_emb.inv_freq"] = {{2}, {1.0, 0.1}};
  });
  BOOST_TEST(read_hf_model<double>(buffers).tensors.size() == read_hf_model<double>(neox).tensors.size());
}

BOOST_AUTO_TEST_CASE(a_shard_index_that_disagrees_with_its_shards_is_refused) {
  test::scratch_dir s("juice-hf-shards");
  const fs::path from = fixtures / "llama/model_sharded";
  auto with_index = [&](const std::string& name, auto edit) {
    fs::path d = variant(from, s.dir / name, [](nlohmann::json&) {});
    nlohmann::json j = read_json(d / "model.safetensors.index.json");
    edit(j["weight_map"]);
    write_text(d / "model.safetensors.index.json", j.dump());
    return d;
  };
  const auto moved = with_index("moved", [](nlohmann::json& m) {
    m["model.norm.weight"] = m["model.norm.weight"] == "model-00001-of-00003.safetensors" ? "model-00002-of-00003.safetensors" : "model-00001-of-00003.safetensors";
  });
  test::check_throws_with([&] { (void)read_hf_model<double>(moved); }, "tensor 'model.norm.weight' is stored here but the index places it in");
  const auto unlisted = with_index("unlisted", [](nlohmann::json& m) { m.erase("lm_head.weight"); });
  test::check_throws_with([&] { (void)read_hf_model<double>(unlisted); }, "tensor 'lm_head.weight' is stored here but the index does not list it");
  const auto escape = with_index("escape", [](nlohmann::json& m) { m["lm_head.weight"] = "../model.safetensors"; });
  test::check_throws_with([&] { (void)read_hf_model<double>(escape); }, "is not a file name of the folder");
  const auto phantom = with_index("phantom", [](nlohmann::json& m) { m["model.extra.weight"] = "model-00001-of-00003.safetensors"; });
  test::check_throws_with([&] { (void)read_hf_model<double>(phantom); }, "tensor 'model.extra.weight' is listed in shard model-00001-of-00003.safetensors");
  fs::remove(s.dir / "escape" / "model.safetensors.index.json");
  test::check_throws_with([&] { (void)read_hf_model<double>(s.dir / "escape"); }, "holds neither model.safetensors nor model.safetensors.index.json");
}

// The maps produce exactly the tensors the trunk allocates (transformer_config::tensors), in its order.
BOOST_AUTO_TEST_CASE(maps_cover_the_trunk_tensors_in_order) {
  for (const char* family : {"llama", "qwen2", "neox"}) {
    BOOST_TEST_CONTEXT(family) {
      const transformer_config c = read_hf_model_config(fixtures / family / "model");
      const hf_tensor_map m = hf_model_map(c);
      const std::vector<tensor_spec> want = c.tensors(!c.tied_head);
      BOOST_REQUIRE(m.juice.size() == want.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        BOOST_TEST(m.juice[i].name == want[i].name);
        BOOST_TEST(m.juice[i].shape == want[i].shape, boost::test_tools::per_element());
      }
    }
  }
}
