// libFuzzer target: the BPE vocabulary loaders on arbitrary files. The input is appended to a valid
// prefix (the 256 byte tokens) as more tiktoken lines, and read on its own as merges.txt against a
// small vocab.json, and as a whole vocab.json. Bad files must end in juice::data_error; a file that
// loads must encode and round-trip a sample text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "juice/data/data.hpp"

namespace {

const std::string sample = "the cat's 42 caf\xC3\xA9 \xF0\x9F\x98\x80 aaaa abc<|endoftext|>  \n x";

void exercise(const juice::bpe_tokenizer& t) {
  const auto ids = t.encode(sample);
  if (t.decode(ids) != sample) std::abort();
}

std::string byte_lines() {
  const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string file;
  for (int b = 0; b < 256; ++b) {
    const unsigned v = static_cast<unsigned>(b) << 16;
    file += a[(v >> 18) & 63];
    file += a[(v >> 12) & 63];
    file += "== " + std::to_string(b) + "\n";
  }
  return file;
}

std::string byte_vocab() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[juice::data::bytes_to_gpt2_unicode(std::string(1, static_cast<char>(b)))] = b;
  vocab[juice::data::bytes_to_gpt2_unicode("ab")] = 256;
  vocab[juice::data::bytes_to_gpt2_unicode("aa")] = 257;
  vocab["<|endoftext|>"] = 258;
  return vocab.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string prefix = byte_lines();
  static const std::string vocab = byte_vocab();
  const std::string text(reinterpret_cast<const char*>(data), size);
  juice::bpe_options o;
  o.recognise_special = true;
  try {
    std::istringstream in(prefix + text);
    exercise(juice::bpe_tokenizer::from_tiktoken(in, "fuzz.tiktoken", o));
  } catch (const juice::data_error&) {
  }
  try {
    std::istringstream v(vocab), m(text);
    exercise(juice::bpe_tokenizer::from_hf(v, "vocab.json", m, "merges.txt", o));
  } catch (const juice::data_error&) {
  }
  try {
    std::istringstream v(text), m("");
    exercise(juice::bpe_tokenizer::from_hf(v, "vocab.json", m, "merges.txt", o));
  } catch (const juice::data_error&) {
  }
  return 0;
}
