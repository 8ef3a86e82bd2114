# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Cross build for big-endian s390x (Debian: gcc-s390x-linux-gnu, check:s390x).
# docs/PORTABILITY.md
set(VMMEM_CROSS_TRIPLE s390x-linux-gnu)
set(VMMEM_CROSS_PROCESSOR s390x)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
