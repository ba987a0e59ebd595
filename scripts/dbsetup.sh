# shellcheck shell=bash
# dbsetup: auditlog's two databases, their five MariaDB users and grants, and
# the sql/ migrations, written once for both callers: ./run.sh (through
# scripts/infra.sh, on its private or a local server) and the installed
# auditlog-migrate (scripts/auditlog-migrate.in, on a production server).
# Sourced, never executed; needs bash 4.
#
# The caller defines, before calling anything here:
#   info MSG, die MSG          report progress; die exits non-zero
#   db_admin [ARGS...]         the mariadb client (--batch --skip-column-names)
#                              as the database administrator, SQL on stdin;
#                              ARGS are more client options
#   db_migrator DB [ARGS...]   the client that applies migrations to DB, SQL on
#                              stdin (the administrator, or the API's user
#                              where run.sh has no administrator)
# and sets the users' variables the daemons read (README "Configuration"):
# AUDITLOG_MYSQL_USER/_PASSWORD (the API), AUDITLOG_AUDITOR_MYSQL_USER/
# _PASSWORD (the log's writer), AUDITLOG_AUDITOR_READER_USER/_PASSWORD,
# AUDITLOG_AUDITOR_ERASER_USER/_PASSWORD, AUDITLOG_AUDITOR_MAINTAINER_USER/
# _PASSWORD.
#
# Who may do what is part of what the product promises (README "Nobody
# rewrites the log"): the API's user owns the API's database and has no
# right on the audit log's; the log's writer may INSERT and SELECT its
# tables and UPDATE only two that are not the log (the checker's bookmark,
# the version spans, which only widen); the reader may only SELECT; the
# eraser may SELECT and DELETE from data_event_values alone; the maintainer
# (services/auditor/retention.h) may ALTER and DROP the four monthly
# partitioned event tables (to split months off and drop retained ones) and
# INSERT into log_retained, nothing else. No user of ours may UPDATE,
# DELETE, ALTER, DROP or TRUNCATE the log of record itself (log_appends,
# log_nodes, log_checkpoints).

# The hosts each account is created at ("%": any address). A caller may
# narrow them before db_prepare (auditlog-migrate --user-host).
DB_USER_HOSTS=("%" localhost)

# The audit log's tables, each granted to the writer (SELECT, INSERT), the
# reader and the eraser (SELECT). A migration that adds a table adds it here.
DB_AUDITOR_TABLES=(data_events data_event_changes data_event_values log_appends log_nodes
	log_checkpoints data_event_mutations data_event_flags log_checked
	data_event_version_spans log_leases data_event_ids)
# The tables the maintainer splits into months and drops months of
# (sql/auditor/0015); its record of what it dropped (insert-only) and the
# highest versions of the targets it dropped mutations of (which only
# grow), which only it writes and everyone reads.
DB_PARTITIONED_TABLES=(data_events data_event_changes data_event_values data_event_mutations)
DB_RETAINED_TABLES=(log_retained data_event_retained_versions)

