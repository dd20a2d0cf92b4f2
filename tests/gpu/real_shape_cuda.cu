// GPT-2 124M's real shapes on juice::cuda against juice::cpu from the same seed
// (real_shape_checks.hpp): C = 768, 12 heads, 12 layers, V = 50257, B = 2 at T = 1024 and T = 64;
// log-probs, the SFT loss, gradients and their norm, one AdamW step; fp32 tight and bf16 GEMMs
// looser, worst elements printed. Also the growing-keys attention check at T = 1024 and the
// two-stage reductions. Without a device it exits 77 (ctest: skipped); scripts/gpu-check runs it.
#define BOOST_TEST_MODULE real_shape_cuda
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "juice/backends/cuda/cuda.hpp"
#include "real_shape_checks.hpp"
#include "run_on_a_device.hpp"

namespace dev = juice::test::device;

BOOST_AUTO_TEST_CASE(attention_masks_growing_keys) {
  juice::cuda d;
  dev::check_growing_keys(d, 2, 1024);
}

BOOST_AUTO_TEST_CASE(block_reductions_match_the_serial_functors) {
  juice::cuda d;
  dev::check_block_reductions(d);
}

BOOST_AUTO_TEST_CASE(gpt2_124m_T1024_fp32) {
  dev::check_real_shape_model<juice::cuda>([] { return juice::cuda(); }, {12, 2, 1024}, false);
}
BOOST_AUTO_TEST_CASE(gpt2_124m_T64_fp32) {
  dev::check_real_shape_model<juice::cuda>([] { return juice::cuda(); }, {12, 2, 64}, false);
}
BOOST_AUTO_TEST_CASE(gpt2_124m_T1024_bf16) {
  dev::check_real_shape_model<juice::cuda>([] { return juice::cuda(juice::gemm_precision::bf16); }, {12, 2, 1024}, true);
}
BOOST_AUTO_TEST_CASE(gpt2_124m_T64_bf16) {
  dev::check_real_shape_model<juice::cuda>([] { return juice::cuda(juice::gemm_precision::bf16); }, {12, 2, 64}, true);
}

int main(int argc, char* argv[]) { return juice::test::run_on_a_device(argc, argv); }
