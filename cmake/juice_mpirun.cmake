# juice_mpirun_command(<out-var> <ranks>): the launch line of the tests that run under MPI (label
# mpi): mpiexec -n <ranks>, and for Open MPI the flags a container without a network and a test
# machine with few cores need: more ranks than cores (--oversubscribe), root allowed
# (--allow-run-as-root), shared-memory and self transports only, no single-copy mechanism (ptrace is
# usually forbidden in containers).
# Under LeakSanitizer, the ranks take tests/support/lsan-openmpi.supp (Open MPI's own allocations,
# kept until exit, are not juice's leaks); the variables are inert in other builds.
function(juice_mpirun_command out ranks)
  set(_cmd ${MPIEXEC_EXECUTABLE})
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _version ERROR_QUIET)
  if(_version MATCHES "Open MPI|OpenRTE")
    list(APPEND _cmd --oversubscribe --allow-run-as-root --mca btl self,vader --mca btl_vader_single_copy_mechanism none
         --mca mca_base_component_disable_dlclose 1
         -x "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/support/lsan-openmpi.supp:fast_unwind_on_malloc=0")
  endif()
  list(APPEND _cmd ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${MPIEXEC_PREFLAGS})
  set(${out} ${_cmd} PARENT_SCOPE)
endfunction()
