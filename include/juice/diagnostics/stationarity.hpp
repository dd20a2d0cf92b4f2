// juice/diagnostics/stationarity.hpp
//
// Convergence diagnostics for the O(1/sqrt(TK)) claim of Li et al. (NeurIPS 2024): observers that
// record the squared gradient norms the algorithms report (IRFT's round-start estimate of
// grad l(theta_t); RFT's reward-gradient norm), their running minimum and running average, and a
// least-squares slope of log(min ||grad||^2) against log(iteration budget).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "juice/concepts/observer.hpp"
#include "juice/core/error.hpp"
#include "juice/core/events.hpp"

namespace juice {

// Which events a tracker keeps.
struct event_filter {
  std::string algorithm;          // keep events of this algorithm ("irft", "rft.reward", ...); empty = all
  bool round_start_only = false;  // keep only events with round_start (IRFT's stationarity measure)

  [[nodiscard]] bool accepts(const step_event& e) const {
    return (algorithm.empty() || e.algorithm == algorithm) && (!round_start_only || e.round_start);
  }
};

// A series of non-negative values (squared gradient norms) with its running minimum and average.
class running_series {
public:
  void push(std::size_t step, double value) {
    steps_.push_back(step);
    values_.push_back(value);
    sum_ += value;
    min_ = std::min(min_, value);
    running_min_.push_back(min_);
    running_mean_.push_back(sum_ / static_cast<double>(values_.size()));
  }

  [[nodiscard]] std::size_t size() const { return values_.size(); }
  [[nodiscard]] bool empty() const { return values_.empty(); }
  // The global steps at which the values were recorded.
  [[nodiscard]] const std::vector<std::size_t>& steps() const { return steps_; }
  [[nodiscard]] const std::vector<double>& values() const { return values_; }
  // min over the first i+1 values, for every i.
  [[nodiscard]] const std::vector<double>& running_min() const { return running_min_; }
  // mean of the first i+1 values, for every i.
  [[nodiscard]] const std::vector<double>& running_mean() const { return running_mean_; }
  // The minimum and mean of all values (+inf and NaN when empty).
  [[nodiscard]] double min() const { return min_; }
  [[nodiscard]] double mean() const {
    return values_.empty() ? std::numeric_limits<double>::quiet_NaN() : sum_ / static_cast<double>(values_.size());
  }

private:
  std::vector<std::size_t> steps_;
  std::vector<double> values_, running_min_, running_mean_;
  double sum_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
};

// An observer recording step_event::grad_norm_sq of the events its filter accepts. Pass it to an
// algorithm by reference (std::ref or a lambda) to read it afterwards, or read it through a pointer.
class stationarity_tracker {
public:
  explicit stationarity_tracker(event_filter filter = {}) : filter_(std::move(filter)) {}

  void operator()(const step_event& e) {
    if (filter_.accepts(e)) series_.push(e.global_step, e.grad_norm_sq);
  }

  [[nodiscard]] const running_series& series() const { return series_; }
  [[nodiscard]] double min() const { return series_.min(); }
  [[nodiscard]] double mean() const { return series_.mean(); }

private:
  event_filter filter_;
  running_series series_;
};

// An observer that evaluates probe() (e.g. the exact ||grad l(theta)||^2 of the current model, which
// it captures by reference) on the events its filter accepts, every `every`-th accepted event.
template <class Probe>
class probe_tracker {
public:
  probe_tracker(Probe probe, event_filter filter = {}, std::size_t every = 1)
      : probe_(std::move(probe)), filter_(std::move(filter)), every_(every == 0 ? 1 : every) {}

  void operator()(const step_event& e) {
    if (!filter_.accepts(e)) return;
    if (seen_++ % every_ == 0) series_.push(e.global_step, static_cast<double>(probe_()));
  }

  // Records probe() now (e.g. at the initial parameters) as step `step`.
  void record(std::size_t step) { series_.push(step, static_cast<double>(probe_())); }

  [[nodiscard]] const running_series& series() const { return series_; }

private:
  Probe probe_;
  event_filter filter_;
  std::size_t every_;
  std::size_t seen_ = 0;
  running_series series_;
};

static_assert(Observer<stationarity_tracker>);

// The least-squares line log y = intercept + slope log x.
struct loglog_fit {
  double slope = 0;
  double intercept = 0;
  double r_squared = 0;
};

inline loglog_fit log_log_slope(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw invalid_argument("juice::log_log_slope: x and y have different sizes.");
  if (x.size() < 2) throw invalid_argument("juice::log_log_slope: needs at least two points.");
  const auto n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  std::vector<double> lx(x.size()), ly(y.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] > 0) || !(y[i] > 0) || !std::isfinite(x[i]) || !std::isfinite(y[i]))
      throw invalid_argument("juice::log_log_slope: point " + std::to_string(i) + " (" + std::to_string(x[i]) + ", " +
                             std::to_string(y[i]) + ") is not positive and finite.");
    lx[i] = std::log(x[i]);
    ly[i] = std::log(y[i]);
    mx += lx[i] / n;
    my += ly[i] / n;
  }
  double sxx = 0, sxy = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxx += (lx[i] - mx) * (lx[i] - mx);
    sxy += (lx[i] - mx) * (ly[i] - my);
    syy += (ly[i] - my) * (ly[i] - my);
  }
  if (!(sxx > 0)) throw invalid_argument("juice::log_log_slope: all x values are equal.");
  loglog_fit f;
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  f.r_squared = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
  return f;
}

}  // namespace juice
