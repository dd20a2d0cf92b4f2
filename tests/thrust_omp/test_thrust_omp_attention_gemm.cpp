// Attention on GEMMs (attention_impl::gemm, juice/backends/cuda/attention_gemm.hpp) on the CPU
// through Thrust's OpenMP system: the strided-batched CPU GEMM under the row-major specification
// juice::cuda maps onto cuBLAS, the decomposition against the reference row functors and juice::cpu
// (several blocks, multi-head and grouped-query, float and double), the growing-keys masking
// check, bf16 and tf32 within stated bounds, and whole model steps (tests/gpu/attention_gemm_checks.hpp,
// which the nvcc-built test_cuda_attention_gemm runs on a GPU).
#include <boost/test/unit_test.hpp>

#include "attention_gemm_checks.hpp"
#include "juice/backends/cuda/thrust_omp.hpp"

namespace {
juice::thrust_omp_backend make_omp(juice::gemm_precision precision, const juice::attention_options& attention) {
  return {precision, attention};
}
}  // namespace

BOOST_AUTO_TEST_CASE(attention_path_is_the_functors_by_default_and_copies_keep_it) {
  const juice::thrust_omp_backend plain;
  BOOST_TEST(juice::attention_impl_name(plain.attention().impl) == "functors");
  const juice::thrust_omp_backend gemm(juice::gemm_precision::tf32, juice::test::device::gemm_attention(4096));
  const juice::thrust_omp_backend copy = gemm;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the test
  BOOST_TEST(juice::attention_impl_name(copy.attention().impl) == "gemm");
  BOOST_TEST(copy.attention().scratch_bytes == 4096u);
  BOOST_TEST(juice::gemm_precision_name(copy.precision()) == "tf32");
}

// The block size: both T x T buffers of a block within the bound, at least 1 pair, at most NKV.
BOOST_AUTO_TEST_CASE(pairs_per_block_keep_the_scratch_bound) {
  using juice::device_kernels::attention_gemm_pairs;
  // T 1024, float: 8 MiB per pair for the two buffers; 64 MiB holds 8 of them.
  BOOST_TEST(attention_gemm_pairs(12, 1024, 4, std::size_t{64} << 20) == 8);
  BOOST_TEST(attention_gemm_pairs(4, 1024, 4, std::size_t{64} << 20) == 4);   // capped at NKV
  BOOST_TEST(attention_gemm_pairs(12, 8192, 4, std::size_t{64} << 20) == 1);  // one pair above the bound
  BOOST_TEST(attention_gemm_pairs(12, 13, 8, 2 * 8 * 13 * 13 * 3 - 1) == 2);  // just under 3 pairs
}

JUICE_ATTENTION_GEMM_TESTS(make_omp)
