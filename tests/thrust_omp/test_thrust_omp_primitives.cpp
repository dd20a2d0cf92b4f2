// The CUDA backend's portable device code, run on the CPU through Thrust's OpenMP system
// (juice::thrust_omp_backend, compiled by the C++ compiler): every primitive against juice::cpu
// and juice::host (tests/support/device_checks.hpp), and the backend's concept conformance.
#define BOOST_TEST_MODULE thrust_omp_primitives
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
