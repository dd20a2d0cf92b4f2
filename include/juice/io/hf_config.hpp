// juice/io/hf_config.hpp
//
// Reading the keys of a Hugging Face config.json that the Llama family and GPT-NeoX share: sizes
// as positive integers, numbers, flags, the activation by name, and the rotary embedding in both
// of transformers' forms, 4.x (`rope_theta` or GPT-NeoX's `rotary_emb_base`, `rotary_pct` or
// `partial_rotary_factor`, `rope_scaling`) and 5.x (`rope_parameters` {rope_theta, rope_type,
// partial_rotary_factor}). What juice does not compute is refused by the key's name, never
// ignored: a rope type other than "default", two forms that disagree, an activation other than
// the family's. Every message starts "juice::io::hf_model: FILE: ".
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "juice/core/error.hpp"
#include "juice/io/atomic_file.hpp"
#include "juice/io/json.hpp"
#include "juice/models/transformer_config.hpp"

namespace juice::io {

// A parsed config.json with checked accessors; `source` names the file in messages.
class hf_config_reader {
public:
  hf_config_reader(const std::string& text, std::string source) : source_(std::move(source)) {
    try {
      j_ = parse_json(text);
    } catch (const json_error& e) {
      fail(std::string("not valid JSON: ") + e.what());
    }
    if (!j_.is_object()) fail("not a JSON object.");
  }

