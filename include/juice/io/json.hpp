// juice/io/json.hpp
//
// The JSON parser of the files juice reads (JSONL data sets, model configs, safetensors headers):
// nlohmann-json, made strict where it is lenient. nlohmann keeps the last of two equal keys in an
// object, and its lexer takes a NUL byte for the end of the input, so `{...}\0anything` parses as
// `{...}` and the rest is dropped unseen. Here both are errors: a file whose readers could disagree on
// what it says is refused (the safetensors format disallows duplicate keys, and its reference
// implementation, serde_json, refuses anything but whitespace after the JSON value). Messages are
// sentences without a location; a caller puts the file (and line) in front.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/io/atomic_file.hpp"

namespace juice::io {

// Text that is not strict JSON. what() says why and where in the text (column), not in which file.
class json_error : public format_error {
public:
  using format_error::format_error;
};

// Parses `text` as one JSON value (surrounding whitespace allowed). Throws json_error for malformed
// JSON ("malformed JSON (column 7: ...)."), a NUL byte anywhere, or a key repeated in one object.
inline nlohmann::json parse_json(std::string_view text) {
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw json_error("a NUL byte at column " + std::to_string(nul + 1) + " (JSON text holds none; nothing after it would be read).");
  std::vector<std::set<std::string>> open;  // the keys seen so far in each object being parsed
  const nlohmann::json::parser_callback_t on_event = [&open](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using event_t = nlohmann::json::parse_event_t;
    if (event == event_t::object_start) open.emplace_back();
    else if (event == event_t::object_end) open.pop_back();
    else if (event == event_t::key && !open.back().insert(parsed.get<std::string>()).second)
      throw json_error("the key \"" + parsed.get<std::string>() +
                       "\" appears twice in one object (readers disagree on which value counts).");
    return true;
  };
  try {
    return nlohmann::json::parse(text, on_event);
  } catch (const nlohmann::json::exception& e) {
    // Not only parse_error: a number too large for a double is out_of_range. nlohmann's text says
    // "line 1"; the column and the reason are what help.
    std::string reason = e.what();
    if (const auto c = reason.find("column"); c != std::string::npos) reason = reason.substr(c);
    throw json_error("malformed JSON (" + reason + ").");
  }
}

}  // namespace juice::io
