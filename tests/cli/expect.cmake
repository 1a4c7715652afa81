# Runs `jobq` with the arguments after "--", in an empty directory, and checks that it exits with
# EXPECT_EXIT, that its output (stdout and stderr) matches the regex EXPECT_OUTPUT, and that it
# wrote nothing.
include(${CMAKE_CURRENT_LIST_DIR}/../script_support.cmake)

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
list(JOIN args " " shown)
run_and_expect(${WORK_DIR} "jobq ${shown}" ${JOBQ_CLI} ${args})
file(GLOB written ${WORK_DIR}/*)
if(written)
  message(FATAL_ERROR "jobq wrote ${written}")
endif()
