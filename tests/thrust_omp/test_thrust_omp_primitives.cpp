// The CUDA backend's portable device code, run on the CPU through Thrust's OpenMP system
// (juice::thrust_omp_backend, compiled by the C++ compiler): every primitive against juice::cpu
// and juice::host (tests/support/device_checks.hpp), and the backend's concept conformance.
#include <boost/test/unit_test.hpp>

#include "device_checks.hpp"
#include "juice/backends/cuda/thrust_omp.hpp"

namespace {
juice::thrust_omp_backend make_omp() { return {}; }
}  // namespace

static_assert(juice::Backend<juice::thrust_omp_backend>);
// Every transformer primitive, attention included, in both precisions.
static_assert(juice::TransformerBackend<juice::thrust_omp_backend, float>);
static_assert(juice::TransformerBackend<juice::thrust_omp_backend, double>);

JUICE_DEVICE_PRIMITIVE_TESTS(make_omp)

// The bf16 GEMM mode, emulated on the OpenMP system: inputs rounded exactly as round_to_bf16 says,
// so the results are held to float accumulation against a double GEMM of the rounded inputs.
BOOST_AUTO_TEST_CASE(bf16_gemm_mode) {
  juice::thrust_omp_backend d(juice::gemm_precision::bf16);
  juice::test::device::check_matmul_bf16(d, true);
}

BOOST_AUTO_TEST_CASE(gemm_precision_is_fp32_by_default_and_copies_keep_it) {
  const juice::thrust_omp_backend fp32;
  BOOST_TEST(juice::gemm_precision_name(fp32.precision()) == "fp32");
  const juice::thrust_omp_backend bf16(juice::gemm_precision::bf16);
  const juice::thrust_omp_backend copy = bf16;  // NOLINT(performance-unnecessary-copy-initialization): the copy is what is tested
  BOOST_TEST(juice::gemm_precision_name(copy.precision()) == "bf16");
}
