# Finds jobq's dependencies. Included by the build and by the installed package config, so that
# find_package(jobq) brings the same targets into an outside project.
include(CMakeFindDependencyMacro)

find_dependency(Threads)
find_dependency(simdjson CONFIG)
# Periodic jobs' time zones: Howard Hinnant's date library over the system's tzdata
# (libhowardhinnant-date-dev), until the standard library has <chrono> time zones.
find_dependency(date CONFIG)
if(NOT JOBQ_SYSTEM_ALLOCATOR)
  find_dependency(mimalloc CONFIG)
endif()

# libconcurrentqueue-dev ships headers only, without a CMake package.
if(NOT TARGET jobq::concurrentqueue)
  find_path(JOBQ_CONCURRENTQUEUE_INCLUDE_DIR concurrentqueue.h PATH_SUFFIXES concurrentqueue)
  if(NOT JOBQ_CONCURRENTQUEUE_INCLUDE_DIR)
    message(FATAL_ERROR "concurrentqueue.h not found: install libconcurrentqueue-dev")
  endif()
  add_library(jobq::concurrentqueue INTERFACE IMPORTED)
  set_target_properties(jobq::concurrentqueue PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${JOBQ_CONCURRENTQUEUE_INCLUDE_DIR}")
endif()
