# Run by `cmake --install` (the install(CODE) rule of cmake/install.cmake)
# with CMAKE_INSTALL_PREFIX as this install has it, --prefix included: writes
# the systemd units and auditlog-migrate with the paths they name, then
# installs them. Those paths never include DESTDIR: file(INSTALL) adds it
# to where the files go, not to what they say.
#
# In: AUDITLOG_SOURCE_DIR, AUDITLOG_BINARY_DIR, and AUDITLOG_DIR_<NAME>, the
# GNUInstallDirs folders as configured (relative: under the prefix).

# full_dir(OUT NAME): AUDITLOG_DIR_<NAME> made absolute the way GNUInstallDirs
# does, whose one exception matters here: under the prefix / or /usr the
# configuration is in /etc, under /opt/<pkg> in /etc/opt/<pkg>.
function(full_dir out name)
  set(dir "${AUDITLOG_DIR_${name}}")
  string(REGEX REPLACE "/+$" "" prefix "${CMAKE_INSTALL_PREFIX}")
  if(IS_ABSOLUTE "${dir}")
    set(full "${dir}")
  elseif(name STREQUAL "SYSCONFDIR" AND prefix MATCHES "^(/usr)?$")
    set(full "/${dir}")
  elseif(name STREQUAL "SYSCONFDIR" AND prefix MATCHES "^/opt/")
    set(full "/${dir}${prefix}")
  else()
    set(full "${prefix}/${dir}")
  endif()
  set(${out} "${full}" PARENT_SCOPE)
endfunction()

full_dir(AUDITLOG_SBINDIR SBINDIR)
full_dir(datadir DATADIR)
full_dir(sysconfdir SYSCONFDIR)
full_dir(AUDITLOG_DOCDIR DOCDIR)
full_dir(unitdir UNITDIR)
set(AUDITLOG_PKGDATADIR "${datadir}/auditlog")
set(AUDITLOG_CONFDIR "${sysconfdir}/auditlog")
file(RELATIVE_PATH AUDITLOG_SBIN_TO_PKGDATA "${AUDITLOG_SBINDIR}" "${AUDITLOG_PKGDATADIR}")

set(stage "${AUDITLOG_BINARY_DIR}/install-configured")
set(units "")
foreach(daemon api auditor web)
  configure_file("${AUDITLOG_SOURCE_DIR}/contrib/systemd/auditlog-${daemon}.service.in"
                 "${stage}/auditlog-${daemon}.service" @ONLY)
  list(APPEND units "${stage}/auditlog-${daemon}.service")
endforeach()
configure_file("${AUDITLOG_SOURCE_DIR}/scripts/auditlog-migrate.in"
               "${stage}/auditlog-migrate" @ONLY)

file(INSTALL DESTINATION "${unitdir}" TYPE FILE FILES ${units})
file(INSTALL DESTINATION "${AUDITLOG_SBINDIR}" TYPE PROGRAM FILES "${stage}/auditlog-migrate")
