# Runs `jobq` with the arguments after "--", in an empty directory, and checks that it exits with
# EXPECT_EXIT, that its output (stdout and stderr) matches the regex EXPECT_OUTPUT, and that it
# wrote nothing.
include(${CMAKE_CURRENT_LIST_DIR}/../script_arguments.cmake)

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${JOBQ_CLI} ${args} WORKING_DIRECTORY ${WORK_DIR}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
list(JOIN args " " shown)
message(STATUS "jobq ${shown}\nexit ${result}\n${out}${err}")
if(NOT result STREQUAL EXPECT_EXIT)
  message(FATAL_ERROR "expected exit ${EXPECT_EXIT}, got ${result}")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT_OUTPUT}")
  message(FATAL_ERROR "the output does not match '${EXPECT_OUTPUT}'")
endif()
file(GLOB written ${WORK_DIR}/*)
if(written)
  message(FATAL_ERROR "jobq wrote ${written}")
endif()
