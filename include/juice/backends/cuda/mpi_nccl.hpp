// juice/backends/cuda/mpi_nccl.hpp
//
// NCCL bootstrapped from MPI, one GPU per rank: local_device(comm) picks this rank's GPU from its
// index among the ranks on its node (mpi_communicator::local_rank(), MPI_Comm_split_type: what
// OMPI_COMM_WORLD_LOCAL_RANK or SLURM_LOCALID say, from any launcher), and nccl_from_mpi(comm,
// backend) makes the NCCL communicator of the same group: rank 0 creates the unique id, MPI_Bcast
// sends its bytes to every rank, and each rank joins on its backend's device. MPI stays the
// host-side channel (flags, counts, barriers: mpi_communicator); the gradients go through NCCL.
//   juice::mpi_session session;
//   juice::mpi_communicator comm;
//   cudaSetDevice(juice::local_device(comm));            // before the backend is made
//   juice::cuda backend;
//   juice::all_reduced opt(juice::adamw(hyper), juice::nccl_from_mpi(comm, backend));
// CUDA stays behind juice::cuda, so this lives beside nccl.hpp. Targets juice::mpi and juice::nccl; nvcc.
#pragma once

#include <span>
#include <string>
#include <utility>

#include <cuda_runtime.h>
#include <nccl.h>

#include "juice/backends/cuda/error.hpp"
#include "juice/backends/cuda/nccl.hpp"
#include "juice/core/error.hpp"
#include "juice/distributed/mpi_communicator.hpp"

namespace juice {

// This rank's GPU: its local rank, if the node has a GPU for every rank on it.
inline int local_device(const mpi_communicator& comm) {
  int count = 0;
  JUICE_CUDA_CHECK(cudaGetDeviceCount(&count));
  if (comm.local_size() > static_cast<std::size_t>(count))
    throw invalid_argument("juice::local_device: rank " + std::to_string(comm.rank()) + " shares its node with " +
                           std::to_string(comm.local_size()) + " ranks but the node has " + std::to_string(count) +
                           " GPUs; start at most one rank per GPU (mpirun --map-by ppr:" + std::to_string(count) + ":node).");
  return static_cast<int>(comm.local_rank());
}

// The NCCL communicator of comm's group on `backend` (made on this rank's device); collective over comm.
inline nccl_communicator nccl_from_mpi(mpi_communicator& comm, cuda backend) {
  ncclUniqueId id{};
  if (comm.rank() == 0) id = nccl_communicator::unique_id();
  comm.broadcast(std::span<ncclUniqueId>(&id, 1));
  return nccl_communicator(std::move(backend), id, static_cast<int>(comm.rank()), static_cast<int>(comm.size()));
}

}  // namespace juice
