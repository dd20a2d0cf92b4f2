// juice::transformer<juice::cuda, T> on a real GPU against juice::transformer<juice::cpu, T> from the
// same seed: the whole-model checks the thrust-omp tests run in CI
// (tests/support/device_model_checks.hpp), here with cuBLAS GEMMs and the functors compiled by nvcc:
// forward, backward, an AdamW update, full and KV-cache logits, sampling, the reward model, and a
// few SFT and IRFT updates run unchanged; and the same model with bf16 GEMMs, within bf16's
// tolerances. Without a device the program prints why and exits with 77 (ctest: skipped). With JUICE_GPU_CHECK_REPORT=<file> it appends "<check> <worst |diff|>" lines
// for scripts/gpu-check.
#define BOOST_TEST_MODULE cuda_transformer
#define BOOST_TEST_NO_MAIN
#include <type_traits>

#include <boost/test/unit_test.hpp>

#include <cstdio>

#include "device_model_checks.hpp"
#include "juice/algorithms/ppo/value_policy.hpp"
#include "juice/backends/cuda/cuda.hpp"
#include "juice/concepts/reward_model.hpp"
#include "run_on_a_device.hpp"

namespace {

juice::cuda make_cuda() { return {}; }

}  // namespace

static_assert(juice::ValuePolicy<juice::transformer<juice::cuda, float>> &&
              juice::ValuePolicy<juice::transformer<juice::cuda, double>>);
static_assert(juice::RewardModel<juice::transformer_reward<juice::cuda, float>>);

BOOST_AUTO_TEST_CASE_TEMPLATE(transformer_forward_backward_matches_cpu, T, juice::test::device::float_types) {
  juice::test::device::check_model<T, juice::cuda>(make_cuda);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(sft_and_irft_steps_match_cpu, T, juice::test::device::float_types) {
  juice::test::device::check_model_training<T, juice::cuda>(make_cuda);
}

// The Llama-family and GPT-NeoX arrangements of the trunk through the same checks.
// The training runs are compared in double only: AdamW divides each gradient by its own magnitude,
// so a parameter whose gradient is near zero (with rotary positions, a key bias's is a small
// difference of position-dependent terms) moves by up to lr in a direction set by float rounding,
// and the two backends' float parameters after a few updates are not comparable element by element.
BOOST_AUTO_TEST_CASE_TEMPLATE(llama_family_matches_cpu, T, juice::test::device::float_types) {
  juice::test::device::check_model<T, juice::cuda>(make_cuda, juice::test::device::llama_family_config());
  if constexpr (std::is_same_v<T, double>)
    juice::test::device::check_model_training<T, juice::cuda>(make_cuda, juice::test::device::llama_family_config());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(neox_family_matches_cpu, T, juice::test::device::float_types) {
  juice::test::device::check_model<T, juice::cuda>(make_cuda, juice::test::device::neox_family_config());
  if constexpr (std::is_same_v<T, double>)
    juice::test::device::check_model_training<T, juice::cuda>(make_cuda, juice::test::device::neox_family_config());
}

// bf16 GEMMs on tensor cores against the fp32 CPU model: the looser bf16 tolerances
// (device_model_checks.hpp, bf16_model_tolerance), worst elements printed; SFT and IRFT train.
BOOST_AUTO_TEST_CASE(bf16_gemms_stay_within_bf16_of_fp32_and_train) {
  juice::test::device::check_model_bf16<juice::cuda>([] { return juice::cuda(juice::gemm_precision::bf16); });
}

int main(int argc, char* argv[]) {
  return juice::test::run_on_a_device(argc, argv, &juice::test::device::worst_errors());
}
