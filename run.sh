#!/usr/bin/env bash
# Builds auditlog, runs its infrastructure (MariaDB, RabbitMQ) and its daemons.
# `./run.sh help` for usage. Infrastructure helpers live in scripts/infra.sh.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$REPO_ROOT"
# shellcheck source=scripts/infra.sh
source "$REPO_ROOT/scripts/infra.sh"
# shellcheck source=scripts/cluster.sh
source "$REPO_ROOT/scripts/cluster.sh"
# shellcheck source=scripts/replica.sh
source "$REPO_ROOT/scripts/replica.sh"

DEBIAN_PACKAGES=(
	build-essential cmake pkg-config
	libmicrohttpd-dev librabbitmq-dev libmariadb-dev libmariadb-dev-compat
	libjansson-dev libjwt-dev libssl-dev libcurl4-openssl-dev zlib1g-dev
	mariadb-server mariadb-client rabbitmq-server
	openssl python3 curl wrk clang libclang-rt-14-dev chromium
)
# Only for ./run.sh test: promtool (Debian's prometheus package) checks
# each daemon's /metrics (integration.metrics).
TEST_PACKAGES=(prometheus)
DAEMONS=(api auditor web)

usage() {
	cat <<EOF
Usage: ./run.sh [COMMAND] [ARGS...]

Commands:
  run (default)  build, start the infrastructure and the three daemons; Ctrl-C
                 stops the daemons and the servers this command started
  build          install missing Debian packages (as root) and build into build/
  infra          start/provision/migrate MariaDB and RabbitMQ, create JWT keys;
                 leaves them running
  stop           stop the MariaDB and RabbitMQ that infra started
  test [ARGS]    sanitizer build in build-sanitize/, infra plus test databases
                 and vhost, then ctest (ARGS go to ctest, e.g. -R unit)
  replica [start|stop|start-replica|stop-replica|status]
                 the auditor's database as a MariaDB primary (port 3316, binary
                 log) and a GTID read replica (port 3317) under
                 \$AUDITLOG_STATE_DIR/cluster (README "Read replica"); start
                 also prepares the databases on the primary
  fuzz [SECONDS] libFuzzer targets (clang, ASan+UBSan) built in build-fuzz/,
                 SECONDS each (default 30); see fuzz/README.md
  bench [--smoke] release build, infra plus bench databases and vhost, then
                 the benchmarks (bench/bench.py; several minutes; --smoke: tiny)
  cluster        like run, against a three-node RabbitMQ cluster (README
                 "Cluster mode"): one API, AUDITLOG_CLUSTER_AUDITORS auditors
  cluster-infra  start, join and provision the cluster's nodes; leaves them running
  cluster-stop   stop the cluster's nodes
  cluster-kill N / cluster-start-node N
                 SIGKILL node N / start it again and wait until it is back
  cluster-ctl N ARGS  rabbitmqctl ARGS against node N
  help           this text

