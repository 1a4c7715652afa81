# Installs the built jobq into a scratch prefix, then builds the install_consumer program the way
# the README tells a project without CMake to, and runs it:
#   c++ -std=c++20 main.cpp $(pkg-config --cflags --libs jobq)
file(REMOVE_RECURSE ${JOBQ_WORK_DIR})
file(MAKE_DIRECTORY ${JOBQ_WORK_DIR})
set(prefix ${JOBQ_WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${JOBQ_BINARY_DIR} --prefix ${prefix}
  RESULT_VARIABLE result OUTPUT_QUIET)
if(result)
  message(FATAL_ERROR "cmake --install failed")
endif()

set(ENV{PKG_CONFIG_PATH} ${prefix}/${JOBQ_INSTALL_LIBDIR}/pkgconfig)
execute_process(COMMAND ${PKG_CONFIG} --modversion jobq RESULT_VARIABLE result OUTPUT_VARIABLE version
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(result OR NOT version STREQUAL JOBQ_VERSION)
  message(FATAL_ERROR "pkg-config --modversion jobq gave '${version}', expected ${JOBQ_VERSION}")
endif()

set(ENV{CXX} ${CMAKE_CXX_COMPILER})
set(ENV{PKG_CONFIG} ${PKG_CONFIG})
set(compile [["$CXX" -std=c++20 -O2 main.cpp -o consumer $("$PKG_CONFIG" --cflags --libs jobq)]])
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs jobq OUTPUT_VARIABLE flags)
message(STATUS "pkg-config --cflags --libs jobq: ${flags}")
file(COPY ${JOBQ_CONSUMER_SOURCE}/main.cpp DESTINATION ${JOBQ_WORK_DIR})
execute_process(COMMAND sh -c "${compile}" WORKING_DIRECTORY ${JOBQ_WORK_DIR} RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "${compile} failed")
endif()
execute_process(COMMAND ${JOBQ_WORK_DIR}/consumer RESULT_VARIABLE result OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(result OR NOT out MATCHES "consumer ran 3 jobs")
  message(FATAL_ERROR "the consumer did not run its jobs")
endif()
