// juice_bench_load: the CPU backend's training step on an idle machine and with one core kept busy.
//
// For each model shape (tiny: the 2-layer, 32-channel model of docs/cli.md's example, B = 4, T = 16;
// mid: 4 layers, 256 channels, B = 4, T = 64; 124M: GPT-2 small, B = 4, T = 64) it times one SFT
// update (forward, backward, AdamW, as juice::sft runs it) on one thread and on every usable core,
// first on the machine as it is, then while a child process it forks spins on a core, and kills
// afterwards. It prints the seconds per step, the default thread count cpu::default_threads picks
// for that step, and the ratios the default is judged by: loaded default / loaded one thread, and the
// default's idle rate. With --json it prints one JSON object instead (the fields of the table). Like
// the juice tool, it re-executes itself once with passive OpenMP waiting unless OMP_WAIT_POLICY or
// GOMP_SPINCOUNT is set (juice/backends/cpu/wait_policy.hpp).
// Options: --shapes=tiny,mid,124M (default all), --seconds=S (time per measurement, default 2; at
// least 3 steps each). benchmarks/run-load builds and runs it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/backends/cpu/wait_policy.hpp"
#include "steps.hpp"

using namespace juice;
using namespace juice::bench;

namespace {

struct shape {
  std::string name;
  transformer_config cfg;
  std::size_t rows, T, prompt;
};

std::vector<shape> all_shapes() {
  transformer_config tiny;
  tiny.layers = 2, tiny.heads = 2, tiny.channels = 32, tiny.context = 16, tiny.vocab = 257;
  transformer_config mid;
  mid.layers = 4, mid.heads = 4, mid.channels = 256, mid.context = 64, mid.vocab = 4096;
  return {{"tiny", tiny, 4, 16, 4}, {"mid", mid, 4, 64, 8}, {"124M", transformer_config::gpt2_124m(), 4, 64, 8}};
}

// A child process that spins on one core until killed (the "busy machine"). It runs no library
// code, so forking a process with OpenMP threads is safe here.
class spinner {
public:
  spinner() : pid_(fork()) {
    if (pid_ < 0) throw std::runtime_error("juice_bench_load: fork failed");
    if (pid_ == 0) {
      volatile unsigned long spin = 0;
      for (;;) spin = spin + 1;
    }
  }
  ~spinner() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  spinner(const spinner&) = delete;
  spinner& operator=(const spinner&) = delete;
  spinner(spinner&&) = delete;
  spinner& operator=(spinner&&) = delete;

private:
  pid_t pid_;
};

// Seconds per SFT step on `threads` threads: one untimed step, then steps until `seconds` have
// passed (at least three).
double seconds_per_step(policy_t& model, const sequence_batch& rows, adamw& opt, int threads, double seconds) {
  cpu::set_num_threads(threads);
  sft_step(model, rows, opt);
  const auto t0 = std::chrono::steady_clock::now();
  int steps = 0;
  double elapsed = 0;
  while (steps < 3 || elapsed < seconds) {
    sft_step(model, rows, opt);
    ++steps;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return elapsed / steps;
}

}  // namespace

int main(int argc, char** argv) {
  cpu_kernels::use_passive_openmp_waiting(argv);  // as the juice tool runs (wait_policy.hpp)
  bool json = false;
  double seconds = 2;
  std::string wanted = "tiny,mid,124M";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") json = true;
    else if (a.rfind("--seconds=", 0) == 0) seconds = std::stod(a.substr(10));
    else if (a.rfind("--shapes=", 0) == 0) wanted = a.substr(9);
    else {
      std::fprintf(stderr, "juice_bench_load: unknown argument '%s' (see the comment at the top of bench_load.cpp)\n", argv[i]);
      return 2;
    }
  }
  const int cores = cpu::usable_cores();
  nlohmann::json out = {{"usable_cores", cores}, {"small_step_flops", cpu_kernels::small_step_flops}, {"shapes", nlohmann::json::array()}};
  if (!json)
    std::printf("%-5s %10s %8s | %9s %9s | %9s %9s | %14s %12s\n", "shape", "step FLOPs", "default", "idle 1t", "idle all",
                "load 1t", "load all", "load def/1t", "idle def/1t");
  for (const shape& s : all_shapes()) {
    if (("," + wanted + ",").find("," + s.name + ",") == std::string::npos) continue;
    policy_t model(s.cfg, 1);
    adamw opt(bench_adamw());
    const sequence_batch rows = random_rows(s.rows, s.T, s.prompt, s.cfg.vocab, 1);
    // Validate once: a fresh model's loss is about log(vocab) per token, and finite.
    const double first = sft_step(model, rows, opt);
    if (!std::isfinite(first) || std::abs(first - std::log(static_cast<double>(s.cfg.vocab))) > 1.0) {
      std::fprintf(stderr, "juice_bench_load: %s: unexpected initial SFT loss %g\n", s.name.c_str(), first);
      return 1;
    }
    const double flops = train_flops(s.cfg, static_cast<double>(s.rows), static_cast<double>(s.T), scored_positions(rows));
    const int def = cpu::default_threads(flops);
    const double idle1 = seconds_per_step(model, rows, opt, 1, seconds);
    const double idle_all = cores > 1 ? seconds_per_step(model, rows, opt, cores, seconds) : idle1;
    double load1 = 0, load_all = 0;
    {
      const spinner busy;
      load1 = seconds_per_step(model, rows, opt, 1, seconds);
      load_all = cores > 1 ? seconds_per_step(model, rows, opt, cores, seconds) : load1;
    }
    const double idle_def = def == 1 ? idle1 : idle_all, load_def = def == 1 ? load1 : load_all;
    const double tokens = static_cast<double>(s.rows * s.T);
    out["shapes"].push_back({{"shape", s.name},
                             {"step_flops", flops},
                             {"default_threads", def},
                             {"idle_seconds_1_thread", idle1},
                             {"idle_seconds_all_threads", idle_all},
                             {"loaded_seconds_1_thread", load1},
                             {"loaded_seconds_all_threads", load_all},
                             {"loaded_default_over_1_thread", load_def / load1},
                             {"idle_default_over_1_thread", idle_def / idle1},
                             {"idle_default_tokens_per_s", tokens / idle_def}});
    if (!json)
      std::printf("%-5s %10.2e %8d | %9.4f %9.4f | %9.4f %9.4f | %14.2f %12.2f\n", s.name.c_str(), flops, def, idle1, idle_all,
                  load1, load_all, load_def / load1, idle_def / idle1);
  }
  if (json) std::printf("%s\n", out.dump(2).c_str());
  else
    std::printf("seconds per SFT step; 'all' = %d threads (the usable cores); 'load' = one core kept busy by a spinning process\n",
                cores);
  return 0;
}
