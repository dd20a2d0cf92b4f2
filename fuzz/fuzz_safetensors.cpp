// libFuzzer target for juice::io::safetensors_file: any byte string either parses into a file
// whose every tensor lies inside the buffer and whose floating-point tensors read without a fault,
// or is refused with juice::io::format_error. Anything else (a crash, a sanitizer report, another
// exception type) is a bug.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "juice/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const juice::io::safetensors_file f(std::span<const std::uint8_t>(data, size));
    for (const auto& t : f.tensors()) {
      const auto raw = f.raw(t);
      if (raw.size() != t.end - t.begin) __builtin_trap();
      if (t.type == juice::io::dtype::F32 || t.type == juice::io::dtype::F64 || t.type == juice::io::dtype::F16 ||
          t.type == juice::io::dtype::BF16) {
        std::vector<double> v(t.elements());
        f.read_into(t, std::span<double>(v));
      }
    }
    // What parses must survive a write and re-read of its floating-point tensors.
    juice::io::safetensors_writer w;
    for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
    for (const auto& t : f.tensors())
      if (t.type == juice::io::dtype::F64) w.add(t.name, t.shape, f.read<double>(t.name), juice::io::dtype::F64);
    const juice::io::safetensors_file again(w.bytes());
    (void)again;
  } catch (const juice::io::format_error&) {
  }
  return 0;
}
