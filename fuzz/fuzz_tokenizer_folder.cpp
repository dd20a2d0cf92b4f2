// libFuzzer target: a tokenizer folder as `--tokenizer DIR` reads it (juice::load_tokenizer). The
// first byte chooses the folder's files (bit 8, then the byte modulo 4) and whether special tokens
// are recognised (bit 4); the rest is split on the separator "\n@@file@@\n" into their contents, in
// order:
//   layout 0: vocab.json, merges.txt        (GPT-2's Hugging Face files)
//   layout 1: gpt2.tiktoken                 (one rank file)
//   layout 2: vocab.json, gpt2.tiktoken     (no merges.txt: the rank file is the one read)
//   layout 3: a.tiktoken, b.tiktoken        (two rank files: refused)
//   bit 8:    tokenizer.json                (the `tokenizers` library's file, its NFC normalizer too)
// The files are written to a per-process folder and loaded. Bad files must end in a juice::error; a
// folder that loads must encode a sample text into ids inside its vocabulary that decode back to it,
// or, for a tokenizer.json with the NFC normalizer, to its NFC form (the sample has text NFC changes).
// With special tokens recognised, NFC rewrites only the text between them (a token "e" keeps the
// U+0301 after it apart): then the decoded text must be canonically equivalent to the sample, that
// is, have the same NFC form.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "juice/core/error.hpp"
#include "juice/data/data.hpp"

namespace {

namespace fs = std::filesystem;

constexpr std::string_view separator = "\n@@file@@\n";
// "e" + U+0301 and the jamo U+1100 U+1161, which NFC composes; a byte that is not UTF-8.
const std::string sample = "the cat's 42 caf\xC3\xA9 \xF0\x9F\x98\x80 aaaa abc<|endoftext|>  \n x cafe\xCC\x81 \xE1\x84\x80\xE1\x85\xA1 \xFF.";

// A folder of this process's own, removed at exit.
struct scratch_folder {
  fs::path path;
  scratch_folder() {
    std::string pattern = (fs::temp_directory_path() / "juice-fuzz-tokenizer-XXXXXX").string();
    if (!mkdtemp(pattern.data())) std::abort();
    path = pattern;
  }
  scratch_folder(const scratch_folder&) = delete;
  scratch_folder& operator=(const scratch_folder&) = delete;
  ~scratch_folder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const scratch_folder dir;
  if (size == 0) return 0;
  const unsigned mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const std::vector<std::vector<std::string>> layouts = {
      {"vocab.json", "merges.txt"}, {"gpt2.tiktoken"}, {"vocab.json", "gpt2.tiktoken"}, {"a.tiktoken", "b.tiktoken"}};
  static const std::vector<std::string> json_layout = {"tokenizer.json"};
  const bool json = (mode & 8) != 0;
  const auto& names = json ? json_layout : layouts[mode % layouts.size()];
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir.path)) fs::remove(entry.path(), ec);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::size_t cut = i + 1 < names.size() ? rest.find(separator) : std::string_view::npos;
    const std::string_view part = rest.substr(0, cut);
    std::ofstream out(dir.path / names[i], std::ios::binary | std::ios::trunc);
    out.write(part.data(), static_cast<std::streamsize>(part.size()));
    if (!out) std::abort();
    rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + separator.size());
  }
  juice::bpe_options o;
  o.recognise_special = (mode & 4) != 0;
  const auto check = [](const auto& t, const auto& decodes_right) {
    const auto ids = t.encode(sample);
    for (const auto id : ids) require(id >= 0 && static_cast<std::size_t>(id) < t.vocab_size());
    if (const auto eos = t.eos()) require(*eos >= 0 && static_cast<std::size_t>(*eos) < t.vocab_size());
    require(decodes_right(t.decode(ids)));
  };
  const auto is_sample = [](const std::string& decoded) { return decoded == sample; };
  try {
    if (json) {  // what load_tokenizer reads from such a folder, kept as a bpe_tokenizer to ask for its normalizer
      const juice::bpe_tokenizer t = juice::load_tokenizer_json((dir.path / "tokenizer.json").string(), o);
      if (t.normalization() == juice::unicode_normalization::none) {
        check(t, is_sample);
      } else {
        static const std::string normal = juice::data::nfc(sample);
        check(t, [&](const std::string& decoded) { return (o.recognise_special ? juice::data::nfc(decoded) : decoded) == normal; });
      }
    } else {
      check(juice::load_tokenizer(dir.path.string(), o), is_sample);
    }
  } catch (const juice::error&) {
  }
  return 0;
}
