// juice/backends/cpu/explicit_instantiation.hpp
//
// The CPU kernels compiled once per program instead of once per translation unit. Every kernel of
// juice::cpu_kernels is a function template, so each source file that runs a transformer on
// juice::cpu instantiates and optimises all of them for float and double again: about half of the
// compile time of such a file (docs/development.md). A program with many such files can compile
// them once:
//   - every translation unit: compile with JUICE_CPU_EXTERN_TEMPLATES defined; juice/backends/cpu/
//     cpu.hpp then declares the float and double kernels as explicit instantiations made elsewhere
//     (extern template), so they are neither instantiated nor optimised there;
//   - exactly one translation unit of the program (with the same flags, OpenMP included): include
//     juice/backends/cpu/instantiate.hpp, which defines them.
// Without JUICE_CPU_EXTERN_TEMPLATES nothing changes: the library stays header-only. Kernels of other
// element types, and any kernel missing from the list below, are instantiated where they are used
// as usual. The juice tool and the test suite build this way (tools/cpu_kernels/cpu_kernels.cpp).
#pragma once

#include <cstddef>
#include <span>

#include "juice/backends/cpu/attention.hpp"
#include "juice/backends/cpu/elementwise.hpp"
#include "juice/backends/cpu/embedding.hpp"
#include "juice/backends/cpu/gelu.hpp"
#include "juice/backends/cpu/gelu_exact.hpp"
#include "juice/backends/cpu/gemm.hpp"
#include "juice/backends/cpu/layernorm.hpp"
#include "juice/backends/cpu/lm_head.hpp"
#include "juice/backends/cpu/residual.hpp"
#include "juice/backends/cpu/rmsnorm.hpp"
#include "juice/backends/cpu/rotary.hpp"
#include "juice/backends/cpu/sampling.hpp"
#include "juice/backends/cpu/swiglu.hpp"

