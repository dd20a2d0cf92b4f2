// juice/core/memory.hpp
//
// How much memory the machine has, so that a model too large for it is refused with a sentence
// before anything is allocated rather than grown until the system kills the process.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <limits>

namespace juice {

// The machine's physical memory in bytes (POSIX sysconf), or 0 when it cannot be told.
inline std::size_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 0;
  const auto p = static_cast<std::size_t>(pages), s = static_cast<std::size_t>(page);
  return p > std::numeric_limits<std::size_t>::max() / s ? std::numeric_limits<std::size_t>::max() : p * s;
}

}  // namespace juice
