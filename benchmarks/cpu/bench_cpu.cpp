// juice_bench_cpu: Google Benchmark programs for the CPU backend and the GPT-2 transformer.
//   BM_sgemm                 Eigen SGEMM (1024^3), the reference rate
//   BM_train_step_124M       one SFT update (forward + backward + AdamW), GPT-2 124M shape, B=4, T=64;
//                            each iteration also times, outside the framework's clock, 1024^3
//                            SGEMMs (Eigen-threaded and block-split) and one IRFT inner update on the same 4 demonstrations paired
//                            with 4 other responses, so all three rates see the same machine load
//   BM_generate_cached       256 new tokens after 64-token prompts with the KV cache (kv model)
//   BM_generate_recompute    the same tokens, recomputing the whole prefix for every token
//   BM_kv124M_cached/_recompute  the same on the 124M shape with one prompt (off by default in
//                            run-cpu, which passes --benchmark_filter=-BM_kv124M unless --kv-124m)
//   BM_train_long/B/T/R      one SFT update of the 124M shape at long rows (B=2, T=256 and B=1,
//                            T=1024; prompts of T/8 tokens), R the LM head's bound on logit rows
//                            (transformer::set_max_logit_rows; 0 = unbounded; B=1, T=1024 also
//                            runs with R=128); run-cpu runs them only with --long, and the JSON
//                            then carries a "long" array (peak memory from juice_cpu_memprobe,
//                            passed in with --long-peak-bytes=BxT:bytes,... or BxTrR:bytes)
// Each benchmark validates once before it times. With --json the program prints one JSON object
// with the summary fields that benchmarks/run-cpu documents (peak memory figures come from
// juice_cpu_memprobe and are passed in with --sft-peak-bytes / --irft-peak-bytes).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "steps.hpp"

using namespace juice;
using namespace juice::bench;

namespace {

int g_threads = 2;

void fail(benchmark::State& state, const std::string& why) { state.SkipWithError(why.c_str()); }

// ---- SGEMM -----------------------------------------------------------------------------------
void BM_sgemm(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  c.noalias() = a * b;
  // Validate a few entries against plain dot products.
  for (Eigen::Index k = 0; k < 4; ++k) {
    const Eigen::Index i = (k * 131) % n, j = (k * 577) % n;
    double s = 0;
    for (Eigen::Index l = 0; l < n; ++l) s += static_cast<double>(a(i, l)) * b(l, j);
    if (std::abs(s - c(i, j)) > 1e-3 * (1 + std::abs(s))) return fail(state, "SGEMM result is wrong");
  }
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flop = 2.0 * static_cast<double>(n) * n * n;
  state.counters["flop"] = flop;
  state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- training steps on the 124M shape -----------------------------------------------------------
struct train_fixture {
  transformer_config cfg = transformer_config::gpt2_124m();
  policy_t model{cfg, 1};
  adamw opt{bench_adamw()};
  sequence_batch chosen = random_rows(batch_rows, seq_len, prompt_len, cfg.vocab, 1);
  pair_batch pairs = example_pairs(chosen, cfg.vocab);
  std::vector<double> ref;
};

train_fixture& fixture() {
  static std::unique_ptr<train_fixture> f;
  if (!f) f = std::make_unique<train_fixture>();
  return *f;
}

// SGEMMs of the same size as BM_sgemm, timed with a wall clock (for interleaving), two ways:
// Eigen's own multi-threaded product, and juice::cpu::matmul_forward (Eigen's single-threaded
// kernel on one block of columns per thread). The reference rate is the better of the two.
struct sgemm_probe {
  static constexpr Eigen::Index n = 1024;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c{n, n};
  double flop = 0, eigen_seconds = 0, blocked_seconds = 0;
  void run(int times) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < times; ++i) {
      c.noalias() = a * b;
      benchmark::DoNotOptimize(c.data());
    }
    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < times; ++i) {
      cpu::matmul_forward<float>(c.data(), a.data(), b.data(), nullptr, n, n, n);
      benchmark::DoNotOptimize(c.data());
    }
    auto t2 = std::chrono::steady_clock::now();
    eigen_seconds += std::chrono::duration<double>(t1 - t0).count();
    blocked_seconds += std::chrono::duration<double>(t2 - t1).count();
    flop += times * 2.0 * n * n * n;
  }
};

