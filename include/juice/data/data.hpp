// juice/data/data.hpp
//
// The data layer: tokenizers (byte-level, GPT-2 BPE), JSONL readers and batching. Needs the
// juice::data CMake target (PCRE2, ICU and nlohmann-json); juice/juice.hpp does not include it.
#pragma once

#include "juice/concepts/tokenizer.hpp"
#include "juice/data/anthropic_hh.hpp"
#include "juice/data/any_tokenizer.hpp"
#include "juice/data/batching.hpp"
#include "juice/data/bpe_tokenizer.hpp"
#include "juice/data/byte_tokenizer.hpp"
#include "juice/data/byte_unicode.hpp"
#include "juice/data/data_error.hpp"
#include "juice/data/jsonl.hpp"
#include "juice/data/pretokenizer.hpp"
#include "juice/data/unicode_normalize.hpp"
#include "juice/data/utf8.hpp"
