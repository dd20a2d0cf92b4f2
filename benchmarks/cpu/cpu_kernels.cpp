// The float and double CPU kernels, compiled once (with the benchmarks' -O3 -march=native) for every
// CPU benchmark: they are built with JUICE_CPU_EXTERN_TEMPLATES (juice/backends/cpu/explicit_instantiation.hpp).
#include "juice/backends/cpu/instantiate.hpp"