// The SFT step is what Google Benchmark times. The machine is shared, so the load changes during a
// run; to compare like with like, every iteration also runs (untimed by the framework, timed by a
// wall clock) a batch of SGEMMs and one IRFT inner step on the same examples, and reports their
// rates alongside.
void BM_train_step_124M(benchmark::State& state) {
  auto& f = fixture();
  // Validate: the first loss is about log(vocab) per token for a fresh model, and finite.
  const double first = sft_step(f.model, f.chosen, f.opt);
  if (!std::isfinite(first) || std::abs(first - std::log(static_cast<double>(f.cfg.vocab))) > 1.0)
    return fail(state, "unexpected initial SFT loss " + std::to_string(first));
  // The IRFT round: reference log-probs once, outside the inner step; z = 0 at the round start.
  f.ref = reference_logprobs(f.model, f.pairs);
  const double irft_first = irft_step(f.model, f.pairs, f.ref, f.opt);
  if (!(std::abs(irft_first - std::log(2.0)) < 1e-3))
    return fail(state, "IRFT round-start loss is " + std::to_string(irft_first) + ", expected log 2");
  sgemm_probe probe;
  double irft_seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    probe.run(3);
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(irft_step(f.model, f.pairs, f.ref, f.opt));
    irft_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.ResumeTiming();
    benchmark::DoNotOptimize(sft_step(f.model, f.chosen, f.opt));
  }
  const double flop = train_flops(f.cfg, batch_rows, seq_len, scored_positions(f.chosen));
  const double iters = static_cast<double>(state.iterations());
  state.counters["flop"] = flop;
  state.counters["tokens"] = static_cast<double>(batch_rows * seq_len);
  state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["sgemm_eigen_GFLOP/s"] = probe.flop / probe.eigen_seconds * 1e-9;
  state.counters["sgemm_blocked_GFLOP/s"] = probe.flop / probe.blocked_seconds * 1e-9;
  state.counters["irft_s"] = irft_seconds / iters;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_rows * seq_len));
}

// ---- training steps at long sequence lengths ----------------------------------------------------
// The same model and optimizer as BM_train_step_124M, rows of T tokens with T/8 prompt tokens, the
// LM head's logits bounded to R rows (0: unbounded) for this benchmark only.
void BM_train_long(benchmark::State& state) {
  auto& f = fixture();
  const auto B = static_cast<std::size_t>(state.range(0)), T = static_cast<std::size_t>(state.range(1));
  struct bound_guard {
    policy_t& m;
    ~bound_guard() { m.set_max_logit_rows(0); }
  } guard{f.model};
  f.model.set_max_logit_rows(static_cast<std::size_t>(state.range(2)));
  const auto rows = random_rows(B, T, T / 8, f.cfg.vocab, 7);
  // Validate: one untimed step has a finite loss near log(vocab) (the model is nearly fresh).
  const double first = sft_step(f.model, rows, f.opt);
  if (!std::isfinite(first) || std::abs(first - std::log(static_cast<double>(f.cfg.vocab))) > 2.0)
    return fail(state, "unexpected SFT loss " + std::to_string(first) + " at T=" + std::to_string(T));
  // SGEMMs interleaved with the steps (untimed by the framework), so that the rate the step is
  // compared with also sees the load of the moment, as in BM_train_step_124M.
  sgemm_probe probe;
  for (auto _ : state) {
    state.PauseTiming();
    probe.run(2);
    state.ResumeTiming();
    benchmark::DoNotOptimize(sft_step(f.model, rows, f.opt));
  }
  state.counters["sgemm_GFLOP/s"] = probe.flop / std::min(probe.eigen_seconds, probe.blocked_seconds) * 1e-9;
  const double flop = train_flops(f.cfg, static_cast<double>(B), static_cast<double>(T), scored_positions(rows));
  state.counters["flop"] = flop;
  state.counters["tokens"] = static_cast<double>(B * T);
  state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * B * T));
}

// ---- generation: KV cache vs recompute ------------------------------------------------------------
// The kv model: GPT-2's vocabulary and layout at a width that lets the quadratic recompute
// baseline finish within the benchmark budget (documented in docs/performance.md).
transformer_config kv_config() { return {4, 4, 256, 512, 50257}; }
inline constexpr std::size_t kv_prompt = 64, kv_new = 256, kv_rows = 4;

