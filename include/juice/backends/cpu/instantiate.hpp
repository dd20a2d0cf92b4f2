// juice/backends/cpu/instantiate.hpp
//
// Include in exactly one translation unit of a program built with JUICE_CPU_EXTERN_TEMPLATES: it
// defines the float and double CPU kernels that the other translation units only declare
// (juice/backends/cpu/explicit_instantiation.hpp). Compile it with the flags of the rest of the
// program (OpenMP included), since the kernels' code is generated here.
#pragma once

#include "juice/backends/cpu/explicit_instantiation.hpp"

namespace juice {
JUICE_CPU_KERNEL_INSTANTIATIONS(template, float)
JUICE_CPU_KERNEL_INSTANTIATIONS(template, double)
}  // namespace juice
