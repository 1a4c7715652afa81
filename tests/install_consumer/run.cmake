# Installs the built jobq into a scratch prefix once, then builds the outside program main.cpp
# against it in each way a user may build it, and runs each build. The public headers describe
# payload structs to the library, which binds and serializes them, so every build type, flag set
# and compiler of the consumer must agree with the one library build.
#
# Variants: CMake (find_package) in Debug, with no build type, RelWithDebInfo, Release at
# -O3 -Wall -Wextra -Werror, and clang++-14; pkg-config alone at -O0; the console through the
# jobq::console component (CMake, Debug) and jobq-console.pc (pkg-config, -O0); then a durable
# queue through the jobq::redis component (CMake, Debug) and jobq-redis.pc (pkg-config, -O0).
file(REMOVE_RECURSE ${JOBQ_WORK_DIR})
file(MAKE_DIRECTORY ${JOBQ_WORK_DIR})
set(prefix ${JOBQ_WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${JOBQ_BINARY_DIR} --prefix ${prefix}
  RESULT_VARIABLE result OUTPUT_QUIET)
if(result)
  message(FATAL_ERROR "cmake --install failed")
endif()
# CMake takes a default build type from the environment; "no build type" must mean none.
unset(ENV{CMAKE_BUILD_TYPE})

# Runs one variant's program: it must exit 0 and report its jobs.
function(run_consumer variant program)
  execute_process(COMMAND ${program} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out
    TIMEOUT 60)
  string(STRIP "${out}" out)
  message(STATUS "[${variant}] ${out}")
  if(result OR NOT out MATCHES "consumer ran 3 jobs")
    message(FATAL_ERROR "[${variant}] the consumer failed (${result})")
  endif()
endfunction()

# A CMake variant: a fresh build directory, the cache arguments given, build, run.
function(cmake_variant variant)
  string(REPLACE ";" " " args "${ARGN}")
  message(STATUS "[${variant}] find_package(jobq) ${args}")
  set(build ${JOBQ_WORK_DIR}/${variant})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${JOBQ_CONSUMER_SOURCE} -B ${build} -G ${CMAKE_GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(result)
    message(FATAL_ERROR "[${variant}] configuring the consumer failed:\n${out}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${build} RESULT_VARIABLE result OUTPUT_VARIABLE out
    ERROR_VARIABLE out)
  if(result)
    message(FATAL_ERROR "[${variant}] building the consumer failed:\n${out}")
  endif()
  run_consumer(${variant} ${build}/consumer)
endfunction()

# Stops the matrix with MESSAGE, after calling CLEANUP (a function, or NONE).
function(consumer_build_failed cleanup message)
  if(NOT cleanup STREQUAL NONE)
    cmake_language(CALL ${cleanup})
  endif()
  message(FATAL_ERROR "${message}")
endfunction()

# A component's consumer, ${JOBQ_CONSUMER_SOURCE}/DIR: CMake in Debug with the library's compiler,
# built into ${JOBQ_WORK_DIR}/VARIANT. On failure it calls CLEANUP (a function, or NONE) and stops.
function(build_cmake_consumer variant dir cleanup)
  set(build ${JOBQ_WORK_DIR}/${variant})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${JOBQ_CONSUMER_SOURCE}/${dir} -B ${build} -G ${CMAKE_GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${JOBQ_CXX} -DCMAKE_BUILD_TYPE=Debug
    RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result)
    execute_process(COMMAND ${CMAKE_COMMAND} --build ${build} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  endif()
  if(result)
    consumer_build_failed(${cleanup} "[${variant}] building ${dir} failed:\n${out}")
  endif()
endfunction()

# ${JOBQ_CONSUMER_SOURCE}/DIR/main.cpp compiled at -O0 with `pkg-config --cflags --libs MODULE`,
# as the README tells a project without CMake to build, into ${JOBQ_WORK_DIR}/VARIANT/consumer.
function(build_pkg_config_consumer variant dir module cleanup)
  set(ENV{CXX} ${JOBQ_CXX})
  set(ENV{PKG_CONFIG} ${PKG_CONFIG})
  set(ENV{PKG_CONFIG_PATH} ${prefix}/${JOBQ_INSTALL_LIBDIR}/pkgconfig)
  set(compile "\"$CXX\" -std=c++20 -O0 main.cpp -o consumer $(\"$PKG_CONFIG\" --cflags --libs ${module})")
  set(build ${JOBQ_WORK_DIR}/${variant})
  file(COPY ${JOBQ_CONSUMER_SOURCE}/${dir}/main.cpp DESTINATION ${build})
  execute_process(COMMAND sh -c "${compile}" WORKING_DIRECTORY ${build} RESULT_VARIABLE result
    OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(result)
    consumer_build_failed(${cleanup} "[${variant}] ${compile} failed:\n${out}")
  endif()
endfunction()

# The library's compiler, unless the variant is about another one.
cmake_variant(debug -DCMAKE_CXX_COMPILER=${JOBQ_CXX} -DCMAKE_BUILD_TYPE=Debug)
cmake_variant(no-build-type -DCMAKE_CXX_COMPILER=${JOBQ_CXX})
cmake_variant(relwithdebinfo -DCMAKE_CXX_COMPILER=${JOBQ_CXX} -DCMAKE_BUILD_TYPE=RelWithDebInfo)
cmake_variant(release-o3-werror -DCMAKE_CXX_COMPILER=${JOBQ_CXX} -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_CXX_FLAGS=-O3 -Wall -Wextra -Werror")
find_program(clang NAMES clang++-14)
if(clang)
  # Another compiler against the g++ build of the library (same libstdc++), warnings as errors.
  cmake_variant(clang++-14 -DCMAKE_CXX_COMPILER=${clang} -DCMAKE_BUILD_TYPE=Debug
    "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Werror")
else()
  message(STATUS "[clang++-14] skipped: clang++-14 not found")
endif()

# pkg-config, the way the README tells a project without CMake to build:
#   c++ -std=c++20 main.cpp $(pkg-config --cflags --libs jobq)
# at -O0, the opposite end from the library's optimized build.
if(NOT PKG_CONFIG)
  message(STATUS "[pkg-config-o0] skipped: pkg-config not found (tools/install-deps installs pkgconf)")
else()
  message(STATUS "[pkg-config-o0] ${PKG_CONFIG} --cflags --libs jobq, -O0")
  set(ENV{PKG_CONFIG_PATH} ${prefix}/${JOBQ_INSTALL_LIBDIR}/pkgconfig)
  execute_process(COMMAND ${PKG_CONFIG} --modversion jobq RESULT_VARIABLE result OUTPUT_VARIABLE version
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(result OR NOT version STREQUAL JOBQ_VERSION)
    message(FATAL_ERROR "[pkg-config-o0] pkg-config --modversion jobq gave '${version}', expected ${JOBQ_VERSION}")
  endif()
  build_pkg_config_consumer(pkg-config-o0 . jobq NONE)
  run_consumer(pkg-config-o0 ${JOBQ_WORK_DIR}/pkg-config-o0/consumer)
endif()

# The console: the jobq::console component (CMake, Debug) and jobq-console.pc (pkg-config, -O0),
# each mounting the console on a cpp-httplib server of the program's own.
if(EXISTS ${prefix}/${JOBQ_INSTALL_LIBDIR}/cmake/jobq/jobqConsoleTargets.cmake)
  build_cmake_consumer(console-debug console NONE)
  run_consumer(console-debug ${JOBQ_WORK_DIR}/console-debug/consumer)
  if(PKG_CONFIG)
    build_pkg_config_consumer(console-pkg-config-o0 console jobq-console NONE)
    run_consumer(console-pkg-config-o0 ${JOBQ_WORK_DIR}/console-pkg-config-o0/consumer)
  endif()
else()
  message(STATUS "[console] skipped: jobq was built without jobq::console")
endif()

# Durable queues: the jobq::redis component (CMake, Debug) and jobq-redis.pc (pkg-config, -O0),
# each run against a redis-server of this test's own, stopped by its pid.
if(NOT EXISTS ${prefix}/${JOBQ_INSTALL_LIBDIR}/cmake/jobq/jobqRedisTargets.cmake)
  message(STATUS "[durable] skipped: jobq was built without jobq::redis")
  return()
endif()
set(redis_dir ${JOBQ_WORK_DIR}/redis)
file(MAKE_DIRECTORY ${redis_dir})
execute_process(COMMAND redis-server --port 0 --unixsocket ${redis_dir}/redis.sock --dir ${redis_dir}
  --daemonize yes --pidfile ${redis_dir}/redis.pid --appendonly no --logfile ${redis_dir}/redis.log
  RESULT_VARIABLE result)
if(result)
  message(FATAL_ERROR "[durable] cannot start redis-server (tools/install-deps installs redis-server)")
endif()
function(stop_redis)
  if(EXISTS ${redis_dir}/redis.pid)
    file(READ ${redis_dir}/redis.pid pid)
    string(STRIP "${pid}" pid)
    execute_process(COMMAND kill ${pid})
  endif()
endfunction()
foreach(attempt RANGE 100)
  if(EXISTS ${redis_dir}/redis.sock)
    break()
  endif()
  execute_process(COMMAND sleep 0.05)
endforeach()
function(run_durable variant program)
  execute_process(COMMAND ${program} ${redis_dir}/redis.sock RESULT_VARIABLE result OUTPUT_VARIABLE out
    ERROR_VARIABLE out TIMEOUT 60)
  string(STRIP "${out}" out)
  message(STATUS "[${variant}] ${out}")
  if(result OR NOT out MATCHES "consumer ran 3 durable jobs")
    stop_redis()
    message(FATAL_ERROR "[${variant}] the durable consumer failed (${result})")
  endif()
endfunction()
build_cmake_consumer(durable-debug durable stop_redis)
run_durable(durable-debug ${JOBQ_WORK_DIR}/durable-debug/consumer)
if(PKG_CONFIG)
  build_pkg_config_consumer(durable-pkg-config-o0 durable jobq-redis stop_redis)
  run_durable(durable-pkg-config-o0 ${JOBQ_WORK_DIR}/durable-pkg-config-o0/consumer)
endif()
stop_redis()
