// Twin of not_a_tokenizer_fail.cpp: the same type with eos() is a juice::Tokenizer.
#include "juice/data/batching.hpp"

struct with_eos {
  std::vector<juice::token_t> encode(std::string_view) const { return {}; }
  std::string decode(std::span<const juice::token_t>) const { return {}; }
  std::size_t vocab_size() const { return 1; }
  std::optional<juice::token_t> eos() const { return std::nullopt; }
};

int main() { (void)juice::tokenize(juice::demonstration_set{}, with_eos{}); }
