// juice/data/tokenizer_json.hpp through load_tokenizer: the byte-level BPE tokenizer.json files that
// the `tokenizers` library trained and saved (tests/fixtures/tokenizers, made by
// tests/fixtures/make_families.py: one with ByteLevel's GPT-2 regex, one with Qwen2's Split regex,
// and both again with the NFC normalizer) give, on text with non-ASCII letters, digits, whitespace
// runs, special tokens and (for NFC) text that NFC rewrites, exactly the ids `tokenizers` gave, and
// decode back to the text (its NFC form, as Python's unicodedata wrote it, for NFC); files juice
// would read differently are refused by name.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "check_throws.hpp"
#include "juice/data/any_tokenizer.hpp"
#include "juice/data/tokenizer_json.hpp"
#include "scratch_dir.hpp"

using namespace juice;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = JUICE_FIXTURES;

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// A copy of a fixture's tokenizer.json (GPT-2's regex, by default without a normalizer) in `dir` with
// `edit` applied; returns its path.
template <class Edit>
std::string edited(const fs::path& dir, const std::string& name, const Edit& edit, const std::string& fixture = "gpt2_regex") {
  nlohmann::json j = read_json(fixtures / "tokenizers" / fixture / "tokenizer.json");
  edit(j);
  const fs::path p = dir / (name + ".json");
  std::ofstream(p) << j.dump();
  return p.string();
}

// encode gives, for every text of `fixture`'s ids.json, the ids `tokenizers` gave; decode gives the
// text back, or for an NFC fixture the text's NFC form that ids.json holds.
void check_ids(const any_tokenizer& tok, const std::string& fixture) {
  const nlohmann::json cases = read_json(fixtures / "tokenizers" / fixture / "ids.json");
  BOOST_TEST(cases.size() >= 8u);
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    BOOST_TEST_CONTEXT(fixture << ": " << text) {
      const std::vector<token_t> want = c["ids"].get<std::vector<token_t>>();
      const std::vector<token_t> got = tok.encode(text);
      BOOST_TEST(got == want, boost::test_tools::per_element());
      BOOST_TEST(tok.decode(got) == c.value("nfc", text));
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(ids_equal_those_of_the_tokenizers_library) {
  for (const char* name : {"gpt2_regex", "qwen2_split", "gpt2_regex_nfc", "qwen2_split_nfc"}) {
    BOOST_TEST_CONTEXT(name) {
      bpe_options o;
      o.recognise_special = true;  // as `tokenizers` matches added tokens in text
      const any_tokenizer tok = load_tokenizer((fixtures / "tokenizers" / name).string(), o);
      BOOST_TEST(tok.vocab_size() == 400u);
      BOOST_TEST((tok.eos() == std::optional<token_t>(0)));  // <|endoftext|>, the file's first added token
      check_ids(tok, name);
    }
  }
}

// The NFC fixtures' texts include decomposed accents, conjoining jamo and U+212B, which NFC rewrites,
// and "ﬁ", "①", "Ａ", which only NFKC would: read with its NFC normalizer, a file gives `tokenizers`'
// ids (above); as a Sequence of NFC too; and the normalizer is what makes the difference.
BOOST_AUTO_TEST_CASE(the_nfc_normalizer_is_applied) {
  test::scratch_dir s("juice-tokenizer-json-nfc");
  bpe_options o;
  o.recognise_special = true;
  const std::string sequence = edited(
      s.dir, "sequence", [](nlohmann::json& j) { j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "NFC"}}}}}; },
      "gpt2_regex_nfc");
  check_ids(load_tokenizer(sequence, o), "gpt2_regex_nfc");

  const bpe_tokenizer nfc = load_tokenizer_json((fixtures / "tokenizers/qwen2_split_nfc/tokenizer.json").string(), o);
  BOOST_TEST((nfc.normalization() == unicode_normalization::nfc));
  const std::string none = edited(
      s.dir, "none", [](nlohmann::json& j) { j["normalizer"] = nullptr; }, "qwen2_split_nfc");
  const bpe_tokenizer raw = load_tokenizer_json(none, o);
  BOOST_TEST((raw.normalization() == unicode_normalization::none));
  // "e" + U+0301 is U+00E9 under NFC: the same ids as the composed text, and other ids without NFC.
  BOOST_TEST(nfc.encode("Cafe\u0301") == nfc.encode("Caf\u00e9"), boost::test_tools::per_element());
  BOOST_TEST(raw.encode("Cafe\u0301") != raw.encode("Caf\u00e9"));
  BOOST_TEST(nfc.decode(nfc.encode("Cafe\u0301")) == "Caf\u00e9");
  // A file's normalizer replaces what the options asked for.
  o.normalization = unicode_normalization::nfc;
  BOOST_TEST((load_tokenizer_json(none, o).normalization() == unicode_normalization::none));
  // Bytes that are not UTF-8 are kept as byte tokens; the valid runs around them are normalised each
  // on its own (nothing composes across the invalid byte).
  const std::string bad =
      "e\u0301\xFF"
      "e\xFE\u0301";
  BOOST_TEST(nfc.decode(nfc.encode(bad)) ==
             "\u00e9\xFF"
             "e\xFE\u0301");
  // Special tokens ("normalized": false) are found in the text as given; the text after one is
  // normalised on its own, so a combining mark right after it stays a mark.
  BOOST_TEST(nfc.decode(nfc.encode("<|im_start|>\u0301x")) == "<|im_start|>\u0301x");
  BOOST_TEST(nfc.encode("<|im_start|>\u0301x").front() == 1);
}

