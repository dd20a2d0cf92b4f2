// The float CPU kernels (every benchmark runs transformer<cpu, float>), compiled once with the
// benchmarks' -O3 -march=native for every CPU benchmark: they are built with
// JUICE_CPU_EXTERN_TEMPLATES (juice/backends/cpu/explicit_instantiation.hpp), so a double kernel used
// in a benchmark fails to link rather than being compiled again.
#include "juice/backends/cpu/explicit_instantiation.hpp"

namespace juice {
JUICE_CPU_KERNEL_INSTANTIATIONS(template, float)
}  // namespace juice
