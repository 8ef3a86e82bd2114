# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Top-level install and export: the CMake package (vmmem::vmmem, vmmem::provider) and vmmem.pc.
# The library, headers and provider plugins are installed by core/ and providers/.
include(CMakePackageConfigHelpers)

set(VMMEM_CMAKE_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/vmmem")

# vmmem::provider: headers only, for providers built out of tree (they do not link libvmmem).
add_library(vmmem_provider INTERFACE)
set_target_properties(vmmem_provider PROPERTIES EXPORT_NAME provider)
target_include_directories(vmmem_provider INTERFACE
  "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>"
  "$<BUILD_INTERFACE:${VMMEM_GENERATED_INCLUDE_DIR}>"
  "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
add_library(vmmem::provider ALIAS vmmem_provider)
install(TARGETS vmmem_provider EXPORT vmmemTargets)

install(EXPORT vmmemTargets
  NAMESPACE vmmem::
  FILE vmmemTargets.cmake
  DESTINATION "${VMMEM_CMAKE_INSTALL_DIR}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/vmmemConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/vmmemConfig.cmake"
  INSTALL_DESTINATION "${VMMEM_CMAKE_INSTALL_DIR}"
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR VMMEM_PROVIDER_INSTALL_DIR)
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/vmmemConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/cmake/vmmemConfig.cmake"
  "${PROJECT_BINARY_DIR}/cmake/vmmemConfigVersion.cmake"
  DESTINATION "${VMMEM_CMAKE_INSTALL_DIR}")

# pkg-config: paths relative to ${prefix} where they can be.
foreach(var IN ITEMS LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${var}}")
    set(VMMEM_PC_${var} "${CMAKE_INSTALL_${var}}")
  else()
    set(VMMEM_PC_${var} "\${prefix}/${CMAKE_INSTALL_${var}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${VMMEM_PROVIDER_INSTALL_DIR}")
  set(VMMEM_PC_PROVIDERDIR "${VMMEM_PROVIDER_INSTALL_DIR}")
elseif(VMMEM_PROVIDER_INSTALL_DIR STREQUAL "${CMAKE_INSTALL_LIBDIR}/vmmem")
  set(VMMEM_PC_PROVIDERDIR "\${libdir}/vmmem")
else()
  set(VMMEM_PC_PROVIDERDIR "\${prefix}/${VMMEM_PROVIDER_INSTALL_DIR}")
endif()
# prefix= is the prefix actually installed to (`cmake --install --prefix` included): the rest
# is filled in now, prefix= when installing.
set(VMMEM_PC_PREFIX "@VMMEM_PC_PREFIX@")
configure_file("${PROJECT_SOURCE_DIR}/cmake/vmmem.pc.in" "${PROJECT_BINARY_DIR}/vmmem.pc.in" @ONLY)
install(CODE "
  set(VMMEM_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/vmmem.pc.in\"
                 \"${PROJECT_BINARY_DIR}/pkgconfig/vmmem.pc\" @ONLY)")
install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/vmmem.pc"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

# The licence texts (the sources say "Apache-2.0 OR BSD-3-Clause"; Apache-2.0 requires the
# text to travel with the binaries), in REUSE layout under the documentation directory.
install(FILES "${PROJECT_SOURCE_DIR}/LICENSES/Apache-2.0.txt"
              "${PROJECT_SOURCE_DIR}/LICENSES/BSD-3-Clause.txt"
        DESTINATION "${CMAKE_INSTALL_DOCDIR}/LICENSES")
