# shellcheck shell=bash
# Cluster mode: a RabbitMQ cluster of three nodes on this machine, and
# `./run.sh cluster`, which runs the daemons against it (one API, several
# auditors, the web UI).
#
# Sourced by run.sh after scripts/infra.sh, whose helpers it reuses: each
# node is started, awaited, provisioned and stopped by infra.sh's own
# functions for the single private node, run with that node's globals
# (RABBIT_DIR, RABBIT_NODENAME, AMQP_PORT, RABBITMQCTL, ...) re-declared
# as locals that describe cluster node N (with_node). Not meant to be
# executed on its own.
#
# Node N (1-based) is auditlog-cN@localhost, with its AMQP port from
# AUDITLOG_CLUSTER_AMQP_PORTS (5701,5702,5703), its Erlang distribution
# port from AUDITLOG_CLUSTER_DIST_PORTS (each AMQP port + 20000) and its
# data, logs and pid file under $AUDITLOG_STATE_DIR/cluster/rabbit-N. The
# nodes share one Erlang cookie ($AUDITLOG_STATE_DIR/cluster/erlang.cookie,
# made on first start, mode 0600), copied into each node's HOME; the
# single node on 5672 keeps its own cookie, node name and ports, and both
# register with the same epmd. On its first start, each node after the
# first joins node 1 (rabbitmqctl join_cluster); later starts rejoin by
# themselves (the membership is in the node's data).
#
# Globals set here that callers read:
#   CLUSTER_SIZE              how many nodes
#   CLUSTER_AMQP_PORTS[i]     node i+1's AMQP port
#   CLUSTER_STARTED[N]        1 when THIS invocation started node N

CLUSTER_SIZE=0
CLUSTER_DIR=""
CLUSTER_COOKIE=""
CLUSTER_REPLICA_STARTED=0
declare -a CLUSTER_AMQP_PORTS=() CLUSTER_DIST_PORTS=()
declare -A CLUSTER_STARTED=()

# Enabled on every node: the broker topology may route by target through a
# consistent-hash exchange (issue 16).
CLUSTER_PLUGINS=rabbitmq_consistent_hash_exchange
# rabbitmq.conf lines of every node, after infra.sh's.
# - pause_minority: the operators' choice for an odd number of nodes; a node
#   that finds itself in a minority stops serving rather than diverge.
# - The quorum queues' write-ahead log is held in memory until it reaches
#   this size (default 512 MiB per node): 64 MiB keeps three idle nodes
#   small on a machine shared with everything else.
CLUSTER_CONF='cluster_name = auditlog
cluster_partition_handling = pause_minority
raft.wal_max_size_bytes = 67108864'

