# `jobq make:job` refuses to replace a header that exists, leaving it as it was, unless --force.
file(REMOVE_RECURSE ${WORK_DIR})
set(header ${WORK_DIR}/send_welcome_email.hpp)

function(make_job expected_exit)
  execute_process(COMMAND ${JOBQ_CLI} make:job SendWelcomeEmail --out ${WORK_DIR} ${ARGN}
    RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "jobq make:job SendWelcomeEmail ${ARGN}\nexit ${result}\n${out}${err}")
  if(NOT result STREQUAL expected_exit)
    message(FATAL_ERROR "expected exit ${expected_exit}, got ${result}")
  endif()
  set(output "${out}${err}" PARENT_SCOPE)
endfunction()

make_job(0)
set(edited "// edited by hand\n")
file(WRITE ${header} "${edited}")

make_job(1)
if(NOT output MATCHES "send_welcome_email[.]hpp already exists; pass --force to overwrite it")
  message(FATAL_ERROR "the refusal does not say why")
endif()
file(READ ${header} content)
if(NOT content STREQUAL edited)
  message(FATAL_ERROR "the refused run changed ${header}")
endif()

make_job(0 --force)
file(READ ${header} content)
if(NOT content MATCHES "class SendWelcomeEmail {")
  message(FATAL_ERROR "--force did not rewrite ${header}")
endif()
