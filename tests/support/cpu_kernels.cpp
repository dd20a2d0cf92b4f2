// The float and double CPU kernels, compiled once for the whole test suite: every test is built with
// JUICE_CPU_EXTERN_TEMPLATES (juice/backends/cpu/explicit_instantiation.hpp), so none of them
// instantiates and optimises the kernels again.
#include "juice/backends/cpu/instantiate.hpp"
