# shellcheck shell=bash
# Local infrastructure for auditlog: a private MariaDB and RabbitMQ node whose
# data, logs, pid files and keys live under $AUDITLOG_STATE_DIR.
#
# Sourced by run.sh (which sets `set -euo pipefail`, REPO_ROOT and the
# AUDITLOG_* defaults). Not meant to be executed on its own.
#
# Globals set here that callers read:
#   STARTED_MYSQL / STARTED_RABBIT  1 when THIS invocation started the server
#   MYSQL_ROOT_SOCKET               socket on which `mariadb -uroot` works ("" if none)
#   RABBIT_IS_OURS                  1 when the broker is our private node

STARTED_MYSQL=0
STARTED_RABBIT=0
MYSQL_ROOT_SOCKET=""
RABBIT_IS_OURS=0
# Sockets of more private servers of ours where root may log in, for
# find_mysql_root_socket (scripts/replica.sh adds the primary's).
MYSQL_MORE_SOCKETS=()

# The databases, users, grants and migrations (shared with auditlog-migrate).
# shellcheck source=scripts/dbsetup.sh
source "$REPO_ROOT/scripts/dbsetup.sh"

RABBIT_BIN=/usr/lib/rabbitmq/bin
RABBIT_DIST_PORT=25672
RABBIT_NODENAME=auditlog@localhost
# What write_rabbit_config adds: plugins to enable (comma-separated) and
# lines for rabbitmq.conf. scripts/cluster.sh sets both for its nodes.
RABBIT_PLUGINS=""
RABBIT_CONF_EXTRA=""
TEST_VHOST=${AUDITLOG_TEST_VHOST:-auditlog-test} # a checkout of its own may use its own

# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

info() { printf '[run.sh] %s\n' "$*"; }
warn() { printf '[run.sh] warning: %s\n' "$*" >&2; }
die() {
	printf '[run.sh] error: %s\n' "$*" >&2
	exit 1
}

# tcp_answers HOST PORT: true when something accepts a TCP connection.
tcp_answers() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# The address to probe/connect for a configured host name.
tcp_host_for() {
	case $1 in
	localhost | "") echo 127.0.0.1 ;;
	*) echo "$1" ;;
	esac
}

is_local_host() {
	case $1 in
	localhost | 127.0.0.1 | ::1 | "") return 0 ;;
	*) return 1 ;;
	esac
}

# pid_alive PIDFILE: true when the file names a running (non-zombie) process.
pid_alive() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(tr -dc '0-9' <"$1")
	[[ -n $pid ]] && proc_running "$pid"
}

