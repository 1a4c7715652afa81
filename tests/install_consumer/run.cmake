# Installs the built jobq into a scratch prefix, then configures, builds and runs an outside
# project that uses find_package(jobq).
file(REMOVE_RECURSE ${JOBQ_WORK_DIR})
set(prefix ${JOBQ_WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${JOBQ_BINARY_DIR} --prefix ${prefix}
  RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "cmake --install failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${JOBQ_CONSUMER_SOURCE} -B ${JOBQ_WORK_DIR}/build
  -G ${CMAKE_GENERATOR} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "configuring the consumer failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${JOBQ_WORK_DIR}/build RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "building the consumer failed")
endif()
execute_process(COMMAND ${JOBQ_WORK_DIR}/build/consumer RESULT_VARIABLE result OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(result OR NOT out MATCHES "consumer ran 3 jobs")
  message(FATAL_ERROR "the consumer did not run its jobs")
endif()
