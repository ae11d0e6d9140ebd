# Driver registry generated from the driver folders.
#
# A driver folder calls rpm_add_driver(); after all folders are added,
# rpm_generate_driver_registry() writes one registry source that names each
# descriptor function explicitly. Explicit calls cannot be dropped by the
# linker the way static self-registration objects can.
define_property(GLOBAL PROPERTY RPM_DRIVERS
  BRIEF_DOCS "Registered driver names" FULL_DOCS "Names passed to rpm_add_driver")

# rpm_add_driver(NAME <folder-name> SOURCES <files...> [LINK <extra allowed libs>])
# The descriptor function must be rpm::drivers::<NAME>::descriptor().
function(rpm_add_driver)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;LINK" ${ARGN})
  get_filename_component(folder "${CMAKE_CURRENT_SOURCE_DIR}" NAME)
  if(NOT ARG_NAME STREQUAL folder)
    message(FATAL_ERROR "driver name '${ARG_NAME}' must equal its folder name '${folder}'")
  endif()
  set(target rpm_driver_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SOURCES})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  # Rule 2 of docs/architecture.md: model, ports, drivers/common only.
  target_link_libraries(${target} PUBLIC rpm_model rpm_ports rpm_drivers_common ${ARG_LINK})
  set_property(GLOBAL APPEND PROPERTY RPM_DRIVERS ${ARG_NAME})
endfunction()

function(rpm_generate_driver_registry out_var)
  get_property(names GLOBAL PROPERTY RPM_DRIVERS)
  list(SORT names)
  set(decls "")
  set(entries "")
  set(libs "")
  foreach(n IN LISTS names)
    string(APPEND decls "namespace ${n} { const DriverDescriptor& descriptor(); }\n")
    string(APPEND entries "      &${n}::descriptor(),\n")
    list(APPEND libs rpm_driver_${n})
  endforeach()
  set(RPM_DRIVER_DECLS "${decls}")
  set(RPM_DRIVER_ENTRIES "${entries}")
  set(out "${CMAKE_CURRENT_BINARY_DIR}/GeneratedDriverRegistry.cpp")
  configure_file("${PROJECT_SOURCE_DIR}/drivers/registry/GeneratedDriverRegistry.cpp.in" "${out}" @ONLY)
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${out_var}_LIBS "${libs}" PARENT_SCOPE)
endfunction()
