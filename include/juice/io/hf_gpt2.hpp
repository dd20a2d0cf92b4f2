// juice/io/hf_gpt2.hpp
//
// Import and export of GPT-2 weights in the layout Hugging Face transformers writes: a folder with
// `model.safetensors` and `config.json`. The tensor names are GPT-2's (`wte.weight`, `wpe.weight`,
// `h.{i}.ln_1.{weight,bias}`, `h.{i}.attn.c_attn`, `h.{i}.attn.c_proj`, `h.{i}.ln_2`,
// `h.{i}.mlp.c_fc`, `h.{i}.mlp.c_proj`, `ln_f`), optionally prefixed `transformer.` (as
// GPT2LMHeadModel saves them). HF stores its projections as Conv1D, weight (in, out), Q|K|V side by
// side along the out axis of c_attn; juice stores every linear layer's weight (out, in) row-major,
// like torch.nn.Linear, so those four weights per block are transposed on the way in and out. The
// LM head is tied to `wte` in both: a `lm_head.weight` is accepted only if equal to `wte.weight`,
// and the causal-mask buffers `h.{i}.attn.bias` / `h.{i}.attn.masked_bias` of the model's layers are
// ignored. Anything else is an error naming the tensor and the file, as are a missing tensor, a wrong
// shape, a NaN or infinite weight, and a config that describes a network juice does not compute
// (another activation, epsilon or MLP width) or repeats a key.
// juice's value head (PPO's critic) is not part of GPT-2: an import leaves it at its initialisation
// and an export omits it unless asked to store it under the juice-specific keys
// `juice.value_head.{weight,bias}` (which an import then reads back). Exports are deterministic
// (sorted keys, no timestamps) and written atomically. All model access goes through
// detail::hf_parameter_spans, the one place to adapt when the model's parameter interface changes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/io/atomic_file.hpp"
#include "juice/io/json.hpp"
#include "juice/io/safetensors.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::io {

// One tensor of the HF GPT-2 layout: its name (without prefix), its shape as HF stores it, and
// whether it is a Conv1D weight (stored (in, out); juice's copy is the transpose).
struct hf_tensor {
  std::string name;
  std::vector<std::size_t> shape;
  bool conv1d = false;
};

// The tensors a GPT-2 of shape `c` has in HF's layout, in juice's storage order.
inline std::vector<hf_tensor> hf_gpt2_layout(const transformer_config& c) {
  const std::size_t C = c.channels;
  std::vector<hf_tensor> out{{"wte.weight", {c.vocab, C}, false}, {"wpe.weight", {c.context, C}, false}};
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    out.push_back({p + "ln_1.weight", {C}, false});
    out.push_back({p + "ln_1.bias", {C}, false});
    out.push_back({p + "attn.c_attn.weight", {C, 3 * C}, true});
    out.push_back({p + "attn.c_attn.bias", {3 * C}, false});
    out.push_back({p + "attn.c_proj.weight", {C, C}, true});
    out.push_back({p + "attn.c_proj.bias", {C}, false});
    out.push_back({p + "ln_2.weight", {C}, false});
    out.push_back({p + "ln_2.bias", {C}, false});
    out.push_back({p + "mlp.c_fc.weight", {C, 4 * C}, true});
    out.push_back({p + "mlp.c_fc.bias", {4 * C}, false});
    out.push_back({p + "mlp.c_proj.weight", {4 * C, C}, true});
    out.push_back({p + "mlp.c_proj.bias", {C}, false});
  }
  out.push_back({"ln_f.weight", {C}, false});
  out.push_back({"ln_f.bias", {C}, false});
  return out;
}

// juice-specific keys for the value head (shapes as torch.nn.Linear(C, 1) stores them).
inline std::vector<hf_tensor> hf_value_head_layout(const transformer_config& c) {
  return {{"juice.value_head.weight", {1, c.channels}, false}, {"juice.value_head.bias", {1}, false}};
}

