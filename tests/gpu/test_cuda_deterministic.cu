// juice::cuda's deterministic replacements for scatters and sorts on a real GPU: the checks
// test_thrust_omp_deterministic runs in CI on the OpenMP system (deterministic_checks.hpp), here
// compiled by nvcc. Without a device the program prints why and exits with 77, which ctest reports
// as skipped (SKIP_RETURN_CODE), never as passed. With JUICE_GPU_CHECK_REPORT=<file> it also writes
// "<check> <worst |diff|>" lines for scripts/gpu-check.
#define BOOST_TEST_MODULE cuda_deterministic
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "deterministic_checks.hpp"
#include "juice/backends/cuda/cuda.hpp"
#include "run_on_a_device.hpp"

BOOST_AUTO_TEST_CASE(sort_rows_by_id) {
  juice::cuda d;
  juice::test::device::check_sort_rows_by_id(d);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(embedding_backward_grouped_by_id, T, juice::test::device::float_types) {
  juice::cuda d;
  juice::test::device::check_embedding_grouped<T>(d);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(sampling_by_selection, T, juice::test::device::float_types) {
  juice::cuda d;
  juice::test::device::check_sampling_selection<T>(d);
}

BOOST_AUTO_TEST_CASE(top_k_sampling_scratch_is_rows_times_k) {
  juice::cuda d;
  juice::test::device::check_sampling_scratch(d);
}

int main(int argc, char* argv[]) {
  return juice::test::run_on_a_device(argc, argv, &juice::test::device::worst_errors());
}
