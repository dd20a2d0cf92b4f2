// juice/backends/cuda/elementwise.cuh
//
// The Backend concept's element-wise primitives as device functors (one element per call): fill,
// scale, axpy (x += a y), copy, SGD and AdamW updates, and the inner product (double accumulation,
// a Thrust transform-reduce) that the gradient's global norm and clip are built on. Same
// arithmetic, in the same order per element, as juice::cpu's loops (juice/backends/cpu/elementwise.hpp),
// which are the reference in the tests.
#pragma once

#include <cmath>

#include "juice/backends/cuda/launch.hpp"
#include "juice/backends/cuda/reduce.cuh"
#include "juice/core/parameter.hpp"

namespace juice::device_kernels {

// x(n) = a
template <class T>
struct fill_fn {
  T* x;
  T a;
  JUICE_HOST_DEVICE void operator()(index i) const { x[i] = a; }
};

// x(n) *= a
template <class T>
struct scale_fn {
  T* x;
  T a;
  JUICE_HOST_DEVICE void operator()(index i) const { x[i] *= a; }
};

// x(n) += a y(n)
template <class T>
struct axpy_fn {
  T* x;
  const T* y;
  T a;
  JUICE_HOST_DEVICE void operator()(index i) const { x[i] += a * y[i]; }
};

// x(n) = y(n)
template <class T>
struct copy_fn {
  T* x;
  const T* y;
  JUICE_HOST_DEVICE void operator()(index i) const { x[i] = y[i]; }
};

// y[i] z[i] in double, the summand of dot()
template <class T>
struct product_fn {
  const T* y;
  const T* z;
  JUICE_HOST_DEVICE double operator()(index i) const { return static_cast<double>(y[i]) * static_cast<double>(z[i]); }
};

// value -= lr (grad + wd value)
template <class T>
struct sgd_fn {
  T* value;
  const T* grad;
  T lr, wd;
  JUICE_HOST_DEVICE void operator()(index i) const { value[i] -= lr * (grad[i] + wd * value[i]); }
};

// AdamW with decoupled weight decay; c1 = 1/bias_correction1, c2 = 1/bias_correction2.
template <class T>
struct adamw_fn {
  T* value;
  const T* grad;
  T* m;
  T* v;
  T b1, b2, lr, eps, wd, c1, c2;
  JUICE_HOST_DEVICE void operator()(index i) const {
    const T g = grad[i];
    const T mi = b1 * m[i] + (1 - b1) * g;
    const T vi = b2 * v[i] + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    value[i] -= lr * ((mi * c1) / (std::sqrt(vi * c2) + eps) + wd * value[i]);
  }
};

// --- launchers ---

template <class Exec, class T>
void fill(Exec&& exec, T* x, index n, T a) { for_each_index(exec, n, fill_fn<T>{x, a}); }

template <class Exec, class T>
void scale(Exec&& exec, T* x, index n, T a) { for_each_index(exec, n, scale_fn<T>{x, a}); }

template <class Exec, class T>
void axpy(Exec&& exec, T a, const T* y, T* x, index n) { for_each_index(exec, n, axpy_fn<T>{x, y, a}); }

template <class Exec, class T>
void copy(Exec&& exec, const T* y, T* x, index n) { for_each_index(exec, n, copy_fn<T>{x, y}); }

// *result = sum_i y[i] z[i] in double, on the device (n >= 1); scratch holds reduce_scratch_size(n).
template <class Exec, class T>
void dot(Exec&& exec, double* result, double* scratch, const T* y, const T* z, index n) {
  reduce_sum(exec, result, scratch, product_fn<T>{y, z}, n);
}

template <class Exec, class T>
void sgd_update(Exec&& exec, T* value, const T* grad, index n, const sgd_hyper& h) {
  for_each_index(exec, n, sgd_fn<T>{value, grad, static_cast<T>(h.lr), static_cast<T>(h.weight_decay)});
}

template <class Exec, class T>
void adamw_update(Exec&& exec, T* value, const T* grad, T* m, T* v, index n, const adamw_hyper& h) {
  for_each_index(exec, n,
                 adamw_fn<T>{value, grad, m, v, static_cast<T>(h.beta1), static_cast<T>(h.beta2), static_cast<T>(h.lr),
                             static_cast<T>(h.eps), static_cast<T>(h.weight_decay),
                             static_cast<T>(1 / h.bias_correction1), static_cast<T>(1 / h.bias_correction2)});
}

}  // namespace juice::device_kernels
