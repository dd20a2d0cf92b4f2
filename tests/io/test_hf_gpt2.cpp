// juice/io/hf_gpt2.hpp: an HF-layout GPT-2 folder written by hand here (Conv1D weights built with
// this file's own transpose, the `transformer.` prefix, a tied lm_head and the attn.bias mask
// buffers HF saves) imports into a model with log-probs identical to the original's; export then
// import is bit-identical; two exports write identical bytes; every malformed input (missing,
// misshapen, unknown or untied tensors, a config juice does not compute, a config of another shape)
// is refused with a message naming the tensor or key and the file, and leaves the model unchanged.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/io/safetensors.hpp"
#include "juice/models/transformer.hpp"
#include "../cpu/model_support.hpp"

using namespace juice;
using namespace juice::io;
namespace fs = std::filesystem;

namespace {

// L=2, NH=2, C=8, context 12, vocab 11.
const transformer_config cfg = test::tiny_config();

const char* config_text = R"({
  "activation_function": "gelu_new",
  "architectures": ["GPT2LMHeadModel"],
  "bos_token_id": 10,
  "eos_token_id": 10,
  "layer_norm_epsilon": 1e-05,
  "model_type": "gpt2",
  "n_ctx": 12,
  "n_embd": 8,
  "n_head": 2,
  "n_inner": null,
  "n_layer": 2,
  "n_positions": 12,
  "resid_pdrop": 0.1,
  "vocab_size": 11
})";

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("juice_test_hf_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

std::vector<std::uint8_t> file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The model's parameters by name, copied to the host.
template <class T>
std::map<std::string, std::vector<T>> snapshot(transformer<cpu, T>& m) {
  std::map<std::string, std::vector<T>> out;
  for (auto& p : m.parameters()) out[p.name] = std::vector<T>(p.value.begin(), p.value.end());
  return out;
}

// (rows, cols) row-major -> (cols, rows) row-major.
template <class T>
std::vector<T> transpose(const std::vector<T>& a, std::size_t rows, std::size_t cols) {
  std::vector<T> t(a.size());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) t[c * rows + r] = a[r * cols + c];
  return t;
}

// The HF tensors of a juice model, built here from juice's documented layout: linear weights are
// (out, in) in juice and (in, out) in HF's Conv1D.
template <class T>
std::map<std::string, std::pair<std::vector<std::size_t>, std::vector<T>>> hf_tensors_of(transformer<cpu, T>& m) {
  const std::size_t C = cfg.channels;
  auto p = snapshot(m);
  std::map<std::string, std::pair<std::vector<std::size_t>, std::vector<T>>> out;
  out["wte.weight"] = {{cfg.vocab, C}, p["wte"]};
  out["wpe.weight"] = {{cfg.context, C}, p["wpe"]};
  for (std::size_t l = 0; l < cfg.layers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    for (const char* n : {"ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias", "attn.c_proj.bias", "mlp.c_proj.bias"})
      out[h + n] = {{C}, p[h + n]};
    out[h + "attn.c_attn.bias"] = {{3 * C}, p[h + "attn.c_attn.bias"]};
    out[h + "mlp.c_fc.bias"] = {{4 * C}, p[h + "mlp.c_fc.bias"]};
    out[h + "attn.c_attn.weight"] = {{C, 3 * C}, transpose(p[h + "attn.c_attn.weight"], 3 * C, C)};
    out[h + "attn.c_proj.weight"] = {{C, C}, transpose(p[h + "attn.c_proj.weight"], C, C)};
    out[h + "mlp.c_fc.weight"] = {{C, 4 * C}, transpose(p[h + "mlp.c_fc.weight"], 4 * C, C)};
    out[h + "mlp.c_proj.weight"] = {{4 * C, C}, transpose(p[h + "mlp.c_proj.weight"], C, 4 * C)};
  }
  out["ln_f.weight"] = {{C}, p["ln_f.weight"]};
  out["ln_f.bias"] = {{C}, p["ln_f.bias"]};
  return out;
}

