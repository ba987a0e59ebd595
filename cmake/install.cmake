# `cmake --install`: where each installed file goes (README "Deploying").
# Included at the end of CMakeLists.txt. Tests, benchmarks and their tools
# install nothing.
#
# The daemons go to sbin: they are run by the service manager or an
# administrator, not by users, as Debian's mariadbd and rabbitmq-server are;
# so does auditlog-migrate, which needs the database administrator.
# auditlog-verify goes to bin: anyone holding an export bundle runs it.
include(GNUInstallDirs)

set(AUDITLOG_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Folder of the systemd units (relative: under the install prefix)")
set(AUDITLOG_SYSUSERSDIR "lib/sysusers.d" CACHE STRING
    "Folder of sysusers.d files (relative: under the install prefix)")

install(TARGETS auditlog-api auditlog-auditor auditlog-web
        RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS auditlog-verify RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The schema's migrations; not sql/demo/, the demo's users, which only
# ./run.sh applies: a production database gets no account from us.
install(DIRECTORY sql/ DESTINATION ${CMAKE_INSTALL_DATADIR}/auditlog/sql
        FILES_MATCHING PATTERN "*.sql" PATTERN demo EXCLUDE)
install(DIRECTORY web/ DESTINATION ${CMAKE_INSTALL_DATADIR}/auditlog/web)
install(FILES scripts/dbsetup.sh DESTINATION ${CMAKE_INSTALL_DATADIR}/auditlog)
install(FILES contrib/systemd/auditlog.sysusers DESTINATION ${AUDITLOG_SYSUSERSDIR}
        RENAME auditlog.conf)
install(FILES README.md contrib/systemd/auditlog.env.example
              contrib/systemd/api.env.example contrib/systemd/auditor.env.example
              contrib/systemd/web.env.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The files that name installed paths (the units, auditlog-migrate) are
# written at install time, so that `cmake --install --prefix` gets its own.
install(CODE "
  set(AUDITLOG_SOURCE_DIR [[${CMAKE_SOURCE_DIR}]])
  set(AUDITLOG_BINARY_DIR [[${CMAKE_BINARY_DIR}]])
  set(AUDITLOG_DIR_SBINDIR [[${CMAKE_INSTALL_SBINDIR}]])
  set(AUDITLOG_DIR_DATADIR [[${CMAKE_INSTALL_DATADIR}]])
  set(AUDITLOG_DIR_SYSCONFDIR [[${CMAKE_INSTALL_SYSCONFDIR}]])
  set(AUDITLOG_DIR_DOCDIR [[${CMAKE_INSTALL_DOCDIR}]])
  set(AUDITLOG_DIR_UNITDIR [[${AUDITLOG_SYSTEMD_UNITDIR}]])
  include([[${CMAKE_SOURCE_DIR}/cmake/install_configured.cmake]])
")