struct kv_fixture {
  policy_t model{kv_config(), 2, generation_options{kv_new, -1, sampling_options{0.0, 0, 1.0}}};
  sequence_batch prompts = random_rows(kv_rows, kv_prompt, kv_prompt, kv_config().vocab, 3);
};
kv_fixture& kv() {
  static std::unique_ptr<kv_fixture> f;
  if (!f) f = std::make_unique<kv_fixture>();
  return *f;
}

// Greedy generation without a cache: full forward over the prefix, LM head on the last position.
std::vector<int> generate_recompute(const policy_t& m, const sequence_batch& prompts, std::size_t steps) {
  const auto& cfg = m.config();
  const std::size_t R = prompts.rows(), C = cfg.channels, V = cfg.vocab;
  std::vector<std::vector<int>> seq(R);
  for (std::size_t r = 0; r < R; ++r)
    for (std::int32_t t = 0; t < prompts.prompt_length(r); ++t) seq[r].push_back(prompts.tokens(r, static_cast<std::size_t>(t)));
  std::vector<float> h(R * C), logits(R * V);
  std::vector<int> out;
  for (std::size_t s = 0; s < steps; ++s) {
    const std::size_t W = seq[0].size();
    std::vector<int> tokens;
    for (auto& row : seq) tokens.insert(tokens.end(), row.begin(), row.end());
    const float* lnf = m.trunk().forward(tokens, R, W);
    for (std::size_t r = 0; r < R; ++r) std::copy_n(lnf + (r * W + W - 1) * C, C, h.data() + r * C);
    cpu::lm_logits(logits.data(), h.data(), m.trunk().param(0), static_cast<std::ptrdiff_t>(R), static_cast<std::ptrdiff_t>(C),
                   static_cast<std::ptrdiff_t>(V));
    for (std::size_t r = 0; r < R; ++r) {
      const auto* row = logits.data() + r * V;
      const int next = static_cast<int>(std::max_element(row, row + V) - row);
      seq[r].push_back(next);
      out.push_back(next);
    }
  }
  return out;
}

void BM_generate_cached(benchmark::State& state) {
  auto& f = kv();
  // Validate: cached and recomputed logits agree on the prompts plus a short greedy continuation.
  {
    rng g0(1);
    auto& gen = f.model.generation();
    const auto saved = gen.max_new_tokens;
    gen.max_new_tokens = 8;
    const auto batch = f.model.sample(f.prompts, 1, g0);
    gen.max_new_tokens = saved;
    const auto full = f.model.logits(batch), cached = f.model.logits_cached(batch);
    double worst = 0;
    for (std::size_t i = 0; i < full.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(full.data()[i] - cached.data()[i])));
    if (!(worst < 1e-3)) return fail(state, "KV-cache logits differ from recompute by " + std::to_string(worst));
  }
  rng g(1);
  for (auto _ : state) benchmark::DoNotOptimize(f.model.sample(f.prompts, 1, g));
  state.counters["tokens"] = static_cast<double>(kv_rows * kv_new);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kv_rows * kv_new));
}

void BM_generate_recompute(benchmark::State& state) {
  auto& f = kv();
  // Validate: the recompute baseline generates the same greedy tokens as the cached sampler.
  {
    rng g0(1);
    auto& gen = f.model.generation();
    const auto saved = gen.max_new_tokens;
    gen.max_new_tokens = 8;
    const auto cached = f.model.sample(f.prompts, 1, g0);
    gen.max_new_tokens = saved;
    const auto tokens = generate_recompute(f.model, f.prompts, 8);
    for (std::size_t s = 0; s < 8; ++s)
      for (std::size_t r = 0; r < kv_rows; ++r)
        if (tokens[s * kv_rows + r] != cached.tokens(r, kv_prompt + s))
          return fail(state, "recompute and KV-cache greedy generations differ at row " + std::to_string(r) + " step " + std::to_string(s));
  }
  for (auto _ : state) benchmark::DoNotOptimize(generate_recompute(f.model, f.prompts, kv_new));
  state.counters["tokens"] = static_cast<double>(kv_rows * kv_new);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kv_rows * kv_new));
}

