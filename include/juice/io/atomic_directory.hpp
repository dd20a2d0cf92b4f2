// juice/io/atomic_directory.hpp
//
// Replacing a whole folder atomically, for checkpoints made of several files that only make sense
// together. POSIX cannot swap two folders in one step, so a save D goes through names that say how
// far it got (all siblings of D, in D's parent folder):
//   1. the files are written into a fresh `.D.juice-tmp.<pid>.<random>`, each fsync'ed, then the
//      folder itself is fsync'ed;
//   2. that folder is renamed to `.D.juice-new` (from here on it is known to be complete);
//   3. the previous D, if any, is renamed to `.D.juice-old`;
//   4. `.D.juice-new` is renamed to D;
//   5. `.D.juice-old` is removed.
// The parent folder is fsync'ed after each rename, so the order survives a power cut too. A kill
// at any moment leaves D complete (old or new), or, between steps 3 and 4, no D but a complete
// `.D.juice-new`. Hence resolve_directory(D) reads D if it exists, else `.D.juice-new`, else
// `.D.juice-old` (for a folder moved by hand), and never a half-written folder; it changes nothing,
// so a read-only checkpoint loads. The next save first tidies up: it deletes leftover temporaries,
// finishes an interrupted swap and removes what D has superseded. One writer per D at a time.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <system_error>

#include "juice/io/atomic_file.hpp"

namespace juice::io {

namespace detail {

// D without a trailing separator ("out/ckpt/" -> "out/ckpt"), so that its siblings can be named.
inline std::filesystem::path normalised_dir(const std::filesystem::path& dir) {
  std::filesystem::path d = dir.lexically_normal();
  if (!d.has_filename() && d.has_parent_path()) d = d.parent_path();
  return d;
}

inline std::filesystem::path sibling(const std::filesystem::path& dir, const std::string& suffix) {
  const std::filesystem::path d = normalised_dir(dir);
  std::string name(".");  // built piecewise: GCC 12 misreports '"." + std::string' (-Wrestrict)
  name += d.filename().string();
  name += suffix;
  return d.has_parent_path() ? d.parent_path() / name : std::filesystem::path(name);
}

inline std::filesystem::path parent_of(const std::filesystem::path& dir) {
  const std::filesystem::path d = normalised_dir(dir);
  return d.has_parent_path() ? d.parent_path() : std::filesystem::path(".");
}

// fsync of a folder, so that the renames and creations inside it are on disk.
inline void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw io_error("juice::io: cannot open the folder " + dir.string() + " to sync it: " + std::strerror(errno) + ".");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot sync a folder (EINVAL); everything else is a real failure.
  if (rc != 0 && err != EINVAL) throw io_error("juice::io: cannot sync the folder " + dir.string() + ": " + std::strerror(err) + ".");
}

inline void rename_or_throw(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw io_error("juice::io: cannot rename " + from.string() + " to " + to.string() + ": " + std::strerror(errno) + ".");
}

inline bool is_directory(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

inline void remove_tree(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::remove_all(p, ec);
  if (ec) throw io_error("juice::io: cannot remove " + p.string() + ": " + ec.message() + ".");
}

}  // namespace detail

// Writes `bytes` to a new file `path` (which must not exist) and fsyncs it: for files inside a
// folder that is published as a whole afterwards (write_directory_atomically), where a rename per
// file would add nothing.
inline void write_file_synced(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  auto fail = [&](const std::string& what, int err) {
    throw io_error("juice::io: cannot write " + path.string() + ": " + what + ": " + std::strerror(err) + ".");
  };
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) fail("cannot create it", errno);
  if (const auto failed = detail::write_all_and_sync(fd, bytes)) {
    ::close(fd);
    fail(failed.flushing ? "flushing it to disk" : "writing", failed.err);
  }
  if (::close(fd) != 0) fail("closing it", errno);
}

