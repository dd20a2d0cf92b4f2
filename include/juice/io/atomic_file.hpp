// juice/io/atomic_file.hpp
//
// Whole-file reads and atomic whole-file writes. A write goes to a fresh temporary file in the
// target's own folder (so the final rename never crosses a file system), is flushed to disk with
// fsync, and is then renamed over the target; the folder is synced so the rename itself survives a
// crash. A reader therefore sees either the old file or the complete new one, never a prefix, and a
// failed write (unwritable or missing folder, full disk, a folder in the way) removes its temporary
// file and leaves the target untouched. POSIX only (open/fsync/rename), as is the rest of juice's
// tooling. Failures throw juice::io::io_error naming the path and the system's reason.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "juice/core/error.hpp"

namespace juice::io {

// A file could not be read or written (the operating system said no).
class io_error : public error {
public:
  using error::error;
};

// The content of a file is not what its format requires (truncated, inconsistent, wrong type).
class format_error : public error {
public:
  using error::error;
};

namespace detail {

// Where write_all_and_sync stopped: err is 0 on success, else the errno of the failed write or
// (when `flushing`) of the failed fsync.
struct write_failure {
  int err = 0;
  bool flushing = false;
  explicit operator bool() const { return err != 0; }
};

// Writes all of `bytes` to `fd` (retrying short writes and EINTR) and fsyncs it; leaves `fd` open.
inline write_failure write_all_and_sync(int fd, std::span<const std::uint8_t> bytes) {
  const std::uint8_t* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ::ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return {errno, false};
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return {errno, true};
  return {};
}

}  // namespace detail

// The whole content of `path`, which must be a regular file (a folder or a device is refused
// before anything is allocated).
namespace detail {
[[noreturn]] inline void fail_read(const std::filesystem::path& path, const std::string& what, int err) {
  throw io_error("juice::io: cannot read " + path.string() + ": " + what + (err ? std::string(": ") + std::strerror(err) : "") + ".");
}
}  // namespace detail

inline std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) detail::fail_read(path, "cannot open it", errno);
  struct ::stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    ::close(fd);
    detail::fail_read(path, "not a regular file", S_ISREG(st.st_mode) ? err : 0);
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ::ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      ::close(fd);
      detail::fail_read(path, "it ended after " + std::to_string(done) + " of " + std::to_string(bytes.size()) + " bytes", err);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return bytes;
}

// Writes `bytes` to `path` atomically (see the header comment); an existing file is replaced whole.
inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  namespace fs = std::filesystem;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  auto fail = [&](const std::string& what, int err) {
    throw io_error("juice::io: cannot write " + path.string() + ": " + what + ": " + std::strerror(err) + ".");
  };
  // A name nobody else uses: the target's name, the process id and a random tag, created exclusively.
  std::random_device rd;
  fs::path tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    std::string name(".");  // appended piecewise: GCC 12 misreports '"." + std::string' (-Wrestrict)
    name += path.filename().string();
    name += ".tmp.";
    name += std::to_string(::getpid());
    name += '.';
    name += std::to_string(rd());
    tmp = dir / name;
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) fail("cannot create a temporary file in " + dir.string(), errno);
  }
  if (fd < 0) fail("cannot create a temporary file in " + dir.string(), errno);
  auto abandon = [&](const std::string& what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail(what, err);
  };
  if (const auto failed = detail::write_all_and_sync(fd, bytes))
    abandon(failed.flushing ? "flushing " + tmp.string() + " to disk" : "writing " + tmp.string(), failed.err);
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) abandon("closing " + tmp.string(), errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) abandon("renaming the temporary file over it", errno);
  // Persist the rename; a folder that cannot be opened or synced (some file systems) is not an error.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

inline void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  write_file_atomically(path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace juice::io