// An HF GPT2LMHeadModel-style file: "transformer." prefix, lm_head.weight = wte, causal-mask buffers.
template <class T>
safetensors_writer hand_built(transformer<cpu, T>& m, dtype as) {
  safetensors_writer w;
  for (auto& [name, t] : hf_tensors_of(m)) w.add("transformer." + name, t.first, t.second, as);
  w.add("lm_head.weight", {cfg.vocab, cfg.channels}, hf_tensors_of(m)["wte.weight"].second, as);
  std::vector<float> mask(cfg.context * cfg.context, 0.0f);
  for (std::size_t i = 0; i < cfg.context; ++i)
    for (std::size_t j = 0; j <= i; ++j) mask[i * cfg.context + j] = 1.0f;
  for (std::size_t l = 0; l < cfg.layers; ++l) {
    w.add("transformer.h." + std::to_string(l) + ".attn.bias", {1, 1, cfg.context, cfg.context}, mask);
    w.add("transformer.h." + std::to_string(l) + ".attn.masked_bias", {}, std::vector<float>{-1e4f});
  }
  return w;
}

sequence_batch batch() {
  return test::make_batch({{{1, 2, 3}, {4, 5, 6, 7}}, {{9}, {10, 0, 1, 2, 3, 8, 8}}, {{3, 3, 3, 3, 3}, {2}}});
}

