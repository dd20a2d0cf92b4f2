// juice/backends/cpu/thread_count.hpp
//
// How many threads the CPU backend should use when the user has not said: never more than the cores
// this process may run on (its CPU affinity mask, and the CPU quota of its cgroup, as containers and
// CI runners set it), and one thread for a step too small to pay for forking on a machine whose
// other cores are busy (docs/performance.md has the measurements behind small_step_flops).
// Programs call cpu::default_threads(step_flops) once they know their model and batch, and pass the
// result to cpu::set_num_threads; the juice tool does so for --threads 0.
#pragma once

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace juice::cpu_kernels {

// A training step below this many floating-point operations runs on one thread by default: it lasts
// a few tens of milliseconds on one core, the same order as what its hundred-odd fork/join regions
// can cost when another process holds the second core (each may wait a scheduling quantum for a
// descheduled partner). Measured with benchmarks/run-load (docs/performance.md): the 2-layer,
// 32-channel model of docs/cli.md (1.2e7 FLOPs per step) gains nothing from a second thread; a
// 4-layer, 256-channel model at B = 4, T = 64 (6.3e9) runs in 0.64x the one-thread time on an idle
// machine and 1.3x under load; GPT-2 124M at B = 4, T = 64 (1.8e11) in 0.54x idle and 1.0x loaded.
inline constexpr double small_step_flops = 4e9;

namespace detail {

// The CPU quota of the cgroup mounted at `root`, in cores rounded up, or 0 when there is none (or it
// cannot be read): cgroup v2's cpu.max ("max 100000" or "<quota> <period>"), else v1's
// cpu/cpu.cfs_quota_us over cpu/cpu.cfs_period_us (a quota of -1 is none).
inline int cgroup_cpu_quota(const std::filesystem::path& root = "/sys/fs/cgroup") {
  const auto cores = [](double quota, double period) {
    return quota > 0 && period > 0 ? std::max(1, static_cast<int>(std::ceil(quota / period))) : 0;
  };
  if (std::ifstream v2(root / "cpu.max"); v2) {
    std::string quota;
    double period = 0;
    if (!(v2 >> quota >> period) || quota == "max") return 0;
    try {
      return cores(std::stod(quota), period);
    } catch (const std::exception&) {
      return 0;
    }
  }
  std::ifstream q(root / "cpu" / "cpu.cfs_quota_us"), p(root / "cpu" / "cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (q >> quota && p >> period) return cores(quota, period);
  return 0;
}

}  // namespace detail

// The cores this process may use: its affinity mask (Linux; elsewhere the hardware's threads),
// capped by its cgroup's CPU quota. At least 1.
inline int usable_cores() {
  int cores = 0;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cores = CPU_COUNT(&set);
#endif
  if (cores <= 0) cores = static_cast<int>(std::thread::hardware_concurrency());
  if (const int quota = detail::cgroup_cpu_quota(); quota > 0) cores = std::min(cores, quota);
  return std::max(cores, 1);
}

// The thread count for a program whose training step (or other unit of work) costs step_flops:
// one below small_step_flops, else every usable core.
inline int default_threads(double step_flops) { return step_flops < small_step_flops ? 1 : usable_cores(); }

}  // namespace juice::cpu_kernels
