// juice/backends/cuda/launch.hpp
//
// The one way the portable layer runs device code: for_each_index(exec, n, f) calls f(i) for every
// i in [0, n) through thrust::for_each_n over a counting iterator, on whatever system `exec` names
// (thrust::cuda::par_nosync.on(stream) for juice::cuda, thrust::omp::par for the OpenMP backend).
// Thrust generates the kernel, so the functor is the whole of the device code; tuned kernels can sit
// beside a functor later and be tested against it.
#pragma once

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include "juice/backends/cuda/config.hpp"

namespace juice::device_kernels {

template <class Exec, class F>
void for_each_index(Exec&& exec, index n, F f) {
  if (n <= 0) return;
  thrust::for_each_n(exec, thrust::counting_iterator<index>(0), n, f);
}

}  // namespace juice::device_kernels