// How export_hf_gpt2 writes.
struct hf_export_options {
  dtype type = dtype::F32;  // F32 (transformers' default) or F64 (bit-exact for double models), F16, BF16
  bool value_head = false;  // also store the value head under juice.value_head.{weight,bias}
  // The EOS id of the tokenizer the model was trained with, written to config.json as both
  // bos_token_id and eos_token_id (GPT-2 uses one token for both), so that transformers' generate
  // stops where juice's does. Unset: the keys are left out, and transformers assumes GPT-2's 50256.
  std::optional<std::int64_t> eos_token_id;
};

namespace detail {

// The model's parameter tensors by juice name, as host spans. The only function here that knows
// how a juice::transformer exposes its parameters.
template <class T>
std::map<std::string, std::span<T>> hf_parameter_spans(transformer<cpu, T>& m) {
  std::map<std::string, std::span<T>> out;
  for (auto& p : m.parameters()) out.emplace(p.name, std::span<T>(p.value.data(), p.value.size()));
  return out;
}
// juice's name of an HF tensor: GPT-2's name, except that juice calls the embeddings plain "wte" /
// "wpe" and keeps its value head under its own prefix.
inline std::string juice_name(const std::string& hf_name) {
  if (hf_name == "wte.weight" || hf_name == "wpe.weight") return hf_name.substr(0, 3);
  if (hf_name.rfind("juice.", 0) == 0) return hf_name.substr(6);
  return hf_name;
}

inline std::size_t product(const std::vector<std::size_t>& s) {
  std::size_t n = 1;
  for (std::size_t d : s) n *= d;
  return n;
}

// The span of juice's parameter `name`, checked against the layout's element count (a mismatch
// means juice's model changed shape, not that the file is wrong).
template <class T>
std::span<T> juice_tensor(std::map<std::string, std::span<T>>& params, const hf_tensor& t) {
  auto it = params.find(juice_name(t.name));
  if (it == params.end() || it->second.size() != product(t.shape))
    throw error("juice::io::hf_gpt2: the model has no parameter '" + juice_name(t.name) + "' of " +
                std::to_string(product(t.shape)) + " elements; the HF GPT-2 mapping needs updating.");
  return it->second;
}

// h.{l}.attn.bias or h.{l}.attn.masked_bias with l one of the model's `layers` layers (written as
// to_string writes it): the causal-mask buffers HF may save.
// Read from the name, not by trying every layer: a hostile file's tensors times a hostile config's
// layers would take hours.
inline bool is_mask_buffer(const std::string& name, std::size_t layers) {
  if (name.rfind("h.", 0) != 0) return false;
  const std::size_t dot = name.find('.', 2);
  if (dot == std::string::npos || dot == 2 || dot - 2 > 19) return false;
  const std::string digits = name.substr(2, dot - 2), rest = name.substr(dot);
  if (rest != ".attn.bias" && rest != ".attn.masked_bias") return false;
  if (digits.find_first_not_of("0123456789") != std::string::npos || (digits.size() > 1 && digits[0] == '0')) return false;
  return std::stoull(digits) < layers;
}

}  // namespace detail

