// juice::cuda on a real GPU: the same primitive checks the thrust-omp tests run in CI
// (tests/support/device_checks.hpp), here with cuBLAS GEMMs and the functors compiled by nvcc; and
// the CUDA-only kernels against the functors they replace (lm_head_block_rows).
// Without a device (cudaGetDeviceCount failing or returning 0) the program prints why and exits
// with 77, which ctest reports as skipped (SKIP_RETURN_CODE), never as passed.
// With JUICE_GPU_CHECK_REPORT=<file> it also writes "<check> <worst |diff|>" lines for
// scripts/gpu-check.
#define BOOST_TEST_MODULE cuda_primitives
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <cstdio>

#include "device_checks.hpp"
#include "juice/backends/cuda/cuda.hpp"
#include "lm_head_block_checks.hpp"
#include "run_on_a_device.hpp"

namespace {

juice::cuda make_cuda() { return {}; }

}  // namespace

static_assert(juice::Backend<juice::cuda>);
static_assert(juice::TransformerBackend<juice::cuda, float>);
static_assert(juice::TransformerBackend<juice::cuda, double>);

JUICE_DEVICE_PRIMITIVE_TESTS(make_cuda)

// bf16 compute on tensor cores (cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_16BF): cuBLAS converts the
// inputs itself, so the rounded-input reference is held to one bf16 rounding, not to float
// accumulation as on the OpenMP system's emulation (device_checks.hpp, bf16_tolerance).
BOOST_AUTO_TEST_CASE(bf16_gemm_mode) {
  juice::cuda d(juice::gemm_precision::bf16);
  juice::test::device::check_matmul_bf16(d, false);
}

// The LM head's block-per-row kernels (juice::cuda's log-softmax and its backward) against the
// portable functors on the device: the forward within the float-rounding bound derived in
// lm_head_block_checks.hpp, the backward bit for bit.
BOOST_AUTO_TEST_CASE_TEMPLATE(lm_head_block_rows, T, juice::test::device::float_types) {
  juice::cuda d;
  juice::test::device::check_lm_head_block_rows<T>(d);
}

BOOST_AUTO_TEST_CASE(copies_share_the_stream) {
  juice::cuda a;
  juice::cuda b = a;
  BOOST_CHECK(a.stream() == b.stream());
  BOOST_CHECK(a.cublas() == b.cublas());
  juice::cuda c(juice::gemm_precision::bf16);
  juice::cuda d = c;
  BOOST_CHECK(d.precision() == juice::gemm_precision::bf16 && a.precision() == juice::gemm_precision::fp32);
}

int main(int argc, char* argv[]) {
  return juice::test::run_on_a_device(argc, argv, &juice::test::device::worst_errors());
}
