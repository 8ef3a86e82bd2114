# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Cross build for arm64 (Debian: gcc-aarch64-linux-gnu, check:arm64). docs/PORTABILITY.md
set(VMMEM_CROSS_TRIPLE aarch64-linux-gnu)
set(VMMEM_CROSS_PROCESSOR aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
