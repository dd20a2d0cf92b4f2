// Tokenizers (include/juice/data/): UTF-8 runs, GPT-2's byte-to-unicode map, the pre-tokeniser, the
// byte tokenizer, and BPE on a tiny hand-written vocabulary whose merges are worked out by hand below,
// in both the tiktoken and the HF form.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "juice/data/data.hpp"
#include "check_throws.hpp"

using juice::test::check_throws_with;

namespace {

using ids = std::vector<juice::token_t>;

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  juice::data::pretokenizer().split(text, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}

// Written here, independently of the decoder under test.
std::string base64(std::string_view bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += a[(v >> 18) & 63];
    out += a[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? a[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? a[v & 63] : '=';
  }
  return out;
}

// Ids 0..255: byte b is id b. Then, in rank order:
//   256 "aa", 257 "aaaa", 258 "bc", 259 "ab", 260 "abc", 261 " a", 262 "hi"
const std::vector<std::string> tiny_merged = {"aa", "aaaa", "bc", "ab", "abc", " a", "hi"};

std::string tiny_tiktoken() {
  std::string file;
  for (int b = 0; b < 256; ++b) file += base64(std::string(1, static_cast<char>(b))) + " " + std::to_string(b) + "\n";
  for (std::size_t i = 0; i < tiny_merged.size(); ++i) file += base64(tiny_merged[i]) + " " + std::to_string(256 + i) + "\n";
  return file;
}

// The same vocabulary in HF form: merges in rank order, each as the pair that builds the token.
std::string tiny_vocab_json() {
  nlohmann::json v = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) v[juice::data::bytes_to_gpt2_unicode(std::string(1, static_cast<char>(b)))] = b;
  for (std::size_t i = 0; i < tiny_merged.size(); ++i) v[juice::data::bytes_to_gpt2_unicode(tiny_merged[i])] = 256 + i;
  v["<|endoftext|>"] = 256 + tiny_merged.size();
  return v.dump();
}
const char* tiny_merges = "#version: 0.2\na a\naa aa\nb c\na b\na bc\nĠ a\nh i\n";

juice::bpe_tokenizer tiny(bool hf, const juice::bpe_options& o = {}) {
  if (hf) {
    std::istringstream v(tiny_vocab_json()), m(tiny_merges);
    return juice::bpe_tokenizer::from_hf(v, "vocab.json", m, "merges.txt", o);
  }
  std::istringstream in(tiny_tiktoken());
  return juice::bpe_tokenizer::from_tiktoken(in, "tiny.tiktoken", o);
}

}  // namespace

