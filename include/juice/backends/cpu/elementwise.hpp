// juice/backends/cpu/elementwise.hpp
//
// The Backend concept's element-wise primitives on host memory, multi-threaded with OpenMP for big
// tensors (static schedules, so results do not depend on timing): fill, scale, axpy, copy, dot
// (double accumulation), SGD and AdamW updates, and AdamW fused with zeroing the gradient
// (adamw_update_and_zero, an optional primitive optimizers use when a backend has it). Same
// semantics as juice::host's serial versions, which serve as their reference in the tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include "juice/backends/cpu/parallel.hpp"
#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"

// std::experimental::simd (libstdc++ 11+) vectorises the loops whose plain form the compiler
// cannot (see adamw_range); not under nvcc, whose front end need not parse it (CUDA sources
// include this backend as their reference).
#if !defined(__CUDACC__) && defined(__has_include)
#if __has_include(<experimental/simd>)
#include <experimental/simd>
#define JUICE_CPU_HAS_SIMD 1
#endif
#endif
#ifndef JUICE_CPU_HAS_SIMD
#define JUICE_CPU_HAS_SIMD 0
#endif

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

// AdamW on elements [i0, i1) of the arrays: the scalar loop (the reference arithmetic).
template <class T>
struct adamw_coefficients {
  T b1, b2, lr, eps, wd, c1, c2;
  explicit adamw_coefficients(const adamw_hyper& h)
      : b1(static_cast<T>(h.beta1)), b2(static_cast<T>(h.beta2)), lr(static_cast<T>(h.lr)), eps(static_cast<T>(h.eps)),
        wd(static_cast<T>(h.weight_decay)), c1(static_cast<T>(1 / h.bias_correction1)), c2(static_cast<T>(1 / h.bias_correction2)) {}
};

// With Zero, each gradient element is set to zero once read (adamw_update_and_zero).
template <bool Zero, class T, class G>
void adamw_scalar(T* pv, G* pg, T* pm, T* ps, std::ptrdiff_t i0, std::ptrdiff_t i1, const adamw_coefficients<T>& k) {
  for (std::ptrdiff_t i = i0; i < i1; ++i) {
    const T g = pg[i];
    if constexpr (Zero) pg[i] = T(0);
    const T mi = k.b1 * pm[i] + (1 - k.b1) * g;
    const T vi = k.b2 * ps[i] + (1 - k.b2) * g * g;
    pm[i] = mi;
    ps[i] = vi;
    pv[i] -= k.lr * ((mi * k.c1) / (std::sqrt(vi * k.c2) + k.eps) + k.wd * pv[i]);
  }
}

// The same on [i0, i1), vectorised. A plain loop does not vectorise: std::sqrt may set errno, so
// without -fno-math-errno (which a header cannot impose on its users) the compiler keeps one sqrtf
// call per element, which made this memory-bound pass about twice as slow as the memory allows
// (the 124M-parameter AdamW step: 0.26 s instead of 0.14 s). std::experimental::simd's sqrt is
// the exact (correctly rounded) instruction, so the results are those of the scalar loop, up to
// the compiler's choice of fused multiply-adds.
template <bool Zero, class T, class G>
void adamw_range(T* pv, G* pg, T* pm, T* ps, std::ptrdiff_t i0, std::ptrdiff_t i1, const adamw_coefficients<T>& k) {
#if JUICE_CPU_HAS_SIMD
  namespace stdx = std::experimental;
  using vec = stdx::native_simd<T>;
  constexpr auto w = static_cast<std::ptrdiff_t>(vec::size());
  const vec b1(k.b1), b2(k.b2), lr(k.lr), eps(k.eps), wd(k.wd), c1(k.c1), c2(k.c2), one_b1(1 - k.b1), one_b2(1 - k.b2);
  std::ptrdiff_t i = i0;
  for (; i + w <= i1; i += w) {
    const vec g(pg + i, stdx::element_aligned);
    if constexpr (Zero) vec(T(0)).copy_to(pg + i, stdx::element_aligned);
    const vec mi = b1 * vec(pm + i, stdx::element_aligned) + one_b1 * g;
    const vec vi = b2 * vec(ps + i, stdx::element_aligned) + one_b2 * g * g;
    mi.copy_to(pm + i, stdx::element_aligned);
    vi.copy_to(ps + i, stdx::element_aligned);
    vec value(pv + i, stdx::element_aligned);
    value -= lr * ((mi * c1) / (stdx::sqrt(vi * c2) + eps) + wd * value);
    value.copy_to(pv + i, stdx::element_aligned);
  }
  adamw_scalar<Zero>(pv, pg, pm, ps, i, i1, k);
#else
  adamw_scalar<Zero>(pv, pg, pm, ps, i0, i1, k);
#endif
}

// One contiguous chunk per thread (a static schedule: results do not depend on timing).
template <bool Zero, class T, class G>
void adamw_threads(std::span<T> value, std::span<G> grad, std::span<T> m, std::span<T> v, const adamw_hyper& h,
                   const char* what) {
  check_same_size(value.size(), grad.size(), what);
  check_same_size(value.size(), m.size(), what);
  check_same_size(value.size(), v.size(), what);
  const auto n = static_cast<std::ptrdiff_t>(value.size());
  const adamw_coefficients<T> k(h);
  [[maybe_unused]] const int threads = n > parallel_threshold ? num_threads() : 1;
  JUICE_OMP(omp parallel num_threads(threads) if (threads > 1))
  {
#if defined(_OPENMP)
    const std::ptrdiff_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const std::ptrdiff_t t = 0, nt = 1;
#endif
    adamw_range<Zero>(value.data(), grad.data(), m.data(), v.data(), n * t / nt, n * (t + 1) / nt, k);
  }
}

template <class T>
void adamw_update(std::span<T> value, std::span<const T> grad, std::span<T> m, std::span<T> v,
                  const adamw_hyper& h) {
  adamw_threads<false>(value, grad, m, v, h, "adamw_update");
}

// adamw_update, then grad = 0, in one sweep: for a caller that would zero the gradients before its
// next backward pass anyway (juice::detail::gradient_step), this saves that separate pass over
// them; the extra stores hit cache lines the update has just read.
template <class T>
void adamw_update_and_zero(std::span<T> value, std::span<T> grad, std::span<T> m, std::span<T> v, const adamw_hyper& h) {
  adamw_threads<true>(value, grad, m, v, h, "adamw_update_and_zero");
}

}  // namespace juice::cpu_kernels