# proc_running PID: true when PID exists and is not a zombie.
proc_running() {
	local stat
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1 # no fork: run.sh polls with it
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

# wait_pid_gone PID SECONDS: waits for the process to exit; 1 on timeout.
wait_pid_gone() {
	local pid=$1 deadline=$((SECONDS + $2))
	while proc_running "$pid"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

percent_decode() {
	local s=${1//\\/\\\\}
	printf '%b' "${s//%/\\x}"
}

# --------------------------------------------------------------------------
# Configuration derived from the environment
# --------------------------------------------------------------------------

# parse_amqp_url URL: sets AMQP_SCHEME AMQP_USER AMQP_PASSWORD AMQP_HOST
# AMQP_PORT AMQP_VHOST, plus AMQP_AUTHORITY/AMQP_QUERY to rebuild URLs.
parse_amqp_url() {
	local url=$1 rest authority path userinfo hostport
	[[ $url =~ ^(amqps?)://(.*)$ ]] || die "AUDITLOG_AMQP_URL must start with amqp://: $url"
	AMQP_SCHEME=${BASH_REMATCH[1]}
	rest=${BASH_REMATCH[2]}
	AMQP_QUERY=""
	if [[ $rest == *\?* ]]; then
		AMQP_QUERY="?${rest#*\?}"
		rest=${rest%%\?*}
	fi
	authority=${rest%%/*}
	if [[ $rest == */* ]]; then path=${rest#*/}; else path=""; fi
	AMQP_AUTHORITY=$authority

	userinfo=""
	hostport=$authority
	if [[ $authority == *@* ]]; then
		userinfo=${authority%@*}
		hostport=${authority##*@}
	fi
	if [[ -n $userinfo ]]; then
		AMQP_USER=$(percent_decode "${userinfo%%:*}")
		if [[ $userinfo == *:* ]]; then
			AMQP_PASSWORD=$(percent_decode "${userinfo#*:}")
		else
			AMQP_PASSWORD=""
		fi
	else
		AMQP_USER=guest
		AMQP_PASSWORD=guest
	fi

	if [[ $hostport =~ ^\[([^]]*)\](:([0-9]*))?$ ]]; then # [ipv6]:port
		AMQP_HOST=${BASH_REMATCH[1]}
		AMQP_PORT=${BASH_REMATCH[3]}
	elif [[ $hostport == *:* ]]; then
		AMQP_HOST=${hostport%%:*}
		AMQP_PORT=${hostport#*:}
	else
		AMQP_HOST=$hostport
		AMQP_PORT=""
	fi
	[[ -n $AMQP_HOST ]] || AMQP_HOST=localhost
	if [[ -z $AMQP_PORT ]]; then
		if [[ $AMQP_SCHEME == amqps ]]; then AMQP_PORT=5671; else AMQP_PORT=5672; fi
	fi
	[[ $AMQP_PORT =~ ^[0-9]+$ ]] || die "bad port in AUDITLOG_AMQP_URL: $url"

	if [[ -z $path ]]; then
		AMQP_VHOST=/
	else
		AMQP_VHOST=$(percent_decode "$path")
	fi
}

# amqp_url_with_vhost VHOST: the configured URL with another vhost.
amqp_url_with_vhost() {
	printf '%s://%s/%s%s' "$AMQP_SCHEME" "$AMQP_AUTHORITY" "$1" "$AMQP_QUERY"
}

# Paths under the state directory. Call after AUDITLOG_STATE_DIR is final.
init_infra_paths() {
	MYSQL_DIR=$AUDITLOG_STATE_DIR/mysql
	MYSQL_SOCKET=$MYSQL_DIR/mysqld.sock # mysql_server_start's layout
	MYSQL_MARKER=$MYSQL_DIR/started-by-us
	MYSQL_TCP_HOST=$(tcp_host_for "$AUDITLOG_MYSQL_HOST")

	RABBIT_DIR=$AUDITLOG_STATE_DIR/rabbitmq
	RABBIT_PIDFILE=$RABBIT_DIR/rabbitmq.pid
	RABBIT_MARKER=$RABBIT_DIR/started-by-us
	# Lives inside the mnesia folder so that wiping the broker's data also
	# forgets what was provisioned in it.
	RABBIT_STAMP=$RABBIT_DIR/mnesia/auditlog-provisioned

	parse_amqp_url "$AUDITLOG_AMQP_URL"
	AMQP_TCP_HOST=$(tcp_host_for "$AMQP_HOST")
	init_rabbit_commands
}

# --------------------------------------------------------------------------
# MariaDB
# --------------------------------------------------------------------------

# mysql_root [--socket=S] ARGS...: the mariadb client as root over a socket.
mysql_root() {
	mariadb -uroot --batch --skip-column-names "$@"
}

# mysql_app DB ARGS...: the mariadb client as the administrator (root over
# our socket) when we have one, else as the API's user over TCP.
mysql_app() {
	local db=$1
	shift
	if [[ -n ${MYSQL_ROOT_SOCKET:-} ]]; then
		mysql_root --socket="$MYSQL_ROOT_SOCKET" "$@" "$db"
		return
	fi
	MYSQL_PWD=$AUDITLOG_MYSQL_PASSWORD mariadb --protocol=tcp \
		-h "$MYSQL_TCP_HOST" -P "$AUDITLOG_MYSQL_PORT" -u "$AUDITLOG_MYSQL_USER" \
		--batch --skip-column-names "$@" "$db"
}

# mysql_server_start DIR PORT [MARIADBD-OPTION...]: a private MariaDB server
# of ours, without systemd: its data in DIR/data (made by mariadb-install-db
# on first use), its socket, pid file and error log in DIR, listening on
# 127.0.0.1:PORT in a session of its own, with the options every server of
# ours takes followed by the caller's (a binary log, a server id: see
# scripts/replica.sh). When DIR's server is already starting it is waited
# for, not started again. Returns once it answers a query; dies after 30 s.
mysql_server_start() {
	local dir=$1 port=$2
	shift 2
	local data=$dir/data sock=$dir/mysqld.sock pidfile=$dir/mysqld.pid log=$dir/error.log
	command -v mariadbd >/dev/null || PATH=$PATH:/usr/sbin
	command -v mariadbd >/dev/null || die "mariadbd not found (run ./run.sh build to install mariadb-server)"
	mkdir -p "$dir"
	chmod 700 "$dir"

	if pid_alive "$pidfile"; then
		info "MariaDB: the server of $dir (pid $(cat "$pidfile")) is running but not answering yet; waiting"
	else
		if [[ ! -d $data/mysql ]]; then
			info "MariaDB: initialising $data"
			rm -rf "$data"
			if ! mariadb-install-db --no-defaults --datadir="$data" --user=root \
				--auth-root-authentication-method=normal --skip-test-db \
				>"$dir/install-db.log" 2>&1; then
				tail -n 30 "$dir/install-db.log" >&2
				die "mariadb-install-db failed (log: $dir/install-db.log)"
			fi
		fi
		rm -f "$sock" "$sock.lock" "$pidfile"
		info "MariaDB: starting a private server on 127.0.0.1:$port (data in $data)"
		setsid mariadbd --no-defaults \
			--datadir="$data" --socket="$sock" --pid-file="$pidfile" \
			--log-error="$log" --port="$port" --bind-address=127.0.0.1 \
			--user=root --skip-name-resolve \
			--character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
			--innodb-buffer-pool-size=1G --innodb-log-file-size=1G \
			--innodb-io-capacity=2000 "$@" \
			</dev/null >>"$log" 2>&1 &
		disown $! 2>/dev/null || true
	fi

	local deadline=$((SECONDS + 30))
	# A query, not mariadb-admin ping: ping succeeds as soon as the socket
	# exists, while InnoDB may still be starting (resizing its redo log).
	until mysql_root --socket="$sock" -e 'SELECT 1' >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			tail -n 30 "$log" >&2 || true
			die "MariaDB did not start within 30 s (log: $log)"
		fi
		sleep 0.2
	done
	info "MariaDB: up on port $port"
}

# mysql_server_stop DIR: stops the server mysql_server_start started in DIR
# (a clean shutdown; killed after 60 s), if it runs.
mysql_server_stop() {
	local dir=$1 pid=""
	[[ -s $dir/mysqld.pid ]] && pid=$(tr -dc '0-9' <"$dir/mysqld.pid")
	if [[ -n $pid ]] && proc_running "$pid"; then
		info "MariaDB: stopping the server of $dir (pid $pid)"
		mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot shutdown >/dev/null 2>&1 ||
			kill -TERM "$pid" 2>/dev/null || true
		if ! wait_pid_gone "$pid" 60; then
			warn "MariaDB did not stop within 60 s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			wait_pid_gone "$pid" 10 || true
		fi
	fi
	rm -f "$dir/mysqld.pid"
}

start_private_mysql() {
	is_local_host "$AUDITLOG_MYSQL_HOST" ||
		die "nothing answers at $AUDITLOG_MYSQL_HOST:$AUDITLOG_MYSQL_PORT and it is not a local address"
	mkdir -p "$MYSQL_DIR"
	STARTED_MYSQL=1
	date -u +%FT%TZ >"$MYSQL_MARKER"
	mysql_server_start "$MYSQL_DIR" "$AUDITLOG_MYSQL_PORT"
}

# Finds a socket on which root can log in to the server we talk to over TCP.
find_mysql_root_socket() {
	MYSQL_ROOT_SOCKET=""
	is_local_host "$AUDITLOG_MYSQL_HOST" || return 0
	local sock port
	for sock in "$MYSQL_SOCKET" "${MYSQL_MORE_SOCKETS[@]}" /run/mysqld/mysqld.sock; do
		[[ -S $sock ]] || continue
		port=$(mysql_root --socket="$sock" -e 'SELECT @@port' 2>/dev/null) || continue
		if [[ $port == "$AUDITLOG_MYSQL_PORT" ]]; then
			MYSQL_ROOT_SOCKET=$sock
			return 0
		fi
	done
}

# The administrator and the migrator of scripts/dbsetup.sh: root over the
# socket find_mysql_root_socket found; without one (an external server) the
# API's user over TCP migrates, and nothing is provisioned or granted.
db_admin() { mysql_root --socket="$MYSQL_ROOT_SOCKET" "$@"; }
db_migrator() { mysql_app "$@"; }

# prepare_databases SUFFIX: provision, migrate and grant one set of
# databases ("" for the main ones, "-test", "-bench"), then add the demo's
# data (sql/demo/api: user 1, an auditor, whom the demo, the tests and the
# benchmarks sign in as). Only run.sh applies sql/demo/; it is not
# installed, and auditlog-migrate never reads it (README "Deploying").
prepare_databases() {
	local api_db=$AUDITLOG_API_DB$1 auditor_db=$AUDITLOG_AUDITOR_DB$1
	find_mysql_root_socket
	if [[ -n $MYSQL_ROOT_SOCKET ]]; then
		db_prepare "$api_db" "$auditor_db" "$REPO_ROOT/sql"
	else
		info "MariaDB: $AUDITLOG_MYSQL_HOST:$AUDITLOG_MYSQL_PORT is an external server; assuming its databases, users and grants exist"
		migrate_database "$api_db" "$REPO_ROOT/sql/api"
		migrate_database "$auditor_db" "$REPO_ROOT/sql/auditor"
	fi
	migrate_database "$api_db" "$REPO_ROOT/sql/demo/api"
}

# --------------------------------------------------------------------------
# RabbitMQ
# --------------------------------------------------------------------------

# The environment of our private node, as `env VAR=... ` prefixes, so that
# RABBITMQ_SERVER/RABBITMQCTL run as plain external commands: redirections
# then apply in the child only. (A redirection on a shell *function* call
# is applied in this shell, and a trap firing meanwhile would inherit it.)
init_rabbit_commands() {
	local -a rabbit_env=(env
		HOME="$RABBIT_DIR/home"
		RABBITMQ_CONF_ENV_FILE="$RABBIT_DIR/rabbitmq-env.conf"
		RABBITMQ_MNESIA_BASE="$RABBIT_DIR/mnesia"
		RABBITMQ_LOG_BASE="$RABBIT_DIR/log"
		RABBITMQ_NODENAME="$RABBIT_NODENAME"
		RABBITMQ_NODE_PORT="$AMQP_PORT"
		RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT"
		RABBITMQ_PID_FILE="$RABBIT_PIDFILE"
		RABBITMQ_ENABLED_PLUGINS_FILE="$RABBIT_DIR/enabled_plugins"
		RABBITMQ_CONFIG_FILE="$RABBIT_DIR/rabbitmq.conf"
		# Erlang's schedulers spin while idle by default; on a small machine
		# shared with MariaDB and the daemons that burns a core for nothing.
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none")
	RABBITMQ_SERVER=("${rabbit_env[@]}" "$RABBIT_BIN/rabbitmq-server")
	RABBITMQCTL=("${rabbit_env[@]}" "$RABBIT_BIN/rabbitmqctl")
}

write_rabbit_config() {
	mkdir -p "$RABBIT_DIR/home" "$RABBIT_DIR/mnesia" "$RABBIT_DIR/log"
	chmod 700 "$RABBIT_DIR" "$RABBIT_DIR/home"
	: >"$RABBIT_DIR/rabbitmq-env.conf" # keeps /etc/rabbitmq/rabbitmq-env.conf out
	printf '[%s].\n' "$RABBIT_PLUGINS" >"$RABBIT_DIR/enabled_plugins"
	cat >"$RABBIT_DIR/rabbitmq.conf" <<EOF
# Written by run.sh for the private development node.
loopback_users = none
$RABBIT_CONF_EXTRA
EOF
}

start_private_rabbit() {
	is_local_host "$AMQP_HOST" ||
		die "nothing answers at $AMQP_HOST:$AMQP_PORT and it is not a local address"
	launch_private_rabbit
	await_private_rabbit
}

# launch_private_rabbit: starts the node RABBIT_* and RABBITMQ_SERVER
# describe (scripts/cluster.sh points them at each cluster node in turn),
# unless it is running already, and does not wait for it.
launch_private_rabbit() {
	[[ -x $RABBIT_BIN/rabbitmq-server ]] ||
		die "$RABBIT_BIN/rabbitmq-server not found (run ./run.sh build to install rabbitmq-server)"
	write_rabbit_config

	if pid_alive "$RABBIT_PIDFILE"; then
		info "RabbitMQ: our node $RABBIT_NODENAME (pid $(cat "$RABBIT_PIDFILE")) is running but not answering yet; waiting"
	else
		rm -f "$RABBIT_PIDFILE"
		info "RabbitMQ: starting private node $RABBIT_NODENAME on port $AMQP_PORT (data in $RABBIT_DIR)"
		"${RABBITMQ_SERVER[@]}" -detached \
			</dev/null >>"$RABBIT_DIR/log/startup.log" 2>&1 ||
			die "rabbitmq-server -detached failed (log: $RABBIT_DIR/log/startup.log)"
	fi
	STARTED_RABBIT=1
	date -u +%FT%TZ >"$RABBIT_MARKER"
}

# await_private_rabbit: waits up to 60 s for the node launch_private_rabbit
# started to finish booting.
await_private_rabbit() {
	# A single await_startup right after -detached fails ("node not
	# running") until the node has registered, so poll.
	local deadline=$((SECONDS + 60))
	until "${RABBITMQCTL[@]}" -q await_startup >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			tail -n 30 "$RABBIT_DIR"/log/*.log >&2 || true
			die "RabbitMQ node $RABBIT_NODENAME did not start within 60 s (logs: $RABBIT_DIR/log)"
		fi
		sleep 1
	done
	info "RabbitMQ: $RABBIT_NODENAME up"
}

# stamp_replace_user_line LINE: drops the stamp's line for the user, adds LINE.
stamp_replace_user_line() {
	local line prefix="user $AMQP_USER " kept=""
	while IFS= read -r line; do
		[[ $line == "$prefix"* ]] || kept+=$line$'\n'
	done <"$RABBIT_STAMP"
	printf '%s%s\n' "$kept" "$1" >"$RABBIT_STAMP"
}

# provision_rabbit VHOST...: user from the URL with full rights on each vhost.
# What was done is stamped so that later runs need no rabbitmqctl call
# (each one boots an Erlang VM, about 1 s).
provision_rabbit() {
	if ((!RABBIT_IS_OURS)); then
		info "RabbitMQ: $AMQP_HOST:$AMQP_PORT is an external broker; assuming user '$AMQP_USER' and vhost(s) $* exist"
		return 0
	fi
	local pwhash want_user vhost users vhosts
	pwhash=$(printf '%s' "$AMQP_PASSWORD" | sha256sum)
	pwhash=${pwhash%% *}
	want_user="user $AMQP_USER $pwhash"
	touch "$RABBIT_STAMP"

	if ! grep -qxF -- "$want_user" "$RABBIT_STAMP"; then
		users=$("${RABBITMQCTL[@]}" -q list_users --no-table-headers) ||
			die "RabbitMQ: rabbitmqctl list_users failed"
		if cut -f1 <<<"$users" | grep -qxF -- "$AMQP_USER"; then
			"${RABBITMQCTL[@]}" -q change_password "$AMQP_USER" "$AMQP_PASSWORD" >/dev/null
		else
			"${RABBITMQCTL[@]}" -q add_user "$AMQP_USER" "$AMQP_PASSWORD" >/dev/null
		fi
		stamp_replace_user_line "$want_user"
		info "RabbitMQ: user '$AMQP_USER' provisioned"
	fi

	vhosts=""
	for vhost in "$@"; do
		grep -qxF -- "perm $AMQP_USER $vhost" "$RABBIT_STAMP" && continue
		if [[ -z $vhosts ]]; then
			vhosts=$("${RABBITMQCTL[@]}" -q list_vhosts --no-table-headers) ||
				die "RabbitMQ: rabbitmqctl list_vhosts failed"
		fi
		if ! grep -qxF -- "$vhost" <<<"$vhosts"; then
			"${RABBITMQCTL[@]}" -q add_vhost "$vhost" >/dev/null
		fi
		"${RABBITMQCTL[@]}" -q set_permissions -p "$vhost" "$AMQP_USER" '.*' '.*' '.*' >/dev/null
		printf 'perm %s %s\n' "$AMQP_USER" "$vhost" >>"$RABBIT_STAMP"
		info "RabbitMQ: vhost '$vhost' provisioned for '$AMQP_USER'"
	done
}

# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------

ensure_jwt_keys() {
	local priv=$AUDITLOG_JWT_PRIVATE_KEY pub=$AUDITLOG_JWT_PUBLIC_KEY
	if [[ ! -f $priv ]]; then
		mkdir -p "$(dirname "$priv")"
		chmod 700 "$(dirname "$priv")"
		(
			umask 077
			openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$priv.tmp" 2>/dev/null
		) || die "openssl genpkey failed"
		chmod 600 "$priv.tmp"
		mv "$priv.tmp" "$priv"
		rm -f "$pub"
		info "keys: created RSA key pair $priv"
	fi
	if [[ ! -f $pub ]]; then
		mkdir -p "$(dirname "$pub")"
		openssl pkey -in "$priv" -pubout -out "$pub" || die "openssl pkey -pubout failed"
	fi
}

# The token GET /metrics asks of scrapers (README "Metrics"): made on first
# run in the keys folder (mode 0600) and exported, unless
# AUDITLOG_METRICS_TOKEN is set already (set but empty: no /metrics).
METRICS_TOKEN_FILE="" # set when the token was read from the keys folder
ensure_metrics_token() {
	[[ -z ${AUDITLOG_METRICS_TOKEN+set} ]] || return 0
	local file=$AUDITLOG_STATE_DIR/keys/metrics-token
	if [[ ! -s $file ]]; then
		mkdir -p "$(dirname "$file")"
		(
			umask 077
			openssl rand -hex 32 | tr -d "\n" >"$file.tmp"
		) || die "openssl rand failed"
		mv "$file.tmp" "$file"
		info "keys: created the metrics token $file"
	fi
	AUDITLOG_METRICS_TOKEN=$(<"$file")
	export AUDITLOG_METRICS_TOKEN
	METRICS_TOKEN_FILE=$file
}

# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------

ensure_mysql() {
	if tcp_answers "$MYSQL_TCP_HOST" "$AUDITLOG_MYSQL_PORT"; then
		return 0
	fi
	start_private_mysql
}

ensure_rabbit() {
	if ! tcp_answers "$AMQP_TCP_HOST" "$AMQP_PORT"; then
		start_private_rabbit
	fi
	RABBIT_IS_OURS=0
	if [[ -f $RABBIT_MARKER ]] && pid_alive "$RABBIT_PIDFILE"; then
		RABBIT_IS_OURS=1
	fi
}

# ensure_infra [test] [no-broker] [no-database]: servers up, provisioned
# and migrated; keys present. With "test", also the -test databases and the
# test vhost; with "no-broker", no single RabbitMQ node, with "no-database"
# no single MariaDB server (./run.sh cluster has its own of each).
ensure_infra() {
	local with_test="" broker=1 database=1 arg
	for arg in "$@"; do
		case $arg in
		test) with_test="test" ;;
		no-broker) broker=0 ;;
		no-database) database=0 ;;
		esac
	done
	local -a vhosts=("$AMQP_VHOST")
	[[ $with_test != test ]] || vhosts+=("$TEST_VHOST" "$TEST_VHOST-quorum")
	mkdir -p "$AUDITLOG_STATE_DIR"

	if ((database)); then
		ensure_mysql
		prepare_databases ""
		if [[ $with_test == test ]]; then
			prepare_databases -test
		fi
	fi

	if ((broker)); then
		ensure_rabbit
		provision_rabbit "${vhosts[@]}"
	fi

	ensure_jwt_keys
	ensure_metrics_token

	# Lets clients that take "localhost" to mean the unix socket (libmariadb
	# does) find our private server's socket.
	if ((database)) && [[ $MYSQL_ROOT_SOCKET == "$MYSQL_SOCKET" ]]; then
		export MYSQL_UNIX_PORT=$MYSQL_SOCKET
	fi
}

stop_mysql() {
	[[ -f $MYSQL_MARKER ]] || return 0
	mysql_server_stop "$MYSQL_DIR"
	rm -f "$MYSQL_MARKER"
}

stop_rabbit() {
	[[ -f $RABBIT_MARKER ]] || return 0
	local pid=""
	[[ -s $RABBIT_PIDFILE ]] && pid=$(tr -dc '0-9' <"$RABBIT_PIDFILE")
	if [[ -n $pid ]] && proc_running "$pid"; then
		info "RabbitMQ: stopping (pid $pid)"
		"${RABBITMQCTL[@]}" -q stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
		if ! wait_pid_gone "$pid" 60; then
			warn "RabbitMQ did not stop within 60 s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			wait_pid_gone "$pid" 10 || true
		fi
	fi
	rm -f "$RABBIT_MARKER" "$RABBIT_PIDFILE"
	stop_epmd_if_unused
}

# epmd outlives the node that started it; stop it when no node is left.
stop_epmd_if_unused() {
	command -v epmd >/dev/null || return 0
	local names
	names=$(epmd -names 2>/dev/null) || return 0 # not running
	if ! grep -q '^name ' <<<"$names"; then
		epmd -kill >/dev/null 2>&1 || true
	fi
}

# stop_infra [started-only]: stops what infra started (markers); with
# "started-only", only what THIS invocation started.
stop_infra() {
	if [[ ${1:-} == started-only ]]; then
		if ((STARTED_MYSQL)); then stop_mysql; fi
		if ((STARTED_RABBIT)); then stop_rabbit; fi
		STARTED_MYSQL=0
		STARTED_RABBIT=0
	else
		stop_mysql
		stop_rabbit
	fi
}
