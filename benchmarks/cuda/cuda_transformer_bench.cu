// Whole-model benchmarks of juice::transformer<juice::cuda, float> at the GPT-2 124M shape, printed as
// one JSON object (the value of "transformer" in scripts/gpu-check's output):
//   training:   tokens/s of SFT updates at B = 16, T = 1024 (steady state: the time between the
//               observer calls of consecutive updates), the model FLOP rate at 6N + 6LCT FLOPs per
//               token (Kaplan et al. 2020; N parameters, L layers, C channels, T context), and MFU
//               against an assumed dense peak given with --peak-tflops (default 989, H100/H200 SXM
//               bf16; fp32 is better judged against the measured SGEMM rate, which gpu-check adds),
//               once with fp32 GEMMs ("fp32") and once with bf16 GEMMs on tensor cores ("bf16",
//               juice::gemm_precision::bf16: fp32 master weights, activations and gradients, the
//               same FLOP count; its MFU is also "bf16_training_mfu" at the top level), then with
//               attention on strided-batched GEMMs (juice::attention_impl::gemm) in bf16
//               ("bf16_gemm_attention") and fp32 ("fp32_gemm_attention"), and with tf32 GEMMs ("tf32")
//   irft:       the same per-update time for IRFT inner steps (chosen and rejected rows scored in
//               one pass) over SFT's, and the peak memory of each run (the stream-ordered pool's
//               high watermark) as a ratio (fp32)
//   generation: KV-cache sampling tokens/s for B rows, against recomputing the full forward pass
//               for every new token (estimated as B tokens per full logits() call at the final
//               length) (fp32)
//   bounded logits (with --max-logit-rows R, R > 0): "fp32_bounded_logits", the fp32 training run
//               with the LM head's logits bounded to R rows (transformer::set_max_logit_rows: the
//               head chunked, recomputed in backward) against the unbounded "fp32" run: step_s,
//               peak_bytes and their ratios
// It validates before it times (llm.c's habit): a small model's logits on juice::cuda against
// juice::cpu, in fp32 and in bf16 (a looser bound), with either attention path, failing with a
// non-zero exit when they differ.
// No number here has ever been measured: no GPU was available when it was written.
//   cuda_transformer_bench [--steps K] [--peak-tflops P] [--small] [--max-logit-rows R]
//                          (--small: a quick shape for a smoke run, not the target one)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/backends/cuda/cuda.hpp"
#include "juice/core/rng.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using juice::transformer;

// Rows of `prompt` + `response` random tokens in [0, V).
juice::sequence_batch random_batch(std::size_t rows, std::size_t prompt, std::size_t response, std::size_t V,
                                   unsigned seed) {
  juice::sequence_batch b(rows, prompt + response);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t t = 0; t < prompt + response; ++t) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      b.tokens(r, t) = static_cast<int>((x >> 33) % V);
    }
    b.prompt_length(r) = static_cast<std::int32_t>(prompt);
    b.length(r) = static_cast<std::int32_t>(prompt + response);
  }
  return b;
}

cudaMemPool_t device_pool() {
  int dev = 0;
  JUICE_CUDA_CHECK(cudaGetDevice(&dev));
  cudaMemPool_t pool;
  JUICE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, dev));
  return pool;
}
void reset_peak(cudaMemPool_t pool) {
  std::uint64_t zero = 0;
  JUICE_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero));
}
double peak_bytes(cudaMemPool_t pool) {
  std::uint64_t v = 0;
  JUICE_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &v));
  return static_cast<double>(v);
}

// Median of the times between consecutive observer calls (the first call marks the start).
struct step_timer {
  std::vector<double> stamps;
  void operator()(const juice::step_event&) {
    stamps.push_back(std::chrono::duration<double>(clock_type::now().time_since_epoch()).count());
  }
  [[nodiscard]] double median_step() const {
    std::vector<double> d;
    for (std::size_t i = 1; i < stamps.size(); ++i) d.push_back(stamps[i] - stamps[i - 1]);
    if (d.empty()) return std::nan("");
    std::sort(d.begin(), d.end());
    return d[d.size() / 2];
  }
};