// ---- optional: the same comparison on the GPT-2 124M shape, one prompt ----------------------------
// Not run by default (run-cpu --kv-124m): the recompute baseline alone takes minutes here.
void BM_kv124M_cached(benchmark::State& state) {
  auto& f = fixture();
  const auto prompts = random_rows(1, kv_prompt, kv_prompt, f.cfg.vocab, 4);
  f.model.generation() = generation_options{kv_new, -1, sampling_options{0.0, 0, 1.0}};
  rng g(1);
  for (auto _ : state) benchmark::DoNotOptimize(f.model.sample(prompts, 1, g));
  state.counters["tokens"] = static_cast<double>(kv_new);
}

void BM_kv124M_recompute(benchmark::State& state) {
  auto& f = fixture();
  const auto prompts = random_rows(1, kv_prompt, kv_prompt, f.cfg.vocab, 4);
  {  // Validate against the cached greedy tokens.
    f.model.generation() = generation_options{4, -1, sampling_options{0.0, 0, 1.0}};
    rng g0(1);
    const auto cached = f.model.sample(prompts, 1, g0);
    const auto tokens = generate_recompute(f.model, prompts, 4);
    for (std::size_t s = 0; s < 4; ++s)
      if (tokens[s] != cached.tokens(0, kv_prompt + s))
        return fail(state, "124M recompute and KV-cache greedy generations differ at step " + std::to_string(s));
  }
  for (auto _ : state) benchmark::DoNotOptimize(generate_recompute(f.model, prompts, kv_new));
  state.counters["tokens"] = static_cast<double>(kv_new);
}

// ---- reporter that also records the runs for the JSON summary --------------------------------------
struct recorded {
  double seconds = 0;  // real time per iteration
  std::map<std::string, double> counters;
  bool error = false;
  std::string message;
};

class recording_reporter : public benchmark::ConsoleReporter {
public:
  explicit recording_reporter(bool quiet) : quiet_(quiet) {}
  bool ReportContext(const Context& c) override { return quiet_ ? true : ConsoleReporter::ReportContext(c); }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      const std::string full = r.benchmark_name();
      std::string name = full.substr(0, full.find('/'));
      // Runs of one benchmark at several shapes keep their arguments in the key.
      if (name == "BM_train_long") name = full.substr(0, full.find("/iterations"));
      recorded rec;
      rec.error = r.error_occurred;
      rec.message = r.error_message;
      rec.seconds = r.iterations > 0 ? r.real_accumulated_time / static_cast<double>(r.iterations) : 0;
      for (const auto& [k, c] : r.counters) rec.counters[k] = c.value;
      results[name] = rec;
    }
    if (!quiet_) ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    if (!quiet_) ConsoleReporter::Finalize();
  }
  std::map<std::string, recorded> results;

private:
  bool quiet_;
};

}  // namespace

