# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# API documentation with Doxygen (docs/Doxyfile): target "docs" writes
# ${PROJECT_BINARY_DIR}/docs/html; test "doxygen_api" (label docs) fails on any Doxygen
# warning, which includes every undocumented public symbol, and is skipped (77) without
# doxygen (CI: apt-get install doxygen).
find_program(DOXYGEN_EXECUTABLE doxygen)
set(VMMEM_DOXYGEN_ENV
  "VMMEM_DOXYGEN_OUTPUT=${PROJECT_BINARY_DIR}/docs"
  "VMMEM_VERSION=${PROJECT_VERSION}"
  "VMMEM_VERSION_H=${VMMEM_GENERATED_INCLUDE_DIR}/vmmem/version.h")

if(DOXYGEN_EXECUTABLE)
  add_custom_target(docs
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/docs
    COMMAND ${CMAKE_COMMAND} -E env ${VMMEM_DOXYGEN_ENV}
            ${DOXYGEN_EXECUTABLE} ${PROJECT_SOURCE_DIR}/docs/Doxyfile
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "Generating the API documentation in ${PROJECT_BINARY_DIR}/docs/html"
    VERBATIM)
endif()

if(BUILD_TESTING)
  if(DOXYGEN_EXECUTABLE)
    file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/docs)
    add_test(NAME doxygen_api
      COMMAND ${CMAKE_COMMAND} -E env ${VMMEM_DOXYGEN_ENV}
              ${DOXYGEN_EXECUTABLE} ${PROJECT_SOURCE_DIR}/docs/Doxyfile
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  else()
    add_test(NAME doxygen_api
      COMMAND sh -c "echo 'doxygen_api: doxygen is not installed'; exit 77")
  endif()
  set_tests_properties(doxygen_api PROPERTIES LABELS "docs" TIMEOUT 300
    SKIP_RETURN_CODE 77)
endif()
