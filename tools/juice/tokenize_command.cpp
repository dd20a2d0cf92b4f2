// `juice tokenize`: the token ids a tokenizer gives a text, and back. Text in (--text, or --input
// FILE, or standard input), ids out on one line, space-separated; with --decode, ids in, text out.
// With --jsonl, the input is a JSONL file and every record's string fields become arrays of ids
// (with --decode, arrays of ids become strings), one JSON object per line. See docs/cli.md.
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "data_loading.hpp"
#include "juice/data/data.hpp"

namespace juice::cli {

namespace {

struct tokenize_args {
  std::string tokenizer = "byte", input, text;
  bool has_text = false, decode = false, jsonl = false;
};

// The whole input (a text, or ids to decode), at most max_jsonl_line_bytes of it: a tokenizer
// works on one text, and an endless input (/dev/zero) must stop.
std::string read_tokenize_input(std::istream& in, const std::string& name) {
  std::string all;
  std::streambuf* buf = in.rdbuf();
  using traits = std::streambuf::traits_type;
  for (auto c = buf->sbumpc(); c != traits::eof(); c = buf->sbumpc()) {
    if (all.size() == max_jsonl_line_bytes)
      throw data_error(name + ": longer than " + std::to_string(max_jsonl_line_bytes) + " bytes, the most juice tokenize reads.");
    all.push_back(traits::to_char_type(c));
  }
  return all;
}

// Checks ids against the tokenizer's vocabulary and decodes them; `here` names where they came from.
std::string decode_ids(const any_tokenizer& tok, const std::vector<token_t>& ids, const std::string& here) {
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || static_cast<std::size_t>(ids[i]) >= tok.vocab_size())
      throw data_error(fmt::format("{}: token id {} (number {}) is outside the tokenizer's vocabulary of {} tokens.", here, ids[i], i + 1,
                                   tok.vocab_size()));
  return tok.decode(ids);
}

// Whitespace-separated token ids.
std::vector<token_t> parse_ids(const std::string& text, const std::string& here) {
  std::vector<token_t> ids;
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    std::size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(w, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != w.size() || v < 0 || v > 1'000'000'000)
      throw data_error(here + ": \"" + w + "\" is not a token id (a non-negative integer).");
    ids.push_back(static_cast<token_t>(v));
  }
  return ids;
}

void tokenize_jsonl(const tokenize_args& a, const any_tokenizer& tok, std::istream& in, const std::string& name) {
  data::detail::for_each_jsonl_object(in, name, [&](const nlohmann::json& record, const std::string& here, std::size_t) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : record.items()) {
      const std::string field = here + ": field \"" + key + "\"";
      if (!a.decode && value.is_string()) {
        out[key] = tok.encode(value.get<std::string>());
      } else if (a.decode && value.is_array()) {
        std::vector<token_t> ids;
        for (const auto& v : value) {
          if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > 1'000'000'000)
            throw data_error(field + ": " + v.dump() + " is not a token id (a non-negative integer).");
          ids.push_back(static_cast<token_t>(v.get<long long>()));
        }
        out[key] = decode_ids(tok, ids, field);
      } else {
        out[key] = value;
      }
    }
    fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  });
}

void run_tokenize(const tokenize_args& a) {
  if (a.has_text && !a.input.empty()) throw invalid_argument("juice tokenize: give --text or --input, not both.");
  if (a.has_text && a.jsonl) throw invalid_argument("--jsonl: reads a file (--input) or standard input, not --text.");
  data_args d;
  d.tokenizer = a.tokenizer;
  const any_tokenizer tok = load_tokenizer_option(d);
  std::ifstream file;
  if (!a.input.empty() && a.input != "-") file = data::detail::open(a.input);
  std::istream& in = file.is_open() ? static_cast<std::istream&>(file) : std::cin;
  const std::string name = file.is_open() ? a.input : std::string(a.has_text ? "--text" : "standard input");
  if (a.jsonl) return tokenize_jsonl(a, tok, in, name);
  const std::string text = a.has_text ? a.text : read_tokenize_input(in, name);
  if (a.decode) {
    const std::string out = decode_ids(tok, parse_ids(text, name), name);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return;
  }
  fmt::print("{}\n", fmt::join(tok.encode(text), " "));
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto a = std::make_shared<tokenize_args>();
  auto* cmd = app.add_subcommand("tokenize", "Show the token ids of a text (or, with --decode, the text of token ids)");
  cmd->add_option("--tokenizer", a->tokenizer, "byte, a *.tiktoken file, or a folder with vocab.json + merges.txt")->capture_default_str();
  auto* text = cmd->add_option("--text", a->text, "the text (or, with --decode, the ids) to convert");
  cmd->add_option("--input", a->input, "read the text, ids or JSONL from this file (default: standard input)");
  cmd->add_flag("--decode", a->decode, "token ids in (whitespace-separated), text out");
  cmd->add_flag("--jsonl", a->jsonl, "JSONL in and out: string fields become arrays of ids (with --decode, the reverse)");
  cmd->callback([a, text] {
    a->has_text = text->count() > 0;
    run_tokenize(*a);
  });
}

}  // namespace juice::cli
