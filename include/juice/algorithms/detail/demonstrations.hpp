// juice/algorithms/detail/demonstrations.hpp
//
// The check every algorithm makes on its demonstrations before it starts: a well-formed batch
// (juice::validate) that is not empty, with messages that name the algorithm.
#pragma once

#include <string>

#include "juice/core/batch_ops.hpp"
#include "juice/core/error.hpp"

namespace juice::detail {

inline void check_demonstrations(const sequence_batch& demos, const std::string& algorithm) {
  validate(demos, algorithm + ": demonstrations");
  if (demos.rows() == 0) throw invalid_argument(algorithm + ": the demonstration set is empty.");
}

}  // namespace juice::detail
