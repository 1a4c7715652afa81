# Runs TOOL with the arguments after "--" (OUT_DIR is passed as --out), and checks that it exits
# with EXPECT_EXIT and that its output (stdout and stderr) matches the regex EXPECT_OUTPUT.
include(${CMAKE_CURRENT_LIST_DIR}/../script_arguments.cmake)

file(REMOVE_RECURSE ${OUT_DIR})
execute_process(COMMAND ${TOOL} ${args} --out ${OUT_DIR} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
list(JOIN args " " shown)
message(STATUS "${TOOL} ${shown}\nexit ${result}\n${out}${err}")
if(NOT result STREQUAL EXPECT_EXIT)
  message(FATAL_ERROR "expected exit ${EXPECT_EXIT}, got ${result}")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT_OUTPUT}")
  message(FATAL_ERROR "the output does not match '${EXPECT_OUTPUT}'")
endif()
if(EXPECT_EXIT LESS 2 AND NOT EXISTS ${OUT_DIR}/advise.csv)
  message(FATAL_ERROR "no ${OUT_DIR}/advise.csv")
endif()
