// One `juice train` per output folder: an exclusive flock(2) on OUT/.juice-train.lock, held for the
// whole run (the kernel releases it when the process ends, however it ends, so a killed run never
// leaves a stale lock). The holder writes its pid into the file, so a second run is refused naming
// the first.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <fmt/core.h>

#include "juice/core/error.hpp"
#include "juice/io/atomic_file.hpp"

namespace juice::cli {

// The lock file's name inside the folder.
inline constexpr const char* folder_lock_name = ".juice-train.lock";

class folder_lock {
public:
  // Locks `dir` (an existing folder) for `option` (named in the messages) or throws.
  folder_lock(const std::filesystem::path& dir, const std::string& option) {
    const std::filesystem::path file = dir / folder_lock_name;
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw io::io_error(fmt::format("{} {}: cannot create the lock file {} ({}).", option, dir.string(), file.string(), std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string pid(32, '\0');
      const ssize_t n = ::pread(fd_, pid.data(), pid.size(), 0);
      pid.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      ::close(fd_);
      if (err == EWOULDBLOCK)
        throw invalid_argument(fmt::format("{} {}: another juice train (pid {}) is running in this folder; wait for it to end or choose another folder.",
                                           option, dir.string(), pid.empty() ? "unknown" : pid));
      throw io::io_error(fmt::format("{} {}: cannot lock {} ({}).", option, dir.string(), file.string(), std::strerror(err)));
    }
    const std::string me = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
      ::close(fd_);
      throw io::io_error(fmt::format("{} {}: cannot write the lock file {}.", option, dir.string(), file.string()));
    }
  }
  folder_lock(const folder_lock&) = delete;
  folder_lock& operator=(const folder_lock&) = delete;
  ~folder_lock() { ::close(fd_); }

private:
  int fd_ = -1;
};

}  // namespace juice::cli
