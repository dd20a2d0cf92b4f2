// Helper for the cross-check against the Python reference implementation (safetensors_reference.py):
//   safetensors_tool write FILE   writes the fixed tensors below with juice's writer;
//   safetensors_tool dump FILE    reads FILE with juice's reader and prints one JSON object
//                                 {name: {"dtype", "shape", "values"}} plus "__metadata__".
// Values print with 17 significant digits, so a double survives the trip exactly.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/io/safetensors.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: safetensors_tool write|dump FILE\n");
    return 2;
  }
  const std::string mode = argv[1], path = argv[2];
  try {
    using juice::io::dtype;
    if (mode == "write") {
      juice::io::safetensors_writer w;
      w.set_metadata("format", "pt");
      w.set_metadata("note", "juice \xC3\xBC");
      w.add("a.f32", {2, 3}, std::vector<float>{0.0f, 1.0f, -2.5f, 3.25f, 1e-3f, -7.0f});
      w.add("b.f64", {2}, std::vector<double>{1.0 / 3.0, -1e300}, dtype::F64);
      w.add("c.f16", {3}, std::vector<float>{1.0f, -2.0f, 5.9604644775390625e-08f}, dtype::F16);
      w.add("d.bf16", {2}, std::vector<float>{1.0f, 3.140625f}, dtype::BF16);
      w.add("e.empty", {0, 4}, std::vector<float>{});
      w.write(path);
      return 0;
    }
    if (mode == "dump") {
      const auto f = juice::io::safetensors_file::load(path);
      nlohmann::json out = nlohmann::json::object();
      out["__metadata__"] = f.metadata();
      for (const auto& t : f.tensors())
        out[t.name] = {{"dtype", juice::io::dtype_name(t.type)}, {"shape", t.shape}, {"values", f.read<double>(t.name)}};
      std::printf("%s\n", out.dump().c_str());
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