Environment (default):
  AUDITLOG_STATE_DIR       (<repo>/.state)  local server data, logs, keys
  AUDITLOG_AMQP_URL        (amqp://dev:dev@localhost:5672/)
  AUDITLOG_MYSQL_HOST      (localhost)      AUDITLOG_MYSQL_PORT (3306)
  AUDITLOG_MYSQL_USER      (dev)            AUDITLOG_MYSQL_PASSWORD (dev)
  AUDITLOG_API_DB          (audit-logging-api)
  AUDITLOG_AUDITOR_DB      (audit-logging-auditor)
  AUDITLOG_API_PORT (3000) AUDITLOG_AUDITOR_PORT (3001) AUDITLOG_WEB_PORT (3002)
  AUDITLOG_API_URL         (http://localhost:\$AUDITLOG_API_PORT)  where the auditor
                           introspects tokens
  AUDITLOG_JWT_PRIVATE_KEY (\$AUDITLOG_STATE_DIR/keys/jwt-private.pem)
  AUDITLOG_JWT_PUBLIC_KEY  (\$AUDITLOG_STATE_DIR/keys/jwt-public.pem)
  AUDITLOG_SPOOL_DIR       (\$AUDITLOG_STATE_DIR/spool)
  AUDITLOG_LOG_KEY         (\$AUDITLOG_STATE_DIR/keys/log-signer.key)  the log's
                           checkpoint key, made on first start (verifier key: .vkey)
  AUDITLOG_METRICS_TOKEN   (the contents of \$AUDITLOG_STATE_DIR/keys/metrics-token,
                           made on first run)  what GET /metrics asks for; set
                           empty for no /metrics
Cluster mode (default):
  AUDITLOG_CLUSTER_AMQP_PORTS (5701,5702,5703)  one node per port
  AUDITLOG_CLUSTER_DIST_PORTS (each AMQP port + 20000)  Erlang distribution
  AUDITLOG_CLUSTER_AUDITORS   (2)  auditor I (from 0) on AUDITLOG_AUDITOR_PORT + 10*I
  AUDITLOG_QUEUE_TYPE (quorum)  AUDITLOG_PARTITIONS (4)
EOF
}

# Applies the defaults and exports every setting (the daemons read them).
load_environment() {
	: "${AUDITLOG_STATE_DIR:=$REPO_ROOT/.state}"
	mkdir -p "$AUDITLOG_STATE_DIR"
	AUDITLOG_STATE_DIR=$(cd "$AUDITLOG_STATE_DIR" && pwd)
	: "${AUDITLOG_AMQP_URL:=amqp://dev:dev@localhost:5672/}"
	: "${AUDITLOG_MYSQL_HOST:=localhost}"
	: "${AUDITLOG_MYSQL_PORT:=3306}"
	: "${AUDITLOG_MYSQL_USER:=dev}"
	: "${AUDITLOG_MYSQL_PASSWORD:=dev}"
	: "${AUDITLOG_API_DB:=audit-logging-api}"
	: "${AUDITLOG_AUDITOR_DB:=audit-logging-auditor}"
	: "${AUDITLOG_AUDITOR_MYSQL_USER:=auditor}"
	: "${AUDITLOG_AUDITOR_MYSQL_PASSWORD:=auditor}"
	: "${AUDITLOG_AUDITOR_READER_USER:=auditor_reader}"
	: "${AUDITLOG_AUDITOR_READER_PASSWORD:=auditor_reader}"
	: "${AUDITLOG_AUDITOR_ERASER_USER:=auditor_eraser}"
	: "${AUDITLOG_AUDITOR_ERASER_PASSWORD:=auditor_eraser}"
	: "${AUDITLOG_AUDITOR_MAINTAINER_USER:=auditor_maintainer}"
	: "${AUDITLOG_AUDITOR_MAINTAINER_PASSWORD:=auditor_maintainer}"
	: "${AUDITLOG_API_PORT:=3000}"
	: "${AUDITLOG_AUDITOR_PORT:=3001}"
	: "${AUDITLOG_WEB_PORT:=3002}"
	: "${AUDITLOG_API_URL:=http://localhost:$AUDITLOG_API_PORT}" # the auditor asks the API about tokens
	: "${AUDITLOG_JWT_PRIVATE_KEY:=$AUDITLOG_STATE_DIR/keys/jwt-private.pem}"
	: "${AUDITLOG_JWT_PUBLIC_KEY:=$AUDITLOG_STATE_DIR/keys/jwt-public.pem}"
	: "${AUDITLOG_SPOOL_DIR:=$AUDITLOG_STATE_DIR/spool}"
	: "${AUDITLOG_LOG_KEY:=$AUDITLOG_STATE_DIR/keys/log-signer.key}"
	export AUDITLOG_STATE_DIR AUDITLOG_AMQP_URL AUDITLOG_MYSQL_HOST AUDITLOG_MYSQL_PORT \
		AUDITLOG_MYSQL_USER AUDITLOG_MYSQL_PASSWORD AUDITLOG_API_DB AUDITLOG_AUDITOR_DB \
		AUDITLOG_AUDITOR_MYSQL_USER AUDITLOG_AUDITOR_MYSQL_PASSWORD \
		AUDITLOG_AUDITOR_READER_USER AUDITLOG_AUDITOR_READER_PASSWORD \
		AUDITLOG_AUDITOR_ERASER_USER AUDITLOG_AUDITOR_ERASER_PASSWORD \
		AUDITLOG_AUDITOR_MAINTAINER_USER AUDITLOG_AUDITOR_MAINTAINER_PASSWORD \
		AUDITLOG_API_PORT AUDITLOG_AUDITOR_PORT AUDITLOG_WEB_PORT AUDITLOG_API_URL \
		AUDITLOG_JWT_PRIVATE_KEY AUDITLOG_JWT_PUBLIC_KEY AUDITLOG_SPOOL_DIR AUDITLOG_LOG_KEY
	init_infra_paths
}

# --------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------

# install_packages [MORE...]: DEBIAN_PACKAGES and MORE.
install_packages() {
	if ! command -v dpkg-query >/dev/null; then
		warn "not a Debian system: not checking packages"
		return 0
	fi
	local pkg status
	local -a missing=()
	for pkg in "${DEBIAN_PACKAGES[@]}" "$@"; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
		[[ $status == "install ok installed" ]] || missing+=("$pkg")
	done
	# The browser test needs Node.js 20 or later: Debian's own nodejs (18) is
	# only a fallback when the machine has none (the base image ships 20).
	command -v node >/dev/null || missing+=(nodejs npm)
	((${#missing[@]})) || return 0
	if ((EUID != 0)); then
		warn "missing packages (install them as root): ${missing[*]}"
		return 0
	fi
	info "installing: ${missing[*]}"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# The integration tests check every JSON:API answer against the official
# schema with tests/tools/jsonapi_validate.mjs, whose npm packages are pinned
# by tests/tools/package-lock.json: `npm ci` there when they are missing or
# older than the lock file. A failure only warns: the tests then fail saying
# what is missing, and unit tests still run.
install_test_tools() {
	local dir=$REPO_ROOT/tests/tools
	[[ $dir/node_modules/.package-lock.json -nt $dir/package-lock.json ]] && return 0
	if ! command -v npm >/dev/null; then
		warn "npm is missing: the integration tests' JSON:API schema check cannot be installed"
		return 0
	fi
	info "installing the JSON:API schema check's npm packages (npm ci in tests/tools)"
	(cd "$dir" && npm ci --no-audit --no-fund) || warn "npm ci in tests/tools failed"
}

# cmake_build DIR ARGS...: configures DIR once with ARGS, then builds it.
# (Configured again only if a previous configure did not finish.)
cmake_build() {
	local dir=$1
	shift
	if [[ ! -f $dir/CMakeCache.txt ]] || [[ ! -f $dir/Makefile && ! -f $dir/build.ninja ]]; then
		cmake -S . -B "$dir" "$@"
	fi
	cmake --build "$dir" -j"$(nproc)"
}

cmd_build() {
	install_packages
	cmake_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
}

# --------------------------------------------------------------------------
# run / test: signal handling and cleanup
# --------------------------------------------------------------------------

STOP_REQUESTED=0
IN_WAIT_LOOP=0
declare -A DAEMON_PIDS=()

# INT/TERM: inside the wait loop only set a flag (the loop shuts down and
# exits 0); elsewhere exit, and the EXIT trap cleans up.
on_signal() {
	STOP_REQUESTED=1
	if ((!IN_WAIT_LOOP)); then
		exit 130
	fi
}

# EXIT: stop our daemons, then the servers this invocation started.
cleanup() {
	trap '' INT TERM
	stop_daemons
	cluster_cleanup
	stop_infra started-only
}

install_traps() {
	trap on_signal INT TERM
	trap cleanup EXIT
}

stop_daemons() {
	local name pid deadline
	((${#DAEMON_PIDS[@]})) || return 0
	for name in "${!DAEMON_PIDS[@]}"; do
		kill -TERM "${DAEMON_PIDS[$name]}" 2>/dev/null || true
	done
	deadline=$((SECONDS + 10))
	for name in "${!DAEMON_PIDS[@]}"; do
		pid=${DAEMON_PIDS[$name]}
		while proc_running "$pid" && ((SECONDS < deadline)); do
			sleep 0.1
		done
		if proc_running "$pid"; then
			warn "auditlog-$name did not stop within 10 s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	DAEMON_PIDS=()
}

# daemon_port NAME: NAME is a daemon, or auditor.I for the I-th further
# auditor of cluster mode (on AUDITLOG_AUDITOR_PORT + 10 * I).
daemon_port() {
	case $1 in
	api) echo "$AUDITLOG_API_PORT" ;;
	auditor) echo "$AUDITLOG_AUDITOR_PORT" ;;
	auditor.*) echo $((AUDITLOG_AUDITOR_PORT + 10 * ${1#auditor.})) ;;
	web) echo "$AUDITLOG_WEB_PORT" ;;
	esac
}

start_daemons() {
	local name port bin instance
	for name in "${DAEMONS[@]}"; do
		bin=$REPO_ROOT/build/bin/auditlog-${name%%.*}
		[[ -x $bin ]] || die "$bin is missing (did the build produce it?)"
		port=$(daemon_port "$name")
		if tcp_answers 127.0.0.1 "$port"; then
			die "port $port (auditlog-$name) is already in use"
		fi
	done
	for name in "${DAEMONS[@]}"; do
		start_daemon "$name"
	done
}

# start_daemon NAME: starts one daemon in the background, its pid in
# DAEMON_PIDS[NAME]. Each daemon gets its own session, so a Ctrl-C at the
# terminal reaches only this script, which then stops them in order.
start_daemon() {
	local name=$1 port=$AUDITLOG_AUDITOR_PORT instance=${AUDITLOG_AUDITOR_INSTANCE:-0}
	# cluster mode's further auditors: ports and instance numbers of their own
	if [[ $name == auditor.* ]]; then
		port=$(daemon_port "$name") instance=${name#auditor.}
	fi
	AUDITLOG_AUDITOR_PORT=$port AUDITLOG_AUDITOR_INSTANCE=$instance \
		setsid "$REPO_ROOT/build/bin/auditlog-${name%%.*}" &
	DAEMON_PIDS[$name]=$!
}

# Waits up to 60 s until every daemon answers 200 on /readyz (README
# "Health"): its database, broker and backlogs as it sees them.
wait_for_daemons_ready() {
	local name port body deadline=$((SECONDS + 60))
	for name in "${DAEMONS[@]}"; do
		port=$(daemon_port "$name")
		until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null; do
			proc_running "${DAEMON_PIDS[$name]}" ||
				die "auditlog-$name exited during start-up"
			if ((SECONDS >= deadline)); then
				body=$(curl -sS --max-time 2 "http://127.0.0.1:$port/readyz" 2>&1 || true)
				die "auditlog-$name is not ready after 60 s: ${body:-no answer on port $port}"
			fi
			sleep 0.2
		done
	done
}

# Waits for Ctrl-C/SIGTERM (exit 0) or for a daemon to exit (exit non-zero).
# In cluster mode (RESTART_AUDITORS=1) an auditor that exits is started
# again 2 s later, as a service manager would, so that its partitions' failover
# and hand-back can be watched (kill -9 one: README "On the cluster").
RESTART_AUDITORS=0
supervise_daemons() {
	local name pid rc
	IN_WAIT_LOOP=1
	# A poll of every daemon, not `wait -n`: with two gone at once (or one
	# gone during another's restart) bash 5.2's `wait -n PIDS` answered "no
	# such job" for the second and it was never noticed.
	while ! ((STOP_REQUESTED)); do
		for name in "${!DAEMON_PIDS[@]}"; do
			pid=${DAEMON_PIDS[$name]}
			proc_running "$pid" && continue
			rc=0
			wait "$pid" 2>/dev/null || rc=$?
			unset "DAEMON_PIDS[$name]"
			((STOP_REQUESTED)) && break 2
			if ((RESTART_AUDITORS)) && [[ $name == auditor* ]]; then
				warn "auditlog-$name exited (status $rc); starting it again in 2 s"
				sleep 2
				((STOP_REQUESTED)) && break 2
				start_daemon "$name"
				info "auditlog-$name started again (pid ${DAEMON_PIDS[$name]})"
				continue
			fi
			warn "auditlog-$name exited on its own (status $rc); stopping everything"
			IN_WAIT_LOOP=0
			exit $((rc == 0 ? 1 : rc)) # the EXIT trap stops the rest
		done
		sleep 0.2 &
		wait $! 2>/dev/null || true # a signal's trap runs at once
	done
	info "stopping"
	IN_WAIT_LOOP=0
	exit 0
}

cmd_run() {
	install_traps
	cmd_build
	ensure_infra
	run_daemons
}

# run_daemons: starts DAEMONS from build/, waits until they are ready,
# prints their URLs and supervises them until Ctrl-C (cmd_run, cmd_cluster).
run_daemons() {
	local name label others=""
	export AUDITLOG_BIN_DIR=$REPO_ROOT/build/bin
	start_daemons
	wait_for_daemons_ready
	for name in "${DAEMONS[@]}"; do
		case $name in
		api) label="API:" ;;
		web) label="web UI:" ;;
		*) label="$name:" ;;
		esac
		info "$(printf '%-11s' "$label") http://localhost:$(daemon_port "$name") (pid ${DAEMON_PIDS[$name]})"
		[[ $name == api ]] || others+=${others:+, }$(daemon_port "$name")
	done
	if [[ -n $METRICS_TOKEN_FILE ]]; then
		info "metrics:    curl -H \"Authorization: Bearer \$(cat $METRICS_TOKEN_FILE)\" http://localhost:$AUDITLOG_API_PORT/metrics"
		info "            (likewise on ports $others)"
	elif [[ -n $AUDITLOG_METRICS_TOKEN ]]; then
		info "metrics:    GET /metrics on each port, with Authorization: Bearer \$AUDITLOG_METRICS_TOKEN"
	fi
	info "Ctrl-C to stop"
	supervise_daemons
}

cmd_test() {
	install_traps
	install_packages "${TEST_PACKAGES[@]}"
	install_test_tools
	cmake_build build-sanitize -DCMAKE_BUILD_TYPE=Debug -DAUDITLOG_SANITIZE=ON
	ensure_infra test
	local rc=0 pair_was_up=0
	# integration.replica starts the database pair of cluster mode when it
	# is not running; stopped again at the end if so (cluster_cleanup).
	replica_init_paths
	if replica_server_up "$PRIMARY_DIR" "$PRIMARY_PORT"; then pair_was_up=1; fi
	AUDITLOG_API_DB=$AUDITLOG_API_DB-test \
		AUDITLOG_AUDITOR_DB=$AUDITLOG_AUDITOR_DB-test \
		AUDITLOG_AMQP_URL=$(amqp_url_with_vhost "$TEST_VHOST") \
		AUDITLOG_BIN_DIR=$REPO_ROOT/build-sanitize/bin \
		ctest --test-dir build-sanitize --output-on-failure "$@" || rc=$?
	if ((!pair_was_up)) && replica_server_up "$PRIMARY_DIR" "$PRIMARY_PORT"; then
		CLUSTER_REPLICA_STARTED=1
	fi
	exit "$rc" # the EXIT trap stops the servers this command started
}

# The benchmarks run the release build against their own databases
# ($AUDITLOG_API_DB-bench, $AUDITLOG_AUDITOR_DB-bench) and vhost
# (auditlog-bench), provisioned the way cmd_test provisions the -test ones.
cmd_bench() {
	install_traps
	cmd_build
	ensure_infra
	local bench_vhost=auditlog-bench
	prepare_databases -bench
	provision_rabbit "$bench_vhost" "$bench_vhost-quorum"
	local rc=0
	AUDITLOG_API_DB=$AUDITLOG_API_DB-bench \
		AUDITLOG_AUDITOR_DB=$AUDITLOG_AUDITOR_DB-bench \
		AUDITLOG_AMQP_URL=$(amqp_url_with_vhost "$bench_vhost") \
		AUDITLOG_BIN_DIR=$REPO_ROOT/build/bin \
		AUDITLOG_SOURCE_DIR=$REPO_ROOT \
		python3 "$REPO_ROOT/bench/bench.py" "$@" || rc=$?
	exit "$rc" # the EXIT trap stops the servers this command started
}

cmd_fuzz() {
	install_packages
	exec "$REPO_ROOT/fuzz/run.sh" "$@"
}

cmd_infra() {
	ensure_infra
	info "MariaDB at $MYSQL_TCP_HOST:$AUDITLOG_MYSQL_PORT, RabbitMQ at $AMQP_HOST:$AMQP_PORT vhost '$AMQP_VHOST'"
}

main() {
	local cmd=${1:-run}
	(($# == 0)) || shift
	case $cmd in
	help | -h | --help)
		usage
		return 0
		;;
	run | build | infra | stop | test | bench | fuzz | replica) ;;
	cluster | cluster-infra | cluster-stop | cluster-kill | cluster-start-node | cluster-ctl) ;;
	*)
		usage >&2
		exit 2
		;;
	esac
	load_environment
	case $cmd in
	run) cmd_run ;;
	build) cmd_build ;;
	infra) cmd_infra ;;
	stop) stop_infra ;;
	test) cmd_test "$@" ;;
	bench) cmd_bench "$@" ;;
	fuzz) cmd_fuzz "$@" ;;
	cluster*) cluster_main "$cmd" "$@" ;; # scripts/cluster.sh
	replica) replica_cmd "$@" ;;
	esac
}

main "$@"