# cluster_init: settings and paths; call after load_environment.
cluster_init() {
	local amqp=${AUDITLOG_CLUSTER_AMQP_PORTS:-5701,5702,5703} dist port i
	CLUSTER_DIR=$AUDITLOG_STATE_DIR/cluster
	CLUSTER_COOKIE=$CLUSTER_DIR/erlang.cookie
	IFS=, read -ra CLUSTER_AMQP_PORTS <<<"$amqp"
	CLUSTER_SIZE=${#CLUSTER_AMQP_PORTS[@]}
	((CLUSTER_SIZE >= 1)) || die "AUDITLOG_CLUSTER_AMQP_PORTS is empty"
	dist=""
	for port in "${CLUSTER_AMQP_PORTS[@]}"; do
		[[ $port =~ ^[0-9]+$ ]] || die "AUDITLOG_CLUSTER_AMQP_PORTS: not a port: '$port'"
		dist+=${dist:+,}$((port + 20000))
	done
	IFS=, read -ra CLUSTER_DIST_PORTS <<<"${AUDITLOG_CLUSTER_DIST_PORTS:-$dist}"
	((${#CLUSTER_DIST_PORTS[@]} == CLUSTER_SIZE)) ||
		die "AUDITLOG_CLUSTER_DIST_PORTS needs $CLUSTER_SIZE ports, one per AMQP port"
	for i in "${!CLUSTER_DIST_PORTS[@]}"; do
		[[ ${CLUSTER_DIST_PORTS[i]} =~ ^[0-9]+$ ]] ||
			die "AUDITLOG_CLUSTER_DIST_PORTS: not a port: '${CLUSTER_DIST_PORTS[i]}'"
	done
}

cluster_node_name() { printf 'auditlog-c%s@localhost' "$1"; }

# cluster_node_number N: dies unless N names a node.
cluster_node_number() {
	if ! [[ $1 =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > CLUSTER_SIZE)); then
		die "no cluster node '$1' (nodes are 1..$CLUSTER_SIZE)"
	fi
}

# with_node N COMMAND [ARGS...]: runs COMMAND (a function of infra.sh or of
# this file) with infra.sh's node globals re-declared as locals describing
# node N. Bash scopes dynamically, so COMMAND and what it calls see node
# N, and the single node's globals (which the EXIT trap uses) stay as they
# were. STARTED_RABBIT and RABBIT_IS_OURS are local too: launch_private_rabbit
# sets the first, and provision_rabbit provisions only when the second is 1.
# shellcheck disable=SC2034 # the locals are read by the functions called
with_node() {
	local n=$1
	shift
	local RABBIT_DIR=$CLUSTER_DIR/rabbit-$n
	local RABBIT_NODENAME AMQP_HOST=localhost AMQP_PORT=${CLUSTER_AMQP_PORTS[n - 1]}
	local RABBIT_DIST_PORT=${CLUSTER_DIST_PORTS[n - 1]}
	local RABBIT_PIDFILE=$RABBIT_DIR/rabbitmq.pid RABBIT_MARKER=$RABBIT_DIR/started-by-us
	local RABBIT_STAMP=$RABBIT_DIR/mnesia/auditlog-provisioned
	local RABBIT_PLUGINS=$CLUSTER_PLUGINS RABBIT_CONF_EXTRA=$CLUSTER_CONF
	local STARTED_RABBIT=0 RABBIT_IS_OURS=1
	local -a RABBITMQ_SERVER=() RABBITMQCTL=()
	RABBIT_NODENAME=$(cluster_node_name "$n")
	init_rabbit_commands
	"$@"
}

# node_running: the current node's pid file names a live process and its
# AMQP port answers (under with_node).
node_running() {
	pid_alive "$RABBIT_PIDFILE" && tcp_answers 127.0.0.1 "$AMQP_PORT"
}

# The cookie the nodes share: made once (mode 0600, never in the
# repository); each node's HOME gets a copy, which Erlang reads at boot
# and the node's rabbitmqctl reads to reach it.
ensure_cluster_cookie() {
	mkdir -p "$CLUSTER_DIR"
	chmod 700 "$CLUSTER_DIR"
	[[ -s $CLUSTER_COOKIE ]] && return 0
	(
		umask 077
		openssl rand -hex 20 | tr -d '\n' | tr a-f A-F >"$CLUSTER_COOKIE.tmp"
	) || die "openssl rand failed"
	mv "$CLUSTER_COOKIE.tmp" "$CLUSTER_COOKIE"
	info "cluster: created the Erlang cookie $CLUSTER_COOKIE"
}

# node_launch N (under with_node): starts the node unless it is running.
node_launch() {
	if node_running; then
		return 0
	fi
	if tcp_answers 127.0.0.1 "$AMQP_PORT"; then
		die "port $AMQP_PORT answers but $RABBIT_NODENAME is not running: another program holds it"
	fi
	mkdir -p "$RABBIT_DIR/home"
	chmod 700 "$RABBIT_DIR" "$RABBIT_DIR/home"
	if ! cmp -s "$CLUSTER_COOKIE" "$RABBIT_DIR/home/.erlang.cookie"; then
		install -m 0400 "$CLUSTER_COOKIE" "$RABBIT_DIR/home/.erlang.cookie"
	fi
	launch_private_rabbit
	CLUSTER_STARTED[$1]=$STARTED_RABBIT
}

# node_join N (under with_node): on the node's first start, makes it a
# member of node 1's cluster (join_cluster resets the node, which then has
# nothing of its own yet). Remembered in the node's data folder.
node_join() {
	local stamp=$RABBIT_DIR/mnesia/auditlog-joined first
	(($1 > 1)) || return 0
	[[ -f $stamp ]] && return 0
	first=$(cluster_node_name 1)
	info "cluster: $RABBIT_NODENAME joins $first"
	"${RABBITMQCTL[@]}" -q stop_app >/dev/null ||
		die "rabbitmqctl stop_app on $RABBIT_NODENAME failed"
	"${RABBITMQCTL[@]}" -q join_cluster "$first" >/dev/null ||
		die "$RABBIT_NODENAME could not join $first (logs: $RABBIT_DIR/log)"
	"${RABBITMQCTL[@]}" -q start_app >/dev/null ||
		die "rabbitmqctl start_app on $RABBIT_NODENAME failed"
	date -u +%FT%TZ >"$stamp"
}

# node_await_member N (under with_node): waits until the node has booted
# and, seen from the node itself, every node that should be running (a
# pid file naming a live process) is running in its cluster.
node_await_member() {
	await_private_rabbit
	local deadline=$((SECONDS + 60)) status n want
	while true; do
		status=$("${RABBITMQCTL[@]}" -q cluster_status --formatter json 2>/dev/null) || status=""
		want=1
		for ((n = 1; n <= CLUSTER_SIZE; n++)); do
			pid_alive "$CLUSTER_DIR/rabbit-$n/rabbitmq.pid" || continue
			grep -q "\"running_nodes\":\[[^]]*\"$(cluster_node_name "$n")\"" <<<"$status" ||
				want=0
		done
		((want)) && return 0
		((SECONDS < deadline)) ||
			die "$RABBIT_NODENAME is not running in the cluster after 60 s: ${status:-no answer}"
		sleep 1
	done
}

# cluster_up: every node running, joined and provisioned (the user of
# AUDITLOG_AMQP_URL, its vhost and the test vhost); starts the nodes that
# are not running, all at once, since a node that was stopped before its
# peers waits for them at boot.
cluster_up() {
	local n launched=0
	ensure_cluster_cookie
	for ((n = 1; n <= CLUSTER_SIZE; n++)); do
		with_node "$n" node_launch "$n"
		launched=$((launched + ${CLUSTER_STARTED[$n]:-0}))
	done
	# Each rabbitmqctl call costs about a second of CPU: none when every
	# node was running (and so joined) already.
	if ((launched)); then
		for ((n = 1; n <= CLUSTER_SIZE; n++)); do
			with_node "$n" await_private_rabbit
			with_node "$n" node_join "$n"
		done
		with_node 1 node_await_member 1
	fi
	with_node 1 provision_rabbit "$AMQP_VHOST" "$TEST_VHOST" # infra.sh's, from the URL
	info "cluster: $CLUSTER_SIZE nodes running on localhost, AMQP ports ${CLUSTER_AMQP_PORTS[*]}, user '$AMQP_USER', vhosts '$AMQP_VHOST' and '$TEST_VHOST'"
}

# cluster_down [started-only]: stops the nodes (all those with a marker, or
# with "started-only" those THIS invocation started), in parallel.
cluster_down() {
	local n
	local -a pids=()
	for ((n = 1; n <= CLUSTER_SIZE; n++)); do
		if [[ ${1:-} == started-only ]] && [[ ${CLUSTER_STARTED[$n]:-0} != 1 ]]; then
			continue
		fi
		with_node "$n" stop_rabbit &
		pids+=($!)
	done
	if ((${#pids[@]})); then wait "${pids[@]}"; fi
	CLUSTER_STARTED=()
}

# cluster_kill N: SIGKILL to node N's Erlang VM, as a crash would end it.
cluster_kill() {
	local pid
	cluster_node_number "$1"
	pid_alive "$CLUSTER_DIR/rabbit-$1/rabbitmq.pid" || die "cluster node $1 is not running"
	pid=$(tr -dc '0-9' <"$CLUSTER_DIR/rabbit-$1/rabbitmq.pid")
	kill -KILL "$pid"
	wait_pid_gone "$pid" 15 || die "node $1 (pid $pid) still there 15 s after SIGKILL"
	info "cluster: killed $(cluster_node_name "$1") (pid $pid)"
}

# cluster_start_node N: starts node N again and waits until it is running
# in the cluster.
cluster_start_node() {
	cluster_node_number "$1"
	ensure_cluster_cookie
	with_node "$1" node_launch "$1"
	with_node "$1" node_await_member "$1"
	info "cluster: $(cluster_node_name "$1") is running in the cluster"
}

# cluster_ctl N ARGS...: rabbitmqctl ARGS against node N.
cluster_ctl() {
	cluster_node_number "${1:-}"
	local n=$1
	shift
	with_node "$n" run_rabbitmqctl "$@"
}
run_rabbitmqctl() { "${RABBITMQCTL[@]}" "$@"; }

# cluster_amqp_urls: AUDITLOG_AMQP_URL's user, password, vhost and query
# at each node's port, comma-separated (the daemons' list, issue 16).
cluster_amqp_urls() {
	local n url="" userinfo="" rest path
	[[ $AMQP_AUTHORITY == *@* ]] && userinfo=${AMQP_AUTHORITY%@*}@
	rest=${AUDITLOG_AMQP_URL#*://}
	path=${rest#"$AMQP_AUTHORITY"} # "/vhost?query", as written
	for ((n = 1; n <= CLUSTER_SIZE; n++)); do
		url+=${url:+,}$AMQP_SCHEME://${userinfo}localhost:${CLUSTER_AMQP_PORTS[n - 1]}$path
	done
	printf '%s\n' "$url"
}

# --------------------------------------------------------------------------
# ./run.sh cluster: the daemons against the cluster
# --------------------------------------------------------------------------

# EXIT: what cmd_cluster started besides the daemons (run.sh's cleanup).
cluster_cleanup() {
	# The MariaDB primary and replica that cmd_cluster started.
	if ((CLUSTER_REPLICA_STARTED)); then
		replica_pair_stop || warn "replica_pair_stop failed"
		CLUSTER_REPLICA_STARTED=0
	fi
	cluster_down started-only
}

cmd_cluster() {
	local auditors=${AUDITLOG_CLUSTER_AUDITORS:-2} i
	[[ $auditors =~ ^[1-9][0-9]?$ ]] || die "AUDITLOG_CLUSTER_AUDITORS must be 1..99: '$auditors'"
	install_traps
	cmd_build
	# Neither the single node's broker nor its database: the cluster's
	# nodes and the primary/replica pair below (on this machine another
	# MariaDB may own 3306).
	ensure_infra no-broker no-database
	cluster_up
	# The databases on a primary with a GTID read replica (scripts/replica.sh,
	# README "Read replica"): the daemons write the primary, the auditors'
	# queries read the replica.
	replica_pair_start
	CLUSTER_REPLICA_STARTED=1
	replica_export_settings

	# The daemons' cluster settings (the lead's part of issue 16).
	AUDITLOG_AMQP_URL=$(cluster_amqp_urls)
	: "${AUDITLOG_QUEUE_TYPE:=quorum}"
	: "${AUDITLOG_PARTITIONS:=4}"
	AUDITLOG_AUDITOR_URL=http://localhost:$AUDITLOG_AUDITOR_PORT # the first auditor
	# Auditor I's share is the partitions p with p mod N == I (README
	# "Partitions and several auditors"); its own events go to log 1024 + I.
	AUDITLOG_AUDITORS=$auditors
	export AUDITLOG_AMQP_URL AUDITLOG_QUEUE_TYPE AUDITLOG_PARTITIONS AUDITLOG_AUDITOR_URL \
		AUDITLOG_AUDITORS
	# auditor.I (I >= 1) listens on AUDITLOG_AUDITOR_PORT + 10 * I (run.sh's
	# daemon_port).
	DAEMONS=(api auditor)
	for ((i = 1; i < auditors; i++)); do DAEMONS+=("auditor.$i"); done
	DAEMONS+=(web)
	info "cluster: the daemons get the $CLUSTER_SIZE nodes' URLs (ports ${CLUSTER_AMQP_PORTS[*]}), AUDITLOG_QUEUE_TYPE=$AUDITLOG_QUEUE_TYPE, AUDITLOG_PARTITIONS=$AUDITLOG_PARTITIONS"
	RESTART_AUDITORS=1
	run_daemons
}

# cluster_main COMMAND ARGS...: run.sh's cluster commands.
cluster_main() {
	local cmd=$1
	shift
	cluster_init
	case $cmd in
	cluster) cmd_cluster ;;
	cluster-infra) cluster_up ;;
	cluster-stop) cluster_down ;;
	cluster-kill) cluster_kill "${1:-}" ;;
	cluster-start-node) cluster_start_node "${1:-}" ;;
	cluster-ctl) cluster_ctl "$@" ;;
	esac
}
