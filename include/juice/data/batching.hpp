// juice/data/batching.hpp
//
// From read records to the juice::sequence_batch rows the algorithms take: tokenize prompts and
// responses, optionally prepend a start token and append the tokenizer's EOS, make each row fit the
// model's context, then cut the data set into minibatches (right-padded with token 0 to the longest
// row of the minibatch; every row weighs 1/rows; source = the record's index in the data set).
// A row that does not fit is an error naming the file and line, unless prompt truncation is on: then
// the prompt loses its oldest tokens (the start token, if any, stays). Responses are never cut: a
// response that alone does not fit is always an error, as training on half an answer would teach
// the model to stop mid-sentence.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "juice/concepts/tokenizer.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"
#include "juice/data/data_error.hpp"
#include "juice/data/jsonl.hpp"

namespace juice {

struct batch_options {
  std::size_t context = 1024;    // most tokens in a row: prompt + response (+ EOS)
  bool append_eos = false;       // end every response with the tokenizer's EOS
  bool truncate_prompt = false;  // drop a long prompt's oldest tokens instead of failing
  std::optional<token_t> bos;    // prepended to every prompt (e.g. GPT-2's EOS as a start token)
};

struct tokenized_demonstration {
  std::vector<token_t> prompt, response;
  std::size_t line = 0;
};

struct tokenized_pair {
  std::vector<token_t> prompt, chosen, rejected;
  std::size_t line = 0;
};

namespace data::detail {

inline void check_options(const batch_options& o, bool tokenizer_has_eos, const char* who) {
  if (o.context < 2)
    throw invalid_argument(std::string(who) + ": the context must hold at least 2 tokens (one prompt, one response).");
  if (o.append_eos && !tokenizer_has_eos)
    throw invalid_argument(std::string(who) + ": append_eos is set but the tokenizer has no EOS token.");
}

template <class Tok>
std::vector<token_t> encode_prompt(const Tok& tokenizer, const std::string& text, const batch_options& o) {
  std::vector<token_t> ids;
  if (o.bos) ids.push_back(*o.bos);
  const auto body = tokenizer.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

template <class Tok>
std::vector<token_t> encode_response(const Tok& tokenizer, const std::string& text, const batch_options& o) {
  auto ids = tokenizer.encode(text);
  if (o.append_eos) ids.push_back(tokenizer.eos().value());  // check_options refused append_eos without one
  return ids;
}

// Makes prompt + the longest response fit the context, or throws naming `here`.
inline void fit(std::vector<token_t>& prompt, std::size_t response, const batch_options& o, const std::string& here) {
  if (prompt.empty())
    throw data_error(here +
                     ": the prompt is empty; the first response token needs a token to follow "
                     "(set a start token, batch_options::bos / --bos).");
  if (prompt.size() + response <= o.context) return;
  const std::size_t keep_front = o.bos ? 1 : 0;
  if (!o.truncate_prompt || response + keep_front + 1 > o.context)
    throw data_error(here + ": prompt (" + std::to_string(prompt.size()) + " tokens) + response (" +
                     std::to_string(response) + " tokens) exceed the context of " + std::to_string(o.context) +
                     " tokens" +
                     (o.truncate_prompt ? "; the response alone leaves no room for a prompt token."
                                        : "; shorten the example or enable prompt truncation."));
  const std::size_t drop = prompt.size() + response - o.context;
  prompt.erase(prompt.begin() + static_cast<std::ptrdiff_t>(keep_front),
               prompt.begin() + static_cast<std::ptrdiff_t>(keep_front + drop));
}

inline void put_row(sequence_batch& batch, std::size_t row, const std::vector<token_t>& prompt,
                    const std::vector<token_t>& response, std::size_t source) {
  std::copy(prompt.begin(), prompt.end(), &batch.tokens(row, 0));
  std::copy(response.begin(), response.end(), &batch.tokens(row, prompt.size()));
  batch.prompt_length(row) = static_cast<std::int32_t>(prompt.size());
  batch.length(row) = static_cast<std::int32_t>(prompt.size() + response.size());
  batch.source(row) = static_cast<std::int32_t>(source);
}

inline void check_range(std::size_t first, std::size_t count, std::size_t size, const char* who) {
  if (count == 0 || first > size || count > size - first)
    throw invalid_argument(std::string(who) + ": rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                           ") are not a non-empty range of the " + std::to_string(size) + " records.");
}

}  // namespace data::detail

// Tokenizes every demonstration and fits it to the context (see the header comment).
template <class Tok>
std::vector<tokenized_demonstration> tokenize(const demonstration_set& set, const Tok& tokenizer,
                                              const batch_options& options = {}) {
  static_assert(Tokenizer<Tok>, "juice::tokenize: Tok must satisfy juice::Tokenizer; see docs/data.md#tokenizers");
  data::detail::check_options(options, tokenizer.eos().has_value(), "juice::tokenize");
  std::vector<tokenized_demonstration> out;
  out.reserve(set.records.size());
  for (const auto& r : set.records) {
    tokenized_demonstration t{data::detail::encode_prompt(tokenizer, r.prompt, options),
                              data::detail::encode_response(tokenizer, r.response, options), r.line};
    data::detail::fit(t.prompt, t.response.size(), options, data::detail::where(set.name, r.line));
    out.push_back(std::move(t));
  }
  return out;
}

// Tokenizes every pair; the shared prompt is fitted against the longer of the two responses.
template <class Tok>
std::vector<tokenized_pair> tokenize(const preference_set& set, const Tok& tokenizer, const batch_options& options = {}) {
  static_assert(Tokenizer<Tok>, "juice::tokenize: Tok must satisfy juice::Tokenizer; see docs/data.md#tokenizers");
  data::detail::check_options(options, tokenizer.eos().has_value(), "juice::tokenize");
  std::vector<tokenized_pair> out;
  out.reserve(set.records.size());
  for (const auto& r : set.records) {
    tokenized_pair t{data::detail::encode_prompt(tokenizer, r.prompt, options),
                     data::detail::encode_response(tokenizer, r.chosen, options),
                     data::detail::encode_response(tokenizer, r.rejected, options), r.line};
    data::detail::fit(t.prompt, std::max(t.chosen.size(), t.rejected.size()), options,
                      data::detail::where(set.name, r.line));
    out.push_back(std::move(t));
  }
  return out;
}

// Rows [first, first + count) as one batch.
inline sequence_batch make_batch(const std::vector<tokenized_demonstration>& data, std::size_t first, std::size_t count) {
  data::detail::check_range(first, count, data.size(), "juice::make_batch");
  std::size_t width = 0;
  for (std::size_t i = first; i < first + count; ++i) width = std::max(width, data[i].prompt.size() + data[i].response.size());
  sequence_batch batch(count, width);
  for (std::size_t i = 0; i < count; ++i) data::detail::put_row(batch, i, data[first + i].prompt, data[first + i].response, first + i);
  return batch;
}

inline pair_batch make_batch(const std::vector<tokenized_pair>& data, std::size_t first, std::size_t count) {
  data::detail::check_range(first, count, data.size(), "juice::make_batch");
  std::size_t wc = 0, wr = 0;
  for (std::size_t i = first; i < first + count; ++i) {
    wc = std::max(wc, data[i].prompt.size() + data[i].chosen.size());
    wr = std::max(wr, data[i].prompt.size() + data[i].rejected.size());
  }
  // juice::pair_batch (core/batch_ops.hpp): row b of chosen and of rejected answer the same prompt.
  pair_batch out{sequence_batch(count, wc), sequence_batch(count, wr), xt::xtensor<double, 1>({count}, 1.0 / static_cast<double>(count))};
  for (std::size_t i = 0; i < count; ++i) {
    data::detail::put_row(out.chosen, i, data[first + i].prompt, data[first + i].chosen, first + i);
    data::detail::put_row(out.rejected, i, data[first + i].prompt, data[first + i].rejected, first + i);
  }
  return out;
}

// The whole data set in minibatches of batch_size rows, in order; the last one holds the remainder.
template <class Example>
auto minibatches(const std::vector<Example>& data, std::size_t batch_size) {
  if (batch_size == 0) throw invalid_argument("juice::minibatches: the batch size must be positive.");
  std::vector<decltype(make_batch(data, 0, 1))> out;
  for (std::size_t first = 0; first < data.size(); first += batch_size)
    out.push_back(make_batch(data, first, std::min(batch_size, data.size() - first)));
  return out;
}

}  // namespace juice
