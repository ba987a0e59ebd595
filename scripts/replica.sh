# shellcheck shell=bash
# The auditor's database as a primary and a read replica (README "Read
# replica"): two private MariaDB servers of ours on this machine, started
# without systemd by infra.sh's mysql_server_start, their data under
# $AUDITLOG_STATE_DIR/cluster/:
#
#   mysql-primary  port $AUDITLOG_CLUSTER_PRIMARY_PORT (3316): server_id 1,
#                  a binary log (ROW, GTID strict mode, synced at each commit)
#   mysql-replica  port $AUDITLOG_CLUSTER_REPLICA_PORT (3317): server_id 2,
#                  read_only, replicating from the primary with GTID
#                  (MASTER_USE_GTID=slave_pos)
#
# Everything is written to the primary (databases, users, grants, the
# migrations: scripts/dbsetup.sh through prepare_databases) and reaches the
# replica through the binary log, users and grants included. The
# replication user's password is made on first use and kept in
# cluster/replication-password (mode 0600; never committed). The single
# MariaDB of ./run.sh (port 3306) is not touched and keeps no binary log.
#
# Sourced by run.sh after infra.sh, whose helpers it uses. Entry points:
#   replica_pair_start   both up (each only if not already), the databases of
#                        $AUDITLOG_API_DB/$AUDITLOG_AUDITOR_DB prepared on the
#                        primary, replication configured, and the replica
#                        caught up with the primary (so its users exist)
#   replica_pair_stop    both stopped
#   replica_start / replica_stop   the replica alone (the primary stays)
#   replica_export_settings  points the daemons at the pair: AUDITLOG_MYSQL_PORT
#                        at the primary, AUDITLOG_AUDITOR_REPLICA_HOST/_PORT at
#                        the replica (exported)
#   replica_cmd ARGS     ./run.sh replica ARGS (start|stop|start-replica|
#                        stop-replica|status)
# A fresh replica (its folder removed) replays the primary's binary log from
# its beginning: the primary keeps every binary log (no expiry set), which
# suits a development pair (after a PURGE BINARY LOGS, start the pair over:
# remove both folders); real hosts seed a replica from a backup instead.

REPLICA_USER=auditlog_repl

# Paths and ports; after load_environment (AUDITLOG_STATE_DIR is final).
replica_init_paths() {
	CLUSTER_DIR=$AUDITLOG_STATE_DIR/cluster
	PRIMARY_DIR=$CLUSTER_DIR/mysql-primary
	REPLICA_DIR=$CLUSTER_DIR/mysql-replica
	PRIMARY_PORT=${AUDITLOG_CLUSTER_PRIMARY_PORT:-3316}
	REPLICA_PORT=${AUDITLOG_CLUSTER_REPLICA_PORT:-3317}
	REPLICA_PASSWORD_FILE=$CLUSTER_DIR/replication-password
	# prepare_databases (infra.sh) finds root's way into the primary.
	if [[ " ${MYSQL_MORE_SOCKETS[*]} " != *" $PRIMARY_DIR/mysqld.sock "* ]]; then
		MYSQL_MORE_SOCKETS+=("$PRIMARY_DIR/mysqld.sock")
	fi
}

primary_sql() { mysql_root --socket="$PRIMARY_DIR/mysqld.sock" "$@"; }
replica_sql() { mysql_root --socket="$REPLICA_DIR/mysqld.sock" "$@"; }

# replica_server_up DIR PORT: true when DIR's server answers root on its
# socket and is the one listening on PORT; dies when something else holds PORT.
replica_server_up() {
	local port
	port=$(mysql_root --socket="$1/mysqld.sock" -e 'SELECT @@port' 2>/dev/null) || port=""
	[[ $port == "$2" ]] && return 0
	if tcp_answers 127.0.0.1 "$2"; then
		die "port $2 is taken by a server that is not $1's (set AUDITLOG_CLUSTER_PRIMARY_PORT/_REPLICA_PORT)"
	fi
	return 1
}

replica_primary_start() {
	replica_server_up "$PRIMARY_DIR" "$PRIMARY_PORT" && return 0
	# sync_binlog=1: a commit the primary acknowledged is in its binary log
	# on disk, so a crash cannot take from the replica what clients saw.
	mysql_server_start "$PRIMARY_DIR" "$PRIMARY_PORT" \
		--server-id=1 --log-basename=primary --log-bin=primary-bin \
		--binlog-format=ROW --gtid-strict-mode=ON --sync-binlog=1
}

