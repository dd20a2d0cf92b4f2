// juice/data/jsonl.hpp
//
// Readers for the JSONL data sets (one JSON object per line, docs/data.md):
//   demonstrations  {"prompt": "...", "response": "..."}
//   preference pairs {"prompt": "...", "chosen": "...", "rejected": "..."}, or Anthropic-HH's
//                    {"chosen": "<dialogue>", "rejected": "<dialogue>"} (data/anthropic_hh.hpp).
// Bad input never passes silently: malformed JSON, a NUL byte, a key repeated in one object
// (io/json.hpp), a line longer than max_jsonl_line_bytes (refused once that many bytes are read, so a
// file without line breaks such as /dev/zero is not read to its end), a line that is not an object,
// a missing or non-string field, an empty response (or chosen/rejected) each throw juice::data_error
// naming the file and the line. A prompt may be empty here (batching decides whether a row can use it). Blank
// lines are skipped; other fields are ignored, so richer files can be read as they are.
#pragma once

#include <cstddef>
#include <fstream>
#include <istream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/data/anthropic_hh.hpp"
#include "juice/data/data_error.hpp"
#include "juice/io/json.hpp"

namespace juice {

struct demonstration {
  std::string prompt, response;
  std::size_t line = 0;  // where in the file (from 1), for later messages
};

struct preference_pair {
  std::string prompt, chosen, rejected;
  std::size_t line = 0;
};

// The records of one file and the file's name, which every later error message quotes.
template <class Record>
struct jsonl_data {
  std::string name;
  std::vector<Record> records;
};
using demonstration_set = jsonl_data<demonstration>;
using preference_set = jsonl_data<preference_pair>;

// How a pair file spells its pairs. automatic: per line, explicit if it has a "prompt" field,
// Anthropic-HH otherwise.
enum class pair_format { automatic,
                         explicit_prompt,
                         anthropic_hh };

// The longest line a JSONL file may hold: 16 MiB, thousands of times what a model's context takes
// in, and what a reader holds in memory at most for one line.
inline constexpr std::size_t max_jsonl_line_bytes = std::size_t{16} << 20;

namespace data::detail {

// Reads the next line of `in` (without its '\n') into `line`, stopping with a data_error naming
// line `number` of `name` once it is longer than `max` bytes. Returns false at the end of the input.
inline bool read_line(std::istream& in, std::string& line, std::size_t max, const std::string& name, std::size_t number) {
  line.clear();
  std::streambuf* buf = in.rdbuf();
  using traits = std::streambuf::traits_type;
  for (auto c = buf->sbumpc(); c != traits::eof(); c = buf->sbumpc()) {
    if (c == '\n') return true;
    if (line.size() == max)
      throw data_error(where(name, number) + ": longer than " + std::to_string(max) + " bytes, the most a JSONL line may hold.");
    line.push_back(traits::to_char_type(c));
  }
  in.setstate(std::ios::eofbit);
  return !line.empty();
}

// Calls on_object(json, where) for every non-blank line of `in`.
template <class OnObject>
void for_each_jsonl_object(std::istream& in, const std::string& name, OnObject&& on_object) {
  std::string line;
  for (std::size_t number = 1; read_line(in, line, max_jsonl_line_bytes, name, number); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string here = where(name, number);
    nlohmann::json json;
    try {
      json = io::parse_json(line);
    } catch (const io::json_error& e) {
      throw data_error(here + ": " + e.what());
    }
    if (!json.is_object()) throw data_error(here + ": expected a JSON object, found " + json.type_name() + ".");
    on_object(json, here, number);
  }
  if (in.bad()) throw data_error(name + ": read error.");
}

inline std::string string_field(const nlohmann::json& json, const char* field, const std::string& here,
                                bool may_be_empty) {
  const auto it = json.find(field);
  if (it == json.end()) throw data_error(here + ": the field \"" + field + "\" is missing.");
  if (!it->is_string())
    throw data_error(here + ": the field \"" + field + "\" is " + it->type_name() + ", not a string.");
  std::string value = it->get<std::string>();
  if (!may_be_empty && value.empty()) throw data_error(here + ": the field \"" + field + "\" is empty.");
  return value;
}

inline std::ifstream open(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw data_error(path + ": cannot be opened.");
  return in;
}

template <class Set>
Set nonempty(Set set) {
  if (set.records.empty()) throw data_error(set.name + ": holds no records.");
  return set;
}

}  // namespace data::detail

inline demonstration_set read_demonstrations(std::istream& in, const std::string& name) {
  demonstration_set set{name, {}};
  data::detail::for_each_jsonl_object(in, name, [&](const nlohmann::json& json, const std::string& here, std::size_t line) {
    set.records.push_back(demonstration{data::detail::string_field(json, "prompt", here, true),
                                        data::detail::string_field(json, "response", here, false), line});
  });
  return data::detail::nonempty(std::move(set));
}

inline demonstration_set read_demonstrations(const std::string& path) {
  auto in = data::detail::open(path);
  return read_demonstrations(in, path);
}

inline preference_set read_pairs(std::istream& in, const std::string& name, pair_format format = pair_format::automatic) {
  preference_set set{name, {}};
  data::detail::for_each_jsonl_object(in, name, [&](const nlohmann::json& json, const std::string& here, std::size_t line) {
    const bool hh = format == pair_format::anthropic_hh || (format == pair_format::automatic && !json.contains("prompt"));
    auto chosen = data::detail::string_field(json, "chosen", here, false);
    auto rejected = data::detail::string_field(json, "rejected", here, false);
    if (!hh) {
      set.records.push_back(
          preference_pair{data::detail::string_field(json, "prompt", here, true), std::move(chosen), std::move(rejected), line});
      return;
    }
    auto split = data::split_hh_dialogues(chosen, rejected);
    if (!split)
      throw data_error(here +
                       ": the chosen and rejected dialogues share no prefix ending in \"\\n\\nAssistant:\" "
                       "(Anthropic-HH form; give a \"prompt\" field for the explicit form).");
    if (split->chosen.empty()) throw data_error(here + ": the chosen dialogue has an empty final answer.");
    if (split->rejected.empty()) throw data_error(here + ": the rejected dialogue has an empty final answer.");
    set.records.push_back(preference_pair{std::move(split->prompt), std::move(split->chosen), std::move(split->rejected), line});
  });
  return data::detail::nonempty(std::move(set));
}

inline preference_set read_pairs(const std::string& path, pair_format format = pair_format::automatic) {
  auto in = data::detail::open(path);
  return read_pairs(in, path, format);
}

}  // namespace juice
