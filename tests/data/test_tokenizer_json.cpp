// juice/data/tokenizer_json.hpp through load_tokenizer: the byte-level BPE tokenizer.json files that
// the `tokenizers` library trained and saved (tests/fixtures/tokenizers, made by
// tests/fixtures/make_families.py: one with ByteLevel's GPT-2 regex, one with Qwen2's Split regex)
// give, on text with non-ASCII letters, digits, whitespace runs and special tokens, exactly the ids
// `tokenizers` gave, and decode back to the text; files juice would read differently are refused by
// name.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
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

// A copy of the GPT-2-regex tokenizer.json in `dir` with `edit` applied; returns its path.
template <class Edit>
std::string edited(const fs::path& dir, const std::string& name, Edit edit) {
  nlohmann::json j = read_json(fixtures / "tokenizers/gpt2_regex/tokenizer.json");
  edit(j);
  const fs::path p = dir / (name + ".json");
  std::ofstream(p) << j.dump();
  return p.string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(ids_equal_those_of_the_tokenizers_library) {
  for (const char* name : {"gpt2_regex", "qwen2_split"}) {
    BOOST_TEST_CONTEXT(name) {
      bpe_options o;
      o.recognise_special = true;  // as `tokenizers` matches added tokens in text
      const any_tokenizer tok = load_tokenizer((fixtures / "tokenizers" / name).string(), o);
      BOOST_TEST(tok.vocab_size() == 400u);
      BOOST_TEST((tok.eos() == std::optional<token_t>(0)));  // <|endoftext|>, the file's first added token
      const nlohmann::json cases = read_json(fixtures / "tokenizers" / name / "ids.json");
      BOOST_TEST(cases.size() >= 8u);
      for (const auto& c : cases) {
        const std::string text = c["text"].get<std::string>();
        const std::vector<token_t> want = c["ids"].get<std::vector<token_t>>();
        const std::vector<token_t> got = tok.encode(text);
        BOOST_TEST(got == want, boost::test_tools::per_element());
        BOOST_TEST(tok.decode(got) == text);
      }
    }
  }
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
  refused(
      "nfc", [](nlohmann::json& j) { j["normalizer"] = {{"type", "NFC"}}; }, "the normalizer \"NFC\" is not supported");
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
  const fs::path broken = s.dir / "broken.json";
  std::ofstream(broken) << "{\"model\": ";
  test::check_throws_with<data_error>([&] { (void)load_tokenizer(broken.string()); }, "not valid JSON");
}
