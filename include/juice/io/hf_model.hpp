// juice/io/hf_model.hpp
//
// A Hugging Face model folder of any family juice computes, chosen by config.json's `model_type`
// (or, without one, its `architectures`): "gpt2" goes to io/hf_gpt2.hpp as before (and so does a
// config.json naming neither, as GPT-2 folders always did); "llama", "mistral", "qwen2" to
// io/hf_llama.hpp; "gpt_neox" to io/hf_neox.hpp; any other type is refused by name. In two layers:
//   - folder <-> (transformer_config, juice tensors by the contract's names): read_hf_model and
//     write_hf_model, no model involved;
//   - those tensors <-> a juice::transformer<cpu, T> through its named parameter spans:
//     load_hf_model and export_hf_model (GPT-2 through load_hf_gpt2 / export_hf_gpt2).
// The weights are model.safetensors or a sharded index (io/hf_safetensors_folder.hpp); exports
// write one model.safetensors and config.json, each atomically, in the family's own layout and
// config form, so that transformers' from_pretrained loads them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/io/atomic_file.hpp"
#include "juice/io/hf_config.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/io/hf_llama.hpp"
#include "juice/io/hf_neox.hpp"
#include "juice/io/hf_safetensors_folder.hpp"
#include "juice/io/hf_tensor_map.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::io {

// The family config.json names: "" for GPT-2, else its model_type ("llama", "mistral", "qwen2",
// "gpt_neox"). Refuses another model_type or architecture by name.
inline std::string hf_model_type(const hf_config_reader& r) {
  std::string t = r.text("model_type", "");
  if (t.empty()) {
    if (const nlohmann::json* a = r.get("architectures"); a && a->is_array() && !a->empty() && (*a)[0].is_string()) {
      const std::string arch = (*a)[0].get<std::string>();
      if (arch == "LlamaForCausalLM") t = "llama";
      else if (arch == "MistralForCausalLM") t = "mistral";
      else if (arch == "Qwen2ForCausalLM") t = "qwen2";
      else if (arch == "GPTNeoXForCausalLM") t = "gpt_neox";
      else if (arch != "GPT2LMHeadModel" && arch != "GPT2Model")
        r.fail("architectures names \"" + arch + "\"; juice imports GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, " +
               "Qwen2ForCausalLM and GPTNeoXForCausalLM.");
    }
    return t;
  }
  if (t == "gpt2") return "";
  if (!is_hf_llama_type(t) && t != "gpt_neox")
    r.fail("model_type is \"" + t + "\"; juice imports \"gpt2\", \"llama\", \"mistral\", \"qwen2\" and \"gpt_neox\".");
  return t;
}

// The config `dir`/config.json describes, whatever its family (hf_model_type names it).
inline transformer_config read_hf_model_config(const std::filesystem::path& dir) {
  const hf_config_reader r = read_hf_config_file(dir / "config.json");
  const std::string t = hf_model_type(r);
  if (t.empty()) return read_hf_gpt2_config(dir / "config.json");
  return t == "gpt_neox" ? parse_hf_neox_config(r) : parse_hf_llama_config(r, t);
}

// The tensor map of `c`'s family (c.hf_model_type; not GPT-2, which io/hf_gpt2.hpp lays out).
inline hf_tensor_map hf_model_map(const transformer_config& c) {
  if (is_hf_llama_type(hf_family_name(c.hf_model_type))) return hf_llama_map(c);
  if (c.hf_model_type == transformer_config::hf_family::gpt_neox) return hf_neox_map(c);
  throw invalid_argument(
      "juice::io::hf_model: a GPT-2 is laid out by io/hf_gpt2.hpp; hf_model_map maps \"llama\", \"mistral\", "
      "\"qwen2\" and \"gpt_neox\".");
}

// torch's name of a dtype juice writes ("float32", ...).
inline std::string torch_dtype_name(dtype t) {
  switch (t) {
    case dtype::F64:
      return "float64";
    case dtype::F16:
      return "float16";
    case dtype::BF16:
      return "bfloat16";
    default:
      return "float32";
  }
}

// The config.json text of `c` in its family's own form (keys sorted).
inline std::string hf_model_config_json(const transformer_config& c, dtype type = dtype::F32, std::optional<std::int64_t> eos = std::nullopt) {
  if (c.hf_model_type == transformer_config::hf_family::gpt2) return hf_gpt2_config_json(c, eos);
  const nlohmann::json j =
      c.hf_model_type == transformer_config::hf_family::gpt_neox ? hf_neox_config_json(c, torch_dtype_name(type), eos) : hf_llama_config_json(c, torch_dtype_name(type), eos);
  return j.dump(2) + "\n";
}

// A folder's config and tensors in juice's layout.
template <class T>
struct hf_model_contents {
  transformer_config config;
  juice_tensors<T> tensors;
};