  [[noreturn]] void fail(const std::string& why) const { throw format_error("juice::io::hf_model: " + source_ + ": " + why); }
  [[nodiscard]] const nlohmann::json& json() const { return j_; }
  [[nodiscard]] const std::string& source() const { return source_; }
  // The key's value unless absent or null.
  [[nodiscard]] const nlohmann::json* get(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  // A required positive integer.
  [[nodiscard]] std::size_t positive(const char* key) const {
    const nlohmann::json* v = get(key);
    if (!v) fail(std::string("the key '") + key + "' is missing.");
    return positive_value(key, *v);
  }
  [[nodiscard]] std::size_t positive_value(const std::string& key, const nlohmann::json& v) const {
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() == 0) fail("'" + key + "' must be a positive integer, not " + v.dump() + ".");
    return static_cast<std::size_t>(v.get<std::uint64_t>());
  }
  // A number, `fallback` when absent.
  [[nodiscard]] double number(const char* key, double fallback) const {
    const nlohmann::json* v = get(key);
    if (!v) return fallback;
    if (!v->is_number()) fail(std::string("'") + key + "' must be a number, not " + v->dump() + ".");
    return v->get<double>();
  }
  // A flag, `fallback` when absent.
  [[nodiscard]] bool flag(const char* key, bool fallback) const {
    const nlohmann::json* v = get(key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(std::string("'") + key + "' must be true or false, not " + v->dump() + ".");
    return v->get<bool>();
  }
  // A string, `fallback` when absent.
  [[nodiscard]] std::string text(const char* key, const std::string& fallback) const {
    const nlohmann::json* v = get(key);
    if (!v) return fallback;
    if (!v->is_string()) fail(std::string("'") + key + "' must be a string, not " + v->dump() + ".");
    return v->get<std::string>();
  }

  // Sets the sizes Llama-style and GPT-NeoX configs name alike (each a positive integer):
  // hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, max_position_embeddings,
  // vocab_size.
  void decoder_sizes(transformer_config& c) const {
    c.channels = positive("hidden_size");
    c.layers = positive("num_hidden_layers");
    c.heads = positive("num_attention_heads");
    c.intermediate = positive("intermediate_size");
    c.context = positive("max_position_embeddings");
    c.vocab = positive("vocab_size");
  }

  // Sets c.rope_theta and c.rotary_fraction from either form (defaults `theta`, `fraction`);
  // `theta_keys` are the 4.x names of the base, in order of preference.
  void rotary(transformer_config& c, std::initializer_list<const char*> theta_keys, double theta, const char* fraction_key,
              double fraction) const {
    std::optional<double> t4, f4;
    for (const char* k : theta_keys)
      if (get(k)) {
        const double v = number(k, 0);
        if (t4 && *t4 != v) fail(std::string("'") + k + "' is " + to_text(v) + " but another rotary base key says " + to_text(*t4) + ".");
        t4 = v;
      }
    for (const char* k : {fraction_key, "partial_rotary_factor"})
      if (k && get(k)) {
        const double v = number(k, 0);
        if (f4 && *f4 != v) fail(std::string("'") + k + "' is " + to_text(v) + " but another rotary fraction key says " + to_text(*f4) + ".");
        f4 = v;
      }
    if (const nlohmann::json* s = get("rope_scaling")) rope_type(*s, "rope_scaling");
    std::optional<double> t5, f5;
    if (const nlohmann::json* p = get("rope_parameters")) {
      if (!p->is_object()) fail("'rope_parameters' must be an object, not " + p->dump() + ".");
      rope_type(*p, "rope_parameters");
      for (auto it = p->begin(); it != p->end(); ++it) {
        const std::string& k = it.key();
        if (k == "rope_type" || k == "type") continue;
        if (k != "rope_theta" && k != "partial_rotary_factor")
          fail("'rope_parameters' has the key '" + k + "'; juice computes default rotary embedding (rope_theta, partial_rotary_factor) only.");
        if (!it->is_number()) fail("'rope_parameters." + k + "' must be a number, not " + it->dump() + ".");
        (k == "rope_theta" ? t5 : f5) = it->get<double>();
      }
    }
    if (t4 && t5 && *t4 != *t5) fail("'rope_theta' is " + to_text(*t4) + " but 'rope_parameters.rope_theta' is " + to_text(*t5) + ".");
    if (f4 && f5 && *f4 != *f5)
      fail("the rotary fraction is " + to_text(*f4) + " but 'rope_parameters.partial_rotary_factor' is " + to_text(*f5) + ".");
    c.rope_theta = t5 ? *t5 : t4 ? *t4
                                 : theta;
    c.rotary_fraction = f5 ? *f5 : f4 ? *f4
                                      : fraction;
  }

  // Refuses a count of experts (a mixture-of-experts MLP) under any of `keys`.
  void no_experts(std::initializer_list<const char*> keys) const {
    for (const char* k : keys)
      if (const nlohmann::json* v = get(k); v && !(v->is_number() && v->get<double>() == 0))
        fail(std::string("'") + k + "' is " + v->dump() + ": a mixture-of-experts MLP, which juice does not compute.");
  }

  // Refuses a head_dim other than hidden_size / num_attention_heads.
  void head_dim(const transformer_config& c) const {
    if (const nlohmann::json* v = get("head_dim"); v && (!v->is_number_unsigned() || v->get<std::uint64_t>() != c.head_size()))
      fail("'head_dim' is " + v->dump() + " but hidden_size / num_attention_heads is " + std::to_string(c.head_size()) +
           "; juice's heads split the hidden state evenly.");
  }

  // Validates `c` (transformer_config::validate), its messages prefixed with the file.
  void validate(const transformer_config& c) const {
    try {
      c.validate();
    } catch (const invalid_argument& e) {
      fail(e.what());
    }
  }

private:
  void rope_type(const nlohmann::json& s, const std::string& key) const {
    if (!s.is_object()) fail("'" + key + "' must be an object or null, not " + s.dump() + ".");
    for (const char* k : {"rope_type", "type"})
      if (auto it = s.find(k); it != s.end() && *it != "default")
        fail("'" + key + "' has " + k + " " + it->dump() + "; juice computes default rotary embedding only (no scaling).");
  }

  std::string source_;
  nlohmann::json j_;
};

// Reads a config.json file into a reader.
inline hf_config_reader read_hf_config_file(const std::filesystem::path& file) {
  const std::vector<std::uint8_t> b = read_file(file);
  return {std::string(b.begin(), b.end()), file.string()};
}

}  // namespace juice::io
