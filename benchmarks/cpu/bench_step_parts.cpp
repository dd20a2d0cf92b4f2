// juice_bench_step_parts [steps] [B T]: where the time of one SFT training step goes, GPT-2 124M
// shape (default B = 4, T = 64, 8 prompt tokens), 2 threads. A benchmark, not a test.
//
// The model runs on `timed_cpu`, juice::cpu with every primitive wrapped in a wall-clock timer that
// adds to a named part (the GEMMs by layer and direction, attention, layernorm, GELU, residuals,
// embedding, the LM head's GEMMs and log-softmax, and the per-step passes over all parameters:
// zero_grad, the gradient norm and AdamW). The step is the benchmark's (steps.hpp sft_step), so what
// is timed is what `train_step_fraction_of_sgemm` counts. The same number of steps also runs on the
// plain juice::cpu model, interleaved with 1024^3 SGEMMs, to give the step time and the reference
// rate under the same load; and the memory bandwidth of a fill, a read and a copy over 124M floats
// bounds the fixed per-step passes. Prints one table (ms per step and GFLOP/s per part).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "steps.hpp"

using namespace juice;
using namespace juice::bench;

namespace {

using clock_type = std::chrono::steady_clock;

struct part {
  double seconds = 0, flop = 0, fastest = 1e30;  // fastest: the quickest single call
  long calls = 0;
};
using parts_table = std::map<std::string, part>;

// juice::cpu with every primitive timed into *table (non-static members hide cpu's static ones).
struct timed_cpu : cpu {
  parts_table* table = nullptr;
  std::size_t block_size = 0;  // the parameter count: fills of this size are zero_grad

  template <class F>
  void timed(const std::string& part_name, double flop, F&& f) const {
    const auto t0 = clock_type::now();
    f();
    auto& p = (*table)[part_name];
    const double dt = std::chrono::duration<double>(clock_type::now() - t0).count();
    p.seconds += dt;
    p.fastest = std::min(p.fastest, dt);
    p.flop += flop;
    ++p.calls;
  }
  static std::string layer_name(std::ptrdiff_t C, std::ptrdiff_t OC) {
    if (OC == 3 * C) return "qkv";
    if (OC == 4 * C) return "fc";
    if (C == 4 * OC) return "fcproj";
    if (OC == 1) return "value head";
    return "attproj";
  }

