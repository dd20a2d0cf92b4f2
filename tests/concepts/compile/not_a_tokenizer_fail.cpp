// Must not compile: batching with a type that has no eos() is not a juice::Tokenizer.
#include "juice/data/batching.hpp"

struct no_eos {
  std::vector<juice::token_t> encode(std::string_view) const { return {}; }
  std::string decode(std::span<const juice::token_t>) const { return {}; }
  std::size_t vocab_size() const { return 1; }
};

int main() { (void)juice::tokenize(juice::demonstration_set{}, no_eos{}); }
