// From the commands' JSONL files to token rows a given model can score: read (errors name the file
// and line), tokenize with the model's context as the row limit, and check every token id against
// the model's vocabulary (a tokenizer larger than the model is caught at the line that first uses
// an id the model lacks). Also the row selection the training loops need: the rows at given
// indices as one batch.
#pragma once

#include <cstddef>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"
#include "juice/data/data.hpp"
#include "juice/models/transformer_config.hpp"
#include "options.hpp"

namespace juice::cli {

// The tokenizer --tokenizer names; a failure to load it is an error naming the option.
inline any_tokenizer load_tokenizer_option(const data_args& a) {
  try {
    return load_tokenizer(a.tokenizer);
  } catch (const error& e) {
    throw invalid_argument("--tokenizer " + a.tokenizer + ": " + e.what());
  }
}

// The options that turn text into rows for this model. A tokenizer smaller than the model's
// vocabulary is allowed (a vocabulary may be padded) but is worth a one-line warning: it is more
// likely the wrong tokenizer (the byte tokenizer with a GPT-2 of 50257 tokens) than padding.
inline batch_options make_batch_options(const data_args& a, const any_tokenizer& tok, const transformer_config& c) {
  if (tok.vocab_size() < c.vocab)
    fmt::print(stderr, "juice: warning: --tokenizer {} has {} tokens but the model's vocabulary has {}; is it the tokenizer the model was trained with?\n",
               a.tokenizer, tok.vocab_size(), c.vocab);
  batch_options o;
  o.context = c.context;
  o.append_eos = !a.no_eos && tok.eos().has_value();
  o.truncate_prompt = a.truncate_prompt;
  if (a.bos) {
    o.bos = tok.eos();
    if (!o.bos) throw invalid_argument("--bos: the tokenizer has no EOS token to start prompts with.");
  }
  return o;
}

namespace detail {

inline void check_ids(std::span<const token_t> ids, const transformer_config& c, const std::string& file, std::size_t line) {
  for (const token_t id : ids)
    if (id < 0 || static_cast<std::size_t>(id) >= c.vocab)
      throw data_error(data::detail::where(file, line) + ": token id " + std::to_string(id) +
                       " is outside the model's vocabulary of " + std::to_string(c.vocab) +
                       " tokens; use the tokenizer the model was trained with (--tokenizer).");
}

}  // namespace detail

inline std::vector<tokenized_demonstration> load_demonstrations(const std::string& path, const any_tokenizer& tok,
                                                                const batch_options& o, const transformer_config& c) {
  const demonstration_set set = read_demonstrations(path);
  auto rows = tokenize(set, tok, o);
  for (const auto& r : rows) {
    detail::check_ids(r.prompt, c, set.name, r.line);
    detail::check_ids(r.response, c, set.name, r.line);
  }
  return rows;
}

inline std::vector<tokenized_pair> load_pairs(const std::string& path, const any_tokenizer& tok, const batch_options& o,
                                              const transformer_config& c) {
  const preference_set set = read_pairs(path);
  auto rows = tokenize(set, tok, o);
  for (const auto& r : rows) {
    detail::check_ids(r.prompt, c, set.name, r.line);
    detail::check_ids(r.chosen, c, set.name, r.line);
    detail::check_ids(r.rejected, c, set.name, r.line);
  }
  return rows;
}

// The rows `index` of a data set as one batch (right-padded, weights 1/rows, source = position in
// `index`).
template <class Example>
auto select_examples(const std::vector<Example>& data, std::span<const std::size_t> index) {
  std::vector<Example> picked;
  picked.reserve(index.size());
  for (const std::size_t i : index) picked.push_back(data[i]);
  return make_batch(picked, 0, picked.size());
}

}  // namespace juice::cli
