# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Warning set for every target of the project: vmmem_target_warnings(<target>).
set(VMMEM_WARNING_FLAGS
    -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-align -Wstrict-prototypes
    -Wmissing-prototypes -Wwrite-strings -Wformat=2 -Wundef -Wvla
    -Wimplicit-fallthrough -Wnull-dereference -Wdouble-promotion)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND VMMEM_WARNING_FLAGS -Wlogical-op -Wduplicated-cond -Wduplicated-branches)
endif()
if(VMMEM_WERROR)
  list(APPEND VMMEM_WARNING_FLAGS -Werror)
endif()

function(vmmem_target_warnings target)
  target_compile_options(${target} PRIVATE ${VMMEM_WARNING_FLAGS})
endfunction()
