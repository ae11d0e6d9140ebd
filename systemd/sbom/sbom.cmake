# CPack pre-build script (CPACK_PRE_BUILD_SCRIPTS): runs after CPack installed the files into its staging
# directory and before the .deb is assembled, so the SBOM it writes there ships inside the package.
if(NOT CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_GENERATOR MATCHES "DEB")
  return()
endif()
set(_root "${CPACK_TEMPORARY_DIRECTORY}")
set(_out "${_root}${CPACK_PACKAGING_INSTALL_PREFIX}/${CPACK_RPM_SBOM_DOCDIR}/sbom.spdx.json")
execute_process(
  COMMAND "${CPACK_RPM_SBOM_PYTHON}" "${CPACK_RPM_SBOM_TOOL}"
          --root "${_root}" --name "${CPACK_PACKAGE_NAME}" --version "${CPACK_PACKAGE_VERSION}"
          --depends "${CPACK_DEBIAN_PACKAGE_DEPENDS}" --out "${_out}"
  RESULT_VARIABLE _rc
  ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "SBOM generation failed: ${_err}")
endif()
message(STATUS "SBOM written: ${_out}")
