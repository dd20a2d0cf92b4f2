cmake_minimum_required(VERSION 3.20)
# Every floating-point option of every juice command refuses NaN and the infinities.
# The commands and their options are read from --help (CLI11 lists a float option as
# "--name FLOAT..."), so an option added later is checked too. For each option and each of nan, inf,
# -inf and 1e999 (which overflows to inf), `juice <command> --option <value>` must exit non-zero with
# one stderr line "juice: error: --option: <value> is not a finite number" (refused while the
# command line is read, before the command's own checks or any work).

function(help_of out)
  execute_process(COMMAND ${JUICE} ${ARGN} --help RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "juice ${ARGN} --help exited ${rc}: ${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# The subcommand names listed after "Subcommands:" in a help text.
function(subcommands_of out text)
  set(names "")
  string(FIND "${text}" "Subcommands:" at)
  if(at GREATER -1)
    string(SUBSTRING "${text}" ${at} -1 rest)
    string(REGEX MATCHALL "\n  [a-z][a-z0-9-]*" found "${rest}")
    foreach(f IN LISTS found)
      string(STRIP "${f}" f)
      list(APPEND names "${f}")
    endforeach()
  endif()
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

help_of(top)
subcommands_of(commands "${top}")
set(paths "")
foreach(c IN LISTS commands)
  help_of(h ${c})
  subcommands_of(subs "${h}")
  if(subs)
    foreach(s IN LISTS subs)
      list(APPEND paths "${c}:${s}")
    endforeach()
  else()
    list(APPEND paths "${c}")
  endif()
endforeach()

set(checked 0)
foreach(p IN LISTS paths)
  string(REPLACE ":" ";" cmd "${p}")
  help_of(h ${cmd})
  string(REGEX MATCHALL "\n +(-[A-Za-z],)?--[a-z0-9-]+ FLOAT" lines "${h}")
  foreach(l IN LISTS lines)
    string(REGEX REPLACE ".*(--[a-z0-9-]+) FLOAT" "\\1" opt "${l}")
    foreach(v nan inf -inf 1e999)
      execute_process(COMMAND ${JUICE} ${cmd} ${opt} ${v} RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
      string(REGEX REPLACE "\n$" "" e "${e}")
      if(rc EQUAL 0 OR NOT o STREQUAL "" OR NOT e STREQUAL "juice: error: ${opt}: ${v} is not a finite number")
        message(FATAL_ERROR "juice ${cmd} ${opt} ${v}: exit ${rc}, stderr: ${e}")
      endif()
    endforeach()
    math(EXPR checked "${checked} + 1")
  endforeach()
endforeach()
# train's --lr, --beta, --weight-decay, --max-grad-norm, ... alone are more than 5: finding fewer means
# the help format changed and this test checks nothing.
if(checked LESS 30)
  message(FATAL_ERROR "found only ${checked} float options in the help texts of ${paths}")
endif()
message(STATUS "${checked} float options of ${paths} refuse nan, inf, -inf and 1e999")