inline void write_file_synced(const std::filesystem::path& path, const std::string& text) {
  write_file_synced(path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

// The complete folder that stands for `dir` (see the header comment), or nothing if no save of
// `dir` ever completed. Changes nothing on disk.
inline std::optional<std::filesystem::path> resolve_directory(const std::filesystem::path& dir) {
  std::filesystem::path d = detail::normalised_dir(dir);
  if (detail::is_directory(d)) return d;
  if (auto n = detail::sibling(d, ".juice-new"); detail::is_directory(n)) return n;
  if (auto o = detail::sibling(d, ".juice-old"); detail::is_directory(o)) return o;
  return std::nullopt;
}

// Brings `dir` to a clean state after an interrupted save: temporaries removed, an interrupted
// swap finished, superseded folders removed. Safe to interrupt itself at any point.
inline void tidy_directory(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path d = detail::normalised_dir(dir), parent = detail::parent_of(d);
  const fs::path fresh = detail::sibling(d, ".juice-new"), old = detail::sibling(d, ".juice-old");
  const std::string tmp_prefix = detail::sibling(d, ".juice-tmp.").filename().string();
  std::error_code ec;
  bool changed = false;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(tmp_prefix, 0) == 0) {
      detail::remove_tree(it->path());
      changed = true;
    }
  if (detail::is_directory(d)) {
    // D is complete: anything left from before it is superseded.
    for (const fs::path& p : {fresh, old})
      if (fs::exists(fs::symlink_status(p, ec))) {
        detail::remove_tree(p);
        changed = true;
      }
  } else if (detail::is_directory(fresh)) {
    detail::rename_or_throw(fresh, d);  // finish steps 4 and 5
    detail::sync_directory(parent);
    detail::remove_tree(old);
    changed = true;
  } else if (detail::is_directory(old)) {
    detail::rename_or_throw(old, d);
    changed = true;
  }
  if (changed) detail::sync_directory(parent);
}

// Replaces the folder `dir` by one that `fill` writes (see the header comment for the protocol and
// its guarantees). `fill` receives the temporary folder and writes its files there, e.g. with
// write_file_synced. If `fill` or a write throws, the temporary folder is removed and `dir` keeps
// its previous content. The parent folder is created if needed.
inline void write_directory_atomically(const std::filesystem::path& dir, const std::function<void(const std::filesystem::path&)>& fill) {
  namespace fs = std::filesystem;
  const fs::path d = detail::normalised_dir(dir), parent = detail::parent_of(d);
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw io_error("juice::io: cannot create the folder " + parent.string() + ": " + ec.message() + ".");
  if (fs::exists(fs::symlink_status(d, ec)) && !detail::is_directory(d))
    throw io_error("juice::io: cannot write the folder " + d.string() + ": something that is not a folder is in the way.");
  tidy_directory(d);

  std::random_device rd;
  fs::path tmp;
  bool made = false;
  for (int attempt = 0; attempt < 16 && !made; ++attempt) {
    tmp = detail::sibling(d, ".juice-tmp." + std::to_string(::getpid()) + "." + std::to_string(rd()));
    if (::mkdir(tmp.c_str(), 0777) == 0)
      made = true;
    else if (errno != EEXIST)
      throw io_error("juice::io: cannot create a temporary folder in " + parent.string() + ": " + std::strerror(errno) + ".");
  }
  if (!made) throw io_error("juice::io: cannot create a temporary folder in " + parent.string() + ": " + std::strerror(EEXIST) + ".");
  try {
    fill(tmp);
    detail::sync_directory(tmp);
  } catch (...) {
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
  const fs::path fresh = detail::sibling(d, ".juice-new"), old = detail::sibling(d, ".juice-old");
  detail::rename_or_throw(tmp, fresh);  // 2: complete from here on
  detail::sync_directory(parent);
  if (detail::is_directory(d)) {
    detail::rename_or_throw(d, old);  // 3
    detail::sync_directory(parent);
  }
  detail::rename_or_throw(fresh, d);  // 4
  detail::sync_directory(parent);
  detail::remove_tree(old);  // 5
}

}  // namespace juice::io
