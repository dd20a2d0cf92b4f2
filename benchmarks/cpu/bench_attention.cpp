// juice_bench_attention: the training attention kernel alone, forward + backward, GPT-2 124M's
// attention shape (NH = 12, C = 768) at B = 1 and T = 1024 by default:
//   BM_attention_reference  the plain loops kept as the test oracle (stores att(B,NH,T,T))
//   BM_attention_tiled      juice::cpu's tiled kernels (keeps lse(B,NH,T))
// FLOPs are counted for the causal half, 3x the forward's two products (as benchmarks/cpu/steps.hpp
// counts attention in the training step): 3 * 2 * B * C * T * (T + 1). The tiled backward pass
// recomputes the scores, so it executes more than it is credited with. Both kernels are checked
// against each other once before timing. Arguments: Google Benchmark's, plus --threads=N (2).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "juice/backends/cpu/attention_reference.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/rng.hpp"

namespace {

using namespace juice;

struct attention_case {
  std::ptrdiff_t B, T, C, NH;
  std::vector<float> qkv, dout, out, aux, dqkv;
  attention_case(std::ptrdiff_t b, std::ptrdiff_t t, std::ptrdiff_t c, std::ptrdiff_t nh)
      : B(b), T(t), C(c), NH(nh), qkv(static_cast<std::size_t>(b * t * 3 * c)), dout(static_cast<std::size_t>(b * t * c)),
        out(dout.size()), dqkv(qkv.size()) {
    rng g(5);
    for (auto& x : qkv) x = static_cast<float>(2 * g.uniform() - 1);
    for (auto& x : dout) x = static_cast<float>(2 * g.uniform() - 1);
  }
  [[nodiscard]] double flop() const { return 3.0 * 2.0 * double(B) * double(C) * double(T) * double(T + 1); }
  void tiled() {
    aux.resize(static_cast<std::size_t>(B * NH * T));
    cpu::attention_forward(out.data(), aux.data(), qkv.data(), B, T, C, NH);
    cpu::attention_backward(dqkv.data(), dout.data(), out.data(), aux.data(), qkv.data(), B, T, C, NH);
  }
  void reference() {
    aux.resize(static_cast<std::size_t>(B * NH * T * T));
    cpu_kernels::reference::attention_forward(out.data(), aux.data(), qkv.data(), B, T, C, NH);
    cpu_kernels::reference::attention_backward(dqkv.data(), dout.data(), aux.data(), qkv.data(), B, T, C, NH);
  }
};

// The worst |a - b| / (1e-4 + |b|) over out and dqkv of the two kernels.
double validate(attention_case& c) {
  c.reference();
  const auto out = c.out, dqkv = c.dqkv;
  c.tiled();
  double worst = 0;
  for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::abs(c.out[i] - out[i]) / (1e-4 + std::abs(out[i])));
  for (std::size_t i = 0; i < dqkv.size(); ++i)
    worst = std::max(worst, std::abs(c.dqkv[i] - dqkv[i]) / (1e-4 + std::abs(dqkv[i])));
  return worst;
}

template <bool Tiled>
void BM_attention(benchmark::State& state) {
  attention_case c(state.range(0), state.range(1), 768, 12);
  if (const double w = validate(c); !(w < 1e-2)) {
    state.SkipWithError(("tiled and reference attention differ (worst relative " + std::to_string(w) + ")").c_str());
    return;
  }
  for (auto _ : state) {
    if constexpr (Tiled) c.tiled();
    else c.reference();
    benchmark::DoNotOptimize(c.dqkv.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(c.flop() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["aux_MiB"] = static_cast<double>(c.aux.size() * sizeof(float)) / (1 << 20);
  state.SetItemsProcessed(state.iterations() * c.B * c.T);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_attention, false)->Name("BM_attention_reference")->Args({1, 1024})->Args({1, 256})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK_TEMPLATE(BM_attention, true)->Name("BM_attention_tiled")->Args({1, 1024})->Args({1, 256})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);

int main(int argc, char** argv) {
  int threads = 2;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) threads = std::stoi(a.substr(10));
    else rest.push_back(argv[i]);
  }
  juice::cpu::set_num_threads(threads);
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
