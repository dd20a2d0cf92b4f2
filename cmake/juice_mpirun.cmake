# juice_mpirun_command(<out-var> <ranks>): the launch line of the tests that run under MPI (label
# mpi): mpiexec -n <ranks>, and for Open MPI the flags a container without a network and a test
# machine with few cores need: more ranks than cores (--oversubscribe), root allowed
# (--allow-run-as-root), shared-memory and self transports only, no single-copy mechanism (ptrace is
# usually forbidden in containers).
function(juice_mpirun_command out ranks)
  set(_cmd ${MPIEXEC_EXECUTABLE})
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _version ERROR_QUIET)
  if(_version MATCHES "Open MPI|OpenRTE")
    list(APPEND _cmd --oversubscribe --allow-run-as-root --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
  endif()
  list(APPEND _cmd ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${MPIEXEC_PREFLAGS})
  set(${out} ${_cmd} PARENT_SCOPE)
endfunction()
