// juice/backends/cpu/parallel.hpp
//
// OpenMP plumbing for the CPU backend. The headers compile with or without OpenMP: without it
// every loop runs serially (and Eigen's GEMM too). Consumers enable threads by linking
// OpenMP::OpenMP_CXX (which adds -fopenmp); juice never forces a flag on them.
#pragma once

#include <cstddef>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <Eigen/Core>

// JUICE_OMP(omp parallel for ...) is an OpenMP pragma when OpenMP is on and nothing otherwise, so
// consumers compiling without OpenMP get neither threads nor unknown-pragma warnings.
#if defined(_OPENMP)
#define JUICE_OMP(directive) _Pragma(#directive)
#else
#define JUICE_OMP(directive)
#endif

namespace juice::cpu_kernels {

// Loops below this much work (elements, or multiply-adds) run on one thread: forking costs more
// than it saves, and on a machine shared with other processes a short parallel region can stall
// for a whole scheduling quantum waiting for a descheduled partner thread.
inline constexpr std::ptrdiff_t parallel_threshold = 1 << 17;

// The same for the per-layer streaming loops (layernorm, GELU, residual adds, embedding rows): a
// few flops per element on data that fits the L2 cache, so one thread does 2^20 elements in a few
// tenths of a millisecond, and at the 124M shape with B = 4, T = 64 (196,608 to 786,432 elements
// per call, about 100 calls per step) forking saved under 10 ms per step on a quiet machine but
// cost about 0.5 s per step when other processes held the cores (each region waits for its
// descheduled partner thread; see docs/performance.md). Longer rows (T = 1024) still thread.
inline constexpr std::ptrdiff_t streaming_threshold = 1 << 20;

// Number of threads the backend's loops use.
inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the thread count for the backend's loops (OpenMP's nthreads-var of the calling thread; no-op
// without OpenMP). Eigen's own thread count is left alone: juice never lets Eigen thread a product
// (serial_eigen below), it splits products into per-thread blocks itself.
inline void set_num_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n);
#else
  static_cast<void>(n);
#endif
}

// Keeps Eigen's GEMM on the calling thread while it lives. Eigen threads a product above about 10^5
// multiply-adds unless it runs inside a team of several OpenMP threads: it checks
// omp_get_num_threads() > 1, which is false on the one thread of a small region (`num_threads(1)`)
// and outside any region. Its threads synchronise by spinning inside each product, so on a machine
// whose other cores are busy every product waits for a descheduled partner: a 2-layer, 32-channel
// model trained 200 times slower with two threads than with one. The guard sets OpenMP's thread
// count of the current task to 1 (which Eigen follows unless a program fixed it with
// Eigen::setNbThreads; then that is set to 1 too, outside teams only, as it is process-wide) and
// restores both on exit. Put one at the top of every region body, and around every product that runs
// outside a region; juice's own regions take their thread counts from explicit num_threads clauses,
// so it does not change them.
class serial_eigen {
public:
  serial_eigen() {
#if defined(_OPENMP)
    saved_omp_ = omp_get_max_threads();
    omp_set_num_threads(1);
    if (omp_get_num_threads() == 1 && Eigen::nbThreads() > 1) {
      saved_eigen_ = Eigen::nbThreads();
      Eigen::setNbThreads(1);
    }
#endif
  }
  ~serial_eigen() {
#if defined(_OPENMP)
    if (saved_eigen_ > 0) Eigen::setNbThreads(saved_eigen_);
    omp_set_num_threads(saved_omp_);
#endif
  }
  serial_eigen(const serial_eigen&) = delete;
  serial_eigen& operator=(const serial_eigen&) = delete;
  serial_eigen(serial_eigen&&) = delete;
  serial_eigen& operator=(serial_eigen&&) = delete;

private:
  [[maybe_unused]] int saved_omp_ = 1;
  [[maybe_unused]] int saved_eigen_ = 0;
};

}  // namespace juice::cpu_kernels
