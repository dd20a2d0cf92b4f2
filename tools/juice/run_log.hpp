// How `juice train` reports: one JSON object per optimizer step appended to OUT/metrics.jsonl
// (flushed per line, so a stopped run keeps what it did), and a progress line on stderr (round,
// step, loss, tokens/s, ETA) every `every` steps, or rewritten in place when stderr is a terminal.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "juice/io/atomic_file.hpp"

namespace juice::cli {

class run_log {
public:
  using clock = std::chrono::steady_clock;

  // An empty `metrics` path writes nothing. `append`: a resumed run continues the log (truncated to its checkpoint's step beforehand).
  run_log(const std::filesystem::path& metrics, std::size_t total_steps, std::size_t every, bool quiet, bool append = false)
      : total_(total_steps), every_(every), quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0), start_(clock::now()) {
    if (metrics.empty()) return;  // a rank that does not write (several ranks: rank 0 writes)
    out_.open(metrics, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
    writes_ = true;
    if (!out_) throw io::io_error(metrics.string() + ": cannot be written.");
  }

  // Seconds since the run started.
  [[nodiscard]] double elapsed() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

  // Records step `m["step"]` (1-based): appends it and maybe prints the progress line.
  void record(const nlohmann::json& m) {
    if (writes_) {
      out_ << m.dump() << '\n';
      out_.flush();
      if (!out_) throw io::io_error("metrics.jsonl: write failed.");
    }
    const std::size_t step = m.at("step").get<std::size_t>();
    if (quiet_ || !(tty_ || step % every_ == 0 || step == total_)) return;
    const double t = elapsed();
    const double eta = t / static_cast<double>(step) * static_cast<double>(total_ - step);
    const std::string line = fmt::format("round {} step {}/{} loss {:.4f} {:.0f} tokens/s ETA {:.0f}s",
                                         m.at("round").get<std::size_t>(), step, total_, m.at("loss").get<double>(),
                                         m.at("tokens_per_s").get<double>(), eta);
    if (tty_) fmt::print(stderr, "\r{:<78}{}", line, step == total_ ? "\n" : "");
    else fmt::print(stderr, "{}\n", line);
    std::fflush(stderr);
  }

private:
  std::ofstream out_;
  bool writes_ = false;
  std::size_t total_, every_;
  bool quiet_, tty_;
  clock::time_point start_;
};

}  // namespace juice::cli
