// juice/concepts/tokenizer.hpp
//
// The Tokenizer concept: what the data layer and the command-line tool need from a tokenizer, so
// that they can hold the byte tokenizer or GPT-2's BPE (or a user's own) alike.
//
// T satisfies Tokenizer when, for a const T t:
//   1. t.encode(text) takes a std::string_view and returns std::vector<juice::token_t>; any byte
//      string is accepted (invalid UTF-8 included) and decode(encode(text)) == text;
//   2. t.decode(ids) takes a std::span<const juice::token_t> and returns the std::string the ids
//      stand for, throwing juice::invalid_argument for an id outside [0, vocab_size());
//   3. t.vocab_size() returns the number of ids as std::size_t;
//   4. t.eos() returns std::optional<juice::token_t>: the end-of-sequence id, if the tokenizer has one.
// Deliberately not required: special-token handling beyond the EOS, a BOS, normalisation, or
// offsets back into the text.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "juice/core/batch.hpp"

namespace juice {

template <class T>
concept Tokenizer = requires(const T& t, std::string_view text, std::span<const token_t> ids) {
  // 1.
  { t.encode(text) } -> std::same_as<std::vector<token_t>>;
  // 2.
  { t.decode(ids) } -> std::same_as<std::string>;
  // 3.
  { t.vocab_size() } -> std::same_as<std::size_t>;
  // 4.
  { t.eos() } -> std::same_as<std::optional<token_t>>;
};

}  // namespace juice
