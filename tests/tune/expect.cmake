# Runs TOOL with the arguments after "--" (OUT_DIR is passed as --out), and checks that it exits
# with EXPECT_EXIT, that its output (stdout and stderr) matches the regex EXPECT_OUTPUT, and that
# a run that got past its arguments wrote advise.csv.
include(${CMAKE_CURRENT_LIST_DIR}/../script_support.cmake)

file(REMOVE_RECURSE ${OUT_DIR})
list(JOIN args " " shown)
run_and_expect(${CMAKE_CURRENT_BINARY_DIR} "${TOOL} ${shown}" ${TOOL} ${args} --out ${OUT_DIR})
if(EXPECT_EXIT LESS 2 AND NOT EXISTS ${OUT_DIR}/advise.csv)
  message(FATAL_ERROR "no ${OUT_DIR}/advise.csv")
endif()