// Parses an HF GPT-2 config.json text (`source` names it in messages): n_layer, n_head, n_embd,
// n_positions (or n_ctx) and vocab_size, all positive integers; model_type, when present, "gpt2";
// and the keys that would change the network, when present, at the values juice computes:
// activation_function gelu_new (or gelu_pytorch_tanh, the same function), layer_norm_epsilon 1e-5,
// n_inner null or 4 n_embd, scale_attn_weights true, scale_attn_by_inverse_layer_idx false,
// tie_word_embeddings true. Other keys (token ids, dropout, task settings) do not affect the weights
// and are ignored.
inline transformer_config parse_hf_gpt2_config(const std::string& text, const std::string& source = "config.json") {
  auto fail = [&](const std::string& why) -> void { throw format_error("juice::io::hf_gpt2: " + source + ": " + why); };
  nlohmann::json j;
  try {
    j = parse_json(text);
  } catch (const json_error& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail("not a JSON object.");
  auto positive = [&](const char* key) -> std::size_t {
    auto it = j.find(key);
    if (it == j.end()) fail(std::string("the key '") + key + "' is missing.");
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0)
      fail(std::string("'") + key + "' must be a positive integer, not " + it->dump() + ".");
    return static_cast<std::size_t>(it->get<std::uint64_t>());
  };
  if (auto it = j.find("model_type"); it != j.end() && *it != "gpt2")
    fail("model_type is " + it->dump() + "; juice imports \"gpt2\" only.");
  transformer_config c;
  c.layers = positive("n_layer");
  c.heads = positive("n_head");
  c.channels = positive("n_embd");
  c.vocab = positive("vocab_size");
  c.context = positive(j.contains("n_positions") ? "n_positions" : "n_ctx");
  if (auto it = j.find("activation_function");
      it != j.end() && *it != "gelu_new" && *it != "gelu_pytorch_tanh")
    fail("activation_function is " + it->dump() + "; juice computes GPT-2's tanh GELU (\"gelu_new\").");
  if (auto it = j.find("layer_norm_epsilon");
      it != j.end() && (!it->is_number() || std::abs(it->get<double>() - 1e-5) > 1e-12))
    fail("layer_norm_epsilon is " + it->dump() + "; juice's LayerNorm uses 1e-05.");
  if (auto it = j.find("n_inner");
      it != j.end() && !it->is_null() && !(it->is_number_unsigned() && it->get<std::uint64_t>() == 4 * c.channels))
    fail("n_inner is " + it->dump() + "; juice's MLP is 4 n_embd = " + std::to_string(4 * c.channels) + " wide.");
  if (auto it = j.find("scale_attn_weights"); it != j.end() && *it != true)
    fail("scale_attn_weights is " + it->dump() + "; juice scales attention by 1/sqrt(head size).");
  if (auto it = j.find("scale_attn_by_inverse_layer_idx"); it != j.end() && *it != false)
    fail("scale_attn_by_inverse_layer_idx is " + it->dump() + "; juice does not scale attention by layer.");
  if (auto it = j.find("tie_word_embeddings"); it != j.end() && *it != true)
    fail("tie_word_embeddings is " + it->dump() + "; juice ties the LM head to wte.");
  try {
    c.validate();
  } catch (const invalid_argument& e) {
    fail(e.what());
  }
  return c;
}

// Reads an HF GPT-2 config.json file (see parse_hf_gpt2_config).
inline transformer_config read_hf_gpt2_config(const std::filesystem::path& file) {
  const std::vector<std::uint8_t> b = read_file(file);
  return parse_hf_gpt2_config(std::string(b.begin(), b.end()), file.string());
}

// The config.json juice writes for a model of shape `c`: the GPT-2 keys, model_type "gpt2" and
// architectures ["GPT2LMHeadModel"], so transformers builds the same network, and, when given, the
// tokenizer's EOS as bos_token_id and eos_token_id; keys sorted.
// Throws juice::invalid_argument for a config that is not a GPT-2 (transformer_config::is_gpt2).
inline std::string hf_gpt2_config_json(const transformer_config& c, std::optional<std::int64_t> eos_token_id = std::nullopt) {
  if (!c.is_gpt2())
    throw invalid_argument(
        "juice::io::hf_gpt2: the config is not a GPT-2 (its norm, positions, MLP, kv_heads, biases, residual "
        "or LM head differ), so an HF GPT-2 config.json cannot describe it.");
  nlohmann::json j = {{"activation_function", "gelu_new"},
                      {"architectures", {"GPT2LMHeadModel"}},
                      {"layer_norm_epsilon", 1e-5},
                      {"model_type", "gpt2"},
                      {"n_ctx", c.context},
                      {"n_embd", c.channels},
                      {"n_head", c.heads},
                      {"n_layer", c.layers},
                      {"n_positions", c.context},
                      {"scale_attn_weights", true},
                      {"tie_word_embeddings", true},
                      {"vocab_size", c.vocab}};
  if (eos_token_id) j["bos_token_id"] = j["eos_token_id"] = *eos_token_id;
  return j.dump(2) + "\n";
}

