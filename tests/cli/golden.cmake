# Runs `jobq make:job` for both ways of naming a job (a class name, a category:action type name)
# into a directory that does not exist yet, and compares each header byte for byte with the one
# under tests/golden/. After an intended change to the template, regenerate the golden files:
#   jobq make:job SendWelcomeEmail --queue emails --out tests/golden --force
#   jobq make:job reports:generate --queue reports --out tests/golden --force
# and review their diff.
file(REMOVE_RECURSE ${WORK_DIR})
set(out_dir ${WORK_DIR}/not/yet/there)

function(check_generated header registration)
  execute_process(COMMAND ${JOBQ_CLI} make:job ${ARGN} --out ${out_dir}
    RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  list(JOIN ARGN " " args)
  message(STATUS "jobq make:job ${args}\n${out}${err}")
  if(result)
    message(FATAL_ERROR "jobq make:job ${args} exited with ${result}")
  endif()
  foreach(line "wrote ${out_dir}/${header}" "${registration}")
    string(FIND "${out}" "${line}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "jobq make:job ${args} did not print '${line}'")
    endif()
  endforeach()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${out_dir}/${header} ${GOLDEN_DIR}/${header}
    RESULT_VARIABLE different)
  if(different)
    find_program(DIFF diff)
    if(DIFF)
      execute_process(COMMAND ${DIFF} -u ${GOLDEN_DIR}/${header} ${out_dir}/${header})
    endif()
    message(FATAL_ERROR "${out_dir}/${header} differs from ${GOLDEN_DIR}/${header}")
  endif()
endfunction()

check_generated(send_welcome_email.hpp "auto& send_welcome_email = queues.emplace_job<SendWelcomeEmail>();"
  SendWelcomeEmail --queue emails)
check_generated(generate_reports.hpp "auto& generate_reports = queues.emplace_job<GenerateReports>();"
  reports:generate --queue=reports)
