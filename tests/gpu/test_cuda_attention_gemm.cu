// juice::cuda's attention on GEMMs (attention_impl::gemm: cublasSgemmStridedBatched, or
// cublasGemmStridedBatchedEx on tensor cores in bf16 and tf32 mode, around the causal softmax
// functor) and its strided-batched GEMM's row-major -> cuBLAS mapping on a real GPU: the checks
// test_thrust_omp_attention_gemm runs in CI on the OpenMP system (attention_gemm_checks.hpp), here
// compiled by nvcc. Without a device the program prints why and exits with 77, which ctest reports
// as skipped (SKIP_RETURN_CODE), never as passed. With JUICE_GPU_CHECK_REPORT=<file> it also writes
// "<check> <worst |diff|>" lines for scripts/gpu-check.
#define BOOST_TEST_MODULE cuda_attention_gemm
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "attention_gemm_checks.hpp"
#include "juice/backends/cuda/cuda.hpp"
#include "run_on_a_device.hpp"

namespace {

juice::cuda make_cuda(juice::gemm_precision precision, const juice::attention_options& attention) {
  juice::cuda_options o;
  o.precision = precision;
  o.attention = attention;
  return juice::cuda(o);
}

}  // namespace

BOOST_AUTO_TEST_CASE(attention_options_are_kept_by_copies) {
  const juice::cuda d = make_cuda(juice::gemm_precision::tf32, juice::test::device::gemm_attention(4096));
  const juice::cuda copy = d;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the test
  BOOST_TEST(juice::attention_impl_name(copy.attention().impl) == "gemm");
  BOOST_TEST(copy.attention().scratch_bytes == 4096u);
  BOOST_TEST(juice::gemm_precision_name(copy.precision()) == "tf32");
}

JUICE_ATTENTION_GEMM_TESTS(make_cuda)

int main(int argc, char* argv[]) {
  return juice::test::run_on_a_device(argc, argv, &juice::test::device::worst_errors());
}
