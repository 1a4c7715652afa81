# What the `cmake -P script -- ARGS…` test scripts share.

# `args`: the arguments after "--".
set(args)
set(after_separator FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_separator)
    list(APPEND args "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_separator TRUE)
  endif()
endforeach()

# run_and_expect(DIR LABEL COMMAND...): runs COMMAND in DIR, prints LABEL with the exit status and
# the output, and stops the script unless it exits with EXPECT_EXIT and its output (stdout and
# stderr) matches the regex EXPECT_OUTPUT.
function(run_and_expect dir label)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${dir} RESULT_VARIABLE result OUTPUT_VARIABLE out
    ERROR_VARIABLE err)
  message(STATUS "${label}\nexit ${result}\n${out}${err}")
  if(NOT result STREQUAL EXPECT_EXIT)
    message(FATAL_ERROR "expected exit ${EXPECT_EXIT}, got ${result}")
  endif()
  if(NOT "${out}${err}" MATCHES "${EXPECT_OUTPUT}")
    message(FATAL_ERROR "the output does not match '${EXPECT_OUTPUT}'")
  endif()
endfunction()
