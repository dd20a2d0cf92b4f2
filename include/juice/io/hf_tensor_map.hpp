// juice/io/hf_tensor_map.hpp
//
// How one Hugging Face family's tensors map onto juice's parameter names (the contract in
// models/transformer_config.hpp's families: `wte`, `h.{l}.attn.c_attn.weight` with rows
// [q | k | v], `h.{l}.mlp.c_fc.weight` with rows [gate | up], ..., `lm_head`), and the two moves
// that use such a map: reading a folder's tensors into juice's layout, and writing juice's tensors
// in the family's layout. A map is data: every juice tensor is a stack of row blocks, each block
// some consecutive rows of one HF tensor (q_proj, k_proj, v_proj stacked; GPT-NeoX's fused
// query_key_value cut per head). Reading refuses a missing tensor, a tensor of another shape or a
// non-float dtype, a tensor the family does not have, and a NaN or infinite value, naming the
// tensor and the file; the family's buffers (rotary inv_freq, causal-mask bias) are skipped. A tied
// LM head stored anyway must equal the embedding. juice's value head travels under
// `juice.value_head.{weight,bias}`, as io/hf_gpt2.hpp stores it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "juice/core/error.hpp"
#include "juice/io/hf_safetensors_folder.hpp"
#include "juice/io/safetensors.hpp"

namespace juice::io {

// A tensor's name and shape (HF's or juice's).
struct hf_named_shape {
  std::string name;
  std::vector<std::size_t> shape;
  [[nodiscard]] std::size_t elements() const {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    return n;
  }
  // Elements per row: the product of the shape after its first axis (1 for a vector).
  [[nodiscard]] std::size_t row_width() const {
    std::size_t n = 1;
    for (std::size_t i = 1; i < shape.size(); ++i) n *= shape[i];
    return n;
  }
};

// `rows` rows of HF tensor `hf` from `hf_row` on are rows `juice_row` on of a juice tensor.
struct hf_row_block {
  std::size_t hf;  // index into hf_tensor_map::hf
  std::size_t hf_row, juice_row, rows;
};

// A family's layout for one config.
struct hf_tensor_map {
  std::string family;                                       // for messages: "a Llama with n_layer=2, ..."
  std::vector<hf_named_shape> hf;                           // the tensors the family stores
  std::vector<hf_named_shape> juice;                        // the contract's tensors, in juice's storage order
  std::vector<std::vector<hf_row_block>> blocks;            // per juice tensor, its rows from top to bottom
  std::optional<std::pair<std::string, std::string>> tied;  // (LM head, embedding) when the head is tied
  std::function<bool(const std::string&)> buffer;           // names the family's non-weight buffers

