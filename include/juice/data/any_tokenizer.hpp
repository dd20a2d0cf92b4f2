// juice/data/any_tokenizer.hpp
//
// A value that holds any Tokenizer (the byte tokenizer, GPT-2 BPE, a user's own) behind one type, so
// a command-line tool or a data pipeline can pick the tokenizer at run time. Copies share the held
// tokenizer, which is immutable (a BPE tokenizer's cache is internally synchronised). Also
// load_tokenizer(spec): "byte", a folder holding vocab.json + merges.txt, a tokenizer.json or a
// *.tiktoken file, or such a file itself.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "juice/concepts/tokenizer.hpp"
#include "juice/data/bpe_tokenizer.hpp"
#include "juice/data/byte_tokenizer.hpp"
#include "juice/data/data_error.hpp"
#include "juice/data/tokenizer_json.hpp"

namespace juice {

class any_tokenizer {
public:
  template <Tokenizer T>
  requires(!std::same_as<std::remove_cvref_t<T>, any_tokenizer>)
      any_tokenizer(T tokenizer)  // NOLINT: implicit on purpose, any tokenizer converts
      : self_(std::make_shared<model<T>>(std::move(tokenizer))) {}

  [[nodiscard]] std::vector<token_t> encode(std::string_view text) const { return self_->encode(text); }
  [[nodiscard]] std::string decode(std::span<const token_t> ids) const { return self_->decode(ids); }
  [[nodiscard]] std::size_t vocab_size() const { return self_->vocab_size(); }
  [[nodiscard]] std::optional<token_t> eos() const { return self_->eos(); }

private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual std::vector<token_t> encode(std::string_view) const = 0;
    virtual std::string decode(std::span<const token_t>) const = 0;
    virtual std::size_t vocab_size() const = 0;
    virtual std::optional<token_t> eos() const = 0;
  };
  template <class T>
  struct model final : concept_t {
    explicit model(T t) : tokenizer(std::move(t)) {}
    std::vector<token_t> encode(std::string_view text) const override { return tokenizer.encode(text); }
    std::string decode(std::span<const token_t> ids) const override { return tokenizer.decode(ids); }
    std::size_t vocab_size() const override { return tokenizer.vocab_size(); }
    std::optional<token_t> eos() const override { return tokenizer.eos(); }
    T tokenizer;
  };
  std::shared_ptr<const concept_t> self_;
};

static_assert(Tokenizer<any_tokenizer>);

// "byte" (with EOS 256), a *.tiktoken or tokenizer.json (*.json) file, or a folder with vocab.json +
// merges.txt (preferred), a tokenizer.json (data/tokenizer_json.hpp) or one *.tiktoken file.
inline any_tokenizer load_tokenizer(const std::string& spec, const bpe_options& options = {}) {
  namespace fs = std::filesystem;
  if (spec == "byte") return byte_tokenizer(true);
  const fs::path path(spec);
  if (fs::is_regular_file(path))
    return path.extension() == ".json" ? load_tokenizer_json(spec, options) : bpe_tokenizer::from_tiktoken(spec, options);
  if (!fs::is_directory(path))
    throw data_error("tokenizer \"" + spec + "\": neither \"byte\" nor an existing file or folder.");
  if (fs::exists(path / "vocab.json") && fs::exists(path / "merges.txt"))
    return bpe_tokenizer::from_hf((path / "vocab.json").string(), (path / "merges.txt").string(), options);
  if (fs::exists(path / "tokenizer.json")) return load_tokenizer_json((path / "tokenizer.json").string(), options);
  std::optional<fs::path> found;
  for (const auto& entry : fs::directory_iterator(path)) {
    if (entry.path().extension() != ".tiktoken") continue;
    if (found) throw data_error(spec + ": holds more than one *.tiktoken file; name the file.");
    found = entry.path();
  }
  if (!found) throw data_error(spec + ": holds neither vocab.json + merges.txt, nor tokenizer.json, nor a *.tiktoken file.");
  return bpe_tokenizer::from_tiktoken(found->string(), options);
}

}  // namespace juice
