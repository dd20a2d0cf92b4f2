// The float and double CPU kernels, compiled once for every program of this build that runs a
// transformer on juice::cpu (the juice tool and the test suite, nvcc-built tests included): their
// sources are compiled with JUICE_CPU_EXTERN_TEMPLATES (juice/backends/cpu/explicit_instantiation.hpp),
// so none of them instantiates and optimises the kernels again.
#include "juice/backends/cpu/instantiate.hpp"