std::string import_error(transformer<cpu, float>& m, const safetensors_file& f) {
  try {
    import_hf_gpt2(m, f);
  } catch (const format_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

template <class T>
void import_matches_original() {
  const fs::path d = fresh_dir(std::string("import_") + (sizeof(T) == 4 ? "f" : "d"));
  transformer<cpu, T> original(cfg, 7);
  hand_built(original, sizeof(T) == 4 ? dtype::F32 : dtype::F64).write(d / "model.safetensors");
  write_text(d / "config.json", config_text);

  transformer<cpu, T> loaded = load_hf_gpt2<T>(d, 99);
  BOOST_TEST(loaded.config().layers == cfg.layers);
  BOOST_TEST(loaded.config().context == cfg.context);
  const auto a = original.logprobs(batch()), b = loaded.logprobs(batch());
  BOOST_REQUIRE(a.shape() == b.shape());
  for (std::size_t i = 0; i < a.size(); ++i) BOOST_REQUIRE_MESSAGE(a.flat(i) == b.flat(i), "log-prob " << i);
  BOOST_TEST(a(0, 4) != T(0));  // a scored response token, so the comparison is not of zeros

  // The value head is not GPT-2's: it keeps the initialisation of the seed given to load_hf_gpt2.
  transformer<cpu, T> fresh(cfg, 99);
  BOOST_TEST(snapshot(loaded)["value_head.weight"] == snapshot(fresh)["value_head.weight"], boost::test_tools::per_element());
  BOOST_TEST((snapshot(loaded)["value_head.weight"] != snapshot(original)["value_head.weight"]));
  fs::remove_all(d);
}

BOOST_AUTO_TEST_CASE(import_gives_identical_logprobs_float) { import_matches_original<float>(); }
BOOST_AUTO_TEST_CASE(import_gives_identical_logprobs_double) { import_matches_original<double>(); }

BOOST_AUTO_TEST_CASE(f16_and_bf16_files_import_as_their_rounded_values) {
  transformer<cpu, float> original(cfg, 3);
  const safetensors_file f(hand_built(original, dtype::BF16).bytes());
  transformer<cpu, float> m(cfg, 5);
  import_hf_gpt2(m, f);
  const auto want = hf_tensors_of(original)["h.1.mlp.c_fc.weight"].second;  // (in, out) in HF
  const auto got = transpose(snapshot(m)["h.1.mlp.c_fc.weight"], 4 * cfg.channels, cfg.channels);
  for (std::size_t i = 0; i < want.size(); ++i)
    BOOST_REQUIRE(got[i] == bf16_to_float(float_to_bf16(want[i])));
}

template <class T>
void export_round_trip(dtype as) {
  const fs::path d = fresh_dir(std::string("export_") + (sizeof(T) == 4 ? "f" : "d"));
  transformer<cpu, T> m(cfg, 11);
  // Make the value head differ from any seed's so that its round trip is observable.
  for (auto& p : m.parameters())
    if (p.name == "value_head.bias") p.value[0] = T(0.625);
  hf_export_options o;
  o.type = as;
  o.value_head = true;
  export_hf_gpt2(m, d / "a", o);
  export_hf_gpt2(m, d / "b", o);
  BOOST_TEST(file_bytes(d / "a" / "model.safetensors") == file_bytes(d / "b" / "model.safetensors"));
  BOOST_TEST(file_bytes(d / "a" / "config.json") == file_bytes(d / "b" / "config.json"));

  transformer<cpu, T> back = load_hf_gpt2<T>(d / "a", 1234);
  const auto want = snapshot(m), got = snapshot(back);
  for (const auto& [name, v] : want) BOOST_TEST(got.at(name) == v, "parameter " << name);

  // The exported tensors are the hand-built HF layout (no prefix, Conv1D transposed), and nothing else.
  const safetensors_file f = safetensors_file::load(d / "a" / "model.safetensors");
  auto hf = hf_tensors_of(m);
  BOOST_TEST(f.tensors().size() == hf.size() + 2);
  for (auto& [name, t] : hf) {
    BOOST_TEST(f.at(name).shape == t.first, name);
    BOOST_TEST(f.read<T>(name) == t.second, name);
  }
  BOOST_TEST(f.metadata().at("format") == "pt");
  const nlohmann::json c = nlohmann::json::parse(file_bytes(d / "a" / "config.json"));
  BOOST_TEST(c.at("model_type") == "gpt2");
  BOOST_TEST(c.at("architectures") == nlohmann::json::array({"GPT2LMHeadModel"}));
  BOOST_TEST(c.at("n_embd") == cfg.channels);
  BOOST_TEST(c.at("n_positions") == cfg.context);

  // Without the option the value head is left out and an import keeps the fresh one.
  export_hf_gpt2(m, d / "c", hf_export_options{as, false, std::nullopt});
  const safetensors_file g = safetensors_file::load(d / "c" / "model.safetensors");
  BOOST_TEST(g.find("juice.value_head.weight") == nullptr);
  BOOST_TEST(g.tensors().size() == hf.size());
  fs::remove_all(d);
}

BOOST_AUTO_TEST_CASE(export_import_is_bit_identical_float) { export_round_trip<float>(dtype::F32); }
BOOST_AUTO_TEST_CASE(export_import_is_bit_identical_double) { export_round_trip<double>(dtype::F64); }

BOOST_AUTO_TEST_CASE(malformed_files_are_refused_and_the_model_is_unchanged) {
  transformer<cpu, float> original(cfg, 7);
  auto tensors = hf_tensors_of(original);
  auto file_without = [&](const std::string& drop, const std::string& extra, const std::vector<std::size_t>& reshape_c_fc = {}) {
    safetensors_writer w;
    for (auto& [name, t] : tensors) {
      if (name == drop) continue;
      if (name == "h.1.mlp.c_fc.weight" && !reshape_c_fc.empty()) {
        w.add(name, reshape_c_fc, t.second);
        continue;
      }
      w.add(name, t.first, t.second);
    }
    if (!extra.empty()) w.add(extra, {cfg.vocab, cfg.channels}, std::vector<float>(cfg.vocab * cfg.channels, 0.5f));
    return safetensors_file(w.bytes(), "model.safetensors");
  };
  transformer<cpu, float> m(cfg, 5);
  const auto before = snapshot(m);
  auto expect = [&](const safetensors_file& f, const std::vector<std::string>& parts) {
    const std::string msg = import_error(m, f);
    BOOST_TEST_INFO("message: " << msg);
    BOOST_REQUIRE(!msg.empty());
    for (const auto& p : parts) BOOST_CHECK_MESSAGE(msg.find(p) != std::string::npos, "'" << p << "' not in: " << msg);
    const auto after = snapshot(m);
    BOOST_CHECK(after == before);
  };
  BOOST_REQUIRE(import_error(m, file_without("", "")).empty());  // the complete file imports
  m = transformer<cpu, float>(cfg, 5);
  expect(file_without("h.1.ln_2.bias", ""), {"model.safetensors", "tensor 'h.1.ln_2.bias' is missing"});
  expect(file_without("", "h.2.ln_1.weight"), {"model.safetensors", "tensor 'h.2.ln_1.weight' is not part of"});
  expect(file_without("", "lm_head.weight"), {"'lm_head.weight' differs from 'wte.weight'"});
  expect(file_without("", "", {4 * cfg.channels, cfg.channels}),
         {"tensor 'h.1.mlp.c_fc.weight' has shape [32, 8]", "needs [8, 32]"});
  expect(file_without("", "transformer.wte.weight"), {"'wte.weight' is stored twice"});
}

// A mask buffer is skipped only for a layer the model has (cfg: 2 layers); a NaN or an infinity in
// any weight is refused naming the tensor and the element, and the model is left unchanged.
BOOST_AUTO_TEST_CASE(stray_mask_buffers_and_non_finite_weights_are_refused) {
  transformer<cpu, float> original(cfg, 7);
  const auto tensors = hf_tensors_of(original);
  auto file = [&](const std::string& poisoned, std::size_t element, float value, const std::string& buffer) {
    safetensors_writer w;
    for (const auto& [name, t] : tensors) {
      std::vector<float> v = t.second;
      if (name == poisoned) v.at(element) = value;
      w.add(name, t.first, v);
    }
    if (!buffer.empty()) w.add(buffer, {1, 1, cfg.context, cfg.context}, std::vector<float>(cfg.context * cfg.context, 1.0f));
    return safetensors_file(w.bytes(), "model.safetensors");
  };
  transformer<cpu, float> m(cfg, 5);
  const auto before = snapshot(m);
  auto expect = [&](const safetensors_file& f, const std::string& part) {
    const std::string msg = import_error(m, f);
    BOOST_CHECK_MESSAGE(msg.find(part) != std::string::npos, "'" << part << "' not in: '" << msg << "'");
    BOOST_CHECK(snapshot(m) == before);
  };
  BOOST_REQUIRE(import_error(m, file("", 0, 0, "h.1.attn.bias")).empty());  // the model's own layer 1
  m = transformer<cpu, float>(cfg, 5);
  expect(file("", 0, 0, "h.2.attn.bias"), "tensor 'h.2.attn.bias' is not part of a GPT-2 with n_layer = 2");
  expect(file("", 0, 0, "h.99.attn.masked_bias"), "tensor 'h.99.attn.masked_bias' is not part of");
  expect(file("", 0, 0, "h.01.attn.bias"), "tensor 'h.01.attn.bias' is not part of");
  expect(file("h.1.mlp.c_fc.weight", 17, std::numeric_limits<float>::quiet_NaN(), ""),
         "tensor 'h.1.mlp.c_fc.weight' holds NaN at element 17; juice refuses non-finite weights");
  expect(file("wte.weight", 0, -std::numeric_limits<float>::infinity(), ""), "tensor 'wte.weight' holds an infinity at element 0");
  expect(file("ln_f.bias", 3, std::numeric_limits<float>::infinity(), ""), "tensor 'ln_f.bias' holds an infinity at element 3");
}

// config.json carries the tokenizer's EOS as bos_token_id and eos_token_id when the export is told
// it (transformers would otherwise assume GPT-2's 50256), and leaves both keys out otherwise.
BOOST_AUTO_TEST_CASE(export_writes_the_token_ids_it_is_given) {
  transformer<cpu, float> m(cfg, 1);
  const fs::path d = fresh_dir("token_ids");
  hf_export_options o;
  o.eos_token_id = 10;
  export_hf_gpt2(m, d / "with", o);
  export_hf_gpt2(m, d / "without");
  const auto read_json = [](const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
  };
  const auto with = read_json(d / "with" / "config.json"), without = read_json(d / "without" / "config.json");
  BOOST_TEST(with.at("bos_token_id") == 10);
  BOOST_TEST(with.at("eos_token_id") == 10);
  BOOST_TEST(!without.contains("bos_token_id"));
  BOOST_TEST(!without.contains("eos_token_id"));
  BOOST_TEST(load_hf_gpt2<float>(d / "with").config().vocab == cfg.vocab);  // and it reads back
  fs::remove_all(d);
}

BOOST_AUTO_TEST_CASE(configs_are_checked) {
  auto error_of = [](const std::string& text) {
    try {
      (void)parse_hf_gpt2_config(text, "dir/config.json");
    } catch (const format_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const transformer_config c = parse_hf_gpt2_config(config_text);
  BOOST_TEST(c.layers == 2u);
  BOOST_TEST(c.heads == 2u);
  BOOST_TEST(c.channels == 8u);
  BOOST_TEST(c.context == 12u);
  BOOST_TEST(c.vocab == 11u);
  BOOST_TEST(parse_hf_gpt2_config(R"({"n_layer":1,"n_head":1,"n_embd":4,"n_ctx":5,"vocab_size":3})").context == 5u);
  const std::string base = R"("n_layer":1,"n_head":1,"n_embd":4,"n_positions":5,"vocab_size":3)";
  BOOST_TEST(error_of(R"({"n_head":1,"n_embd":4,"n_positions":5,"vocab_size":3})").find("dir/config.json: the key 'n_layer' is missing") != std::string::npos);
  BOOST_TEST(error_of("{" + base + R"(,"activation_function":"relu"})").find("activation_function") != std::string::npos);
  BOOST_TEST(error_of("{" + base + R"(,"n_inner":8})").find("n_inner is 8") != std::string::npos);
  BOOST_TEST(error_of("{" + base + R"(,"layer_norm_epsilon":1e-6})").find("layer_norm_epsilon") != std::string::npos);
  BOOST_TEST(error_of("{" + base + R"(,"model_type":"llama"})").find("model_type") != std::string::npos);
  BOOST_TEST(error_of("{" + base + R"(,"tie_word_embeddings":false})").find("tie_word_embeddings") != std::string::npos);
  BOOST_TEST(error_of(R"({"n_layer":1,"n_head":3,"n_embd":4,"n_positions":5,"vocab_size":3})").find("multiple of heads") != std::string::npos);
  BOOST_TEST(error_of(R"({"n_layer":-1,"n_head":1,"n_embd":4,"n_positions":5,"vocab_size":3})").find("'n_layer' must be a positive integer") != std::string::npos);
  BOOST_TEST(error_of("[1]").find("not a JSON object") != std::string::npos);
  BOOST_TEST(error_of("{").find("not valid JSON") != std::string::npos);
  BOOST_TEST(error_of("{" + base + R"(,"n_layer":2})").find("dir/config.json: not valid JSON: the key \"n_layer\" appears twice") !=
             std::string::npos);

  // A folder whose config describes another shape than the model's.
  const fs::path d = fresh_dir("mismatch");
  transformer<cpu, float> m(cfg, 1);
  export_hf_gpt2(m, d);
  transformer<cpu, float> other(transformer_config{2, 2, 8, 16, 11}, 1);
  try {
    import_hf_gpt2(other, d);
    BOOST_FAIL("a model of another context imported");
  } catch (const format_error& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("config.json: n_positions is 12 but the model has 16") != std::string::npos, msg);
  }
  BOOST_CHECK_THROW(load_hf_gpt2<float>(d / "absent"), io_error);
  fs::remove_all(d);
}
