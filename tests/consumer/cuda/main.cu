// A CUDA program outside the juice tree: juice::cuda (and the NCCL all-reduce) through the installed
// headers and targets. Without a device it says so and exits with 77 (ctest: skipped).
#include <cstdio>
#include <vector>

#include <juice/backends/cuda/cuda.hpp>
#ifdef JUICE_CONSUMER_NCCL
#include <juice/backends/cuda/nccl.hpp>
#endif

int main() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device\n");
    return 77;
  }
  juice::cuda b;
  auto buf = b.allocate<float>(4);
  b.fill(b.view_of(buf), 1.5f);
  b.scale(b.view_of(buf), 2.0f);
#ifdef JUICE_CONSUMER_NCCL
  juice::nccl_communicator comm(b, juice::nccl_communicator::unique_id(), 0, 1);
  comm.all_reduce_mean(b.view_of(buf));
#endif
  std::vector<float> host(4);
  b.download(buf.get(), host.data(), host.size());
  std::printf("juice::cuda consumer: 1.5 * 2 = %.1f\n", static_cast<double>(host[3]));
  return 0;
}
