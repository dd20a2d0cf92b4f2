// juice::cuda's first-run aids on a real GPU: the backend's device is set on entry and exposed;
// after the first training step nothing is allocated and only the stated host syncs happen
// (juice::device_stats, as steady_state_allocations checks on the OpenMP system); uploads staged in
// pinned memory keep the data when the host array is overwritten at once; and, in the sync
// check mode, a kernel that faults is named with its primitive, shape and caller. The fault is
// provoked last, in its own process (ctest runs this file's cases as the test
// test_cuda_first_run), because an illegal address poisons the CUDA context for the rest of it.
// Without a device it exits 77 (ctest: skipped).
#define BOOST_TEST_MODULE cuda_first_run
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
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

// Uploads are staged in pinned slots (juice/backends/cuda/pinned_staging.hpp) and return before the
// copy runs: behind a GEMM that keeps the stream busy, more uploads than slots (so the ring comes
// round and must wait for its earlier copies) of sizes that grow the slots, one at the staging limit
// and one above it (bypassing the slots), each host array overwritten as soon as upload returns;
// every device copy must hold what was uploaded. The slots grow only where staging.hpp says
// (4 allocations each time), and a second round of the same uploads grows nothing.
BOOST_AUTO_TEST_CASE(uploads_are_staged_and_the_host_array_is_free_at_once) {
  juice::cuda d;
  const std::ptrdiff_t busy = 4096;
  const auto square = static_cast<std::size_t>(busy * busy);
  auto a = d.allocate<float>(square), b = d.allocate<float>(square), c = d.allocate<float>(square);
  // Bytes: 4 (slots to 64 KiB), 4000, 65536 (fits), 65540 (to 128 KiB), 12, 8e6 (above 4 MiB:
  // bypassed), 200000 (to 256 KiB), 28, 4 MiB (the limit: to 4 MiB), 20.
  const std::vector<std::size_t> sizes{1, 1000, 16384, 16385, 3, 2000000, 50000, 7, std::size_t{1} << 20, 5};
  std::vector<juice::cuda::buffer<float>> bufs;
  for (const std::size_t n : sizes) bufs.push_back(d.allocate<float>(n));
  for (int round = 0; round < 2; ++round) {
    d.reset_stats();
    for (int k = 0; k < 3; ++k)
      d.lm_logits(d.data(c), static_cast<const float*>(d.data(a)), static_cast<const float*>(d.data(b)), busy, busy, busy);
    std::vector<float> host;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      host.assign(sizes[i], static_cast<float>(round * 100 + i + 1));
      d.upload(host.data(), d.data(bufs[i]), sizes[i]);
      std::fill(host.begin(), host.end(), -1.0f);  // at once: the copy may not have run yet
    }
    BOOST_TEST(d.stats().allocations == (round == 0 ? 4u * 4u : 0u));
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      std::vector<float> back(sizes[i]);
      d.download(static_cast<const float*>(d.data(bufs[i])), back.data(), sizes[i]);
      BOOST_TEST_INFO("round " << round << ", upload " << i << " of " << sizes[i] << " floats");
      BOOST_TEST(std::all_of(back.begin(), back.end(), [&](float x) { return x == static_cast<float>(round * 100 + i + 1); }));
    }
  }
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
