// juice/distributed/mpi_error.hpp
//
// Checked MPI calls: JUICE_MPI_CHECK(call, comm) runs the call and, when it does not return
// MPI_SUCCESS, throws juice::mpi_error with a sentence naming the call as written, the rank that saw
// the failure and the group's size, and MPI's own account of the error (MPI_Error_string), e.g.
//   "juice::mpi: MPI_Allreduce(MPI_IN_PLACE, v.data(), ...) failed on rank 1 of 2: MPI_ERR_TRUNCATE:
//    message truncated."
// Errors are only returned (and so checked) on a communicator whose error handler is
// MPI_ERRORS_RETURN; juice::mpi_communicator sets it on its own communicator. Target juice::mpi.
#pragma once

#include <string>

#include <mpi.h>

#include "juice/core/error.hpp"

namespace juice {

// An MPI call failed (a peer that went away, a truncated message, an invalid argument ...).
class mpi_error : public error {
public:
  using error::error;
};

namespace mpi_detail {

inline std::string error_string(int status) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(status, text, &length) != MPI_SUCCESS) return "error code " + std::to_string(status);
  return std::string(text, static_cast<std::size_t>(length));
}

inline void check(int status, const char* call, MPI_Comm comm) {
  if (status == MPI_SUCCESS) return;
  int rank = -1, size = 0;
  std::string where = "on this rank";
  if (comm != MPI_COMM_NULL && MPI_Comm_rank(comm, &rank) == MPI_SUCCESS && MPI_Comm_size(comm, &size) == MPI_SUCCESS)
    where = "on rank " + std::to_string(rank) + " of " + std::to_string(size);
  throw mpi_error(std::string("juice::mpi: ") + call + " failed " + where + ": " + error_string(status) + ".");
}

}  // namespace mpi_detail
}  // namespace juice

// Runs `call` (an MPI call on communicator `comm`) and throws juice::mpi_error naming it, the rank
// and MPI's error string unless it returns MPI_SUCCESS.
#define JUICE_MPI_CHECK(call, comm) ::juice::mpi_detail::check((call), #call, (comm))