BENCHMARK(BM_sgemm)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_train_step_124M)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_generate_cached)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_generate_recompute)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_kv124M_cached)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_kv124M_recompute)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_train_long)->Args({2, 256, 0})->Args({1, 1024, 0})->Args({1, 1024, 128})->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  bool json = false;
  double sft_peak = -1, irft_peak = -1;
  std::map<std::string, double> long_peak;  // "BxT" -> bytes
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") json = true;
    else if (a.rfind("--sft-peak-bytes=", 0) == 0) sft_peak = std::stod(a.substr(17));
    else if (a.rfind("--irft-peak-bytes=", 0) == 0) irft_peak = std::stod(a.substr(18));
    else if (a.rfind("--threads=", 0) == 0) g_threads = std::stoi(a.substr(10));
    else if (a.rfind("--long-peak-bytes=", 0) == 0) {
      std::string list = a.substr(18);
      for (std::size_t at = 0; at < list.size();) {
        const std::size_t end = std::min(list.find(',', at), list.size()), colon = list.find(':', at);
        if (colon < end) long_peak[list.substr(at, colon - at)] = std::stod(list.substr(colon + 1, end - colon - 1));
        at = end + 1;
      }
    } else rest.push_back(argv[i]);
  }
  int n = static_cast<int>(rest.size());
  cpu::set_num_threads(g_threads);
  benchmark::Initialize(&n, rest.data());
  recording_reporter reporter(json);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (!json) return 0;

  nlohmann::json out;
  auto& R = reporter.results;
  auto get = [&](const std::string& name) -> const recorded* {
    auto it = R.find(name);
    return it == R.end() || it->second.error || it->second.seconds <= 0 ? nullptr : &it->second;
  };
  out["threads"] = g_threads;
  out["eigen_threads"] = Eigen::nbThreads();
  if (auto* s = get("BM_sgemm")) out["sgemm_gflops_standalone"] = s->counters.at("flop") / s->seconds * 1e-9;
  if (auto* t = get("BM_train_step_124M")) {
    // The reference: the better of the two Eigen SGEMM rates measured interleaved with the
    // training steps (through Eigen's threading and through cpu::matmul_forward's block split),
    // i.e. under the same machine load as the steps. The standalone rate is reported too, but on a
    // shared machine it may have been measured under a different load.
    out["sgemm_gflops_interleaved_eigen"] = t->counters.at("sgemm_eigen_GFLOP/s");
    out["sgemm_gflops_interleaved_blocked"] = t->counters.at("sgemm_blocked_GFLOP/s");
    out["sgemm_gflops"] = std::max(t->counters.at("sgemm_eigen_GFLOP/s"), t->counters.at("sgemm_blocked_GFLOP/s"));
    out["train_step_seconds"] = t->seconds;
    out["train_step_tokens_per_s"] = t->counters.at("tokens") / t->seconds;
    out["train_step_gflops"] = t->counters.at("flop") / t->seconds * 1e-9;
    out["train_step_fraction_of_sgemm"] = out["train_step_gflops"].get<double>() / out["sgemm_gflops"].get<double>();
    out["irft_step_seconds"] = t->counters.at("irft_s");
    out["irft_over_sft_time"] = t->counters.at("irft_s") / t->seconds;
  }
  if (auto* c = get("BM_generate_cached")) {
    out["kv_cached_seconds"] = c->seconds;
    if (auto* r = get("BM_generate_recompute")) {
      out["kv_recompute_seconds"] = r->seconds;
      out["kv_cache_speedup"] = r->seconds / c->seconds;
    }
  }
  if (auto* c = get("BM_kv124M_cached")) {
    out["kv_cached_seconds_124m"] = c->seconds;
    if (auto* r = get("BM_kv124M_recompute")) {
      out["kv_recompute_seconds_124m"] = r->seconds;
      out["kv_cache_speedup_124m"] = r->seconds / c->seconds;
    }
  }
  if (out.contains("kv_cache_speedup"))
    out["kv_cache_model"] = "L=4 NH=4 C=256 vocab=50257, 4 prompts x 64 tokens, 256 new tokens, greedy";
  if (out.contains("kv_cache_speedup_124m"))
    out["kv_cache_model_124m"] = "GPT-2 124M shape, 1 prompt x 64 tokens, 256 new tokens, greedy";
  if (sft_peak > 0 && irft_peak > 0) {
    out["sft_peak_bytes"] = sft_peak;
    out["irft_peak_bytes"] = irft_peak;
    out["irft_over_sft_peak_memory"] = irft_peak / sft_peak;
  }
  // Long rows: one object per shape, rated against the same run's SGEMM reference.
  for (const auto& [B, T, rows] : {std::tuple{2, 256, 0}, std::tuple{1, 1024, 0}, std::tuple{1, 1024, 128}}) {
    const std::string shape = std::to_string(B) + "x" + std::to_string(T) + (rows ? "r" + std::to_string(rows) : "");
    auto* l = get("BM_train_long/" + std::to_string(B) + "/" + std::to_string(T) + "/" + std::to_string(rows));
    if (!l) continue;
    nlohmann::json o;
    o["B"] = B;
    o["T"] = T;
    o["max_logit_rows"] = rows;
    o["seconds"] = l->seconds;
    o["tokens_per_s"] = l->counters.at("tokens") / l->seconds;
    o["gflops"] = l->counters.at("flop") / l->seconds * 1e-9;
    if (out.contains("sgemm_gflops")) o["fraction_of_sgemm"] = o["gflops"].get<double>() / out["sgemm_gflops"].get<double>();
    // The same ratio against SGEMMs run between this shape's steps: robust to a load that changed
    // since BM_train_step_124M measured sgemm_gflops.
    o["sgemm_gflops_interleaved"] = l->counters.at("sgemm_GFLOP/s");
    o["fraction_of_interleaved_sgemm"] = o["gflops"].get<double>() / l->counters.at("sgemm_GFLOP/s");
    if (auto it = long_peak.find(shape); it != long_peak.end()) o["peak_bytes"] = it->second;
    out["long"].push_back(o);
  }
  for (const auto& [name, rec] : R)
    if (rec.error) out["errors"][name] = rec.message;
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
