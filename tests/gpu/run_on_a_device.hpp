// tests/gpu: the entry point of the nvcc-built tests (label gpu). Without a CUDA device they print
// why and exit 77, which ctest reports as skipped (SKIP_RETURN_CODE), never as passed; with one
// they run Boost.Test's cases. Given the checks' worst errors (device_checks.hpp, worst_errors())
// and JUICE_GPU_CHECK_REPORT=<file> in the environment, it then appends "<check>\t<worst |diff|>"
// lines to that file for scripts/gpu-check. Include after <boost/test/unit_test.hpp> with
// BOOST_TEST_NO_MAIN.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include <boost/test/unit_test.hpp>
#include <cuda_runtime.h>

namespace juice::test {

inline int run_on_a_device(int argc, char* argv[], const std::map<std::string, double>* worst_errors = nullptr) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device (cudaGetDeviceCount: %s, %d devices)\n",
                status == cudaSuccess ? "success" : cudaGetErrorName(status), count);
    return 77;
  }
  const int result = boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
  const char* path = std::getenv("JUICE_GPU_CHECK_REPORT");
  if (worst_errors && path) {
    std::ofstream out(path, std::ios::app);
    for (const auto& [name, err] : *worst_errors) out << name << '\t' << err << '\n';
  }
  return result;
}

}  // namespace juice::test
