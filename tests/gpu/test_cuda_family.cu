// juice::cuda's Llama-family / GPT-NeoX primitives (RMSNorm, rotary embedding, SwiGLU,
// grouped-query attention) and exact GELU on a real GPU: the checks test_thrust_omp_family runs in
// CI on the OpenMP system (family_checks.hpp), here compiled by nvcc. Without a device the program
// prints why and exits with 77, which ctest reports as skipped (SKIP_RETURN_CODE), never as passed.
// With JUICE_GPU_CHECK_REPORT=<file> it also writes "<check> <worst |diff|>" lines for
// scripts/gpu-check.
#define BOOST_TEST_MODULE cuda_family
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "family_checks.hpp"
#include "juice/backends/cuda/cuda.hpp"
#include "run_on_a_device.hpp"

namespace {

juice::cuda make_cuda() { return {}; }
juice::cuda make_cuda_bf16() { return juice::cuda(juice::gemm_precision::bf16); }
using float_only = boost::mpl::list<float>;

}  // namespace

static_assert(juice::FamilyTransformerBackend<juice::cuda, float>);
static_assert(juice::FamilyTransformerBackend<juice::cuda, double>);
static_assert(juice::test::device::has_gelu_exact<juice::cuda, float>);
static_assert(juice::test::device::has_gelu_exact<juice::cuda, double>);

JUICE_FAMILY_PRIMITIVE_TESTS(make_cuda, juice::test::device::float_types)

// The bf16 mode changes only the float GEMMs (cublasGemmEx); none of these primitives is one.
BOOST_AUTO_TEST_SUITE(bf16_gemm_mode)
JUICE_FAMILY_PRIMITIVE_TESTS(make_cuda_bf16, float_only)
BOOST_AUTO_TEST_SUITE_END()

int main(int argc, char* argv[]) {
  return juice::test::run_on_a_device(argc, argv, &juice::test::device::worst_errors());
}
