// juice/data/data_error.hpp
//
// The exception for bad input files (a malformed JSONL line, a missing field, a broken vocabulary),
// and the "file line N" prefix every such message starts with, so a user can open the file at the
// right place.
#pragma once

#include <cstddef>
#include <string>

#include "juice/core/error.hpp"

namespace juice {

// A data file that cannot be used as it is. what() names the file and, where there is one, the line.
class data_error : public error {
public:
  using error::error;
};

namespace data::detail {
// "demos.jsonl line 3" (lines count from 1).
inline std::string where(const std::string& file, std::size_t line) {
  return file + " line " + std::to_string(line);
}
}  // namespace data::detail

}  // namespace juice
