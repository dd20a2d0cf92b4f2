// juice/distributed/mpi_session.hpp
//
// juice::mpi_session: MPI_Init_thread on construction, MPI_Finalize on destruction, for a program
// that runs as one rank of an `mpirun -np N` (or srun) job. Only the main thread calls MPI
// (MPI_THREAD_FUNNELED: the CPU backend's OpenMP threads never do). A session made when MPI is
// already initialised (by the caller) neither initialises nor finalises it. A program that leaves
// with an exception which the other ranks do not share must not finalise (MPI_Finalize is a
// collective: it would wait for them): it calls MPI_Abort instead, which ends the whole job; that
// choice is the program's (juice's tool makes it), not this class's. Target juice::mpi.
#pragma once

#include <cstdlib>

#include <mpi.h>

#include "juice/distributed/mpi_error.hpp"

namespace juice {

class mpi_session {
public:
  mpi_session() {
    int initialised = 0;
    JUICE_MPI_CHECK(MPI_Initialized(&initialised), MPI_COMM_NULL);
    if (initialised) return;
    int provided = 0;
    JUICE_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), MPI_COMM_NULL);
    owner_ = true;
  }
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;
  // Finalises MPI if this session initialised it and nobody has finalised it yet.
  ~mpi_session() {
    int finalised = 1;
    if (owner_ && MPI_Finalized(&finalised) == MPI_SUCCESS && !finalised) MPI_Finalize();
  }

  // Whether the program runs under an MPI launcher (Open MPI's mpirun, MPICH's Hydra, PMIx, Slurm's
  // srun with PMI), from the environment the launcher sets; MPI need not be initialised.
  [[nodiscard]] static bool launched_by_mpirun();

private:
  bool owner_ = false;
};

inline bool mpi_session::launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

}  // namespace juice