// JUICE_CPU_KERNEL_INSTANTIATIONS(PREFIX, T): one explicit instantiation per kernel of element type T,
// each preceded by PREFIX (`extern template` declares, `template` defines). Used at namespace juice.
// clang-format off
// NOLINTBEGIN(bugprone-macro-parentheses): T is a template argument, which takes no parentheses.
#define JUICE_CPU_KERNEL_INSTANTIATIONS(PREFIX, T)                                                                   \
  PREFIX void cpu_kernels::fill<T>(std::span<T>, T);                                                                \
  PREFIX void cpu_kernels::scale<T>(std::span<T>, T);                                                               \
  PREFIX void cpu_kernels::axpy<T>(T, std::span<const T>, std::span<T>);                                            \
  PREFIX void cpu_kernels::copy<T>(std::span<const T>, std::span<T>);                                               \
  PREFIX double cpu_kernels::dot<T>(std::span<const T>, std::span<const T>);                                        \
  PREFIX void cpu_kernels::sgd_update<T>(std::span<T>, std::span<const T>, const sgd_hyper&);                       \
  PREFIX void cpu_kernels::adamw_update<T>(std::span<T>, std::span<const T>, std::span<T>, std::span<T>,            \
                                           const adamw_hyper&);                                                     \
  PREFIX void cpu_kernels::adamw_update_and_zero<T>(std::span<T>, std::span<T>, std::span<T>, std::span<T>,         \
                                                    const adamw_hyper&);                                            \
  PREFIX void cpu_kernels::matmul_forward<T>(T*, const T*, const T*, const T*, std::ptrdiff_t, std::ptrdiff_t,      \
                                             std::ptrdiff_t);                                                       \
  PREFIX void cpu_kernels::matmul_backward<T>(T*, T*, T*, const T*, const T*, const T*, std::ptrdiff_t,             \
                                              std::ptrdiff_t, std::ptrdiff_t);                                      \
  PREFIX void cpu_kernels::embedding_forward<T>(T*, const int*, const int*, const T*, const T*, std::ptrdiff_t,     \
                                                std::ptrdiff_t);                                                    \
  PREFIX void cpu_kernels::embedding_backward<T>(T*, T*, const T*, const int*, const int*, std::ptrdiff_t,          \
                                                 std::ptrdiff_t);                                                   \
  PREFIX void cpu_kernels::gather_rows<T>(T*, const T*, const int*, std::ptrdiff_t, std::ptrdiff_t);                \
  PREFIX void cpu_kernels::scatter_add_rows<T>(T*, const T*, const int*, std::ptrdiff_t, std::ptrdiff_t);           \
  PREFIX void cpu_kernels::layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, std::ptrdiff_t,           \
                                                std::ptrdiff_t);                                                    \
  PREFIX void cpu_kernels::layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,      \
                                                 std::ptrdiff_t, std::ptrdiff_t);                                   \
  PREFIX void cpu_kernels::attention_forward<T>(T*, T*, const T*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t,   \
                                                std::ptrdiff_t);                                                    \
  PREFIX void cpu_kernels::attention_backward<T>(T*, const T*, const T*, const T*, const T*, std::ptrdiff_t,        \
                                                 std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t);                   \
  PREFIX void cpu_kernels::attention_cached<T>(T*, const T*, T*, T*, const int*, std::ptrdiff_t, std::ptrdiff_t,    \
                                               std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t);                     \
  PREFIX void cpu_kernels::gelu_forward<T>(T*, const T*, std::ptrdiff_t);                                           \
  PREFIX void cpu_kernels::gelu_backward<T>(T*, const T*, const T*, std::ptrdiff_t);                                \
  PREFIX void cpu_kernels::residual_forward<T>(T*, const T*, const T*, std::ptrdiff_t);                             \
  PREFIX void cpu_kernels::add_inplace<T>(T*, const T*, std::ptrdiff_t);                                            \
  PREFIX void cpu_kernels::lm_logits<T>(T*, const T*, const T*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t);    \
  PREFIX void cpu_kernels::lm_logprob_forward<T>(T*, T*, const T*, const T*, const int*, std::ptrdiff_t,            \
                                                 std::ptrdiff_t, std::ptrdiff_t);                                   \
  PREFIX void cpu_kernels::lm_logprob_backward<T>(T*, T*, T*, const T*, const T*, const int*, const T*,             \
                                                  std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t);                  \
  PREFIX void cpu_kernels::sample_tokens<T>(int*, const T*, const double*, std::ptrdiff_t, std::ptrdiff_t,          \
                                            const sampling_options&);                                               \
  PREFIX void cpu_kernels::rmsnorm_forward<T>(T*, T*, const T*, const T*, std::ptrdiff_t, std::ptrdiff_t, double);  \
  PREFIX void cpu_kernels::rmsnorm_backward<T>(T*, T*, const T*, const T*, const T*, const T*, std::ptrdiff_t,      \
                                               std::ptrdiff_t);                                                     \
  PREFIX void cpu_kernels::rotary_forward<T>(T*, const int*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t,        \
                                             std::ptrdiff_t, std::ptrdiff_t, double);                               \
  PREFIX void cpu_kernels::rotary_backward<T>(T*, const int*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t,       \
                                              std::ptrdiff_t, std::ptrdiff_t, double);                              \
  PREFIX void cpu_kernels::swiglu_forward<T>(T*, const T*, std::ptrdiff_t, std::ptrdiff_t);                         \
  PREFIX void cpu_kernels::swiglu_backward<T>(T*, const T*, const T*, std::ptrdiff_t, std::ptrdiff_t);              \
  PREFIX void cpu_kernels::gelu_exact_forward<T>(T*, const T*, std::ptrdiff_t);                                     \
  PREFIX void cpu_kernels::gelu_exact_backward<T>(T*, const T*, const T*, std::ptrdiff_t);                          \
  PREFIX void cpu_kernels::attention_forward<T>(T*, T*, const T*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t,   \
                                                std::ptrdiff_t, std::ptrdiff_t);                                    \
  PREFIX void cpu_kernels::attention_backward<T>(T*, const T*, const T*, const T*, const T*, std::ptrdiff_t,        \
                                                 std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t);   \
  PREFIX void cpu_kernels::attention_cached<T>(T*, const T*, T*, T*, const int*, std::ptrdiff_t, std::ptrdiff_t,    \
                                               std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t);
// NOLINTEND(bugprone-macro-parentheses)
// clang-format on

#if defined(JUICE_CPU_EXTERN_TEMPLATES)
namespace juice {
JUICE_CPU_KERNEL_INSTANTIATIONS(extern template, float)
JUICE_CPU_KERNEL_INSTANTIATIONS(extern template, double)
}  // namespace juice
#endif
