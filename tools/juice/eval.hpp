// `juice eval`: its options as one struct and the function that computes its JSON report, so that
// `juice demo` evaluates through the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "options.hpp"

namespace juice::cli {

struct eval_args {
  std::string model, ref, pairs, demos;
  data_args data;
  double beta = 0.1;
  std::size_t batch_size = 16;
  bool json = false;
  bool per_pair = false;
  int threads = 0;
};

// {"pairs": {...}, "demos": {...}} (each present when its file is given); see scoring.hpp.
nlohmann::json run_eval(const eval_args& a);

}  // namespace juice::cli
