// NCCL bootstrapped from MPI (juice/backends/cuda/mpi_nccl.hpp) under `mpirun -np 2` (labels gpu and
// mpi): each rank picks its GPU from its local rank, rank 0's unique id reaches every rank through
// MPI_Bcast, and the NCCL group's all_reduce_mean and all_reduce_sum give the values constructed
// below on every rank. Without a GPU for every rank on the node it says why and exits 77 (ctest:
// skipped).
#include <cstdio>
#include <exception>
#include <vector>

#include "juice/backends/cuda/cuda.hpp"
#include "juice/backends/cuda/mpi_nccl.hpp"
#include "juice/distributed/mpi_session.hpp"

int main() {
  juice::mpi_session session;
  int status = 0;
  try {
    juice::mpi_communicator comm;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || static_cast<std::size_t>(count) < comm.local_size()) {
      std::printf("rank %zu: %d GPU(s) for %zu ranks on this node; skipped\n", comm.rank(), count, comm.local_size());
      status = 77;
    } else {
      JUICE_CUDA_CHECK(cudaSetDevice(juice::local_device(comm)));
      juice::cuda backend;
      juice::nccl_communicator nccl = juice::nccl_from_mpi(comm, backend);
      // Rank r holds r + i / 4: the mean over ranks 0..N-1 is (N - 1) / 2 + i / 4.
      const std::size_t n = 64, N = comm.size();
      std::vector<float> host(n);
      for (std::size_t i = 0; i < n; ++i) host[i] = static_cast<float>(comm.rank()) + static_cast<float>(i) / 4;
      auto buf = backend.allocate<float>(n);
      backend.upload(host.data(), buf.get(), n);
      nccl.all_reduce_mean(backend.view_of(buf));
      backend.download(buf.get(), host.data(), n);
      for (std::size_t i = 0; i < n; ++i)
        if (host[i] != static_cast<float>(N - 1) / 2 + static_cast<float>(i) / 4) status = 1;
      std::vector<double> flags{1.0, static_cast<double>(comm.rank())};
      nccl.all_reduce_sum(flags);
      if (flags[0] != static_cast<double>(N) || flags[1] != 0.5 * static_cast<double>(N) * static_cast<double>(N - 1)) status = 1;
      std::printf("rank %zu on GPU %d: %s\n", comm.rank(), nccl.device(), status == 0 ? "ok" : "wrong values");
    }
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    status = 1;
  }
  return status;
}
