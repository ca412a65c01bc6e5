# Command-line contract of the `cudarts` binary: bad input gives exactly one line on stderr that
# names the input, and exit code 2; good input exits 0. Run by CTest as the `cli` test:
#   cmake -DCUDARTS=<path to cudarts> -DWORK=<scratch dir> -P tests/cli.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

function(expect_exit code must_contain)
  execute_process(COMMAND "${CUDARTS}" ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  string(REPLACE ";" " " shown "${ARGN}")
  if(NOT rc EQUAL code)
    message(FATAL_ERROR "cudarts ${shown}: exit ${rc}, expected ${code}\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(code EQUAL 2)
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

# Malformed safetensors files: garbage, a header length past the end, bad JSON.
file(WRITE "${WORK}/garbage.safetensors" "abc")
expect_exit(2 "garbage.safetensors" inspect "${WORK}/garbage.safetensors")
# u64 header length 0x7f (127) but only a few bytes follow
string(ASCII 127 c127)
file(WRITE "${WORK}/short.safetensors" "${c127}")
file(APPEND "${WORK}/short.safetensors" "\n\n\n\n\n\n\n{}")
expect_exit(2 "short.safetensors" inspect "${WORK}/short.safetensors")
expect_exit(2 "missing.safetensors" inspect "${WORK}/missing.safetensors")

expect_exit(2 "frobnicate" frobnicate)
expect_exit(2 "--epochs" demo --epochs 0)
expect_exit(2 "--device" demo --device gpu)
expect_exit(2 "nonsense" demo --nonsense)
expect_exit(0 "" info)
expect_exit(0 "" demo --epochs 1 --samples 16)
