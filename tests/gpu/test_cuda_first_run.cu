// juice::cuda's first-run aids on a real GPU: the backend's device is set on entry and exposed;
// after the first training step nothing is allocated and only the stated host syncs happen
// (juice::device_stats, as steady_state_allocations checks on the OpenMP system); and, in the sync
// check mode, a kernel that faults is named with its primitive, shape and caller. The fault is
// provoked last, in its own process (ctest runs this file's cases as the test
// test_cuda_first_run), because an illegal address poisons the CUDA context for the rest of it.
// Without a device it exits 77 (ctest: skipped).
#define BOOST_TEST_MODULE cuda_first_run
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "juice/backends/cuda/cuda.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/gradients.hpp"
#include "model_support.hpp"
#include "run_on_a_device.hpp"

BOOST_AUTO_TEST_CASE(the_backend_names_its_device) {
  int current = -1, count = 0;
  BOOST_REQUIRE(cudaGetDevice(&current) == cudaSuccess);
  BOOST_REQUIRE(cudaGetDeviceCount(&count) == cudaSuccess);
  const juice::cuda d;
  BOOST_TEST(d.device() == current);
  const juice::cuda last(juice::cuda_options{juice::gemm_precision::fp32, false, count - 1});
  BOOST_TEST(last.device() == count - 1);
  int after = -1;
  BOOST_REQUIRE(cudaGetDevice(&after) == cudaSuccess);
  BOOST_TEST(after == current);  // constructing on another device leaves the caller's current
  BOOST_CHECK_THROW(juice::cuda(juice::cuda_options{juice::gemm_precision::fp32, false, count}), juice::cuda_error);
}

BOOST_AUTO_TEST_CASE(steady_state_allocations_cuda) {
  juice::cuda d;
  juice::transformer<juice::cuda, float> m(d, juice::test::tiny_config(), 3);
  juice::adamw opt(juice::adamw_hyper{1e-3});
  const auto batch = juice::test::make_batch({{{1, 2, 3}, {4, 5, 6, 7}}, {{8}, {9, 10}}, {{2, 2}, {3}}});
  juice::token_values<float> w = xt::zeros<float>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t) w(b, static_cast<std::size_t>(t)) = -0.1f;
  const auto update = [&] {
    m.zero_grad();
    (void)m.logprobs(batch);
    m.backward(batch, w);
    BOOST_REQUIRE(juice::grad_norm_sq(m) > 0);
    opt.step(m);
  };
  update();
  d.reset_stats();
  for (int step = 0; step < 3; ++step) update();
  BOOST_TEST(d.stats().allocations == 0u);
  BOOST_TEST(d.stats().syncs == 3u * 2u);
}

// Last: a gather with a row index far outside its input faults inside the kernel.
BOOST_AUTO_TEST_CASE(a_faulting_kernel_is_named_in_sync_check_mode) {
  juice::cuda d(juice::cuda_options{juice::gemm_precision::fp32, true, -1});
  BOOST_REQUIRE(d.sync_check());
  auto out = d.allocate<float>(4);
  auto inp = d.allocate<float>(4);
  auto idx = d.allocate<int>(1);
  const int far = 1 << 30;
  d.upload(&far, d.data(idx), 1);
  std::string message;
  int line = 0;
  try {
    line = __LINE__ + 1;
    d.gather_rows(d.data(out), static_cast<const float*>(d.data(inp)), static_cast<const int*>(d.data(idx)), 1, 4);
  } catch (const juice::cuda_error& e) {
    message = e.what();
  }
  BOOST_TEST_MESSAGE(message);
  BOOST_TEST(message.find("juice::cuda::gather_rows (M=1, C=4) called at ") == 0u);
  BOOST_TEST(message.find("test_cuda_first_run.cu:" + std::to_string(line)) != std::string::npos);
  BOOST_TEST(message.find("JUICE_CUDA_SYNC_CHECK") != std::string::npos);
}

int main(int argc, char* argv[]) { return juice::test::run_on_a_device(argc, argv); }
