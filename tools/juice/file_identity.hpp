// What a run's input files are, by content: a file is its size and SHA-256 (as `sha256sum` prints
// it), a folder the identities of the files in it. `juice train` records them in its checkpoints in
// place of the paths, so a resume refuses a file that changed since and accepts the same file named
// another way (`./in/demos.jsonl` and `in/demos.jsonl`). SHA-256 through OpenSSL's EVP interface.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "juice/io/atomic_file.hpp"

namespace juice::cli {

// The SHA-256 of `file` in lower-case hex; `what` names the file (with its option) in a failure.
inline std::string sha256_of(const std::filesystem::path& file, const std::string& what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw io::io_error(what + ": cannot be read.");
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) throw io::io_error(what + ": SHA-256 is unavailable.");
  std::array<char, 1 << 16> buf{};
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0 && EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount())) != 1)
      throw io::io_error(what + ": SHA-256 failed.");
  }
  if (in.bad()) throw io::io_error(what + ": read failed.");
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md.data(), &n) != 1) throw io::io_error(what + ": SHA-256 failed.");
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

// The identity of the input an option names: {"size", "sha256"} for a file; for a folder, the
// identities of the regular files directly in it by name; anything else (the tokenizer "byte", an
// option left empty) as the text itself.
inline nlohmann::json file_identity(const std::string& spec, const std::string& option) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path(spec);
  if (spec.empty()) return spec;
  if (fs::is_regular_file(path, ec)) {
    const auto size = fs::file_size(path, ec);
    if (ec) throw io::io_error(option + " " + spec + ": cannot be read (" + ec.message() + ").");
    return {{"size", size}, {"sha256", sha256_of(path, option + " " + spec)}};
  }
  if (fs::is_directory(path, ec)) {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& entry : fs::directory_iterator(path, ec))
      if (entry.is_regular_file(ec)) files[entry.path().filename().string()] = file_identity(entry.path().string(), option);
    if (ec) throw io::io_error(option + " " + spec + ": cannot be listed (" + ec.message() + ").");
    return {{"files", files}};
  }
  return spec;
}

// Why two identities of `option`'s input differ, as a clause: "its size was 120 bytes and is 96
// now", "its SHA-256 was 3f2a... and is 9c1b... now", "the file model.safetensors was ... ".
// `then` comes from a checkpoint's state.json, so it may hold anything: every field is printed as
// JSON rather than read as the type it should have.
inline std::string identity_difference(const nlohmann::json& then, const nlohmann::json& now) {
  if (then.is_object() && now.is_object() && then.contains("size") && now.contains("size")) {
    if (then["size"] != now["size"]) return fmt::format("its size was {} bytes and is {} now", then["size"].dump(), now["size"].dump());
    const auto hash = [](const nlohmann::json& j) -> std::string {
      const auto it = j.find("sha256");
      if (it == j.end()) return "?";
      return it->is_string() ? it->get<std::string>() : it->dump();
    };
    return fmt::format("its SHA-256 was {} and is {} now", hash(then), hash(now));
  }
  if (then.is_object() && now.is_object() && then.contains("files") && now.contains("files") && then["files"].is_object() &&
      now["files"].is_object()) {
    const auto &a = then["files"], &b = now["files"];
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key())) return "its file " + it.key() + " is gone";
      if (b[it.key()] != *it) return "its file " + it.key() + ": " + identity_difference(*it, b[it.key()]);
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) return "it has a new file " + it.key();
  }
  return "it was " + then.dump() + " and is " + now.dump() + " now";
}

}  // namespace juice::cli