// The two fixtures differ where their patterns do: Qwen2's takes digits one at a time.
BOOST_AUTO_TEST_CASE(the_split_regex_is_the_one_applied) {
  const any_tokenizer a = load_tokenizer((fixtures / "tokenizers/gpt2_regex/tokenizer.json").string());
  const any_tokenizer b = load_tokenizer((fixtures / "tokenizers/qwen2_split").string());
  BOOST_TEST(b.encode("1234567").size() == 7u);
  BOOST_TEST(a.encode("1234567").size() < 7u);
  // Special tokens are ordinary text unless asked for.
  BOOST_TEST(a.encode("<|endoftext|>").size() > 1u);
}

BOOST_AUTO_TEST_CASE(files_juice_would_read_differently_are_refused_by_name) {
  test::scratch_dir s("juice-tokenizer-json");
  auto refused = [&](const std::string& name, auto edit, const std::string& needle) {
    const std::string p = edited(s.dir, name, edit);
    test::check_throws_with<data_error>([&] { (void)load_tokenizer(p); }, needle);
    test::check_throws_with<data_error>([&] { (void)load_tokenizer(p); }, p);
  };
  refused(
      "wordpiece", [](nlohmann::json& j) { j["model"]["type"] = "WordPiece"; }, "model type \"WordPiece\" is not supported");
  refused(
      "fallback", [](nlohmann::json& j) { j["model"]["byte_fallback"] = true; }, "SentencePiece-style BPE (byte_fallback) is not supported");
  for (const char* other : {"NFKC", "NFD", "NFKD", "Lowercase", "Strip", "Replace", "Prepend", "BertNormalizer", "Precompiled"})
    refused(
        other, [&](nlohmann::json& j) { j["normalizer"] = {{"type", other}}; }, std::string("the normalizer \"") + other + "\" is not supported");
  refused(
      "nfc_lowercase", [](nlohmann::json& j) { j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Lowercase"}}}}}; },
      "the normalizer \"Lowercase\" (in a Sequence) is not supported");
  refused(
      "sequence_without_list", [](nlohmann::json& j) { j["normalizer"] = {{"type", "Sequence"}}; }, "normalizer Sequence has no array \"normalizers\"");
  refused(
      "prefix", [](nlohmann::json& j) { j["pre_tokenizer"]["add_prefix_space"] = true; }, "add_prefix_space true");
  refused(
      "meta", [](nlohmann::json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; }, "pre_tokenizer \"Metaspace\" is not supported");
  refused(
      "string_split", [](nlohmann::json& j) {
        j["pre_tokenizer"] = {{"type", "Sequence"},
                              {"pretokenizers", {{{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Isolated"}}, {{"type", "ByteLevel"}, {"use_regex", false}}}}};
      },
      "Split's pattern is not {\"Regex\": ...}");
  refused(
      "bad_regex", [](nlohmann::json& j) {
        j["pre_tokenizer"] = {{"type", "Sequence"},
                              {"pretokenizers", {{{"type", "Split"}, {"pattern", {{"Regex", "(?<"}}}, {"behavior", "Isolated"}}, {{"type", "ByteLevel"}, {"use_regex", false}}}}};
      },
      "Split's regex");
  refused(
      "merge", [](nlohmann::json& j) { j["model"]["merges"][3] = "zz"; }, "merge 3 \"zz\" is not \"<left> <right>\"");
  refused(
      "merge_missing", [](nlohmann::json& j) { j["model"]["merges"][4] = {"Ġ", "Ġqqqqq"}; }, "merge 4 (\"Ġ\", \"Ġqqqqq\"): a side of the merge is not a token");
  refused(
      "lstrip", [](nlohmann::json& j) { j["added_tokens"][1]["lstrip"] = true; }, "added token \"<|im_start|>\" has lstrip true");
  refused(
      "hole", [](nlohmann::json& j) { j["model"]["vocab"].erase("!"); }, "no token has id 3");
  refused(
      "decoder", [](nlohmann::json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "decoder \"WordPiece\" is not supported");
  // Under NFC, an added token with "normalized": true whose own text NFC changes would be looked for
  // in another form by `tokenizers`.
  const auto decomposed_token = [](nlohmann::json& j) {
    j["normalizer"] = {{"type", "NFC"}};
    j["added_tokens"][1]["content"] = "<|e\u0301|>";
    j["added_tokens"][1]["normalized"] = true;
    j["model"]["vocab"].erase("<|im_start|>");  // the vocabulary holds the added tokens too
    j["model"]["vocab"]["<|e\u0301|>"] = 1;
  };
  refused("decomposed_token", decomposed_token, "added token \"<|e\u0301|>\" has \"normalized\" true and NFC changes its text");
  // Its text as given is what both look for when it is "normalized": false, or when there is no
  // normalizer; and one that NFC leaves alone may be "normalized": true.
  for (const auto& edit : std::vector<std::function<void(nlohmann::json&)>>{
           [&](nlohmann::json& j) {
             decomposed_token(j);
             j["added_tokens"][1]["normalized"] = false;
           },
           [&](nlohmann::json& j) {
             decomposed_token(j);
             j["normalizer"] = nullptr;
           },
           [](nlohmann::json& j) {
             j["normalizer"] = {{"type", "NFC"}};
             j["added_tokens"][1]["normalized"] = true;
           }}) {
    bpe_options o;
    o.recognise_special = true;
    const bpe_tokenizer t = load_tokenizer_json(edited(s.dir, "accepted", edit), o);
    BOOST_TEST(t.encode(t.decode(std::vector<token_t>{1})).size() == 1u);
  }
  const fs::path broken = s.dir / "broken.json";
  std::ofstream(broken) << "{\"model\": ";
  test::check_throws_with<data_error>([&] { (void)load_tokenizer(broken.string()); }, "not valid JSON");
}
