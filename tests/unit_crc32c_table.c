/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The CRC32C tests with the table path forced (see tests/unit/CMakeLists.txt). */
#include "unit_crc32c.c"
