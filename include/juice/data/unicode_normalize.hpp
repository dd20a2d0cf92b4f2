// juice/data/unicode_normalize.hpp
//
// Unicode Normalization Form C (canonical decomposition, then canonical composition; Unicode Standard
// Annex #15), computed by ICU's Normalizer2 directly on UTF-8. Hugging Face's tokenizer.json names it
// as the normalizer of Pythia's (GPT-NeoX-20B's) and Qwen2's tokenizers: `tokenizers` rewrites the
// text to NFC before it is cut into pieces. NFC changes only canonically equivalent spellings
// ("e" + U+0301 COMBINING ACUTE ACCENT -> U+00E9, conjoining Hangul jamo -> a syllable, U+212B
// ANGSTROM SIGN -> U+00C5); compatibility characters (U+FB01 "ﬁ", U+2460 "①", fullwidth letters)
// stay, which NFKC would fold. Bytes that are not valid UTF-8 (data/utf8.hpp) are kept as they are,
// as the tokenizer keeps them: each maximal valid run is normalised on its own, so nothing composes
// across an invalid byte. ICU's normaliser is immutable and may be used by several threads.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/utypes.h>

#include "juice/core/error.hpp"
#include "juice/data/utf8.hpp"

namespace juice {

// The normalisation applied to text before it is tokenized.
enum class unicode_normalization {
  none,  // the text as it is
  nfc,   // Unicode NFC (tokenizer.json's {"type": "NFC"})
};

namespace data {

namespace detail {

inline const icu::Normalizer2& icu_nfc() {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status) || nfc == nullptr)
    throw error(std::string("juice::data::nfc: ICU's NFC data could not be loaded (") + u_errorName(status) + ").");
  return *nfc;
}

// ICU measures strings in int32_t.
inline icu::StringPiece icu_piece(std::string_view run) {
  if (run.size() > static_cast<std::size_t>(INT32_MAX))
    throw invalid_argument("juice::data::nfc: a run of " + std::to_string(run.size()) +
                           " bytes of UTF-8 is longer than ICU normalises at once (2^31 - 1 bytes).");
  return {run.data(), static_cast<std::int32_t>(run.size())};
}

inline bool is_nfc_run(const icu::Normalizer2& nfc, std::string_view run) {
  UErrorCode status = U_ZERO_ERROR;
  const bool normal = nfc.isNormalizedUTF8(icu_piece(run), status) != 0;
  if (U_FAILURE(status)) throw error(std::string("juice::data::nfc: ICU's NFC check failed (") + u_errorName(status) + ").");
  return normal;
}

inline void append_nfc_run(const icu::Normalizer2& nfc, std::string_view run, std::string& out) {
  UErrorCode status = U_ZERO_ERROR;
  icu::StringByteSink<std::string> sink(&out);
  nfc.normalizeUTF8(0, icu_piece(run), sink, nullptr, status);
  if (U_FAILURE(status)) throw error(std::string("juice::data::nfc: ICU's NFC normalisation failed (") + u_errorName(status) + ").");
}

}  // namespace detail

// The NFC form of `text`, or nothing when `text` is already in NFC (the common case: ASCII is
// answered without ICU, and nothing is copied). Invalid UTF-8 bytes are kept (see the file comment).
inline std::optional<std::string> nfc_if_changed(std::string_view text) {
  bool ascii = true;
  for (const char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80u;
  if (ascii) return std::nullopt;
  const icu::Normalizer2& nfc = detail::icu_nfc();
  bool changed = false;
  for_each_utf8_run(
      text, [&](std::string_view run) { changed = changed || !detail::is_nfc_run(nfc, run); }, [](std::string_view) {});
  if (!changed) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  for_each_utf8_run(
      text, [&](std::string_view run) { detail::append_nfc_run(nfc, run, out); },
      [&](std::string_view invalid_byte) { out += invalid_byte; });
  return out;
}

// The NFC form of `text` (invalid UTF-8 bytes kept).
inline std::string nfc(std::string_view text) {
  auto changed = nfc_if_changed(text);
  return changed ? std::move(*changed) : std::string(text);
}

}  // namespace data
}  // namespace juice