// The tensors of an HF GPT-2 safetensors file, sorted and checked against a model shape by
// check_hf_gpt2_tensors.
struct hf_gpt2_contents {
  std::vector<hf_tensor> layout, value_layout;      // what a GPT-2 of the shape has
  std::map<std::string, const tensor_info*> found;  // layout name -> the file's tensor
  const tensor_info* lm_head = nullptr;             // lm_head.weight, if stored
  bool has_value = false;                           // the file stores juice's value head
};

// Checks the names, shapes and dtypes of `file`'s tensors against a GPT-2 of shape `c`, reading
// only the file's header: a config.json that does not describe its model.safetensors is refused
// before a model of its shape is built. The result points into `file`.
inline hf_gpt2_contents check_hf_gpt2_tensors(const transformer_config& c, const safetensors_file& file) {
  auto fail = [&](const std::string& why) -> void {
    throw format_error("juice::io::hf_gpt2: " + file.source() + ": " + why);
  };
  // A GPT-2 has 12 tensors per layer: a file with fewer tensors than the config has layers is far
  // from it, and the layout (a few hundred bytes per tensor) is not built for a claimed n_layer of
  // millions. (A few tensors short, the message below names the first missing one.)
  if (c.layers > file.tensors().size())
    fail("the file holds " + std::to_string(file.tensors().size()) + " tensors but a GPT-2 with n_layer = " + std::to_string(c.layers) +
         " has " + std::to_string(12 * c.layers + 4) + " (12 per layer and 4 more); config.json does not describe these weights.");
  hf_gpt2_contents k{hf_gpt2_layout(c), hf_value_head_layout(c), {}, nullptr, false};
  const auto& layout = k.layout;
  const auto& value_layout = k.value_layout;
  auto& found = k.found;
  std::map<std::string, const hf_tensor*> wanted;
  for (const auto& t : layout) wanted[t.name] = &t;
  for (const auto& t : value_layout) wanted[t.name] = &t;

  // Classify every tensor of the file.
  for (const tensor_info& t : file.tensors()) {
    if (t.name == "lm_head.weight") {
      k.lm_head = &t;
      continue;
    }
    const std::string name = t.name.rfind("transformer.", 0) == 0 ? t.name.substr(12) : t.name;
    if (detail::is_mask_buffer(name, c.layers)) continue;
    if (!wanted.count(name))
      fail("tensor '" + t.name + "' is not part of a GPT-2 with n_layer = " + std::to_string(c.layers) +
           " (juice refuses unknown tensors rather than drop them).");
    if (found.count(name)) fail("tensor '" + name + "' is stored twice (with and without the 'transformer.' prefix).");
    found[name] = &t;
  }
  auto check_shape = [&](const hf_tensor& want, const tensor_info& t) {
    if (t.shape != want.shape)
      fail("tensor '" + t.name + "' has shape " + shape_text(t.shape) + " but a GPT-2 with n_layer=" + std::to_string(c.layers) +
           ", n_head=" + std::to_string(c.heads) + ", n_embd=" + std::to_string(c.channels) + ", n_positions=" +
           std::to_string(c.context) + ", vocab_size=" + std::to_string(c.vocab) + " needs " + shape_text(want.shape) + ".");
    if (t.type != dtype::F32 && t.type != dtype::F64 && t.type != dtype::F16 && t.type != dtype::BF16)
      fail("tensor '" + t.name + "' has dtype " + std::string(dtype_name(t.type)) +
           "; juice reads weights stored as F32, F64, F16 or BF16.");
  };
  for (const auto& want : layout) {
    auto it = found.find(want.name);
    if (it == found.end()) fail("tensor '" + want.name + "' is missing.");
    check_shape(want, *it->second);
  }
  k.has_value = found.count(value_layout[0].name) || found.count(value_layout[1].name);
  if (k.has_value)
    for (const auto& want : value_layout) {
      auto it = found.find(want.name);
      if (it == found.end()) fail("tensor '" + want.name + "' is missing (the other value-head tensor is present).");
      check_shape(want, *it->second);
    }
  if (k.lm_head) check_shape(layout[0], *k.lm_head);
  return k;
}

