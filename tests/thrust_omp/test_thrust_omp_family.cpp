// The Llama-family / GPT-NeoX primitives of the CUDA backend's portable device code (RMSNorm, rotary
// embedding, SwiGLU, grouped-query attention) and the exact GELU, run on the CPU through Thrust's
// OpenMP system (juice::thrust_omp_backend) against juice::cpu (tests/gpu/family_checks.hpp, which
// the nvcc-built test_cuda_family runs on a GPU), and the backend's conformance to
// juice::FamilyTransformerBackend.
#include <boost/test/unit_test.hpp>

#include "family_checks.hpp"
#include "juice/backends/cuda/thrust_omp.hpp"

namespace {
juice::thrust_omp_backend make_omp() { return {}; }
juice::thrust_omp_backend make_omp_bf16() { return juice::thrust_omp_backend(juice::gemm_precision::bf16); }
using float_only = boost::mpl::list<float>;
}  // namespace

static_assert(juice::FamilyTransformerBackend<juice::thrust_omp_backend, float>);
static_assert(juice::FamilyTransformerBackend<juice::thrust_omp_backend, double>);
static_assert(juice::test::device::has_gelu_exact<juice::thrust_omp_backend, float>);
static_assert(juice::test::device::has_gelu_exact<juice::thrust_omp_backend, double>);

JUICE_FAMILY_PRIMITIVE_TESTS(make_omp, juice::test::device::float_types)

// The bf16 mode rounds only the GEMMs' inputs; none of these primitives is a GEMM, so in that mode
// they are held to the same float tolerances against juice::cpu as in fp32.
BOOST_AUTO_TEST_SUITE(bf16_gemm_mode)
JUICE_FAMILY_PRIMITIVE_TESTS(make_omp_bf16, float_only)
BOOST_AUTO_TEST_SUITE_END()
