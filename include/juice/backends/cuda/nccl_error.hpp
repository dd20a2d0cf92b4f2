// juice/backends/cuda/nccl_error.hpp
//
// Checked NCCL calls: JUICE_NCCL_CHECK(call) runs the call and, when it does not return ncclSuccess,
// throws juice::nccl_error with a sentence naming the call as written, the source file and line,
// NCCL's name for the status (ncclGetErrorString) and, where NCCL recorded one, its own account of
// the failure (ncclGetLastError), e.g.
//   "juice::nccl: ncclCommInitRank(&comm_, size, id, rank) failed at
//    include/juice/backends/cuda/nccl.hpp:80: invalid argument (run with NCCL_DEBUG=WARN for details)
//    [Invalid rank 3, should be in the range 0..2]."
// Kept apart from the communicator (juice/backends/cuda/nccl.hpp) because it needs only nccl.h and
// the CUDA runtime headers, not nvcc, so the C++ compiler can build and CI can run its test.
#pragma once

#include <string>

#include <nccl.h>

#include "juice/backends/cuda/error.hpp"

namespace juice {

// An NCCL call failed (a bad argument, a peer that went away, an internal or system error ...).
class nccl_error : public cuda_error {
public:
  using cuda_error::cuda_error;
};

namespace nccl_detail {

inline void check(ncclResult_t status, const char* call, const char* file, int line) {
  if (status == ncclSuccess) return;
  std::string msg = std::string("juice::nccl: ") + call + " failed at " + file + ":" + std::to_string(line) + ": " +
                    ncclGetErrorString(status);
  // NCCL's last error message of this thread, when it kept one: it says which argument or peer.
  const char* detail = ncclGetLastError(nullptr);
  if (detail && *detail) msg += std::string(" [") + detail + "]";
  throw nccl_error(msg + ".");
}

}  // namespace nccl_detail
}  // namespace juice

// Runs `call` (an NCCL call) and throws juice::nccl_error naming it unless it returns ncclSuccess.
#define JUICE_NCCL_CHECK(call) ::juice::nccl_detail::check((call), #call, __FILE__, __LINE__)
