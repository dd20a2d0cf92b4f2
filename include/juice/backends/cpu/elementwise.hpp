// juice/backends/cpu/elementwise.hpp
//
// The Backend concept's element-wise primitives on host memory, multi-threaded with OpenMP for big
// tensors (static schedules, so results do not depend on timing): fill, scale, axpy, copy, dot
// (double accumulation), SGD and AdamW updates. Same semantics as juice::host's serial versions,
// which serve as their reference in the tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include "juice/backends/cpu/parallel.hpp"
#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"

namespace juice::cpu_kernels {

inline void check_same_size(std::size_t a, std::size_t b, const char* what) {
  if (a != b)
    throw invalid_argument(std::string("juice::cpu::") + what + ": the views have different sizes (" +
                           std::to_string(a) + " and " + std::to_string(b) + ").");
}

template <class T>
void fill(std::span<T> x, T a) {
  const auto n = static_cast<std::ptrdiff_t>(x.size());
  T* p = x.data();
  JUICE_OMP(omp parallel for simd schedule(static) if (n > parallel_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) p[i] = a;
}

template <class T>
void scale(std::span<T> x, T a) {
  const auto n = static_cast<std::ptrdiff_t>(x.size());
  T* p = x.data();
  JUICE_OMP(omp parallel for simd schedule(static) if (n > parallel_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) p[i] *= a;
}

// x += a y
template <class T>
void axpy(T a, std::span<const T> y, std::span<T> x) {
  check_same_size(x.size(), y.size(), "axpy");
  const auto n = static_cast<std::ptrdiff_t>(x.size());
  T* px = x.data();
  const T* py = y.data();
  JUICE_OMP(omp parallel for simd schedule(static) if (n > parallel_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) px[i] += a * py[i];
}

template <class T>
void copy(std::span<const T> y, std::span<T> x) {
  check_same_size(x.size(), y.size(), "copy");
  const auto n = static_cast<std::ptrdiff_t>(x.size());
  T* px = x.data();
  const T* py = y.data();
  JUICE_OMP(omp parallel for simd schedule(static) if (n > parallel_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) px[i] = py[i];
}

template <class T>
double dot(std::span<const T> y, std::span<const T> z) {
  check_same_size(y.size(), z.size(), "dot");
  const auto n = static_cast<std::ptrdiff_t>(y.size());
  const T* py = y.data();
  const T* pz = z.data();
  double s = 0;
  JUICE_OMP(omp parallel for simd schedule(static) reduction(+ : s) if (n > parallel_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) s += static_cast<double>(py[i]) * static_cast<double>(pz[i]);
  return s;
}

template <class T>
void sgd_update(std::span<T> value, std::span<const T> grad, const sgd_hyper& h) {
  check_same_size(value.size(), grad.size(), "sgd_update");
  const auto n = static_cast<std::ptrdiff_t>(value.size());
  T* v = value.data();
  const T* g = grad.data();
  const T lr = static_cast<T>(h.lr), wd = static_cast<T>(h.weight_decay);
  JUICE_OMP(omp parallel for simd schedule(static) if (n > parallel_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) v[i] -= lr * (g[i] + wd * v[i]);
}

template <class T>
void adamw_update(std::span<T> value, std::span<const T> grad, std::span<T> m, std::span<T> v,
                  const adamw_hyper& h) {
  check_same_size(value.size(), grad.size(), "adamw_update");
  check_same_size(value.size(), m.size(), "adamw_update");
  check_same_size(value.size(), v.size(), "adamw_update");
  const auto n = static_cast<std::ptrdiff_t>(value.size());
  T* pv = value.data();
  T* pm = m.data();
  T* ps = v.data();
  const T* pg = grad.data();
  const T b1 = static_cast<T>(h.beta1), b2 = static_cast<T>(h.beta2);
  const T lr = static_cast<T>(h.lr), eps = static_cast<T>(h.eps), wd = static_cast<T>(h.weight_decay);
  const T c1 = static_cast<T>(1 / h.bias_correction1), c2 = static_cast<T>(1 / h.bias_correction2);
  JUICE_OMP(omp parallel for simd schedule(static) if (n > parallel_threshold))
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T g = pg[i];
    const T mi = b1 * pm[i] + (1 - b1) * g;
    const T vi = b2 * ps[i] + (1 - b2) * g * g;
    pm[i] = mi;
    ps[i] = vi;
    pv[i] -= lr * ((mi * c1) / (std::sqrt(vi * c2) + eps) + wd * pv[i]);
  }
}

}  // namespace juice::cpu_kernels