juice::cuda_options options(juice::gemm_precision precision, juice::attention_impl attention) {
  juice::cuda_options o;
  o.precision = precision;
  o.attention.impl = attention;
  return o;
}

// The largest |a - b| between a small model's logits on the GPU (GEMMs and attention as `o` says)
// and on the CPU (fp32).
double validate(const juice::cuda_options& o) {
  const juice::transformer_config cfg{2, 4, 32, 24, 97};
  transformer<juice::cpu, float> a(cfg, 5);
  transformer<juice::cuda, float> b(juice::cuda(o), cfg, 5);
  const auto batch = random_batch(3, 7, 9, cfg.vocab, 2);
  const auto la = a.logits(batch), lb = b.logits(batch), lc = b.logits_cached(batch);
  double worst = 0;
  for (std::size_t i = 0; i < la.size(); ++i) {
    worst = std::max(worst, std::abs(double(la.data()[i]) - double(lb.data()[i])));
    worst = std::max(worst, std::abs(double(la.data()[i]) - double(lc.data()[i])));
  }
  return worst;
}

struct training_run {
  double step_s = 0, peak_bytes = 0, n_params = 0;
};

// SFT updates on B full-context rows (a one-token prompt, every other token scored): the median
// time per update and the pool's peak memory.
// max_logit_rows: the LM head's bound (0: unbounded).
training_run train(const juice::transformer_config& cfg, std::size_t B, std::size_t steps,
                   const juice::cuda_options& options, cudaMemPool_t pool, std::size_t max_logit_rows = 0) {
  training_run r;
  transformer<juice::cuda, float> m(juice::cuda(options), cfg, 1);
  m.set_max_logit_rows(max_logit_rows);
  r.n_params = static_cast<double>(m.num_parameters());
  const auto demos = random_batch(B, 1, cfg.context - 1, cfg.vocab, 3);
  juice::adamw opt(juice::adamw_hyper{1e-4});
  juice::sft_options o;
  o.steps = steps + 1;
  step_timer timer;
  m.backend().synchronize();
  reset_peak(pool);
  juice::sft(o).run(m, demos, opt, [&timer](const juice::step_event& e) { timer(e); });
  m.backend().synchronize();
  r.peak_bytes = peak_bytes(pool);
  r.step_s = timer.median_step();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t steps = 5;
  double peak_tflops = 989;
  bool small = false;
  std::size_t max_logit_rows = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--steps" && i + 1 < argc) steps = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--peak-tflops" && i + 1 < argc) peak_tflops = std::strtod(argv[++i], nullptr);
    else if (a == "--small") small = true;
    else if (a == "--max-logit-rows" && i + 1 < argc) max_logit_rows = std::strtoul(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "cuda_transformer_bench: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  steps = std::max<std::size_t>(steps, 3);
  try {
    // Logits are O(1) here: fp32 differs by summation order only; bf16 by the rounding of every
    // GEMM input to 8 significant bits along the chain of GEMMs, about 2^-8 each (2^-4 allowed).
    using juice::attention_impl;
    using juice::gemm_precision;
    const double err = validate(options(gemm_precision::fp32, attention_impl::functors));
    const double err_bf16 = validate(options(gemm_precision::bf16, attention_impl::functors));
    const double err_gemm_attention = validate(options(gemm_precision::fp32, attention_impl::gemm));
    const double err_bf16_gemm_attention = validate(options(gemm_precision::bf16, attention_impl::gemm));
    const double err_tf32 = validate(options(gemm_precision::tf32, attention_impl::functors));
    if (!(err <= 1e-3) || !(err_bf16 <= 0.0625) || !(err_gemm_attention <= 1e-3) || !(err_bf16_gemm_attention <= 0.0625) ||
        !(err_tf32 <= 0.0625)) {
      std::fprintf(stderr,
                   "cuda_transformer_bench: validation failed: GPU logits differ from the CPU's by %g (fp32), %g "
                   "(bf16 GEMMs), %g (fp32, gemm attention), %g (bf16, gemm attention), %g (tf32 GEMMs)\n",
                   err, err_bf16, err_gemm_attention, err_bf16_gemm_attention, err_tf32);
      return 1;
    }
    const auto cfg = small ? juice::transformer_config{2, 4, 128, 256, 1000} : juice::transformer_config::gpt2_124m();
    const std::size_t B = small ? 4 : 16, T = cfg.context, L = cfg.layers, C = cfg.channels;
    const cudaMemPool_t pool = device_pool();

    // Training, fp32 GEMMs and then bf16 GEMMs: the same model, data and FLOP count.
    const training_run fp32 = train(cfg, B, steps, options(gemm_precision::fp32, attention_impl::functors), pool);
    const training_run bf16 = train(cfg, B, steps, options(gemm_precision::bf16, attention_impl::functors), pool);
    const training_run bf16_ga = train(cfg, B, steps, options(gemm_precision::bf16, attention_impl::gemm), pool);
    const training_run fp32_ga = train(cfg, B, steps, options(gemm_precision::fp32, attention_impl::gemm), pool);
    const training_run tf32 = train(cfg, B, steps, options(gemm_precision::tf32, attention_impl::functors), pool);
    training_run bounded;
    if (max_logit_rows > 0)
      bounded = train(cfg, B, steps, options(gemm_precision::fp32, attention_impl::functors), pool, max_logit_rows);
    const double n_params = fp32.n_params, sft_step = fp32.step_s, sft_peak = fp32.peak_bytes;
    const double flops_per_token = 6 * n_params + 6.0 * double(L * C * T);
    const double tokens_per_s = double(B * T) / sft_step;
    const double model_tflops = tokens_per_s * flops_per_token / 1e12;
    const double bf16_tokens_per_s = double(B * T) / bf16.step_s;
    const double bf16_tflops = bf16_tokens_per_s * flops_per_token / 1e12;

    // IRFT: B demonstration pairs (half prompt, half response), rejections sampled by the model;
    // inner updates score 2B rows. The first observer call follows generation and reference
    // scoring, so the median spacing is the inner update alone.
    double irft_step = 0, irft_peak = 0;
    {
      transformer<juice::cuda, float> m(juice::cuda{}, cfg, 1);
      m.generation().max_new_tokens = T / 2;
      const auto demos = random_batch(B, T / 2, T / 2, cfg.vocab, 4);
      juice::adamw opt(juice::adamw_hyper{1e-4});
      juice::irft_options o;
      o.rounds = 1;
      o.steps_per_round = steps + 1;
      o.chunk_rounds = false;
      step_timer timer;
      m.backend().synchronize();
      reset_peak(pool);
      juice::irft(o).run(m, demos, opt, juice::sampled{1}, [&timer](const juice::step_event& e) { timer(e); });
      m.backend().synchronize();
      irft_peak = peak_bytes(pool);
      irft_step = timer.median_step();
    }

    // Generation: KV-cache sampling of T/2 new tokens after T/2-token prompts, against full
    // recomputation (one logits() call over the final length per new token).
    double gen_tokens_per_s = 0, recompute_tokens_per_s = 0;
    {
      transformer<juice::cuda, float> m(juice::cuda{}, cfg, 1);
      const std::size_t new_tokens = T / 2;
      m.generation().max_new_tokens = new_tokens;
      const auto prompts = random_batch(B, T / 2, 0, cfg.vocab, 5);
      juice::rng g(7);
      (void)m.sample(prompts, 1, g);  // warm-up
      m.backend().synchronize();
      auto t0 = clock_type::now();
      const auto s = m.sample(prompts, 1, g);
      m.backend().synchronize();
      const double gen_s = std::chrono::duration<double>(clock_type::now() - t0).count();
      double generated = 0;
      for (std::size_t r = 0; r < s.rows(); ++r) generated += double(s.length(r) - s.prompt_length(r));
      gen_tokens_per_s = generated / gen_s;
      const auto full = random_batch(B, T / 2, new_tokens, cfg.vocab, 6);
      (void)m.logits(full);
      t0 = clock_type::now();
      (void)m.logits(full);
      m.backend().synchronize();
      recompute_tokens_per_s = double(B) / std::chrono::duration<double>(clock_type::now() - t0).count();
    }

    std::ostringstream out;
    out.precision(6);
    out << "{\"shape\": {\"layers\": " << L << ", \"heads\": " << cfg.heads << ", \"channels\": " << C
        << ", \"context\": " << T << ", \"vocab\": " << cfg.vocab << ", \"batch\": " << B << ", \"parameters\": " << n_params
        << "}, \"validation_max_abs_error\": " << err << ",\n  \"fp32\": {\"training_tokens_per_s\": " << tokens_per_s
        << ", \"step_s\": " << sft_step << ", \"flops_per_token\": " << flops_per_token
        << ", \"fp32_model_tflops\": " << model_tflops << ", \"mfu_vs_assumed_peak\": " << model_tflops / peak_tflops
        << ", \"assumed_peak_tflops\": " << peak_tflops << ", \"peak_bytes\": " << sft_peak
        << "},\n  \"bf16\": {\"training_tokens_per_s\": " << bf16_tokens_per_s << ", \"step_s\": " << bf16.step_s
        << ", \"flops_per_token\": " << flops_per_token << ", \"bf16_model_tflops\": " << bf16_tflops
        << ", \"mfu_vs_assumed_peak\": " << bf16_tflops / peak_tflops << ", \"assumed_peak_tflops\": " << peak_tflops
        << ", \"peak_bytes\": " << bf16.peak_bytes << ", \"validation_max_abs_error\": " << err_bf16
        << "},\n  \"bf16_training_mfu\": " << bf16_tflops / peak_tflops << ", \"bf16_over_fp32_tokens_per_s\": "
        << bf16_tokens_per_s / tokens_per_s << ",\n"
        << "  \"bf16_gemm_attention\": {\"training_tokens_per_s\": " << double(B * T) / bf16_ga.step_s
        << ", \"step_s\": " << bf16_ga.step_s << ", \"peak_bytes\": " << bf16_ga.peak_bytes
        << ", \"validation_max_abs_error\": " << err_bf16_gemm_attention << "},\n"
        << "  \"fp32_gemm_attention\": {\"training_tokens_per_s\": " << double(B * T) / fp32_ga.step_s
        << ", \"step_s\": " << fp32_ga.step_s << ", \"peak_bytes\": " << fp32_ga.peak_bytes
        << ", \"validation_max_abs_error\": " << err_gemm_attention << "},\n"
        << "  \"tf32\": {\"training_tokens_per_s\": " << double(B * T) / tf32.step_s << ", \"step_s\": " << tf32.step_s
        << ", \"peak_bytes\": " << tf32.peak_bytes << ", \"validation_max_abs_error\": " << err_tf32 << "},\n";
    if (max_logit_rows > 0)
      out << "  \"fp32_bounded_logits\": {\"max_logit_rows\": " << max_logit_rows << ", \"step_s\": " << bounded.step_s
          << ", \"peak_bytes\": " << bounded.peak_bytes << ", \"step_s_over_fp32\": " << bounded.step_s / sft_step
          << ", \"peak_bytes_over_fp32\": " << bounded.peak_bytes / sft_peak << "},\n";
    out
        << "  \"irft_over_sft_step_time\": " << irft_step / sft_step << ", \"irft_step_s\": " << irft_step
        << ", \"irft_over_sft_peak_memory\": " << irft_peak / sft_peak << ", \"sft_peak_bytes\": " << sft_peak
        << ", \"irft_peak_bytes\": " << irft_peak << ",\n  \"generation_tokens_per_s\": " << gen_tokens_per_s
        << ", \"recompute_tokens_per_s\": " << recompute_tokens_per_s
        << ", \"generation_over_recompute\": " << gen_tokens_per_s / recompute_tokens_per_s << "}\n";
    std::fputs(out.str().c_str(), stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_transformer_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
