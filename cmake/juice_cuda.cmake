# The CUDA backend's targets, never required by juice::juice:
#   juice::cuda        juice/backends/cuda/cuda.hpp on a GPU: nvcc (C++20), CUDA runtime, cuBLAS.
#                      Created when a CUDA compiler is found (JUICE_ENABLE_CUDA=AUTO, the default) or
#                      demanded with JUICE_ENABLE_CUDA=ON (an error without one); OFF skips it.
#   juice::nccl        juice/backends/cuda/nccl.hpp: juice::cuda plus NCCL, for the data-parallel
#                      gradient all-reduce (juice::nccl_communicator). JUICE_ENABLE_NCCL=AUTO (the
#                      default) creates it when juice::cuda exists and nccl.h and libnccl are found;
#                      ON makes their absence a configuration error; OFF skips it.
#   juice::thrust_omp  the same portable device code built by the C++ compiler against Thrust's
#                      OpenMP system (juice::thrust_omp_backend): needs only the toolkit's CCCL
#                      headers and OpenMP, no nvcc and no GPU, so CI runs the device code.
# AUTO only where juice is the top-level project: a project that adds juice with add_subdirectory
# gets no CUDA language enabled behind its back unless it sets JUICE_ENABLE_CUDA=ON.
if(JUICE_TOP_LEVEL)
  set(_juice_cuda_default AUTO)
else()
  set(_juice_cuda_default OFF)
endif()
set(JUICE_ENABLE_CUDA ${_juice_cuda_default} CACHE STRING
    "Build the CUDA backend target juice::cuda: AUTO (when a CUDA compiler is found; the default at top level), ON or OFF")
set_property(CACHE JUICE_ENABLE_CUDA PROPERTY STRINGS AUTO ON OFF)

set(JUICE_HAVE_CUDA OFF)
if(NOT JUICE_ENABLE_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # sm_90 (H100/H200) code plus its PTX, which newer GPUs JIT-compile.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(JUICE_HAVE_CUDA ON)
  elseif(JUICE_ENABLE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "JUICE_ENABLE_CUDA=ON but CMake found no CUDA compiler; put nvcc on the PATH or set "
                        "CMAKE_CUDA_COMPILER (e.g. /usr/local/cuda/bin/nvcc).")
  endif()
endif()

if(JUICE_HAVE_CUDA)
  add_library(juice_cuda INTERFACE)
  add_library(juice::cuda ALIAS juice_cuda)
  target_link_libraries(juice_cuda INTERFACE juice CUDA::cudart CUDA::cublas)
  # CMake 3.25 passes no C++20 flag to nvcc 13 even with CUDA_STANDARD 20; concepts need it.
  target_compile_options(juice_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
  # Everything built with nvcc (tests, benchmarks): `cmake --build <dir> --target juice_cuda_targets`.
  add_custom_target(juice_cuda_targets)
  set_target_properties(juice_cuda PROPERTIES EXPORT_NAME cuda)
  message(STATUS "juice: CUDA backend target juice::cuda (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
endif()

# NCCL for the gradient all-reduce across GPUs: optional even where CUDA is on.
set(JUICE_ENABLE_NCCL AUTO CACHE STRING
    "Build juice::nccl (the NCCL gradient all-reduce): AUTO (when juice::cuda exists and NCCL is found), ON or OFF")
set_property(CACHE JUICE_ENABLE_NCCL PROPERTY STRINGS AUTO ON OFF)
set(JUICE_HAVE_NCCL OFF)
if(JUICE_ENABLE_NCCL STREQUAL "ON" AND NOT JUICE_HAVE_CUDA)
  message(FATAL_ERROR "JUICE_ENABLE_NCCL=ON needs the CUDA backend, which is off (JUICE_ENABLE_CUDA=${JUICE_ENABLE_CUDA}, "
                      "CUDA compiler: '${CMAKE_CUDA_COMPILER}'); enable CUDA or set JUICE_ENABLE_NCCL=AUTO or OFF.")
endif()
if(JUICE_HAVE_CUDA AND NOT JUICE_ENABLE_NCCL STREQUAL "OFF")
  include(juice_find_nccl)
  if(JUICE_NCCL_FOUND)
    add_library(juice_nccl INTERFACE)
    add_library(juice::nccl ALIAS juice_nccl)
    set_target_properties(juice_nccl PROPERTIES EXPORT_NAME nccl)
    target_link_libraries(juice_nccl INTERFACE juice_cuda NCCL::nccl)
    set(JUICE_HAVE_NCCL ON)
    message(STATUS "juice: NCCL target juice::nccl (${JUICE_NCCL_LIBRARY})")
  elseif(JUICE_ENABLE_NCCL STREQUAL "ON")
    message(FATAL_ERROR "JUICE_ENABLE_NCCL=ON but NCCL was not found (nccl.h: ${JUICE_NCCL_INCLUDE_DIR}, libnccl: "
                        "${JUICE_NCCL_LIBRARY}); install it (NVIDIA's libnccl-dev), set NCCL_HOME, or set "
                        "JUICE_NCCL_INCLUDE_DIR and JUICE_NCCL_LIBRARY.")
  else()
    message(STATUS "juice: NCCL not found; no juice::nccl (the multi-GPU gradient all-reduce)")
  endif()
endif()

# Thrust's OpenMP system from the toolkit's CCCL headers.
set(_juice_cccl_hints /usr/local/cuda/include/cccl)
if(DEFINED ENV{CUDA_PATH})
  list(PREPEND _juice_cccl_hints $ENV{CUDA_PATH}/include/cccl)
endif()
if(CUDAToolkit_INCLUDE_DIRS)
  foreach(_d ${CUDAToolkit_INCLUDE_DIRS})
    list(PREPEND _juice_cccl_hints ${_d}/cccl)
  endforeach()
endif()
find_path(JUICE_CCCL_INCLUDE_DIR thrust/version.h HINTS ${_juice_cccl_hints} NO_DEFAULT_PATH)
find_package(OpenMP COMPONENTS CXX)
if(JUICE_CCCL_INCLUDE_DIR AND OpenMP_CXX_FOUND)
  add_library(juice_thrust_omp INTERFACE)
  add_library(juice::thrust_omp ALIAS juice_thrust_omp)
  target_include_directories(juice_thrust_omp SYSTEM INTERFACE ${JUICE_CCCL_INCLUDE_DIR})
  target_compile_definitions(juice_thrust_omp INTERFACE THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP)
  target_link_libraries(juice_thrust_omp INTERFACE juice OpenMP::OpenMP_CXX)
  message(STATUS "juice: Thrust OpenMP target juice::thrust_omp (CCCL headers in ${JUICE_CCCL_INCLUDE_DIR})")
endif()
