// juice/data/byte_tokenizer.hpp
//
// The byte tokenizer: every byte is its own token (ids 0..255), with an optional end-of-sequence id
// 256. It needs no files, accepts any byte string and round-trips exactly, which makes it the
// default for small models trained from scratch and for tests.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "juice/concepts/tokenizer.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"

namespace juice {

class byte_tokenizer {
public:
  // with_eos adds id 256 as the end-of-sequence token (vocab_size() 257 instead of 256).
  explicit byte_tokenizer(bool with_eos = true) : with_eos_(with_eos) {}

  [[nodiscard]] std::vector<token_t> encode(std::string_view text) const {
    std::vector<token_t> ids(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
    return ids;
  }

  // The EOS id decodes to nothing: it marks an end, it is not text.
  [[nodiscard]] std::string decode(std::span<const token_t> ids) const {
    std::string text;
    text.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const token_t id = ids[i];
      if (id >= 0 && id < 256) {
        text.push_back(static_cast<char>(static_cast<unsigned char>(id)));
      } else if (!(with_eos_ && id == 256)) {
        throw invalid_argument("juice::byte_tokenizer::decode: token id " + std::to_string(id) + " at position " +
                               std::to_string(i) + " is out of range (vocabulary of " +
                               std::to_string(vocab_size()) + ").");
      }
    }
    return text;
  }

  [[nodiscard]] std::size_t vocab_size() const { return with_eos_ ? 257 : 256; }
  [[nodiscard]] std::optional<token_t> eos() const {
    return with_eos_ ? std::optional<token_t>(256) : std::nullopt;
  }

private:
  bool with_eos_;
};

static_assert(Tokenizer<byte_tokenizer>);

}  // namespace juice
