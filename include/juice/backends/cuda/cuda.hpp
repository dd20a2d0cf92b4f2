// juice/backends/cuda/cuda.hpp
//
// The umbrella header of the CUDA backend (CMake target juice::cuda; compile with nvcc):
// juice::cuda, the Backend on an NVIDIA GPU, with its checked-call macro and error type, its GEMM
// compute precision option (gemm_precision: fp32, or bf16 or tf32 on tensor cores), the bf16 and tf32
// roundings, and the attention path option (attention_impl: the row functors or GEMMs).
// Nothing else in juice includes this header, so everything else builds and tests without CUDA. The
// portable device code it runs is also available on the CPU as juice::thrust_omp_backend
// (juice/backends/cuda/thrust_omp.hpp, target juice::thrust_omp), which needs no CUDA compiler.
#pragma once

#include "juice/backends/cuda/attention_impl.hpp"
#include "juice/backends/cuda/bf16.hpp"
#include "juice/backends/cuda/cuda_backend.hpp"
#include "juice/backends/cuda/error.hpp"
#include "juice/backends/cuda/tf32.hpp"
