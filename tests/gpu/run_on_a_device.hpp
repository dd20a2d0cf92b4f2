// tests/gpu: the entry point of the nvcc-built tests (label gpu). Without a CUDA device they print
// why and exit 77, which ctest reports as skipped (SKIP_RETURN_CODE), never as passed; with one
// they run Boost.Test's cases. Include after <boost/test/unit_test.hpp> with BOOST_TEST_NO_MAIN.
#pragma once

#include <cstdio>

#include <boost/test/unit_test.hpp>
#include <cuda_runtime.h>

namespace juice::test {

inline int run_on_a_device(int argc, char* argv[]) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device (cudaGetDeviceCount: %s, %d devices)\n",
                status == cudaSuccess ? "success" : cudaGetErrorName(status), count);
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}

}  // namespace juice::test
