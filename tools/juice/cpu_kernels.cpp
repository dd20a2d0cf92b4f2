// The float CPU kernels (the tool's models are transformer<cpu, float>), compiled once for the juice
// tool: its other sources are built with JUICE_CPU_EXTERN_TEMPLATES
// (juice/backends/cpu/explicit_instantiation.hpp), so a double kernel used anywhere in the tool
// would fail to link rather than be compiled twice.
#include "juice/backends/cpu/explicit_instantiation.hpp"

namespace juice {
JUICE_CPU_KERNEL_INSTANTIATIONS(template, float)
}  // namespace juice
