# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# ABI compatibility against the committed baseline (abi/README.md, docs/ABI.md).
#
#   cmake --build --preset default --target abi-check   compare with the baseline
#   cmake --build --preset default --target abi-dump    refresh the baseline (at a release)
#   ctest --preset default -L abi                       includes the abi_compliance test
#
# abi/check.sh builds its own -g -Og copy of libvmmem.so in ${PROJECT_BINARY_DIR}/abi (the
# presets' optimised builds are not what abi-dumper wants), dumps it over the public headers
# and runs abi-compliance-checker; it exits 77 when the tools are not installed.
set(VMMEM_ABI_BASELINE "${PROJECT_SOURCE_DIR}/abi/libvmmem-1.0.0.dump" CACHE FILEPATH
    "abi-dumper baseline the abi-check target and abi_compliance test compare with")
set(VMMEM_ABI_WORK_DIR "${PROJECT_BINARY_DIR}/abi")
set(VMMEM_ABI_SCRIPT "${PROJECT_SOURCE_DIR}/abi/check.sh")

add_custom_target(abi-check
  COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_C_COMPILER}
          ${VMMEM_ABI_SCRIPT} check ${PROJECT_SOURCE_DIR} ${VMMEM_ABI_WORK_DIR}
          ${VMMEM_ABI_BASELINE}
  COMMENT "Checking the ABI of libvmmem against ${VMMEM_ABI_BASELINE}"
  USES_TERMINAL VERBATIM)
add_custom_target(abi-dump
  COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_C_COMPILER}
          ${VMMEM_ABI_SCRIPT} dump ${PROJECT_SOURCE_DIR} ${VMMEM_ABI_WORK_DIR}
          ${PROJECT_SOURCE_DIR}/abi/libvmmem-${PROJECT_VERSION}.dump
  COMMENT "Writing abi/libvmmem-${PROJECT_VERSION}.dump"
  USES_TERMINAL VERBATIM)

if(BUILD_TESTING)
  add_test(NAME abi_compliance
    COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_C_COMPILER}
            ${VMMEM_ABI_SCRIPT} check ${PROJECT_SOURCE_DIR} ${VMMEM_ABI_WORK_DIR}
            ${VMMEM_ABI_BASELINE})
  # RUN_SERIAL: the nested build shares the machine's cores with the rest of ctest -j.
  set_tests_properties(abi_compliance PROPERTIES LABELS "abi" TIMEOUT 600
    SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()