  template <class T>
  void fill(view<T> x, T a) const {
    timed(x.size() == block_size ? "param pass: zero_grad" : "fill workspace", 0, [&] { cpu_kernels::fill(x, a); });
  }
  template <class T>
  double dot(const_view<T> y, const_view<T> z) const {
    double s = 0;
    timed(y.size() == block_size ? "param pass: grad norm" : "dot", 0, [&] { s = cpu_kernels::dot(y, z); });
    return s;
  }
  template <class T>
  void adamw_update(view<T> value, const_view<T> grad, view<T> m, view<T> v, const adamw_hyper& h) const {
    timed("param pass: adamw", 0, [&] { cpu_kernels::adamw_update(value, grad, m, v, h); });
  }
  template <class T>
  void adamw_update_and_zero(view<T> value, view<T> grad, view<T> m, view<T> v, const adamw_hyper& h) const {
    timed("param pass: adamw+zero", 0, [&] { cpu_kernels::adamw_update_and_zero(value, grad, m, v, h); });
  }
  template <class T>
  void matmul_forward(T* out, const T* inp, const T* w, const T* b, std::ptrdiff_t N, std::ptrdiff_t C, std::ptrdiff_t OC) const {
    timed("gemm fwd " + layer_name(C, OC), 2.0 * N * C * OC, [&] { cpu_kernels::matmul_forward(out, inp, w, b, N, C, OC); });
  }
  template <class T>
  void matmul_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, std::ptrdiff_t N, std::ptrdiff_t C,
                       std::ptrdiff_t OC) const {
    const std::string l = layer_name(C, OC);
    if (dinp)
      timed("gemm bwd " + l + " dinp", 2.0 * N * C * OC,
            [&] { cpu_kernels::matmul_backward<T>(dinp, nullptr, nullptr, dout, inp, w, N, C, OC); });
    if (dw || db)
      timed("gemm bwd " + l + " dw", 2.0 * N * C * OC, [&] { cpu_kernels::matmul_backward<T>(nullptr, dw, db, dout, inp, w, N, C, OC); });
  }
  template <class T>
  void embedding_forward(T* out, const int* tok, const int* pos, const T* wte, const T* wpe, std::ptrdiff_t N, std::ptrdiff_t C) const {
    timed("embedding fwd+bwd", 0, [&] { cpu_kernels::embedding_forward(out, tok, pos, wte, wpe, N, C); });
  }
  template <class T>
  void embedding_backward(T* dwte, T* dwpe, const T* dout, const int* tok, const int* pos, std::ptrdiff_t N, std::ptrdiff_t C) const {
    timed("embedding fwd+bwd", 0, [&] { cpu_kernels::embedding_backward(dwte, dwpe, dout, tok, pos, N, C); });
  }
  template <class T>
  void gather_rows(T* out, const T* inp, const int* index, std::ptrdiff_t M, std::ptrdiff_t C) const {
    timed("gather/scatter rows", 0, [&] { cpu_kernels::gather_rows(out, inp, index, M, C); });
  }
  template <class T>
  void scatter_add_rows(T* dinp, const T* dout, const int* index, std::ptrdiff_t M, std::ptrdiff_t C) const {
    timed("gather/scatter rows", 0, [&] { cpu_kernels::scatter_add_rows(dinp, dout, index, M, C); });
  }
  template <class T>
  void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, std::ptrdiff_t N, std::ptrdiff_t C) const {
    timed("layernorm fwd", 0, [&] { cpu_kernels::layernorm_forward(out, mean, rstd, inp, w, b, N, C); });
  }
  template <class T>
  void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean, const T* rstd,
                          std::ptrdiff_t N, std::ptrdiff_t C) const {
    timed("layernorm bwd", 0, [&] { cpu_kernels::layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C); });
  }
  template <class T>
  void attention_forward(T* out, T* lse, const T* qkv, std::ptrdiff_t B, std::ptrdiff_t T_, std::ptrdiff_t C, std::ptrdiff_t NH) const {
    timed("attention fwd", 2.0 * B * C * T_ * (T_ + 1), [&] { cpu_kernels::attention_forward(out, lse, qkv, B, T_, C, NH); });
  }
  template <class T>
  void attention_backward(T* dqkv, const T* dout, const T* out, const T* lse, const T* qkv, std::ptrdiff_t B, std::ptrdiff_t T_,
                          std::ptrdiff_t C, std::ptrdiff_t NH) const {
    timed("attention bwd", 4.0 * B * C * T_ * (T_ + 1),
          [&] { cpu_kernels::attention_backward(dqkv, dout, out, lse, qkv, B, T_, C, NH); });
  }
  template <class T>
  void gelu_forward(T* out, const T* inp, std::ptrdiff_t n) const {
    timed("gelu fwd", 0, [&] { cpu_kernels::gelu_forward(out, inp, n); });
  }
  template <class T>
  void gelu_backward(T* dinp, const T* inp, const T* dout, std::ptrdiff_t n) const {
    timed("gelu bwd", 0, [&] { cpu_kernels::gelu_backward(dinp, inp, dout, n); });
  }
  template <class T>
  void residual_forward(T* out, const T* a, const T* b, std::ptrdiff_t n) const {
    timed("residual/add", 0, [&] { cpu_kernels::residual_forward(out, a, b, n); });
  }
  template <class T>
  void add_inplace(T* x, const T* y, std::ptrdiff_t n) const {
    timed("residual/add", 0, [&] { cpu_kernels::add_inplace(x, y, n); });
  }
  template <class T>
  void lm_logprob_forward(T* logits, T* logp, const T* h, const T* wte, const int* target, std::ptrdiff_t M, std::ptrdiff_t C,
                          std::ptrdiff_t V) const {
    timed("lm head fwd gemm", 2.0 * M * C * V, [&] { cpu_kernels::lm_logits(logits, h, wte, M, C, V); });
    timed("lm head log-softmax", 0, [&] { cpu_kernels::log_softmax_gather(logits, logp, target, M, V); });
  }
  template <class T>
  void lm_logprob_backward(T* dh, T* dwte, T* logits, const T* h, const T* wte, const int* target, const T* g, std::ptrdiff_t M,
                           std::ptrdiff_t C, std::ptrdiff_t V) const {
    // The kernel's two halves, timed apart: the softmax gradient in place, then the two products.
    timed("lm head softmax grad", 0, [&] {
      cpu_kernels::lm_logprob_backward<T>(nullptr, nullptr, logits, h, wte, target, g, M, C, V);
    });
    timed("lm head bwd gemm dh", 2.0 * M * C * V, [&] { cpu_kernels::matmul_backward<T>(dh, nullptr, nullptr, logits, h, wte, M, C, V); });
    timed("lm head bwd gemm dwte", 2.0 * M * C * V,
          [&] { cpu_kernels::matmul_backward<T>(nullptr, dwte, nullptr, logits, h, wte, M, C, V); });
  }
};

