# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# ABI compatibility against the committed baseline (abi/README.md, docs/ABI.md).
#
#   cmake --build --preset default --target abi-check   compare with the baseline
#   cmake --build --preset default --target abi-dump    refresh the baseline (at a release)
#   ctest --preset default -L abi                       includes the abi_compliance test
#
# abi/check.sh builds its own -g -Og copy of libvmmem.so in ${PROJECT_BINARY_DIR}/abi (the
# presets' optimised builds are not what abi-dumper wants), dumps it over the public headers
# and compares it four ways (abi-compliance-checker on normalised dumps, abidiff, symbol
# version nodes, public constants); it exits 77 when the tools are not installed.
set(VMMEM_ABI_BASELINE "${PROJECT_SOURCE_DIR}/abi/libvmmem-1.1.0.dump" CACHE FILEPATH
    "abi-dumper baseline the abi-check target and abi_compliance test compare with")
# Older releases' baselines, each compared too (test abi_compliance_<version>): two steps
# that each look compatible with their predecessor can still add up to a break.
set(VMMEM_ABI_OLDER_BASELINES "${PROJECT_SOURCE_DIR}/abi/libvmmem-1.0.0.dump")
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
  foreach(older IN LISTS VMMEM_ABI_OLDER_BASELINES)
    string(REGEX REPLACE ".*libvmmem-([0-9.]+)\\.dump$" "\\1" older_version "${older}")
    # Same work directory, after abi_compliance: its -g -Og build is reused.
    add_test(NAME abi_compliance_${older_version}
      COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_C_COMPILER}
              ${VMMEM_ABI_SCRIPT} check ${PROJECT_SOURCE_DIR} ${VMMEM_ABI_WORK_DIR} ${older})
    set_tests_properties(abi_compliance_${older_version} PROPERTIES LABELS "abi" TIMEOUT 600
      SKIP_RETURN_CODE 77 RUN_SERIAL TRUE DEPENDS abi_compliance)
  endforeach()

  # The gate proved both ways on scratch copies of the tree (tests/abi_gate_test.py):
  # harmless body changes pass, each kind of real break fails. Once per machine is enough:
  # only in builds without sanitizers (the copies are built -g -Og regardless).
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_Interpreter_FOUND AND NOT CMAKE_C_FLAGS MATCHES "sanitize")
    foreach(case IN ITEMS body_changed locals_reordered struct_field_added
                          struct_fields_reordered struct_field_resized parameter_type_changed
                          symbol_removed enum_value_changed provider_table_member_moved
                          provider_table_appended provider_table_member_inserted
                          symbol_moved_between_nodes opaque_struct_changed
                          internal_header_struct_changed)
      add_test(NAME abi_gate_${case}
        COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_C_COMPILER}
                VMMEM_ABI_BASELINE=${VMMEM_ABI_BASELINE}
                ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/abi_gate_test.py
                ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/abi-gate ${case})
      set_tests_properties(abi_gate_${case} PROPERTIES LABELS "abi;abi-gate" TIMEOUT 600
        SKIP_RETURN_CODE 77)
    endforeach()
  endif()
endif()
