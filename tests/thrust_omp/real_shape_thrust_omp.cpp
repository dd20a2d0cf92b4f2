// GPT-2 124M's real shapes on the CUDA backend's device code, run on the CPU through Thrust's
// OpenMP system (juice::thrust_omp_backend) against juice::cpu, at the reduced size CI affords on
// two cores: C = 768, 12 heads, V = 50257 as in GPT-2, one layer, B = 2, T = 64; fp32 tight and
// bf16 GEMMs looser (tests/gpu/real_shape_checks.hpp; scripts/gpu-check runs the full sizes on a
// GPU as real_shape_cuda). Also the growing-keys masking check of the device attention at head size
// 64 and T = 512, and the two-stage reductions against the serial functors they replace.
#include <boost/test/unit_test.hpp>

#include "juice/backends/cuda/thrust_omp.hpp"
#include "real_shape_checks.hpp"

namespace dev = juice::test::device;

BOOST_AUTO_TEST_CASE(attention_masks_growing_keys) {
  juice::thrust_omp_backend d;
  dev::check_growing_keys(d, 1, 512);
}

BOOST_AUTO_TEST_CASE(block_reductions_match_the_serial_functors) {
  juice::thrust_omp_backend d;
  dev::check_block_reductions(d);
}

BOOST_AUTO_TEST_CASE(gpt2_width_fp32_matches_cpu) {
  dev::check_real_shape_model<juice::thrust_omp_backend>([] { return juice::thrust_omp_backend(); }, {1, 2, 64}, false);
}

BOOST_AUTO_TEST_CASE(gpt2_width_bf16_within_bf16_of_cpu) {
  dev::check_real_shape_model<juice::thrust_omp_backend>(
      [] { return juice::thrust_omp_backend(juice::gemm_precision::bf16); }, {1, 2, 64}, true);
}
