// juice_cpu_memprobe sft|irft [B T [R]]: builds the GPT-2 124M model, runs one SFT step or (the
// round's reference pass and) one IRFT inner step on the benchmark examples (B=4 rows of T=64
// tokens, or B rows of T tokens with T/8 prompt tokens; with R > 0 the LM head's logits bounded to
// R rows, transformer::set_max_logit_rows), and prints the process's peak resident set size in
// bytes (VmHWM). The first step allocates the activations and the optimizer
// state, so it reaches the steady-state peak. One process per mode, so each peak is its own.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "steps.hpp"

static long long peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return -1;
}

int main(int argc, char** argv) {
  using namespace juice;
  using namespace juice::bench;
  if ((argc != 2 && argc != 4 && argc != 5) || (std::strcmp(argv[1], "sft") && std::strcmp(argv[1], "irft"))) {
    std::fprintf(stderr, "usage: juice_cpu_memprobe sft|irft [B T [R]]\n");
    return 2;
  }
  const bool shaped = argc >= 4;
  const std::size_t B = shaped ? std::stoul(argv[2]) : batch_rows, T = shaped ? std::stoul(argv[3]) : seq_len;
  const std::size_t R = argc == 5 ? std::stoul(argv[4]) : 0;
  if (B == 0 || T == 0 || T > transformer_config::gpt2_124m().context) {
    std::fprintf(stderr, "juice_cpu_memprobe: B must be positive and T in 1..1024\n");
    return 2;
  }
  cpu::set_num_threads(2);
  const auto cfg = transformer_config::gpt2_124m();
  policy_t p(cfg, 1);
  p.set_max_logit_rows(R);
  adamw opt(bench_adamw());
  const auto chosen = random_rows(B, T, shaped ? T / 8 : prompt_len, cfg.vocab, 1);
  if (std::strcmp(argv[1], "sft") == 0) {
    sft_step(p, chosen, opt);
  } else {
    const auto pairs = example_pairs(chosen, cfg.vocab);
    const auto ref = reference_logprobs(p, pairs);
    irft_step(p, pairs, ref, opt);
  }
  std::printf("%lld\n", peak_rss_bytes());
  return 0;
}