# The replication user on the primary, with a password made once.
replica_provision_user() {
	if [[ ! -s $REPLICA_PASSWORD_FILE ]]; then
		(
			umask 077
			openssl rand -hex 24 | tr -d '\n' >"$REPLICA_PASSWORD_FILE.tmp"
		) || die "openssl rand failed"
		mv "$REPLICA_PASSWORD_FILE.tmp" "$REPLICA_PASSWORD_FILE"
	fi
	local user pw
	user="$(sql_string "$REPLICA_USER")@'127.0.0.1'"
	pw=$(sql_string "$(<"$REPLICA_PASSWORD_FILE")")
	primary_sql <<EOF || die "MariaDB: the replication user could not be made on the primary"
CREATE USER IF NOT EXISTS $user IDENTIFIED BY $pw;
ALTER USER $user IDENTIFIED BY $pw;
GRANT REPLICATION SLAVE ON *.* TO $user;
EOF
}

# Starts the replica if it is not up, (re)points it at the primary and
# waits (30 s at most) until it has applied all the primary has now.
replica_start() {
	replica_init_paths
	if ! replica_server_up "$REPLICA_DIR" "$REPLICA_PORT"; then
		mysql_server_start "$REPLICA_DIR" "$REPLICA_PORT" \
			--server-id=2 --log-basename=replica --read-only=ON --gtid-strict-mode=ON
	fi
	# Again at every start, which is safe: with GTID the replica resumes
	# from its own gtid_slave_pos whatever the file positions were.
	replica_sql <<EOF || die "MariaDB: the replica could not be pointed at the primary"
STOP SLAVE;
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PRIMARY_PORT,
  MASTER_USER=$(sql_string "$REPLICA_USER"),
  MASTER_PASSWORD=$(sql_string "$(<"$REPLICA_PASSWORD_FILE")"),
  MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
START SLAVE;
EOF
	local pos reached
	pos=$(primary_sql -e 'SELECT @@gtid_binlog_pos') || die "MariaDB: the primary does not answer"
	reached=$(replica_sql -e "SELECT MASTER_GTID_WAIT($(sql_string "$pos"), 30)") || reached=""
	if [[ $reached != 0 ]]; then
		replica_sql -e 'SHOW SLAVE STATUS\G' 2>&1 | grep -E 'Running|Error|Gtid' >&2 || true
		die "MariaDB: the replica did not reach the primary's position $pos within 30 s (a replica made anew replays the primary's binary logs from their start: if they were purged, start the pair over with ./run.sh replica stop; rm -rf $PRIMARY_DIR $REPLICA_DIR)"
	fi
	info "MariaDB: the replica on port $REPLICA_PORT has the primary's position ${pos:-(empty)}"
}

replica_stop() {
	replica_init_paths
	mysql_server_stop "$REPLICA_DIR"
}

replica_pair_start() {
	replica_init_paths
	mkdir -p "$CLUSTER_DIR"
	chmod 700 "$CLUSTER_DIR"
	replica_primary_start
	replica_provision_user
	# Databases, users, grants and migrations on the primary, as root
	# over its socket (find_mysql_root_socket finds it by its port).
	(
		AUDITLOG_MYSQL_PORT=$PRIMARY_PORT
		prepare_databases ""
	) || die "MariaDB: preparing the databases on the primary failed"
	replica_start
}

replica_pair_stop() {
	replica_init_paths
	mysql_server_stop "$REPLICA_DIR"
	mysql_server_stop "$PRIMARY_DIR"
}

replica_export_settings() {
	replica_init_paths
	AUDITLOG_MYSQL_PORT=$PRIMARY_PORT
	AUDITLOG_AUDITOR_REPLICA_HOST=127.0.0.1
	AUDITLOG_AUDITOR_REPLICA_PORT=$REPLICA_PORT
	export AUDITLOG_MYSQL_PORT AUDITLOG_AUDITOR_REPLICA_HOST AUDITLOG_AUDITOR_REPLICA_PORT
}

replica_cmd() {
	replica_init_paths
	case ${1:-status} in
	start) replica_pair_start ;;
	stop) replica_pair_stop ;;
	start-replica) replica_start ;;
	stop-replica) replica_stop ;;
	status)
		local dir port
		for dir in "$PRIMARY_DIR:$PRIMARY_PORT" "$REPLICA_DIR:$REPLICA_PORT"; do
			port=${dir##*:}
			dir=${dir%:*}
			if replica_server_up "$dir" "$port"; then
				info "${dir##*/}: up on port $port"
			else
				info "${dir##*/}: down"
			fi
		done
		;;
	*) die "usage: ./run.sh replica [start|stop|start-replica|stop-replica|status]" ;;
	esac
}
