// Tokenizer throughput in bytes per second on a large generated text (about 4 MB of English-like
// words, numbers, punctuation, some accented and CJK text, newlines): GPT-2 BPE with its per-piece
// cache warm (the steady state of encoding a data set), with the cache disabled (every piece merged),
// the GPT-2 pre-tokeniser alone, and the byte tokenizer. Each benchmark checks once that
// decode(encode(text)) == text before timing. The GPT-2 ranks come from scripts/install-deps
// (.cache/gpt2/gpt2.tiktoken); without them the BPE benchmarks are skipped with a message.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "juice/data/data.hpp"

namespace {

std::string generated_text(std::size_t bytes) {
  const std::vector<std::string> words = {
      "the", "of", "and", "to", "in", "is", "that", "for", "it", "was", "on", "with", "he", "as", "you",
      "model", "reward", "learning", "demonstrations", "policy", "alignment", "gradient", "tokenizer",
      "isn't", "we'll", "they're", "2024", "3.14", "1,000", "e.g.", "(see", "above)", "--", "\"quoted\"",
      "caf\xC3\xA9", "na\xC3\xAFve", "\xE4\xB8\xAD\xE6\x96\x87", "\xF0\x9F\x98\x80", "Juice", "GPT-2",
      "unbelievably", "characteristically", "x86_64", "@user", "#tag", "$99.99", "100%"};
  std::string text;
  std::uint64_t s = 2024;
  while (text.size() < bytes) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    text += words[(s >> 33) % words.size()];
    const auto sep = (s >> 20) % 16;
    text += sep == 0 ? ".\n" : sep == 1 ? ", "
                           : sep == 2   ? "  "
                                        : " ";
  }
  return text;
}

const std::string& text() {
  static const std::string t = generated_text(4u << 20);
  return t;
}

std::string ranks_path() { return std::string(JUICE_GPT2_CACHE) + "/gpt2.tiktoken"; }

template <class Tok>
void encode_loop(benchmark::State& state, const Tok& tok) {
  if (tok.decode(tok.encode(text())) != text()) {
    state.SkipWithError("decode(encode(text)) != text");
    return;
  }
  std::size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok.encode(text());
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text().size()));
  state.counters["bytes_per_token"] = static_cast<double>(text().size()) / static_cast<double>(tokens);
}

void bpe(benchmark::State& state, bool cache) {
  if (!std::filesystem::exists(ranks_path())) {
    state.SkipWithError("GPT-2 ranks missing: run scripts/install-deps");
    return;
  }
  juice::bpe_options o;
  if (!cache) o.cache_entries = 0;
  encode_loop(state, juice::bpe_tokenizer::from_tiktoken(ranks_path(), o));
}

void BM_gpt2_bpe_encode(benchmark::State& state) { bpe(state, true); }
void BM_gpt2_bpe_encode_no_cache(benchmark::State& state) { bpe(state, false); }

void BM_gpt2_pretokenize(benchmark::State& state) {
  const juice::data::pretokenizer split;
  std::size_t pieces = 0;
  for (auto _ : state) {
    pieces = 0;
    split.split(text(), [&](std::string_view) { ++pieces; });
    benchmark::DoNotOptimize(pieces);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text().size()));
}

void BM_byte_encode(benchmark::State& state) { encode_loop(state, juice::byte_tokenizer(true)); }

}  // namespace

BENCHMARK(BM_gpt2_bpe_encode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gpt2_bpe_encode_no_cache)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gpt2_pretokenize)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_byte_encode)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
