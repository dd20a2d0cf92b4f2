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

// Number of threads the backend's loops and Eigen's GEMM use.
inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the thread count for the backend's loops and for Eigen's GEMM (no-op without OpenMP).
inline void set_num_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
  Eigen::setNbThreads(n);
}

}  // namespace juice::cpu_kernels