double sgemm_seconds(Eigen::MatrixXf& a, Eigen::MatrixXf& b, Eigen::MatrixXf& c) {
  const auto t0 = clock_type::now();
  cpu::matmul_forward<float>(c.data(), a.data(), b.data(), nullptr, a.rows(), a.rows(), a.rows());
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

template <class F>
double seconds_of(F&& f) {
  const auto t0 = clock_type::now();
  f();
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::stoi(argv[1]) : 3;
  const std::size_t B = argc > 3 ? std::stoul(argv[2]) : batch_rows, T = argc > 3 ? std::stoul(argv[3]) : seq_len;
  const std::size_t P = argc > 3 ? T / 8 : prompt_len;
  cpu::set_num_threads(2);
  const auto cfg = transformer_config::gpt2_124m();

  parts_table table;
  timed_cpu be;
  be.table = &table;
  transformer<timed_cpu, float> timed_model(be, cfg, 1);
  timed_model.backend().block_size = timed_model.num_parameters();
  policy_t model(cfg, 1);
  adamw opt_timed(bench_adamw()), opt(bench_adamw());
  const auto rows = random_rows(B, T, P, cfg.vocab, 1);

  // Warm-up (allocates activations and optimizer state), then the timed steps.
  sft_step(model, rows, opt);
  sft_step(timed_model, rows, opt_timed);
  table.clear();

  Eigen::MatrixXf a = Eigen::MatrixXf::Random(1024, 1024), bm = Eigen::MatrixXf::Random(1024, 1024), c(1024, 1024);
  double plain = 0, parts_total = 0, sgemm = 0, best_sgemm = 1e30;
  for (int s = 0; s < steps; ++s) {
    for (int k = 0; k < 3; ++k) {
      const double dt = sgemm_seconds(a, bm, c);
      sgemm += dt;
      best_sgemm = std::min(best_sgemm, dt);
    }
    plain += seconds_of([&] { sft_step(model, rows, opt); });
    parts_total += seconds_of([&] { sft_step(timed_model, rows, opt_timed); });
  }
  const double sgemm_rate = 3.0 * steps * 2.0 * 1024.0 * 1024 * 1024 / sgemm * 1e-9;
  const double best_sgemm_rate = 2.0 * 1024.0 * 1024 * 1024 / best_sgemm * 1e-9;

  // Memory bandwidth over the parameter block's size: what the fixed per-step passes are bound by.
  const std::size_t n = timed_model.num_parameters();
  std::vector<float> x(n, 1.0f), y(n, 2.0f);
  double fill_s = 1e9, read_s = 1e9, copy_s = 1e9;
  for (int k = 0; k < 3; ++k) {
    fill_s = std::min(fill_s, seconds_of([&] { cpu_kernels::fill(std::span<float>(x), 0.5f); }));
    read_s = std::min(read_s, seconds_of([&] {
                        volatile double d = cpu_kernels::dot(std::span<const float>(y), std::span<const float>(y));
                        (void)d;
                      }));
    copy_s = std::min(copy_s, seconds_of([&] { cpu_kernels::copy(std::span<const float>(y), std::span<float>(x)); }));
  }
  const double gb = static_cast<double>(n) * 4e-9;

  const double flop = train_flops(cfg, static_cast<double>(B), static_cast<double>(T), static_cast<double>(B * (T - P)));
  std::printf("shape B=%zu T=%zu, %d steps, %zu parameters\n", B, T, steps, n);
  std::printf("SGEMM 1024^3 (block-split, interleaved): %.1f GFLOP/s (best single product %.1f)\n", sgemm_rate, best_sgemm_rate);
  std::printf("plain step: %.1f ms, %.1f GFLOP/s, fraction of SGEMM %.3f\n", plain / steps * 1e3, flop / (plain / steps) * 1e-9,
              flop / (plain / steps) * 1e-9 / sgemm_rate);
  std::printf("timed step: %.1f ms (sum of parts below plus host work)\n", parts_total / steps * 1e3);
  std::printf("bandwidth over %.2f GB: fill %.1f GB/s, read %.1f GB/s, copy %.1f GB/s (read+write)\n", gb, gb / fill_s, gb / read_s,
              2 * gb / copy_s);
  // "quiet ms": the quickest call of a part times its calls per step, an estimate of the part's cost
  // on a quiet machine (the calls of one part per step have the same shape, except layernorm's
  // final call and the residual adds, which are of similar size).
  std::printf("%-28s %9s %7s %9s %7s %9s %9s\n", "part", "ms/step", "share", "GFLOP/s", "calls", "quiet ms", "quiet GF/s");
  double sum = 0, quiet_sum = 0;
  std::vector<std::pair<std::string, part>> sorted(table.begin(), table.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& l, auto& r) { return l.second.seconds > r.second.seconds; });
  for (const auto& [name, p] : sorted) {
    sum += p.seconds;
    const double quiet = p.fastest * static_cast<double>(p.calls) / steps;
    quiet_sum += quiet;
    std::printf("%-28s %9.2f %6.1f%% %9.1f %7ld %9.2f %9.1f\n", name.c_str(), p.seconds / steps * 1e3, 100 * p.seconds / parts_total,
                p.flop > 0 ? p.flop / p.seconds * 1e-9 : 0.0, p.calls / steps, quiet * 1e3,
                p.flop > 0 ? p.flop / steps / quiet * 1e-9 : 0.0);
  }
  std::printf("%-28s %9.2f %6.1f%%\n", "host work (loss, batches)", (parts_total - sum) / steps * 1e3,
              100 * (parts_total - sum) / parts_total);
  std::printf("quiet estimate of the step: %.1f ms; at the best SGEMM rate seen, %.1f GFLOP/s, fraction %.3f\n", quiet_sum * 1e3,
              flop / quiet_sum * 1e-9, flop / quiet_sum * 1e-9 / best_sgemm_rate);
  return 0;
}