// Reads `dir` (a Llama-family or GPT-NeoX folder; a GPT-2 folder is refused with a pointer to
// load_hf_gpt2): config.json, then the weights, checked against the config's layout before any
// tensor is converted.
template <class T>
hf_model_contents<T> read_hf_model(const std::filesystem::path& dir) {
  hf_model_contents<T> out{read_hf_model_config(dir), {}};
  if (out.config.hf_model_type == transformer_config::hf_family::gpt2)
    throw invalid_argument("juice::io::hf_model: " + (dir / "config.json").string() + " describes a GPT-2; io/hf_gpt2.hpp reads it (load_hf_gpt2).");
  const hf_safetensors_folder folder = hf_safetensors_folder::load(dir);
  // Each layer has several tensors: a folder with fewer tensors than config.json has layers is not
  // this model, and its layout is not built for a claimed num_hidden_layers of millions.
  if (out.config.layers > folder.tensors().size())
    throw format_error("juice::io::hf_model: " + (dir / "config.json").string() + ": num_hidden_layers is " + std::to_string(out.config.layers) +
                       " but the weights hold " + std::to_string(folder.tensors().size()) + " tensors; config.json does not describe them.");
  out.tensors = read_hf_tensors<T>(hf_model_map(out.config), folder, out.config.channels);
  return out;
}

// Writes `dir`/model.safetensors and `dir`/config.json of a Llama-family or GPT-NeoX model (the
// family c.hf_model_type) from juice's tensors (the contract's names; the value head when
// o.value_head), creating `dir` if needed, each file atomically.
template <class T>
void write_hf_model(const std::filesystem::path& dir, const transformer_config& c, const juice_tensors<T>& tensors, const hf_export_options& o = {}) {
  const hf_tensor_map map = hf_model_map(c);
  const std::string config = hf_model_config_json(c, o.type, o.eos_token_id);
  const safetensors_writer w = write_hf_tensors(map, tensors, o.type, o.value_head);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw io_error("juice::io::hf_model: cannot create the folder " + dir.string() + ": " + ec.message() + ".");
  w.write(dir / "model.safetensors");
  write_file_atomically(dir / "config.json", config);
}

// The model's parameters by name, copied (the contract's names; the value head too).
template <class T>
juice_tensors<T> hf_model_tensors(const transformer<cpu, T>& model) {
  juice_tensors<T> out;
  // parameters() is not const-qualified; the spans are only read here.
  for (const auto& [name, span] : detail::hf_parameter_spans(const_cast<transformer<cpu, T>&>(model)))
    out.emplace(name, std::vector<T>(span.begin(), span.end()));
  return out;
}

// Copies `tensors` into `model`: every parameter of the model must be there with its size, except
// the value head, which keeps its initialisation when absent. Checked before anything is copied.
template <class T>
void import_hf_model(transformer<cpu, T>& model, const juice_tensors<T>& tensors, const std::string& source) {
  auto params = detail::hf_parameter_spans(model);
  for (const auto& [name, span] : params) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      if (name.rfind("value_head.", 0) == 0) continue;
      throw format_error("juice::io::hf_model: " + source + ": the model's parameter '" + name + "' has no tensor; the mapping needs updating.");
    }
    if (it->second.size() != span.size())
      throw format_error("juice::io::hf_model: " + source + ": the model's parameter '" + name + "' has " + std::to_string(span.size()) +
                         " elements but the tensor mapped to it " + std::to_string(it->second.size()) + ".");
  }
  for (const auto& [name, values] : tensors)
    if (!params.count(name))
      throw format_error("juice::io::hf_model: " + source + ": tensor '" + name + "' has no parameter of the model to go to; the mapping needs updating.");
  for (auto& [name, span] : params)
    if (auto it = tensors.find(name); it != tensors.end()) std::copy(it->second.begin(), it->second.end(), span.begin());
}

// A model of the shape `dir`/config.json gives, of any family, with the folder's weights; the value
// head keeps its initialisation from `seed` unless the folder stores it.
template <class T>
transformer<cpu, T> load_hf_model(const std::filesystem::path& dir, std::uint64_t seed = 0, generation_options gen = {}) {
  if (read_hf_model_config(dir).hf_model_type == transformer_config::hf_family::gpt2) return load_hf_gpt2<T>(dir, seed, gen);
  hf_model_contents<T> contents = read_hf_model<T>(dir);
  transformer<cpu, T> model(contents.config, seed, gen);
  import_hf_model(model, contents.tensors, dir.string());
  return model;
}

// Writes `model` to `dir` in its family's layout (GPT-2 when config().hf_model_type is hf_family::gpt2).
template <class T>
void export_hf_model(const transformer<cpu, T>& model, const std::filesystem::path& dir, const hf_export_options& o = {}) {
  if (model.config().hf_model_type == transformer_config::hf_family::gpt2) return export_hf_gpt2(model, dir, o);
  write_hf_model(dir, model.config(), hf_model_tensors(model), o);
}

}  // namespace juice::io