// Copies the tensors of an HF GPT-2 safetensors file into `model`, whose shape must match the
// file's. Everything is checked before the model is touched: on error the model is unchanged.
template <class T>
void import_hf_gpt2(transformer<cpu, T>& model, const safetensors_file& file) {
  auto fail = [&](const std::string& why) -> void {
    throw format_error("juice::io::hf_gpt2: " + file.source() + ": " + why);
  };
  hf_gpt2_contents contents = check_hf_gpt2_tensors(model.config(), file);
  const std::vector<hf_tensor>& layout = contents.layout;
  auto& found = contents.found;
  const tensor_info* lm_head = contents.lm_head;
  const bool has_value = contents.has_value;
  const std::vector<hf_tensor>& value_layout = contents.value_layout;

  // Read and convert everything, then check the tied head, then copy into the model.
  std::vector<std::vector<T>> values;
  std::vector<const hf_tensor*> order;
  order.reserve(layout.size() + value_layout.size());
  for (const auto& want : layout) order.push_back(&want);
  if (has_value)
    for (const auto& want : value_layout) order.push_back(&want);
  values.reserve(order.size());
  for (const hf_tensor* want : order) {
    values.push_back(file.read<T>(found[want->name]->name));
    const std::vector<T>& v = values.back();
    const auto bad = std::find_if(v.begin(), v.end(), [](T x) { return !std::isfinite(x); });
    if (bad != v.end())
      fail("tensor '" + found[want->name]->name + "' holds " + (std::isnan(*bad) ? "NaN" : "an infinity") + " at element " +
           std::to_string(bad - v.begin()) + "; juice refuses non-finite weights.");
  }
  if (lm_head) {
    const std::vector<T> head = file.read<T>("lm_head.weight");
    const std::vector<T>& wte = values[0];
    for (std::size_t i = 0; i < head.size(); ++i)
      if (!(head[i] == wte[i]))
        fail("tensor 'lm_head.weight' differs from 'wte.weight' (element " + std::to_string(i) + ": " +
             to_text(static_cast<double>(head[i])) + " vs " + to_text(static_cast<double>(wte[i])) +
             "); juice ties the LM head to the token embedding.");
  }
  auto params = detail::hf_parameter_spans(model);
  std::vector<std::span<T>> targets;
  targets.reserve(order.size());
  for (const hf_tensor* want : order) targets.push_back(detail::juice_tensor(params, *want));
  for (std::size_t k = 0; k < order.size(); ++k) {
    const hf_tensor& want = *order[k];
    const std::vector<T>& src = values[k];
    std::span<T> dst = targets[k];
    if (want.conv1d) {  // HF (in, out) -> juice (out, in)
      const std::size_t in = want.shape[0], out = want.shape[1];
      for (std::size_t i = 0; i < in; ++i)
        for (std::size_t o = 0; o < out; ++o) dst[o * in + i] = src[i * out + o];
    } else {
      std::copy(src.begin(), src.end(), dst.begin());
    }
  }
}

