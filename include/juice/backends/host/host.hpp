// juice/backends/host/host.hpp
//
// juice::host, the Backend for plain host memory: std::vector buffers, std::span views, serial
// element-wise primitives. The tabular models use it; the CPU transformer backend builds on the same
// memory space and adds its layer primitives.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "juice/concepts/backend.hpp"
#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"

namespace juice {

struct host {
  template <class T> using buffer = std::vector<T>;
  template <class T> using view = std::span<T>;
  template <class T> using const_view = std::span<const T>;

  static constexpr std::string_view name = "host";

  template <class T>
  static buffer<T> allocate(std::size_t n) { return buffer<T>(n, T(0)); }

  template <class T>
  static view<T> view_of(buffer<T>& b) { return view<T>(b); }

  template <class T>
  static void fill(view<T> x, T a) {
    for (T& e : x) e = a;
  }

  template <class T>
  static void scale(view<T> x, T a) {
    for (T& e : x) e *= a;
  }

  template <class T>
  static void axpy(T a, const_view<T> y, view<T> x) {
    check_same_size(x.size(), y.size(), "axpy");
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += a * y[i];
  }

  template <class T>
  static void copy(const_view<T> y, view<T> x) {
    check_same_size(x.size(), y.size(), "copy");
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = y[i];
  }

  template <class T>
  static double dot(const_view<T> y, const_view<T> z) {
    check_same_size(y.size(), z.size(), "dot");
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * static_cast<double>(z[i]);
    return s;
  }

  template <class T>
  static void sgd_update(view<T> value, const_view<T> grad, const sgd_hyper& h) {
    check_same_size(value.size(), grad.size(), "sgd_update");
    for (std::size_t i = 0; i < value.size(); ++i)
      value[i] -= static_cast<T>(h.lr * (static_cast<double>(grad[i]) + h.weight_decay * static_cast<double>(value[i])));
  }

  template <class T>
  static void adamw_update(view<T> value, const_view<T> grad, view<T> m, view<T> v, const adamw_hyper& h) {
    check_same_size(value.size(), grad.size(), "adamw_update");
    check_same_size(value.size(), m.size(), "adamw_update");
    check_same_size(value.size(), v.size(), "adamw_update");
    const T b1 = static_cast<T>(h.beta1), b2 = static_cast<T>(h.beta2);
    const T lr = static_cast<T>(h.lr), eps = static_cast<T>(h.eps), wd = static_cast<T>(h.weight_decay);
    const T c1 = static_cast<T>(1 / h.bias_correction1), c2 = static_cast<T>(1 / h.bias_correction2);
    for (std::size_t i = 0; i < value.size(); ++i) {
      const T g = grad[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      value[i] -= lr * ((m[i] * c1) / (std::sqrt(v[i] * c2) + eps) + wd * value[i]);
    }
  }

private:
  static void check_same_size(std::size_t a, std::size_t b, const char* what) {
    if (a != b)
      throw invalid_argument(std::string("juice::host::") + what + ": the views have different sizes (" +
                             std::to_string(a) + " and " + std::to_string(b) + ").");
  }
};

static_assert(Backend<host>, "juice::host must satisfy juice::Backend");

}  // namespace juice
