// libFuzzer target: BPE encoding of arbitrary bytes (invalid UTF-8 included), with and without
// special tokens, on a small hand-written vocabulary in both forms and, where scripts/install-deps
// has fetched it, GPT-2's. Checks decode(encode(x)) == x, ids in range, and that the tiktoken and
// HF forms of the same vocabulary agree; any failure aborts (a crash for libFuzzer).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "juice/data/data.hpp"

namespace {

std::string tiktoken_file(const std::vector<std::string>& merged) {
  const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto b64 = [&](const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); i += 3) {
      unsigned v = static_cast<unsigned char>(s[i]) << 16;
      if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
      if (i + 2 < s.size()) v |= static_cast<unsigned char>(s[i + 2]);
      out += a[(v >> 18) & 63];
      out += a[(v >> 12) & 63];
      out += i + 1 < s.size() ? a[(v >> 6) & 63] : '=';
      out += i + 2 < s.size() ? a[v & 63] : '=';
    }
    return out;
  };
  std::string file;
  for (int b = 0; b < 256; ++b) file += b64(std::string(1, static_cast<char>(b))) + " " + std::to_string(b) + "\n";
  for (std::size_t i = 0; i < merged.size(); ++i) file += b64(merged[i]) + " " + std::to_string(256 + i) + "\n";
  return file;
}

struct vocabularies {
  std::vector<juice::bpe_tokenizer> all;
  std::size_t pair_count = 0;  // all[0..2*pair_count) are (tiktoken, HF) pairs of one vocabulary
  vocabularies() {
    // Merged tokens in rank order and the merges that build them (each from two earlier tokens).
    const std::vector<std::string> merged = {"aa", "aaaa", "bc", "ab", "abc", " a", "hi", "\xC3\xA9", " \xC3\xA9", "th", " th"};
    const char* merges = "a a\naa aa\nb c\na b\na bc\n\xC4\xA0 a\nh i\n\xC3\x83 \xC2\xA9\n\xC4\xA0 \xC3\x83\xC2\xA9\nt h\n\xC4\xA0 th\n";
    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) vocab[juice::data::bytes_to_gpt2_unicode(std::string(1, static_cast<char>(b)))] = b;
    for (std::size_t i = 0; i < merged.size(); ++i) vocab[juice::data::bytes_to_gpt2_unicode(merged[i])] = 256 + i;
    vocab["<|endoftext|>"] = 256 + merged.size();
    for (const bool special : {false, true}) {
      juice::bpe_options o;
      o.recognise_special = special;
      std::istringstream t(tiktoken_file(merged)), v(vocab.dump()), m(merges);
      all.push_back(juice::bpe_tokenizer::from_tiktoken(t, "tiny.tiktoken", o));
      all.push_back(juice::bpe_tokenizer::from_hf(v, "vocab.json", m, "merges.txt", o));
      ++pair_count;
    }
#ifdef JUICE_GPT2_CACHE
    const std::string ranks = std::string(JUICE_GPT2_CACHE) + "/gpt2.tiktoken";
    if (std::filesystem::exists(ranks)) {
      juice::bpe_options o;
      o.recognise_special = true;
      all.push_back(juice::bpe_tokenizer::from_tiktoken(ranks, o));
    }
#endif
  }
};

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const vocabularies v;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::vector<juice::token_t>> ids;
  for (const auto& t : v.all) {
    ids.push_back(t.encode(text));
    for (const auto id : ids.back()) require(id >= 0 && static_cast<std::size_t>(id) < t.vocab_size());
    require(t.decode(ids.back()) == text);
  }
  for (std::size_t p = 0; p < v.pair_count; ++p) require(ids[2 * p] == ids[2 * p + 1]);
  const juice::byte_tokenizer bytes(true);
  require(bytes.decode(bytes.encode(text)) == text);
  return 0;
}
