// juice::nccl_communicator on real GPUs: a one-rank group made from a unique id (the multi-process
// constructor) leaves values as they are (a mean and a host sum over one rank are the values
// themselves) and records the current device; the group of all local devices (ncclCommInitAll, one
// host thread per rank) gives every rank the element-wise mean; and all_reduced<adamw,
// nccl_communicator> on transformer<juice::cuda, float> over one rank takes exactly the step of a plain
// AdamW (the GradientReducer seam with device views). Without a device the program prints why and
// exits with 77 (ctest: skipped). Multi-GPU results need a machine with several GPUs.
#define BOOST_TEST_MODULE nccl
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "juice/backends/cuda/cuda.hpp"
#include "juice/backends/cuda/nccl.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/data_parallel.hpp"
#include "model_support.hpp"
#include "run_on_a_device.hpp"

// No `using namespace juice`: juice::cuda would clash with CCCL's ::cuda namespace.
using juice::adamw;
using juice::all_reduced;
using juice::device_span;
using juice::nccl_communicator;
using juice::token_values;
using juice::transformer;
namespace test = juice::test;

namespace {

template <class T>
std::vector<T> download(juice::cuda& b, device_span<T> v) {
  std::vector<T> out(v.size());
  b.download(v.data(), out.data(), v.size());
  return out;
}

template <class T>
void check_one_rank_identity() {
  juice::cuda b;
  nccl_communicator comm(b, nccl_communicator::unique_id(), 0, 1);
  BOOST_CHECK_EQUAL(comm.rank(), 0u);
  BOOST_CHECK_EQUAL(comm.size(), 1u);
  const std::vector<T> host{1.5, -2, 3.25, 1e-30};
  auto buf = b.allocate<T>(host.size());
  b.upload(host.data(), buf.get(), host.size());
  comm.all_reduce_mean(b.view_of(buf));
  BOOST_CHECK(download(b, b.view_of(buf)) == host);  // the mean over one rank is the value itself
  std::vector<double> flags{0, 3, -1.5};
  comm.all_reduce_sum(flags);
  BOOST_CHECK(flags == (std::vector<double>{0, 3, -1.5}));
  int device = -1;
  BOOST_REQUIRE(cudaGetDevice(&device) == cudaSuccess);
  BOOST_CHECK_EQUAL(comm.device(), device);
}

}  // namespace

static_assert(juice::GradientReducer<nccl_communicator, juice::cuda, float>);
static_assert(juice::Optimizer<all_reduced<adamw, nccl_communicator>, transformer<juice::cuda, float>>);

BOOST_AUTO_TEST_CASE(a_one_rank_group_from_a_unique_id_is_the_identity) {
  check_one_rank_identity<float>();
  check_one_rank_identity<double>();
  BOOST_CHECK_THROW(nccl_communicator(juice::cuda{}, nccl_communicator::unique_id(), 2, 2), juice::invalid_argument);
}

BOOST_AUTO_TEST_CASE(all_local_devices_average) {
  int n = 0;
  BOOST_REQUIRE(cudaGetDeviceCount(&n) == cudaSuccess);
  std::vector<int> devices;
  for (int d = 0; d < n; ++d) devices.push_back(d);
  auto comms = nccl_communicator::for_devices(devices);
  BOOST_REQUIRE_EQUAL(comms.size(), static_cast<std::size_t>(n));
  std::vector<juice::cuda> backends;
  for (const auto& c : comms) backends.push_back(c.backend());
  constexpr std::size_t len = 1000;
  // Rank r holds r + i/4; the mean over ranks 0..n-1 is (n-1)/2 + i/4.
  std::vector<std::vector<float>> got(n);
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        JUICE_CUDA_CHECK(cudaSetDevice(r));
        std::vector<float> host(len);
        for (std::size_t i = 0; i < len; ++i) host[i] = static_cast<float>(r) + static_cast<float>(i) / 4;
        auto buf = backends[r].allocate<float>(len);
        backends[r].upload(host.data(), buf.get(), len);
        comms[r].all_reduce_mean(backends[r].view_of(buf));
        got[r] = download(backends[r], backends[r].view_of(buf));
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  for (int r = 0; r < n; ++r) {
    BOOST_CHECK_EQUAL(comms[r].rank(), static_cast<std::size_t>(r));
    BOOST_CHECK_EQUAL(comms[r].device(), r);
    BOOST_CHECK(got[r] == got[0]);  // every rank holds the same values, bit for bit
    for (std::size_t i = 0; i < len; ++i) {
      const double want = (n - 1) / 2.0 + static_cast<double>(i) / 4;
      BOOST_CHECK_SMALL(static_cast<double>(got[r][i]) - want, 1e-6 * (1 + want));
    }
  }
  BOOST_TEST_MESSAGE("all-reduced over " << n << " local device(s)");
}

BOOST_AUTO_TEST_CASE(all_reduced_adamw_on_one_rank_is_plain_adamw) {
  juice::cuda b;
  transformer<juice::cuda, float> plain(b, test::tiny_config(), 7), reduced(b, test::tiny_config(), 7);
  const auto batch = test::make_batch({{{1, 2, 3}, {4, 5, 6}}, {{7}, {8, 9}}});
  token_values<float> w = xt::zeros<float>({batch.rows(), batch.width()});
  for (std::size_t r = 0; r < batch.rows(); ++r)
    for (auto t = batch.prompt_length(r); t < batch.length(r); ++t) w(r, static_cast<std::size_t>(t)) = -0.5f;
  adamw opt;
  all_reduced dp(adamw{}, nccl_communicator(b, nccl_communicator::unique_id(), 0, 1));
  for (int step = 0; step < 2; ++step) {
    for (auto* m : {&plain, &reduced}) {
      m->zero_grad();
      (void)m->logprobs(batch);
      m->backward(batch, w);
    }
    opt.step(plain);
    dp.step(reduced);
  }
  const auto a = download(b, plain.parameter_block().value), c = download(b, reduced.parameter_block().value);
  BOOST_REQUIRE_EQUAL(a.size(), c.size());
  BOOST_CHECK(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)) == 0);
}

int main(int argc, char* argv[]) { return juice::test::run_on_a_device(argc, argv); }
