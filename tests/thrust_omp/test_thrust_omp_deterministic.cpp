// The CUDA backend's deterministic replacements for scatters and sorts, run on the CPU through
// Thrust's OpenMP system (juice::thrust_omp_backend): the embedding gradient grouped by token id
// against its serial reference and juice::cpu, and the sampler's per-row selection for top_k and
// top_p against juice::cpu's sampler (tests/gpu/deterministic_checks.hpp, which the
// nvcc-built test_cuda_deterministic runs on a GPU).
#include <boost/test/unit_test.hpp>

#include "deterministic_checks.hpp"
#include "juice/backends/cuda/thrust_omp.hpp"

BOOST_AUTO_TEST_CASE(sort_rows_by_id) {
  juice::thrust_omp_backend d;
  juice::test::device::check_sort_rows_by_id(d);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(embedding_backward_grouped_by_id, T, juice::test::device::float_types) {
  juice::thrust_omp_backend d;
  juice::test::device::check_embedding_grouped<T>(d);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(select_first_tokens, T, juice::test::device::float_types) {
  juice::test::device::check_select_first_tokens<T>();
}

BOOST_AUTO_TEST_CASE_TEMPLATE(sampling_by_selection, T, juice::test::device::float_types) {
  juice::thrust_omp_backend d;
  juice::test::device::check_sampling_selection<T>(d);
}

BOOST_AUTO_TEST_CASE(top_k_sampling_scratch_is_rows_times_k) {
  juice::thrust_omp_backend d;
  juice::test::device::check_sampling_scratch(d);
}