  // Adds a juice tensor that is HF tensor `hf_name` unchanged; returns its hf index.
  std::size_t same(const std::string& juice_name, const std::string& hf_name, std::vector<std::size_t> shape) {
    hf.push_back({hf_name, shape});
    juice.push_back({juice_name, std::move(shape)});
    blocks.push_back({{hf.size() - 1, 0, 0, juice.back().shape[0]}});
    return hf.size() - 1;
  }
  // Adds a juice tensor stacking whole HF tensors `parts` (each of `rows` rows, `width` wide, or a
  // vector when width is 0) top to bottom.
  void stack(const std::string& juice_name, const std::vector<std::pair<std::string, std::size_t>>& parts, std::size_t width) {
    std::vector<hf_row_block> b;
    std::size_t at = 0;
    for (const auto& [name, rows] : parts) {
      hf.push_back({name, width ? std::vector<std::size_t>{rows, width} : std::vector<std::size_t>{rows}});
      b.push_back({hf.size() - 1, 0, at, rows});
      at += rows;
    }
    juice.push_back({juice_name, width ? std::vector<std::size_t>{at, width} : std::vector<std::size_t>{at}});
    blocks.push_back(std::move(b));
  }
};

// juice's tensors by name (the contract's names), host values.
template <class T>
using juice_tensors = std::map<std::string, std::vector<T>>;

namespace detail {

inline const char* value_head_names[2][2] = {{"value_head.weight", "juice.value_head.weight"},
                                             {"value_head.bias", "juice.value_head.bias"}};

template <class T>
void check_finite(const std::vector<T>& v, const std::string& tensor, const std::string& source) {
  const auto bad = std::find_if(v.begin(), v.end(), [](T x) { return !std::isfinite(x); });
  if (bad != v.end())
    throw format_error("juice::io::hf_model: " + source + ": tensor '" + tensor + "' holds " + (std::isnan(*bad) ? "NaN" : "an infinity") +
                       " at element " + std::to_string(bad - v.begin()) + "; juice refuses non-finite weights.");
}

}  // namespace detail

// The tensors of `folder` in juice's layout, after checking every tensor of the folder against
// `map` (see the file comment). Also reads juice's value head when the folder stores it.
template <class T>
juice_tensors<T> read_hf_tensors(const hf_tensor_map& map, const hf_safetensors_folder& folder, std::size_t channels) {
  auto fail = [&](const std::string& tensor, const std::string& why) -> void {
    throw format_error("juice::io::hf_model: " + folder.source_of(tensor) + ": tensor '" + tensor + "' " + why);
  };
  std::map<std::string, std::size_t> wanted;
  for (std::size_t i = 0; i < map.hf.size(); ++i) wanted.emplace(map.hf[i].name, i);
  for (const auto& [name, file] : folder.tensors()) {
    (void)file;
    if (wanted.count(name) || (map.buffer && map.buffer(name))) continue;
    if (map.tied && name == map.tied->first) continue;
    if (name == detail::value_head_names[0][1] || name == detail::value_head_names[1][1]) continue;
    fail(name, "is not part of " + map.family + " (juice refuses unknown tensors rather than drop them).");
  }
  auto read = [&](const hf_named_shape& want) {
    const tensor_info* t = folder.find(want.name);
    if (!t)
      throw format_error("juice::io::hf_model: " + folder.files().front().source() + ": tensor '" + want.name + "' is missing (" +
                         map.family + " has it).");
    if (t->shape != want.shape)
      fail(want.name, "has shape " + shape_text(t->shape) + " but " + map.family + " needs " + shape_text(want.shape) + ".");
    if (t->type != dtype::F32 && t->type != dtype::F64 && t->type != dtype::F16 && t->type != dtype::BF16)
      fail(want.name, "has dtype " + std::string(dtype_name(t->type)) + "; juice reads weights stored as F32, F64, F16 or BF16.");
    std::vector<T> v(t->elements());
    folder.file_of(want.name).read_into(*t, std::span<T>(v));
    detail::check_finite(v, want.name, folder.source_of(want.name));
    return v;
  };
  std::vector<std::vector<T>> hf;
  hf.reserve(map.hf.size());
  for (const auto& want : map.hf) hf.push_back(read(want));
  juice_tensors<T> out;
  for (std::size_t j = 0; j < map.juice.size(); ++j) {
    const hf_named_shape& dst = map.juice[j];
    std::vector<T> v(dst.elements());
    const std::size_t w = dst.row_width();
    for (const hf_row_block& b : map.blocks[j])
      std::copy_n(hf[b.hf].begin() + static_cast<std::ptrdiff_t>(b.hf_row * w), b.rows * w, v.begin() + static_cast<std::ptrdiff_t>(b.juice_row * w));
    out.emplace(dst.name, std::move(v));
  }
  if (map.tied && folder.find(map.tied->first)) {
    const auto& embedding = map.tied->second;
    const std::size_t k = wanted.at(embedding);
    const std::vector<T> head = read({map.tied->first, map.hf[k].shape});
    for (std::size_t i = 0; i < head.size(); ++i)
      if (!(head[i] == hf[k][i]))
        fail(map.tied->first, "differs from '" + embedding + "' (element " + std::to_string(i) +
                                  "); the config ties the LM head to the token embedding (tie_word_embeddings).");
  }
  const bool w = folder.find(detail::value_head_names[0][1]) != nullptr, b = folder.find(detail::value_head_names[1][1]) != nullptr;
  if (w != b)
    fail(detail::value_head_names[w ? 0 : 1][1],
         std::string("is stored without '") + detail::value_head_names[w ? 1 : 0][1] + "' (juice's value head has both).");
  if (w) {
    out[detail::value_head_names[0][0]] = read({detail::value_head_names[0][1], {1, channels}});
    out[detail::value_head_names[1][0]] = read({detail::value_head_names[1][1], {1}});
  }
  return out;
}

// juice's tensors `values` (the contract's names; value_head.* too when present and `value_head`)
// in the family's layout, as a safetensors file in memory stored as `type`, with the metadata
// {"format": "pt"} transformers requires.
template <class T>
safetensors_writer write_hf_tensors(const hf_tensor_map& map, const juice_tensors<T>& values, dtype type, bool value_head = false) {
  auto get = [&](const std::string& name, std::size_t elements) -> const std::vector<T>& {
    auto it = values.find(name);
    if (it == values.end() || it->second.size() != elements)
      throw invalid_argument("juice::io::hf_model: no juice tensor '" + name + "' of " + std::to_string(elements) + " elements to write as " +
                             map.family + ".");
    return it->second;
  };
  std::vector<std::vector<T>> hf(map.hf.size());
  for (std::size_t i = 0; i < map.hf.size(); ++i) hf[i].resize(map.hf[i].elements());
  for (std::size_t j = 0; j < map.juice.size(); ++j) {
    const hf_named_shape& src = map.juice[j];
    const std::vector<T>& v = get(src.name, src.elements());
    const std::size_t w = src.row_width();
    for (const hf_row_block& b : map.blocks[j])
      std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(b.juice_row * w), b.rows * w, hf[b.hf].begin() + static_cast<std::ptrdiff_t>(b.hf_row * w));
  }
  safetensors_writer out;
  out.set_metadata("format", "pt");
  for (std::size_t i = 0; i < map.hf.size(); ++i) out.add(map.hf[i].name, map.hf[i].shape, hf[i], type);
  if (value_head) {
    const std::vector<T>& w = get(detail::value_head_names[0][0], values.count(detail::value_head_names[0][0]) ? values.at(detail::value_head_names[0][0]).size() : 0);
    out.add(detail::value_head_names[0][1], {1, w.size()}, w, type);
    out.add(detail::value_head_names[1][1], {1}, get(detail::value_head_names[1][0], 1), type);
  }
  return out;
}

}  // namespace juice::io
