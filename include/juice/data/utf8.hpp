// juice/data/utf8.hpp
//
// UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) and the split
// of arbitrary bytes into maximal valid runs and single invalid bytes. The BPE pre-tokeniser runs
// PCRE2 in UTF mode, which must only ever see valid UTF-8; invalid bytes become tokens of their own.
#pragma once

#include <cstddef>
#include <string_view>

namespace juice::data {

// Length of the valid UTF-8 character starting at s[i], or 0 if the bytes there are not one.
inline std::size_t utf8_char_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const std::size_t n = s.size() - i;
  const unsigned c = byte(i);
  auto cont = [&](std::size_t k) { return (byte(i + k) & 0xC0u) == 0x80u; };
  if (c < 0x80u) return 1;
  if (c >= 0xC2u && c <= 0xDFu) return n >= 2 && cont(1) ? 2 : 0;
  if (c >= 0xE0u && c <= 0xEFu) {
    if (n < 3 || !cont(1) || !cont(2)) return 0;
    const unsigned c1 = byte(i + 1);
    if (c == 0xE0u && c1 < 0xA0u) return 0;  // overlong
    if (c == 0xEDu && c1 > 0x9Fu) return 0;  // surrogates U+D800..U+DFFF
    return 3;
  }
  if (c >= 0xF0u && c <= 0xF4u) {
    if (n < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    const unsigned c1 = byte(i + 1);
    if (c == 0xF0u && c1 < 0x90u) return 0;  // overlong
    if (c == 0xF4u && c1 > 0x8Fu) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // continuation byte, C0/C1 (always overlong) or F5..FF
}

// Calls on_valid(run) for each maximal run of valid UTF-8 and on_invalid(byte) for each byte that
// starts no valid character (as a one-byte view into s), in text order.
template <class OnValid, class OnInvalid>
void for_each_utf8_run(std::string_view s, OnValid&& on_valid, OnInvalid&& on_invalid) {
  std::size_t i = 0, start = 0;
  while (i < s.size()) {
    const std::size_t len = utf8_char_length(s, i);
    if (len) {
      i += len;
      continue;
    }
    if (i > start) on_valid(s.substr(start, i - start));
    on_invalid(s.substr(i, 1));
    start = ++i;
  }
  if (i > start) on_valid(s.substr(start, i - start));
}

}  // namespace juice::data
