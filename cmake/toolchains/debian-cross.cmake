# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Shared part of the Debian cross toolchain files: set VMMEM_CROSS_TRIPLE (e.g.
# aarch64-linux-gnu) and VMMEM_CROSS_PROCESSOR, then include this. Debian's cross compiler
# (gcc-<triple>) and the target's multiarch packages (libc6, check, libsubunit-dev under
# /usr/lib/<triple>) are what it uses. Tests run under qemu-user through binfmt_misc
# (tools/setup-debian.sh registers it), so children the tests exec run emulated too.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${VMMEM_CROSS_PROCESSOR})
set(CMAKE_C_COMPILER ${VMMEM_CROSS_TRIPLE}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${VMMEM_CROSS_TRIPLE})
# pkg-config must see the target's .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${VMMEM_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
