// juice/data/tokenizer_json.hpp
//
// Hugging Face's tokenizer.json (the `tokenizers` library's one-file form) for the byte-level BPE
// of GPT-2, Pythia (GPT-NeoX), Qwen2, SmolLM and Llama 3: model {type "BPE", vocab, merges (as
// "left right" strings or [left, right] pairs), byte_fallback false}; pre_tokenizer ByteLevel
// (GPT-2's regex) or a Sequence of Split {Regex, behavior "Isolated"} and ByteLevel {use_regex
// false} (Qwen2's form, the regex of the Split); normalizer none, NFC, or a Sequence of NFC only
// (Pythia's and Qwen2's: bpe_options::normalization = nfc, data/unicode_normalize.hpp); decoder
// ByteLevel or none; added_tokens recognised by their text (when bpe_options::recognise_special) and
// decoded to it. Read into a juice::bpe_tokenizer. What would make juice's ids differ from
// `tokenizers`' is refused by name rather than ignored: another model type; SentencePiece-style BPE
// (byte_fallback, Llama 2 and Mistral, whose normalizer writes spaces as "▁"); any other normalizer
// (NFD, NFKC, NFKD, Lowercase, Strip, Replace, Prepend, BertNormalizer, Precompiled, ...);
// add_prefix_space; a Split pattern that is a plain string or has another behaviour or invert; an
// added token with lstrip, rstrip or single_word, or, under NFC, one with "normalized": true whose
// own text NFC changes; an unknown pre-tokenizer or decoder. Post-processors (BOS/EOS templates) are
// not applied: encode gives the text's own ids, as `tokenizers` does with add_special_tokens=False.
//
// Added tokens under NFC. `tokenizers` finds an added token with "normalized": false in the text as
// given and one with "normalized": true in the NFC form of the text around it; juice finds both in
// the text as given, then normalises the text between them. The two agree unless the characters
// next to a "normalized": true token compose with the token's own under NFC: "<|x|>" followed by
// U+0338 COMBINING LONG SOLIDUS OVERLAY, whose ">" + U+0338 is U+226F in NFC, is the token to juice
// and not to `tokenizers`. Pythia's and Qwen2's special tokens are "normalized": false (Pythia's
// added runs of spaces are "normalized": true, but no character composes with a space).
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "juice/data/bpe_tokenizer.hpp"
#include "juice/data/data_error.hpp"
#include "juice/data/unicode_normalize.hpp"