# SQL string literal and identifier quoting.
sql_string() {
	local s=${1//\\/\\\\}
	s=${s//\'/\'\'}
	printf "'%s'" "$s"
}
# shellcheck disable=SC2016 # literal backquotes
sql_ident() { printf '`%s`' "${1//\`/\`\`}"; }

# create_mysql_user USER PASSWORD: prints the SQL that creates the account at
# each of DB_USER_HOSTS, or sets its password when it exists.
create_mysql_user() {
	local user pw host
	user=$(sql_string "$1")
	pw=$(sql_string "$2")
	for host in "${DB_USER_HOSTS[@]}"; do
		host=$(sql_string "$host")
		printf 'CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s;\n' "$user" "$host" "$pw"
		printf 'ALTER USER %s@%s IDENTIFIED BY %s;\n' "$user" "$host" "$pw"
	done
}

# db_provision API_DB AUDITOR_DB: the databases and the five users, through
# db_admin. The API's user gets its database; the audit log's users get
# their grants after its migrations (db_grant_auditor_users), because
# grants name its tables.
db_provision() {
	local api_db=$1 auditor_db=$2 sql="" db host user
	for db in "$api_db" "$auditor_db"; do
		sql+="CREATE DATABASE IF NOT EXISTS $(sql_ident "$db") CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"$'\n'
	done
	sql+=$(create_mysql_user "$AUDITLOG_MYSQL_USER" "$AUDITLOG_MYSQL_PASSWORD")$'\n'
	sql+=$(create_mysql_user "$AUDITLOG_AUDITOR_MYSQL_USER" "$AUDITLOG_AUDITOR_MYSQL_PASSWORD")$'\n'
	sql+=$(create_mysql_user "$AUDITLOG_AUDITOR_READER_USER" "$AUDITLOG_AUDITOR_READER_PASSWORD")$'\n'
	sql+=$(create_mysql_user "$AUDITLOG_AUDITOR_ERASER_USER" "$AUDITLOG_AUDITOR_ERASER_PASSWORD")$'\n'
	sql+=$(create_mysql_user "${AUDITLOG_AUDITOR_MAINTAINER_USER:-auditor_maintainer}" \
		"${AUDITLOG_AUDITOR_MAINTAINER_PASSWORD:-auditor_maintainer}")$'\n'
	user=$(sql_string "$AUDITLOG_MYSQL_USER")
	for host in "${DB_USER_HOSTS[@]}"; do
		sql+="GRANT ALL PRIVILEGES ON $(sql_ident "$api_db").* TO $user@$(sql_string "$host");"$'\n'
	done
	db_admin <<<"$sql" || die "MariaDB: creating the databases and users failed"
	# Rights an older set-up gave the API's user on the audit log go away
	# (one statement each: REVOKE fails when there is nothing to revoke).
	for host in "${DB_USER_HOSTS[@]}"; do
		db_admin -e "REVOKE ALL PRIVILEGES ON $(sql_ident "$auditor_db").* FROM $user@$(sql_string "$host")" \
			2>/dev/null || true
	done
}

# db_grant_auditor_users DB: the writer may INSERT and SELECT the log's
# tables, the reader only SELECT them; neither may UPDATE, DELETE, ALTER or
# DROP. The eraser may also DELETE from data_event_values, and nothing else.
# The writer's two UPDATEs are on what is not the log: the checker's
# bookmark (log_checked) and the version spans, which only widen
# (sql/auditor/0012_version_spans.sql).
db_grant_auditor_users() {
	local db sql="" host writer reader eraser maintainer table user
	db=$(sql_ident "$1")
	maintainer=$(sql_string "${AUDITLOG_AUDITOR_MAINTAINER_USER:-auditor_maintainer}")
	writer=$(sql_string "$AUDITLOG_AUDITOR_MYSQL_USER")
	reader=$(sql_string "$AUDITLOG_AUDITOR_READER_USER")
	eraser=$(sql_string "$AUDITLOG_AUDITOR_ERASER_USER")
	for host in "${DB_USER_HOSTS[@]}"; do
		host=$(sql_string "$host")
		for table in "${DB_AUDITOR_TABLES[@]}"; do
			sql+="GRANT SELECT, INSERT ON $db.$table TO $writer@$host;"$'\n'
			sql+="GRANT SELECT ON $db.$table TO $reader@$host;"$'\n'
			sql+="GRANT SELECT ON $db.$table TO $eraser@$host;"$'\n'
			sql+="GRANT SELECT ON $db.$table TO $maintainer@$host;"$'\n'
		done
		for table in "${DB_PARTITIONED_TABLES[@]}"; do
			sql+="GRANT ALTER, DROP ON $db.$table TO $maintainer@$host;"$'\n'
		done
		for table in "${DB_RETAINED_TABLES[@]}"; do
			for user in "$writer" "$reader" "$eraser"; do
				sql+="GRANT SELECT ON $db.$table TO $user@$host;"$'\n'
			done
			sql+="GRANT SELECT, INSERT ON $db.$table TO $maintainer@$host;"$'\n'
		done
		sql+="GRANT UPDATE ON $db.data_event_retained_versions TO $maintainer@$host;"$'\n'
		# The eraser deletes values (and their salts), never what the leaves hold.
		sql+="GRANT DELETE ON $db.data_event_values TO $eraser@$host;"$'\n'
		sql+="GRANT UPDATE ON $db.log_checked TO $writer@$host;"$'\n'
		sql+="GRANT UPDATE ON $db.data_event_version_spans TO $writer@$host;"$'\n'
	done
	db_admin <<<"$sql" || die "MariaDB: granting the audit log's users on $1 failed"
}

# migrate_database DB DIR: applies DIR/*.sql not yet in DB.schema_migrations,
# in file name order, through db_migrator. A file is known by its name
# alone (not its folder or content): run.sh's demo data (sql/demo/api),
# applied after the schema, shares the API database's record, so its names
# must differ from the schema's.
migrate_database() {
	local db=$1 dir=$2 applied file name delim
	local -a files=()
	[[ -d $dir ]] || return 0
	while IFS= read -r -d '' file; do
		files+=("$file")
	done < <(find "$dir" -maxdepth 1 -type f -name '*.sql' -print0 | LC_ALL=C sort -z)
	((${#files[@]})) || return 0

	applied=$(db_migrator "$db" -e "CREATE TABLE IF NOT EXISTS schema_migrations (
		version VARCHAR(255) PRIMARY KEY,
		applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
		SELECT version FROM schema_migrations;") ||
		die "MariaDB: cannot read the migrations applied to database '$db'"

	for file in "${files[@]}"; do
		name=${file##*/}
		grep -qxF -- "$name" <<<"$applied" && continue
		# autocommit=0: DML in the file and the record commit together; the
		# client stops at the first error, so a failed file is never recorded.
		# The lone delimiter ends a last statement written without one (the
		# client skips it otherwise); then back to ";" for the record.
		delim=$(sed -nE 's/^[[:space:]]*[Dd][Ee][Ll][Ii][Mm][Ii][Tt][Ee][Rr][[:space:]]+([^[:space:]]+).*/\1/p' "$file" | tail -n 1)
		delim=${delim:-;}
		if ! {
			cat -- "$file"
			printf '\n%s\n' "$delim"
			[[ $delim == ";" ]] || printf 'DELIMITER ;\n'
			printf 'INSERT INTO schema_migrations (version) VALUES (%s);\nCOMMIT;\n' \
				"$(sql_string "$name")"
		} | db_migrator "$db" --init-command='SET autocommit=0'; then
			die "migration $file failed on database '$db'"
		fi
		info "migrated $db: $name"
	done
}

# db_prepare API_DB AUDITOR_DB SQL_DIR: everything, in order, as the
# administrator: databases and users, SQL_DIR/api and SQL_DIR/auditor
# migrated, the audit log's grants. Safe to run again: each step is.
# Schema only: no user, no role (the demo's data is run.sh's own step).
db_prepare() {
	local api_db=$1 auditor_db=$2 sql_dir=$3
	db_provision "$api_db" "$auditor_db"
	migrate_database "$api_db" "$sql_dir/api"
	migrate_database "$auditor_db" "$sql_dir/auditor"
	db_grant_auditor_users "$auditor_db"
}
