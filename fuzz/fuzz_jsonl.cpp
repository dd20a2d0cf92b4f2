// libFuzzer target: the JSONL readers (demonstrations, pairs in both forms) and batching on what they
// accept. Bad input must end in juice::data_error / juice::error, never a crash, a hang or another
// exception; accepted input must batch into rows that juice::validate accepts.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "juice/core/batch_ops.hpp"
#include "juice/data/data.hpp"

namespace {

template <class Set>
void batch_all(const Set& set) {
  const juice::byte_tokenizer tok(true);
  juice::batch_options o;
  o.context = 64;
  o.append_eos = true;
  o.truncate_prompt = true;
  o.bos = 256;
  try {
    const auto data = juice::tokenize(set, tok, o);
    for (const auto& batch : juice::minibatches(data, 3)) {
      if constexpr (std::is_same_v<std::decay_t<decltype(batch)>, juice::sequence_batch>) {
        juice::validate(batch, "fuzz_jsonl");
      } else {
        juice::validate(batch.chosen, "fuzz_jsonl chosen");
        juice::validate(batch.rejected, "fuzz_jsonl rejected");
      }
    }
  } catch (const juice::data_error&) {
    // a response longer than the context: a refused row, not a bug
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    std::istringstream in(text);
    batch_all(juice::read_demonstrations(in, "fuzz.jsonl"));
  } catch (const juice::data_error&) {
  }
  for (const auto format : {juice::pair_format::automatic, juice::pair_format::anthropic_hh}) {
    try {
      std::istringstream in(text);
      batch_all(juice::read_pairs(in, "fuzz.jsonl", format));
    } catch (const juice::data_error&) {
    }
  }
  return 0;
}