namespace juice {

// Reads tokenizer.json at `path` (see the file comment). options.special_tokens is replaced by the
// file's added tokens and options.normalization by its normalizer; options.eos_token names the one
// eos() returns.
inline bpe_tokenizer load_tokenizer_json(const std::string& path, bpe_options options = {}) {
  auto fail = [&](const std::string& why) -> void { throw data_error(path + ": " + why); };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw data_error(path + ": cannot be opened.");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("not valid JSON (") + e.what() + ").");
  }
  if (!j.is_object()) fail("expected a JSON object (a tokenizers tokenizer.json).");
  const auto is = [](const nlohmann::json& o, const char* key, const nlohmann::json& v) {
    auto it = o.find(key);
    return it != o.end() && *it == v;
  };
  const auto type_of = [&](const nlohmann::json& o, const std::string& what) -> std::string {
    if (!o.is_object() || !o.contains("type") || !o["type"].is_string()) fail(what + " has no string \"type\".");
    return o["type"].get<std::string>();
  };

  if (!j.contains("model")) fail("has no \"model\".");
  const nlohmann::json& model = j["model"];
  if (const std::string t = type_of(model, "model"); t != "BPE")
    fail("model type \"" + t + "\" is not supported; juice reads byte-level BPE (\"BPE\") only.");
  if (is(model, "byte_fallback", true))
    fail("SentencePiece-style BPE (byte_fallback) is not supported; juice reads byte-level BPE (GPT-2, Pythia, Qwen2, Llama 3).");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix", "dropout"})
    if (model.contains(key) && !model[key].is_null() && !(model[key].is_string() && model[key].get<std::string>().empty()))
      fail(std::string("model.") + key + " is " + model[key].dump() + "; juice's byte-level BPE has none.");
  // The normalizer: none, NFC, or a Sequence whose members are all NFC (an empty one is none).
  options.normalization = unicode_normalization::none;
  if (const auto it = j.find("normalizer"); it != j.end() && !it->is_null()) {
    const auto refuse = [&](const std::string& type, const char* where) {
      fail("the normalizer \"" + type + "\"" + where + " is not supported; juice applies NFC only (\"NFC\", or a Sequence of \"NFC\").");
    };
    if (const std::string t = type_of(*it, "normalizer"); t == "NFC") {
      options.normalization = unicode_normalization::nfc;
    } else if (t == "Sequence") {
      if (!it->contains("normalizers") || !(*it)["normalizers"].is_array()) fail("normalizer Sequence has no array \"normalizers\".");
      for (const auto& member : (*it)["normalizers"]) {
        if (const std::string m = type_of(member, "a normalizer of the Sequence"); m != "NFC") refuse(m, " (in a Sequence)");
        options.normalization = unicode_normalization::nfc;
      }
    } else {
      refuse(t, "");
    }
  }

  bpe_tokenizer::byte_level_parts parts;
  // Pre-tokenisation: ByteLevel alone, or Split(regex) then ByteLevel without its own regex.
  auto byte_level = [&](const nlohmann::json& p, bool own_regex) {
    if (is(p, "add_prefix_space", true)) fail("pre_tokenizer ByteLevel with add_prefix_space true is not supported.");
    if (p.contains("use_regex") && p["use_regex"] != own_regex)
      fail(std::string("pre_tokenizer ByteLevel has use_regex ") + (own_regex ? "false" : "true") +
           (own_regex ? " with no Split before it" : " after a Split") + "; juice applies one pattern.");
  };
  const nlohmann::json pre = j.value("pre_tokenizer", nlohmann::json());
  const std::string pre_type = pre.is_null() ? "" : type_of(pre, "pre_tokenizer");
  if (pre_type == "ByteLevel") {
    byte_level(pre, true);
  } else if (pre_type == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].is_array() && pre["pretokenizers"].size() == 2 &&
             type_of(pre["pretokenizers"][0], "pre_tokenizer") == "Split" && type_of(pre["pretokenizers"][1], "pre_tokenizer") == "ByteLevel") {
    const nlohmann::json& split = pre["pretokenizers"][0];
    if (!split.contains("pattern") || !split["pattern"].is_object() || !split["pattern"].contains("Regex") || !split["pattern"]["Regex"].is_string())
      fail("pre_tokenizer Split's pattern is not {\"Regex\": ...}; juice splits by a regex only.");
    if (!is(split, "behavior", "Isolated") || is(split, "invert", true))
      fail("pre_tokenizer Split has behavior " + split.value("behavior", nlohmann::json()).dump() + (is(split, "invert", true) ? " and invert true" : "") +
           "; juice splits as \"Isolated\" (each match a piece) without invert.");
    parts.pattern = split["pattern"]["Regex"].get<std::string>();
    byte_level(pre["pretokenizers"][1], false);
  } else {
    fail("pre_tokenizer " + (pre_type.empty() ? std::string("null") : "\"" + pre_type + "\"") +
         " is not supported; juice reads ByteLevel, or a Sequence of Split (regex) and ByteLevel.");
  }
  if (const auto it = j.find("decoder"); it != j.end() && !it->is_null())
    if (const std::string d = type_of(*it, "decoder"); d != "ByteLevel") fail("decoder \"" + d + "\" is not supported; juice decodes byte-level BPE (\"ByteLevel\").");

  if (!model.contains("vocab") || !model["vocab"].is_object()) fail("model.vocab is not an object of token -> id.");
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer()) fail("the id of token \"" + text + "\" is not an integer.");
    parts.vocab.emplace_back(text, id.get<std::int64_t>());
  }
  if (!model.contains("merges") || !model["merges"].is_array()) fail("model.merges is not an array.");
  for (std::size_t k = 0; k < model["merges"].size(); ++k) {
    const nlohmann::json& m = model["merges"][k];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const auto space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == s.size() || s.find(' ', space + 1) != std::string::npos)
        fail("merge " + std::to_string(k) + " \"" + s + "\" is not \"<left> <right>\".");
      parts.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      parts.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      fail("merge " + std::to_string(k) + " is " + m.dump() + ", neither \"<left> <right>\" nor [left, right].");
    }
  }
  if (const auto it = j.find("added_tokens"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) fail("added_tokens is not an array.");
    for (const auto& a : *it) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") || !a["content"].is_string() ||
          a["content"].get<std::string>().empty())
        fail("an added token is not {\"id\": integer, \"content\": non-empty text, ...}: " + a.dump() + ".");
      for (const char* flag : {"lstrip", "rstrip", "single_word"})
        if (is(a, flag, true)) fail("added token " + a["content"].dump() + " has " + flag + " true, which juice does not apply.");
      // `tokenizers` would look for such a token's NFC form in the NFC text, juice for its text as given.
      if (options.normalization == unicode_normalization::nfc && !is(a, "normalized", false) &&
          data::nfc_if_changed(a["content"].get<std::string>()))
        fail("added token " + a["content"].dump() + " has \"normalized\" true and NFC changes its text; juice finds added tokens in the text as given, `tokenizers` in its NFC form.");
      parts.added.emplace_back(a["content"].get<std::string>(), a["id"].get<std::int64_t>());
    }
  }
  try {
    return bpe_tokenizer::from_parts(parts, std::move(options), path);
  } catch (const invalid_argument& e) {  // the Split regex does not compile
    throw data_error(path + ": pre_tokenizer Split's regex: " + e.what());
  }
}

}  // namespace juice
