# The helpers of the command-line tests (tests/cli.cmake, cli_rnn.cmake, cli_checkpoint.cmake), which
# include this file with CUDARTS set to the binary.

# Runs cudarts; checks the exit code and, for exit codes 2 (bad input) and 3 (a diverged run),
# that stderr is exactly one line containing `must_contain`.
function(expect_exit code must_contain)
  execute_process(COMMAND "${CUDARTS}" ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  string(REPLACE ";" " " shown "${ARGN}")
  if(NOT rc EQUAL code)
    message(FATAL_ERROR "cudarts ${shown}: exit ${rc}, expected ${code}\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(code EQUAL 2 OR code EQUAL 3)
    string(STRIP "${err}" stripped)
    string(FIND "${stripped}" "\n" newline)
    if(NOT newline EQUAL -1 OR stripped STREQUAL "")
      message(FATAL_ERROR "cudarts ${shown}: expected one line on stderr, got:\n${err}")
    endif()
    string(FIND "${err}" "${must_contain}" found)
    if(found EQUAL -1)
      message(FATAL_ERROR "cudarts ${shown}: stderr does not name '${must_contain}':\n${err}")
    endif()
  endif()
  message(STATUS "ok: cudarts ${shown} -> exit ${rc}")
endfunction()

# Runs cudarts and checks that stdout matches `regex`.
function(expect_stdout regex)
  execute_process(COMMAND "${CUDARTS}" ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  string(REPLACE ";" " " shown "${ARGN}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cudarts ${shown}: exit ${rc}\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(NOT out MATCHES "${regex}")
    message(FATAL_ERROR "cudarts ${shown}: stdout does not match '${regex}':\n${out}")
  endif()
  message(STATUS "ok: cudarts ${shown} -> matches ${regex}")
endfunction()

# Fails unless every path after `dir` exists under it; `what` names the command that writes them.
function(expect_files what dir)
  foreach(f ${ARGN})
    if(NOT EXISTS "${dir}/${f}")
      message(FATAL_ERROR "${what} did not write ${dir}/${f}")
    endif()
  endforeach()
endfunction()
