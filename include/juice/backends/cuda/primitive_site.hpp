// juice/backends/cuda/primitive_site.hpp
//
// Where a device primitive was called, for error messages: the backend, the primitive, its shape
// (named dimensions such as B, T, C, NH) and the caller's source location, which every primitive of
// juice::device_primitives takes as a defaulted std::source_location argument, so a failure on the
// device names the line of the model that launched the work, e.g.
//   "juice::cuda::attention_forward (B=2, T=1024, C=768, NH=12) called at
//    include/juice/models/decoder_trunk.hpp:212"
// Portable (no CUDA runtime): the CUDA backend's checks (juice/backends/cuda/sync_check.hpp) use it,
// and so can any other device system.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <source_location>
#include <string>
#include <string_view>

namespace juice::device_kernels {

// One named dimension of a primitive's shape.
struct dim {
  const char* name;
  std::ptrdiff_t value;
};

// "juice::<backend>::<primitive> (N=.., C=..) called at <file>:<line>"
inline std::string describe_call(std::string_view backend, std::string_view primitive, std::initializer_list<dim> dims,
                                 const std::source_location& where) {
  std::string s = "juice::";
  s.append(backend).append("::").append(primitive);
  if (dims.size() != 0) {
    s += " (";
    bool first = true;
    for (const dim& d : dims) {
      if (!first) s += ", ";
      first = false;
      s.append(d.name).append("=").append(std::to_string(d.value));
    }
    s += ")";
  }
  s.append(" called at ").append(where.file_name()).append(":").append(std::to_string(where.line()));
  return s;
}

}  // namespace juice::device_kernels
