// libFuzzer target: a Hugging Face GPT-2 folder as `--model` reads it. The input is config.json,
// optionally followed by the separator "\n@@file@@\n" and the bytes of model.safetensors. Without
// weights, the config is read as a config file is (read_hf_gpt2_config, validate) and, when small,
// a model of its shape is built; with them, both files are written to a per-process folder and
// loaded with load_hf_gpt2 (config.json checked against the tensors' shapes before the model is
// built, then imported), and an imported model must hold the file's finite weights. A juice::error
// is a clean refusal; anything else (a crash, a sanitizer report, another exception, an allocation
// past -rss_limit_mb, a hang) is a bug.
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "juice/core/error.hpp"
#include "juice/io/hf_gpt2.hpp"

namespace {

namespace fs = std::filesystem;

constexpr std::string_view separator = "\n@@file@@\n";
// Models built from a config alone (no weights to bound them) are built only up to this size, so
// that a run stays fast; validate() alone is what guards the larger ones.
constexpr std::size_t build_limit = std::size_t{1} << 22;

// A folder of this process's own, removed at exit.
struct scratch_folder {
  fs::path path;
  scratch_folder() {
    std::string pattern = (fs::temp_directory_path() / "juice-fuzz-hf-XXXXXX").string();
    if (!mkdtemp(pattern.data())) std::abort();
    path = pattern;
  }
  scratch_folder(const scratch_folder&) = delete;
  scratch_folder& operator=(const scratch_folder&) = delete;
  ~scratch_folder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) std::abort();
}

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const scratch_folder dir;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t cut = input.find(separator);
  const std::string_view config = input.substr(0, cut);
  try {
    if (cut == std::string_view::npos) {
      write(dir.path / "config.json", config);
      const juice::transformer_config c = juice::io::read_hf_gpt2_config(dir.path / "config.json");
      c.validate();
      if (c.model_bytes(sizeof(float)) <= build_limit) {
        const juice::transformer<juice::cpu, float> model(c, 1);
        require(model.config().layers == c.layers && model.config().vocab == c.vocab);
      }
      return 0;
    }
    write(dir.path / "config.json", config);
    write(dir.path / "model.safetensors", input.substr(cut + separator.size()));
    auto model = juice::io::load_hf_gpt2<float>(dir.path, 1);
    for (auto& p : model.parameters())
      for (std::size_t i = 0; i < p.value.size(); ++i) require(std::isfinite(p.value.data()[i]));
  } catch (const juice::error&) {
  }
  return 0;
}