BOOST_AUTO_TEST_CASE(utf8_runs_split_valid_text_from_invalid_bytes) {
  using juice::data::utf8_char_length;
  BOOST_TEST(utf8_char_length("a", 0) == 1u);
  BOOST_TEST(utf8_char_length("\xC3\xA9", 0) == 2u);          // é
  BOOST_TEST(utf8_char_length("\xE2\x82\xAC", 0) == 3u);      // €
  BOOST_TEST(utf8_char_length("\xF0\x9F\x98\x80", 0) == 4u);  // 😀
  BOOST_TEST(utf8_char_length("\xC0\xAF", 0) == 0u);          // overlong '/'
  BOOST_TEST(utf8_char_length("\xE0\x80\xAF", 0) == 0u);      // overlong
  BOOST_TEST(utf8_char_length("\xED\xA0\x80", 0) == 0u);      // surrogate U+D800
  BOOST_TEST(utf8_char_length("\xF4\x90\x80\x80", 0) == 0u);  // U+110000
  BOOST_TEST(utf8_char_length("\xE2\x82", 0) == 0u);          // truncated
  BOOST_TEST(utf8_char_length("\x80", 0) == 0u);              // lone continuation
  std::vector<std::string> seen;
  juice::data::for_each_utf8_run(
      "ab\xFF\xC3\xA9\xE2\x82", [&](std::string_view r) { seen.emplace_back(1, 'V').append(r); },
      [&](std::string_view b) { seen.emplace_back(1, 'I').append(b); });
  const std::vector<std::string> expected{"Vab", "I\xFF", "V\xC3\xA9", "I\xE2", "I\x82"};
  BOOST_TEST(seen == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(byte_to_unicode_map_matches_gpt2) {
  const auto map = juice::data::gpt2_byte_to_unicode();
  BOOST_TEST(static_cast<unsigned>(map[' ']) == 0x120u);   // 'Ġ'
  BOOST_TEST(static_cast<unsigned>(map['\n']) == 0x10Au);  // 'Ċ'
  BOOST_TEST(static_cast<unsigned>(map[0]) == 0x100u);     // 'Ā'
  BOOST_TEST(static_cast<unsigned>(map['!']) == static_cast<unsigned>('!'));
  BOOST_TEST(static_cast<unsigned>(map[0xAD]) == 0x143u);  // soft hyphen: the last of the 68 moved bytes
  BOOST_TEST(static_cast<unsigned>(map[0xFF]) == 0xFFu);
  BOOST_TEST(juice::data::bytes_to_gpt2_unicode(" the") == "\xC4\xA0the");
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    BOOST_TEST(juice::data::gpt2_unicode_to_bytes(juice::data::bytes_to_gpt2_unicode(one)).value() == one);
  }
  BOOST_TEST(!juice::data::gpt2_unicode_to_bytes("\xE2\x82\xAC").has_value());  // '€' is not in the map
}

BOOST_AUTO_TEST_CASE(base64_decodes_padding_and_refuses_garbage) {
  using juice::data::detail::base64_decode;
  BOOST_TEST(base64_decode("YQ==").value() == "a");
  BOOST_TEST(base64_decode("YWI=").value() == "ab");
  BOOST_TEST(base64_decode("YWJj").value() == "abc");
  BOOST_TEST(base64_decode("IQ==").value() == "!");
  BOOST_TEST(!base64_decode("YQ=").has_value());
  BOOST_TEST(!base64_decode("Y*==").has_value());
  BOOST_TEST(base64_decode("YWJjYQ==").value() == "abca");
  BOOST_TEST(!base64_decode("YQ==YQ==").has_value());  // padding only at the end
  BOOST_TEST(!base64_decode("=QYY").has_value());
}

BOOST_AUTO_TEST_CASE(gpt2_pattern_splits_as_the_released_encoder) {
  using v = std::vector<std::string>;
  BOOST_TEST(pieces("Hello world") == (v{"Hello", " world"}), boost::test_tools::per_element());
  BOOST_TEST(pieces("it's I'll we've") == (v{"it", "'s", " I", "'ll", " we", "'ve"}), boost::test_tools::per_element());
  BOOST_TEST(pieces("x123 456") == (v{"x", "123", " 456"}), boost::test_tools::per_element());
  // \s+(?!\S) leaves the last space to the word after it.
  BOOST_TEST(pieces("a   b") == (v{"a", "  ", " b"}), boost::test_tools::per_element());
  BOOST_TEST(pieces("a  \n") == (v{"a", "  \n"}), boost::test_tools::per_element());
  BOOST_TEST(pieces("h\xC3\xA9llo w\xC3\xB6rld") == (v{"h\xC3\xA9llo", " w\xC3\xB6rld"}), boost::test_tools::per_element());
  BOOST_TEST(pieces("hi!! $$") == (v{"hi", "!!", " $$"}), boost::test_tools::per_element());
  BOOST_TEST(pieces("a\xFF"
                    "b") == (v{"a", "\xFF", "b"}),
             boost::test_tools::per_element());
  BOOST_TEST(pieces("").empty());
}

BOOST_AUTO_TEST_CASE(byte_tokenizer_round_trips_and_checks_ids) {
  const juice::byte_tokenizer t(true);
  const std::string text("a\0\xFF", 3);
  BOOST_TEST(t.encode(text) == (ids{97, 0, 255}), boost::test_tools::per_element());
  BOOST_TEST(t.decode(t.encode(text)) == text);
  BOOST_TEST(t.vocab_size() == 257u);
  BOOST_TEST(t.eos().value() == 256);
  BOOST_TEST(t.decode(ids{104, 256}) == "h");
  check_throws_with([&] { (void)t.decode(ids{104, 257}); }, "token id 257 at position 1");
  const juice::byte_tokenizer plain(false);
  BOOST_TEST(!plain.eos().has_value());
  check_throws_with([&] { (void)plain.decode(ids{256}); }, "out of range");
}

// Hand-worked merges on the tiny vocabulary (ranks: aa 256 < aaaa 257 < bc 258 < ab 259 < abc 260 <
// " a" 261 < hi 262):
//   "aaaaaaaaa" (9 a): aa merges leftmost first -> aa aa aa aa a; then aaaa -> [257, 257, 97]
//   "abc": bc (258) beats ab (259) -> a bc -> abc (260)       -> [260]
//   "abab": ab twice -> [259, 259]                            (no "abab")
//   " aa": pairs " a" (261) and aa (256): aa first -> " " aa; (" ", aa) has no rank -> [32, 256]
//   "hix": pieces "hix" -> hi (262), x -> [262, 120]
//   "ab c": pieces "ab", " c" -> [259, 32, 99]
BOOST_AUTO_TEST_CASE(bpe_merges_lowest_rank_first_in_both_forms) {
  for (const bool hf : {false, true}) {
    BOOST_TEST_CONTEXT((hf ? "HF form" : "tiktoken form")) {
      const auto t = tiny(hf);
      BOOST_TEST(t.vocab_size() == 264u);
      BOOST_TEST(t.eos().value() == 263);
      BOOST_TEST(t.encode("aaaaaaaaa") == (ids{257, 257, 97}), boost::test_tools::per_element());
      BOOST_TEST(t.encode("abc") == (ids{260}), boost::test_tools::per_element());
      BOOST_TEST(t.encode("abab") == (ids{259, 259}), boost::test_tools::per_element());
      BOOST_TEST(t.encode(" aa") == (ids{32, 256}), boost::test_tools::per_element());
      BOOST_TEST(t.encode("hix") == (ids{262, 120}), boost::test_tools::per_element());
      BOOST_TEST(t.encode("ab c") == (ids{259, 32, 99}), boost::test_tools::per_element());
      // Cached pieces give the same answer the second time.
      // " abc": bc (258), then " a" (261) against abc (260): abc -> [32, 260].
      BOOST_TEST(t.encode("abc abc") == (ids{260, 32, 260}), boost::test_tools::per_element());
      BOOST_TEST(t.encode("abc abc") == (ids{260, 32, 260}), boost::test_tools::per_element());
      // Special text is ordinary text unless recognised.
      BOOST_TEST(t.encode("<|endoftext|>").size() > 1u);
      BOOST_TEST(t.decode(ids{263}) == "<|endoftext|>");
      juice::bpe_options o;
      o.recognise_special = true;
      const auto s = tiny(hf, o);
      BOOST_TEST(s.encode("hi<|endoftext|>abc") == (ids{262, 263, 260}), boost::test_tools::per_element());
      // Invalid UTF-8 becomes byte tokens and round-trips.
      const std::string bad =
          "ab\xFF\xFE"
          "abc\xC3";
      BOOST_TEST(t.encode(bad) == (ids{259, 255, 254, 260, 0xC3}), boost::test_tools::per_element());
      BOOST_TEST(t.decode(t.encode(bad)) == bad);
    }
  }
}

BOOST_AUTO_TEST_CASE(long_words_merge_without_quadratic_cost) {
  // 2^16 + 1 a's: every aa then every aaaa merges: 2^14 aaaa tokens and one a.
  const auto t = tiny(false);
  const auto out = t.encode(std::string((1u << 16) + 1, 'a'));
  BOOST_REQUIRE(out.size() == (1u << 14) + 1);
  BOOST_TEST(out.front() == 257);
  BOOST_TEST(out.back() == 97);
}

BOOST_AUTO_TEST_CASE(any_tokenizer_holds_either) {
  std::vector<juice::any_tokenizer> all{juice::byte_tokenizer(true), tiny(false)};
  BOOST_TEST(all[0].vocab_size() == 257u);
  BOOST_TEST(all[1].vocab_size() == 264u);
  BOOST_TEST(all[1].encode("abc") == (ids{260}), boost::test_tools::per_element());
  BOOST_TEST(all[0].decode(all[0].encode("abc")) == "abc");
  BOOST_TEST(all[1].eos().value() == 263);
}

BOOST_AUTO_TEST_CASE(broken_vocabularies_are_refused_with_the_line) {
  const auto from_tiktoken = [](const std::string& text) {
    std::istringstream in(text);
    return juice::bpe_tokenizer::from_tiktoken(in, "v.tiktoken");
  };
  const auto from_hf = [](const std::string& vocab, const std::string& merges) {
    std::istringstream v(vocab), m(merges);
    return juice::bpe_tokenizer::from_hf(v, "vocab.json", m, "merges.txt");
  };
  check_throws_with([&] { from_tiktoken("YQ== 0\nYg==\n"); }, "v.tiktoken line 2: expected");
  check_throws_with([&] { from_tiktoken("YQ== 0\nY*== 1\n"); }, "v.tiktoken line 2: the token is not valid base64");
  check_throws_with([&] { from_tiktoken("YQ== 0\nYg== x\n"); }, "v.tiktoken line 2: the rank \"x\"");
  check_throws_with([&] { from_tiktoken("YQ== 0\nYg== 0\n"); }, "v.tiktoken line 2: rank 0 is given again (first on line 1)");
  check_throws_with([&] { from_tiktoken("YQ== 0\nYg== 7\n"); }, "v.tiktoken line 2: rank 7 is not below");
  check_throws_with([&] { from_tiktoken("YQ== 0\nYQ== 1\n"); }, "v.tiktoken line 2: the token repeats");
  check_throws_with([&] { from_tiktoken("YQ== 0\n"); }, "v.tiktoken: byte 0 is not a token");
  check_throws_with([&] {
    juice::bpe_options o;
    o.special_tokens = {""};
    std::istringstream in(tiny_tiktoken());
    juice::bpe_tokenizer::from_tiktoken(in, "v.tiktoken", o);
  },
                    "a special token cannot be empty");
  const auto vocab = tiny_vocab_json();
  check_throws_with([&] { from_hf("{", "a a\n"); }, "vocab.json: not valid JSON");
  check_throws_with([&] { from_hf("[1]", "a a\n"); }, "vocab.json: expected a JSON object");
  check_throws_with([&] { from_hf(R"({"a": 1})", ""); }, "vocab.json: the id of token \"a\"");
  check_throws_with([&] { from_hf(vocab, "#version: 0.2\na a\nab\n"); }, "merges.txt line 3: expected");
  check_throws_with([&] { from_hf(vocab, "x y\n"); }, "merges.txt line 1: the merged token is not in vocab.json");
  check_throws_with([&] { from_hf(vocab, "\xE2\x82\xAC a\n"); }, "merges.txt line 1: a character outside");
}

BOOST_AUTO_TEST_CASE(load_tokenizer_finds_the_form_from_the_path) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("juice-load-tokenizer-" + std::to_string(::getpid()));
  fs::create_directories(root / "tik");
  fs::create_directories(root / "hf");
  fs::create_directories(root / "empty");
  std::ofstream(root / "tik" / "tiny.tiktoken") << tiny_tiktoken();
  std::ofstream(root / "hf" / "vocab.json") << tiny_vocab_json();
  std::ofstream(root / "hf" / "merges.txt") << tiny_merges;
  BOOST_TEST(juice::load_tokenizer("byte").vocab_size() == 257u);
  for (const auto& spec : {root / "tik", root / "tik" / "tiny.tiktoken", root / "hf"}) {
    const auto t = juice::load_tokenizer(spec.string());
    BOOST_TEST(t.encode("abc") == (ids{260}), boost::test_tools::per_element());
  }
  check_throws_with([&] { juice::load_tokenizer((root / "empty").string()); }, "holds neither vocab.json + merges.txt");
  check_throws_with([&] { juice::load_tokenizer((root / "missing").string()); }, "neither \"byte\" nor an existing file");
  fs::remove_all(root);
}
