// Uses the installed juice::mpi: every rank adds rank + 1 to a sum over the group and averages a
// gradient of its rank; rank 0 prints both (with N ranks: N (N + 1) / 2 and (N - 1) / 2).
#include <cstdio>
#include <exception>
#include <span>
#include <vector>

#include <juice/distributed/mpi_communicator.hpp>
#include <juice/distributed/mpi_session.hpp>

int main() {
  try {
    const juice::mpi_session session;
    juice::mpi_communicator comm;
    std::vector<double> sum{static_cast<double>(comm.rank() + 1)};
    comm.all_reduce_sum(sum);
    std::vector<float> grad{static_cast<float>(comm.rank())};
    comm.all_reduce_mean(std::span<float>(grad));
    if (comm.rank() == 0) std::printf("ranks %zu sum %g mean %g\n", comm.size(), sum[0], static_cast<double>(grad[0]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_consumer: %s\n", e.what());
    return 1;
  }
}
