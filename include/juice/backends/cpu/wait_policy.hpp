// juice/backends/cpu/wait_policy.hpp
//
// How idle OpenMP threads wait, for programs that run the CPU backend. GCC's OpenMP runtime spins
// for about 3 ms (GOMP_SPINCOUNT 300000) before it sleeps a thread that waits for work or at a
// barrier. On a machine with no spare core a spinning thread takes the core from the thread that
// has the work, and the fork/join regions of a training step then run several times slower
// (docs/performance.md: a mid-sized model's step on two threads went from 0.54 s to 0.10 s with
// passive waiting while other work ran at low priority). The runtime reads its environment once,
// when it is loaded, before main(); so a program that wants another policy must set it and
// re-execute itself. use_passive_openmp_waiting(argv), called first in main(), does that (Linux,
// programs built with OpenMP): when neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, it sets
// OMP_WAIT_POLICY=passive and GOMP_SPINCOUNT=passive_spin_count (a short spin, then sleep) and
// executes /proc/self/exe with the same arguments and environment. A user's own setting of either
// variable is left alone; if re-executing fails the program goes on with the runtime's defaults. The
// juice tool and the CPU benchmarks call it; the library never does on its own.
#pragma once

#if defined(__linux__) && defined(_OPENMP)
#include <unistd.h>

#include <cstdlib>
#endif

namespace juice::cpu_kernels {

// Spins before a waiting thread sleeps (about 0.1 ms at the runtime's estimate of 10^5 spins per
// ms): long enough to bridge the gap between two back-to-back regions of a step, short enough not
// to hold a core another process needs.
inline constexpr const char* passive_spin_count = "10000";

// Returns only when nothing had to change or re-executing failed; see the header comment.
inline void use_passive_openmp_waiting(char** argv) {
#if defined(__linux__) && defined(_OPENMP)
  if (argv == nullptr || std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 0) != 0 || setenv("GOMP_SPINCOUNT", passive_spin_count, 0) != 0) return;
  execv("/proc/self/exe", argv);
  // Not reached unless execv failed: go on in this process, with the runtime's defaults.
#else
  static_cast<void>(argv);
#endif
}

}  // namespace juice::cpu_kernels
