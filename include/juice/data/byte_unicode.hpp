// juice/data/byte_unicode.hpp
//
// GPT-2's reversible map between bytes and printable Unicode characters. HF's vocab.json and
// merges.txt spell every token as a string of these characters (a space is "Ġ", U+0120), so reading
// them means mapping each character back to its byte. Bytes that are printable Latin-1 ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 take U+0100, U+0101, ... in byte order.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "juice/data/utf8.hpp"

namespace juice::data {

// The code point byte b is written as.
inline std::array<char32_t, 256> gpt2_byte_to_unicode() {
  std::array<char32_t, 256> map{};
  const auto printable = [](unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); };
  char32_t next = 0x100;
  for (unsigned b = 0; b < 256; ++b) map[b] = printable(b) ? static_cast<char32_t>(b) : next++;
  return map;
}

// UTF-8 of the code point c (c < 0x800 is all this map needs, but any scalar value works).
inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// The token text as vocab.json writes it.
inline std::string bytes_to_gpt2_unicode(std::string_view bytes) {
  const auto map = gpt2_byte_to_unicode();
  std::string out;
  for (unsigned char b : bytes) append_utf8(out, map[b]);
  return out;
}

// The bytes a vocab.json / merges.txt token stands for, or nothing if the text is not valid UTF-8 or
// holds a character outside the map.
inline std::optional<std::string> gpt2_unicode_to_bytes(std::string_view text) {
  const auto map = gpt2_byte_to_unicode();
  std::array<int, 0x144> inverse{};
  inverse.fill(-1);
  for (unsigned b = 0; b < 256; ++b) inverse[map[b]] = static_cast<int>(b);
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = utf8_char_length(text, i);
    if (len == 0 || len > 2) return std::nullopt;
    char32_t c = static_cast<unsigned char>(text[i]);
    if (len == 2) c = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
    if (c >= inverse.size() || inverse[c] < 0) return std::nullopt;
    out.push_back(static_cast<char>(static_cast<unsigned char>(inverse[c])));
    i += len;
  }
  return out;
}

}  // namespace juice::data
