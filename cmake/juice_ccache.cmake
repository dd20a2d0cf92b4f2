# ccache as the compiler launcher of juice's own builds (C++ and CUDA), so that a rebuild, another
# build folder or another clone of the same sources compiles only what changed (docs/development.md).
#   JUICE_CCACHE  ON by default where juice is the top-level project and ccache is installed; OFF, or
#                 a CMAKE_<LANG>_COMPILER_LAUNCHER of one's own, leaves the compilers alone.
# The settings travel with each call, so no ccache configuration file is needed:
#   base_dir   paths under the checkout are hashed relative to it: two clones share entries;
#   hash_dir   off: the build folder's path (in -g builds' debug info) does not split the cache;
#   sloppiness what precompiled headers need (their creation time and the macros defined before them
#              are not part of a result).
# The cache itself is ccache's default (~/.cache/ccache, or CCACHE_DIR); its size ccache's setting.
option(JUICE_CCACHE "Use ccache as the compiler launcher when it is installed" ${JUICE_TOP_LEVEL})
if(JUICE_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(JUICE_CCACHE_PROGRAM ccache)
  if(JUICE_CCACHE_PROGRAM)
    get_filename_component(_juice_root ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
    set(_juice_launcher ${CMAKE_COMMAND} -E env CCACHE_BASEDIR=${_juice_root} CCACHE_NOHASHDIR=1
        CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime ${JUICE_CCACHE_PROGRAM})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${_juice_launcher})
    if(NOT CMAKE_CUDA_COMPILER_LAUNCHER)
      set(CMAKE_CUDA_COMPILER_LAUNCHER ${_juice_launcher})
    endif()
    message(STATUS "juice: compiling through ${JUICE_CCACHE_PROGRAM}")
  endif()
endif()
