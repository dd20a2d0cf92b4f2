// juice/diagnostics/writers.hpp
//
// Run logs: a CSV writer (a header, then rows with the same number of fields; strings quoted when
// they need it, numbers with 17 significant digits so they read back exactly) and a JSONL writer (one
// JSON object per line, nlohmann-json), plus observers that log every step_event to either. This
// header needs nlohmann-json (a Debian package, nlohmann-json3-dev); the rest of juice does not.
#pragma once

#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/core/error.hpp"
#include "juice/core/events.hpp"

namespace juice {

class csv_writer {
public:
  using field = std::variant<double, long long, std::string>;

  // Writes the header line at once.
  csv_writer(std::ostream& out, std::vector<std::string> header) : out_(&out), columns_(header.size()) {
    if (header.empty()) throw invalid_argument("juice::csv_writer: the header has no columns.");
    write_line(std::vector<field>(header.begin(), header.end()));
  }

  // One row; throws juice::invalid_argument if it has the wrong number of fields.
  void row(const std::vector<field>& fields) {
    if (fields.size() != columns_)
      throw invalid_argument("juice::csv_writer: row " + std::to_string(rows_ + 1) + " has " +
                             std::to_string(fields.size()) + " fields; the header has " + std::to_string(columns_) + ".");
    write_line(fields);
    ++rows_;
  }

  // Rows written so far (the header not counted).
  [[nodiscard]] std::size_t rows() const { return rows_; }

  // A field as CSV text: RFC 4180 quoting for strings with a comma, quote or newline.
  static std::string format(const field& f) {
    if (const auto* s = std::get_if<std::string>(&f)) {
      if (s->find_first_of(",\"\n\r") == std::string::npos) return *s;
      std::string q = "\"";
      for (char c : *s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      return q + "\"";
    }
    if (const auto* i = std::get_if<long long>(&f)) return std::to_string(*i);
    const double d = std::get<double>(f);
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    std::ostringstream o;
    o.precision(std::numeric_limits<double>::max_digits10);
    o << d;
    return o.str();
  }

private:
  void write_line(const std::vector<field>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) *out_ << (i ? "," : "") << format(fields[i]);
    *out_ << '\n';
    if (!*out_) throw error("juice::csv_writer: writing to the output stream failed.");
  }

  std::ostream* out_;
  std::size_t columns_;
  std::size_t rows_ = 0;
};

class jsonl_writer {
public:
  explicit jsonl_writer(std::ostream& out) : out_(&out) {}

  // One JSON value on one line (objects are the convention).
  void write(const nlohmann::json& j) {
    *out_ << j.dump() << '\n';
    if (!*out_) throw error("juice::jsonl_writer: writing to the output stream failed.");
    ++lines_;
  }

  [[nodiscard]] std::size_t lines() const { return lines_; }

private:
  std::ostream* out_;
  std::size_t lines_ = 0;
};

// A step_event as a JSON object.
inline nlohmann::json to_json(const step_event& e) {
  return {{"algorithm", std::string(e.algorithm)}, {"round", e.round}, {"step", e.step}, {"global_step", e.global_step}, {"loss", e.loss}, {"grad_norm_sq", e.grad_norm_sq}, {"round_start", e.round_start}};
}

// The CSV columns of a step_event log.
inline std::vector<std::string> step_event_columns() {
  return {"algorithm", "round", "step", "global_step", "loss", "grad_norm_sq", "round_start"};
}

// Observer: one CSV row per step_event (create the writer with step_event_columns()).
class csv_event_logger {
public:
  explicit csv_event_logger(csv_writer& w) : w_(&w) {}
  void operator()(const step_event& e) {
    w_->row({std::string(e.algorithm), static_cast<long long>(e.round), static_cast<long long>(e.step),
             static_cast<long long>(e.global_step), e.loss, e.grad_norm_sq, static_cast<long long>(e.round_start)});
  }

private:
  csv_writer* w_;
};

// Observer: one JSONL line per step_event.
class jsonl_event_logger {
public:
  explicit jsonl_event_logger(jsonl_writer& w) : w_(&w) {}
  void operator()(const step_event& e) { w_->write(to_json(e)); }

private:
  jsonl_writer* w_;
};

}  // namespace juice
