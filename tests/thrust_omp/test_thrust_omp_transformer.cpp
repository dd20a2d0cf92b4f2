// juice::transformer<juice::thrust_omp_backend, T> against juice::transformer<juice::cpu, T> from the
// same seed: the whole GPT-2 model, and the Llama-family and GPT-NeoX arrangements (forward, backward, update, KV-cache decoding, sampling, reward
// model, SFT and IRFT run unchanged) on the CUDA backend's portable device code, run on the CPU
// through Thrust's OpenMP system (tests/support/device_model_checks.hpp).
#include <type_traits>

#include <boost/test/unit_test.hpp>

#include "device_model_checks.hpp"
#include "juice/algorithms/ppo/value_policy.hpp"
#include "juice/backends/cuda/thrust_omp.hpp"
#include "juice/concepts/reward_model.hpp"

namespace {
juice::thrust_omp_backend make_omp() { return {}; }
}  // namespace

static_assert(juice::ValuePolicy<juice::transformer<juice::thrust_omp_backend, float>> &&
              juice::ValuePolicy<juice::transformer<juice::thrust_omp_backend, double>>);
static_assert(juice::RewardModel<juice::transformer_reward<juice::thrust_omp_backend, float>>);

BOOST_AUTO_TEST_CASE_TEMPLATE(transformer_matches_cpu, T, juice::test::device::float_types) {
  juice::test::device::check_model<T, juice::thrust_omp_backend>(make_omp);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(sft_and_irft_match_cpu, T, juice::test::device::float_types) {
  juice::test::device::check_model_training<T, juice::thrust_omp_backend>(make_omp);
}

// The Llama-family and GPT-NeoX arrangements of the same trunk (RMSNorm, rotary, SwiGLU,
// grouped-query attention, parallel residual, exact GELU, untied head) through the same checks.
// The training runs are compared in double only: AdamW divides each gradient by its own magnitude,
// so a parameter whose gradient is near zero (with rotary positions, a key bias's is a small
// difference of position-dependent terms) moves by up to lr in a direction set by float rounding,
// and the two backends' float parameters after a few updates are not comparable element by element.
BOOST_AUTO_TEST_CASE_TEMPLATE(llama_family_matches_cpu, T, juice::test::device::float_types) {
  juice::test::device::check_model<T, juice::thrust_omp_backend>(make_omp, juice::test::device::llama_family_config());
  if constexpr (std::is_same_v<T, double>)
    juice::test::device::check_model_training<T, juice::thrust_omp_backend>(make_omp, juice::test::device::llama_family_config());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(neox_family_matches_cpu, T, juice::test::device::float_types) {
  juice::test::device::check_model<T, juice::thrust_omp_backend>(make_omp, juice::test::device::neox_family_config());
  if constexpr (std::is_same_v<T, double>)
    juice::test::device::check_model_training<T, juice::thrust_omp_backend>(make_omp, juice::test::device::neox_family_config());
}

// The float model with bf16 GEMMs (emulated: inputs rounded to bf16, float accumulation) against
// the fp32 model on juice::cpu: looser tolerances from bf16's 8 significant bits, and SFT and IRFT
// train as in fp32 (device_model_checks.hpp, check_model_bf16).
BOOST_AUTO_TEST_CASE(bf16_gemms_stay_within_bf16_of_fp32_and_train) {
  juice::test::device::check_model_bf16<juice::thrust_omp_backend>(
      [] { return juice::thrust_omp_backend(juice::gemm_precision::bf16); });
}
