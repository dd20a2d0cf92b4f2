// scratch_dir: a fresh, empty folder under the system's temporary directory for one test process
// (named by a prefix and the pid), removed with everything in it when the object goes away.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace juice::test {

struct scratch_dir {
  std::filesystem::path dir;
  explicit scratch_dir(const std::string& prefix)
      : dir(std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace juice::test
