# Finds NCCL (nccl.h and libnccl) and defines the imported target NCCL::nccl. Used by juice's own
# build (JUICE_ENABLE_NCCL) and installed beside juiceConfig.cmake, which includes it so that an
# installed juice::nccl finds the library again on the consumer's machine. NCCL ships with the CUDA
# toolkit on our machines (/usr/local/cuda) and as NVIDIA's libnccl-dev package elsewhere; NCCL_HOME
# (environment) or JUICE_NCCL_INCLUDE_DIR / JUICE_NCCL_LIBRARY (cache) point at another install.
# Sets JUICE_NCCL_FOUND. Needs CUDAToolkit found first (its directories are the first hints).
set(_juice_nccl_hints)
if(DEFINED ENV{NCCL_HOME})
  list(APPEND _juice_nccl_hints $ENV{NCCL_HOME})
endif()
if(CUDAToolkit_LIBRARY_ROOT)
  list(APPEND _juice_nccl_hints ${CUDAToolkit_LIBRARY_ROOT})
endif()
set(_juice_nccl_include_hints)
foreach(_d ${CUDAToolkit_INCLUDE_DIRS})
  list(APPEND _juice_nccl_include_hints ${_d})
endforeach()
find_path(JUICE_NCCL_INCLUDE_DIR nccl.h HINTS ${_juice_nccl_include_hints} ${_juice_nccl_hints}
          PATH_SUFFIXES include)
find_library(JUICE_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ${_juice_nccl_hints}
             PATH_SUFFIXES lib64 lib)
if(JUICE_NCCL_INCLUDE_DIR AND JUICE_NCCL_LIBRARY AND EXISTS "${JUICE_NCCL_INCLUDE_DIR}/nccl.h" AND EXISTS "${JUICE_NCCL_LIBRARY}")
  set(JUICE_NCCL_FOUND TRUE)
  if(NOT TARGET NCCL::nccl)
    add_library(NCCL::nccl UNKNOWN IMPORTED)
    set_target_properties(NCCL::nccl PROPERTIES
      IMPORTED_LOCATION "${JUICE_NCCL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${JUICE_NCCL_INCLUDE_DIR}")
  endif()
else()
  set(JUICE_NCCL_FOUND FALSE)
endif()
