// juice/data/pretokenizer.hpp
//
// GPT-2's pre-tokenisation: the text is cut into pieces ("words") by the pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// before BPE merges within each piece. The pattern needs Unicode classes and look-ahead, which
// std::regex lacks, so it runs on PCRE2 (UTF + UCP, JIT-compiled when available). PCRE2 in UTF mode
// must only see valid UTF-8: the text is split into valid runs first, each run is matched on its own,
// and every invalid byte becomes a piece of its own. The compiled pattern is immutable and shared by
// copies; each call allocates its own match data, so one pretokenizer may be used from many threads.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "juice/core/error.hpp"
#include "juice/data/utf8.hpp"

namespace juice::data {

// The GPT-2 pattern, as in the released encoder.
inline constexpr std::string_view gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class pretokenizer {
public:
  explicit pretokenizer(std::string_view pattern = gpt2_pattern) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                         PCRE2_UTF | PCRE2_UCP, &code, &offset, nullptr);
    if (!compiled) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(code, message, sizeof message);
      throw invalid_argument("juice::pretokenizer: the pattern does not compile at offset " + std::to_string(offset) +
                             ": " + reinterpret_cast<const char*>(message) + ".");
    }
    // JIT is an optimisation only: without it (a PCRE2 built without JIT) pcre2_match does the same.
    jit_ = pcre2_jit_compile(compiled, PCRE2_JIT_COMPLETE) == 0;
    code_ = std::shared_ptr<const pcre2_code>(compiled, [](const pcre2_code* c) { pcre2_code_free(const_cast<pcre2_code*>(c)); });
  }

  // Calls on_piece(std::string_view) for each piece of `text` in order; the pieces concatenate to
  // `text`. Any bytes are accepted.
  template <class OnPiece>
  void split(std::string_view text, OnPiece&& on_piece) const {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr), &pcre2_match_data_free);
    if (!match) throw error("juice::pretokenizer: out of memory for PCRE2 match data.");
    for_each_utf8_run(
        text, [&](std::string_view run) { split_valid(run, match.get(), on_piece); },
        [&](std::string_view invalid_byte) { on_piece(invalid_byte); });
  }

private:
  template <class OnPiece>
  void split_valid(std::string_view run, pcre2_match_data* match, OnPiece& on_piece) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(run.data());
    std::size_t at = 0;
    while (at < run.size()) {
      // The run was validated by for_each_utf8_run; skipping PCRE2's check keeps the loop linear
      // (PCRE2 would otherwise re-check the rest of the subject at every match).
      const int rc = jit_ ? pcre2_jit_match(code_.get(), subject, run.size(), at, PCRE2_NO_UTF_CHECK, match, nullptr)
                          : pcre2_match(code_.get(), subject, run.size(), at, PCRE2_NO_UTF_CHECK, match, nullptr);
      std::size_t begin = at, end = run.size();
      if (rc > 0) {
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
        begin = ov[0];
        end = ov[1];
      } else if (rc != PCRE2_ERROR_NOMATCH) {
        throw error("juice::pretokenizer: PCRE2 failed with code " + std::to_string(rc) + ".");
      }
      // A custom pattern may leave gaps or match nothing at all: such text becomes a piece of its own,
      // so no byte is ever dropped.
      if (begin > at) on_piece(run.substr(at, begin - at));
      if (end == begin) {  // an empty match: emit one character and move on
        if (begin >= run.size()) break;
        end = begin + utf8_char_length(run, begin);
      }
      on_piece(run.substr(begin, end - begin));
      at = end;
    }
  }

  std::shared_ptr<const pcre2_code> code_;
  bool jit_ = false;
};

}  // namespace juice::data