// Imports `dir`/model.safetensors into `model`, after checking that `dir`/config.json describes
// the model's shape.
template <class T>
void import_hf_gpt2(transformer<cpu, T>& model, const std::filesystem::path& dir) {
  const transformer_config c = read_hf_gpt2_config(dir / "config.json");
  const transformer_config& m = model.config();
  auto differ = [&](const char* key, std::size_t file, std::size_t mine) {
    if (file != mine)
      throw format_error("juice::io::hf_gpt2: " + (dir / "config.json").string() + ": " + key + " is " +
                         std::to_string(file) + " but the model has " + std::to_string(mine) + ".");
  };
  differ("n_layer", c.layers, m.layers);
  differ("n_head", c.heads, m.heads);
  differ("n_embd", c.channels, m.channels);
  differ("n_positions", c.context, m.context);
  differ("vocab_size", c.vocab, m.vocab);
  import_hf_gpt2(model, safetensors_file::load(dir / "model.safetensors"));
}

// A model of the shape `dir`/config.json gives, with the weights of `dir`/model.safetensors. The
// value head (not part of GPT-2) keeps its initialisation from `seed` unless the file stores it.
// config.json's sizes are checked (transformer_config::validate) and compared with the tensors'
// shapes in model.safetensors before the model is built: a config that would not fit in memory, or
// that does not describe the weights, costs no allocation of its size.
template <class T>
transformer<cpu, T> load_hf_gpt2(const std::filesystem::path& dir, std::uint64_t seed = 0, generation_options gen = {}) {
  const transformer_config c = read_hf_gpt2_config(dir / "config.json");
  const safetensors_file file = safetensors_file::load(dir / "model.safetensors");
  (void)check_hf_gpt2_tensors(c, file);
  transformer<cpu, T> model(c, seed, gen);
  import_hf_gpt2(model, file);
  return model;
}

// The model's weights as an HF GPT-2 safetensors file (in memory): HF names without prefix,
// Conv1D weights transposed to (in, out), metadata {"format": "pt"} (which transformers requires).
template <class T>
safetensors_writer hf_gpt2_tensors(const transformer<cpu, T>& model, const hf_export_options& o = {}) {
  // parameters() is not const-qualified; the spans are only read here.
  auto params = detail::hf_parameter_spans(const_cast<transformer<cpu, T>&>(model));
  std::vector<hf_tensor> layout = hf_gpt2_layout(model.config());
  if (o.value_head)
    for (auto& t : hf_value_head_layout(model.config())) layout.push_back(t);
  safetensors_writer w;
  w.set_metadata("format", "pt");
  std::vector<T> tmp;
  for (const hf_tensor& t : layout) {
    std::span<T> src = detail::juice_tensor(params, t);
    if (t.conv1d) {  // juice (out, in) -> HF (in, out)
      const std::size_t in = t.shape[0], out = t.shape[1];
      tmp.resize(src.size());
      for (std::size_t i = 0; i < in; ++i)
        for (std::size_t oc = 0; oc < out; ++oc) tmp[i * out + oc] = src[oc * in + i];
      w.add(t.name, t.shape, std::span<const T>(tmp), o.type);
    } else {
      w.add(t.name, t.shape, std::span<const T>(src.data(), src.size()), o.type);
    }
  }
  return w;
}

// Writes `dir`/model.safetensors and `dir`/config.json (creating `dir` if needed), each atomically,
// so that transformers' GPT2LMHeadModel.from_pretrained(dir) loads the model.
template <class T>
void export_hf_gpt2(const transformer<cpu, T>& model, const std::filesystem::path& dir, const hf_export_options& o = {}) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw io_error("juice::io::hf_gpt2: cannot create the folder " + dir.string() + ": " + ec.message() + ".");
  hf_gpt2_tensors(model, o).write(dir / "model.safetensors");
  write_file_atomically(dir / "config.json", hf_gpt2_config_json(model.config(), o.eos_token_id));
}

}  // namespace juice::io
