/* auditlog-auditor: consumes data events into MySQL and answers who did
 * what, as JSON:API. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auditor.h"
#include "checker.h"
#include "daemon.h"
#include "instance.h"
#include "watch.h"
#include "log.h"
#include "openapi.h"
#include "reads.h"
#include "reorder.h"
#include "replica.h"
#include "retention.h"
#include "stream_logs.h"

static struct config_setting settings[] = {
    DAEMON_HTTP_SETTINGS("AUDITLOG_AUDITOR_PORT", "3001"),
    /* The consumer writes as a user that may only INSERT and SELECT the
     * event tables; queries read as one that may only SELECT them. */
    DAEMON_MYSQL_SETTINGS("AUDITLOG_AUDITOR_DB", "audit-logging-auditor",
                          "AUDITLOG_AUDITOR_MYSQL_USER", "auditor",
                          "AUDITLOG_AUDITOR_MYSQL_PASSWORD", "auditor"),
    {"mysql-reader-user", "AUDITLOG_AUDITOR_READER_USER", "auditor_reader", CONFIG_STRING, 0,
     0, "MySQL user that serves queries (SELECT only).", NULL, 0},
    {"mysql-reader-password", "AUDITLOG_AUDITOR_READER_PASSWORD", "auditor_reader",
     CONFIG_STRING, 0, 0, "Its password.", NULL, 0},
    /* POST /erasures deletes values as a user that may delete nothing else. */
    {"mysql-eraser-user", "AUDITLOG_AUDITOR_ERASER_USER", "auditor_eraser", CONFIG_STRING, 0,
     0, "MySQL user that erases values (POST /erasures): SELECT, and DELETE on "
     "data_event_values only.", NULL, 0},
    {"mysql-eraser-password", "AUDITLOG_AUDITOR_ERASER_PASSWORD", "auditor_eraser",
     CONFIG_STRING, 0, 0, "Its password.", NULL, 0},
    /* The monthly partitions and retention (retention.h) as a user that
     * may ALTER and DROP the event tables and nothing else of the log. */
    {"mysql-maintainer-user", "AUDITLOG_AUDITOR_MAINTAINER_USER", "auditor_maintainer",
     CONFIG_STRING, 0, 0, "MySQL user that splits the event tables' months off and drops "
     "retained ones: ALTER and DROP on those tables, SELECT on the log.", NULL, 0},
    {"mysql-maintainer-password", "AUDITLOG_AUDITOR_MAINTAINER_PASSWORD", "auditor_maintainer",
     CONFIG_STRING, 0, 0, "Its password.", NULL, 0},
    {"maintenance-ms", "AUDITLOG_MAINTENANCE_MS", "3600000", CONFIG_INT, 100, 86400000,
     "How often (ms) the maintenance thread splits the coming months off the event tables' "
     "catch-all partition and, with retention on, drops the months past it.", NULL, 0},
    {"retention-months", "AUDITLOG_RETENTION_MONTHS", "0", CONFIG_INT, 0, 1200,
     "Months of events kept in the event tables; older months are exported as verifiable "
     "bundles into --retention-dir and dropped. 0: keep everything.", NULL, 0},
    {"retention-dir", "AUDITLOG_RETENTION_DIR", ".state/retained", CONFIG_STRING, 0, 0,
     "Where retention writes its bundles (one file per log and month).", NULL, 0},
    {"test-day-shift", "AUDITLOG_TEST_DAY_SHIFT", "0", CONFIG_INT, -3650, 3650,
     "For tests only: days added to the store's clock (the day rows are stored under).",
     NULL, 0},
    REPLICA_SETTINGS, /* queries from a read replica (replica.h) */
    DAEMON_AMQP_SETTING,
    DAEMON_TOPOLOGY_SETTINGS,
    DAEMON_PUBLIC_KEY_SETTING,
    DAEMON_PRINCIPAL_TTL_SETTING,
    {"api-url", "AUDITLOG_API_URL", "http://localhost:3000", CONFIG_STRING, 0, 0,
     "Where the API answers token introspection (POST /tokens/introspect): whether a "
     "token's user still exists and what roles it has now.",
     NULL, 0},
    /* Batches are sized in events and bytes; the broker's window counts
     * messages, so by default it holds two batches of one-event messages. */
    {"prefetch", "AUDITLOG_PREFETCH", "0", CONFIG_INT, 0, 65535,
     "Messages the broker sends each consumer ahead of its acknowledgements (AMQP "
     "prefetch_count); 0: twice --batch-max, so one-event messages fill whole batches. "
     "Memory is bounded by --batch-bytes, not by this.",
     NULL, 0},
    {"batch-max", "AUDITLOG_BATCH_MAX", "1000", CONFIG_INT, 1, 65535,
     "A batch (one transaction, one acknowledgement) closes at this many events.", NULL, 0},
    {"batch-bytes", "AUDITLOG_BATCH_BYTES", "4194304", CONFIG_INT, 65536, 1073741824,
     "A batch also closes when the messages it holds would take this many bytes parsed "
     "(estimated from their JSON); each consumer holds at most this plus one message.",
     NULL, 0},
    {"consumers", "AUDITLOG_CONSUMERS", "1", CONFIG_INT, 1, CONSUMERS_MAX,
     "Consumer threads, each with its own AMQP and MySQL connection; at least one per "
     "partition (thread i consumes partition i modulo the partitions). More than one a "
     "partition stores faster (one parses while another commits) but may then store a "
     "target's mutations out of their versions' order under a backlog (README "
     "\"Per-target order\").",
     NULL, 0},
    {"log-key", "AUDITLOG_LOG_KEY", ".state/keys/log-signer.key", CONFIG_STRING, 0, 0,
     "The log's checkpoint signing key (Ed25519, c2sp.org/signed-note form, mode 0600); made "
     "on first start when absent, with its verifier key beside it in <file>.vkey.",
     NULL, 0},
    {"instance", "AUDITLOG_AUDITOR_INSTANCE", "0", CONFIG_INT, 0, AUDITOR_INSTANCES_MAX - 1,
     "With several partitions or quorum queues: this auditor's number among the deployment's "
     "auditors, each different; its own events (records of reads, erasures) go to log "
     "1024 + this, which only it writes.",
     NULL, 0},
    {"auditors", "AUDITLOG_AUDITORS", "1", CONFIG_INT, 1, AUDITOR_INSTANCES_MAX,
     "Quorum queues: how many auditors share the partitions. Partition p is the share of "
     "auditor p mod this (AUDITLOG_AUDITOR_INSTANCE), which the broker makes its active "
     "consumer; the others stand by for it.",
     NULL, 0},
    {"standby-ms", "AUDITLOG_STANDBY_MS", "2000", CONFIG_INT, 0, 600000,
     "Quorum queues: how long after its start an auditor waits before standing by for the "
     "partitions that are other auditors' shares (so theirs register first).",
     NULL, 0},
    {"rebalance-ms", "AUDITLOG_REBALANCE_MS", "30000", CONFIG_INT, 0, 3600000,
     "Quorum queues: an auditor holding another's share (it died) hands it back to the "
     "broker this often, so the auditor whose share it is takes it again once it is back "
     "(a pause of a few ms); 0: never.",
     NULL, 0},
    {"reorder-ms", "AUDITLOG_REORDER_MS", "5000", CONFIG_INT, 0, 60000,
     "Per-target order: a mutation waits until its target's previous version is stored, at "
     "most this long (ms): always where several consumers share a partition's queue (classic "
     "queues), else for this long after a consumer becomes a partition's active one (a start, "
     "a reconnect, a takeover); 0: never.",
     NULL, 0},
    {"log-origin", "AUDITLOG_LOG_ORIGIN", "auditlog.localhost", CONFIG_STRING, 0, 0,
     "The name of the signing key; log N's checkpoints have the origin <this>/N "
     "(c2sp.org/tlog-checkpoint). A schema-less URL naming this deployment.",
     NULL, 0},
    {"checkpoint-ms", "AUDITLOG_CHECKPOINT_MS", "1000", CONFIG_INT, 10, 600000,
     "A checkpoint is signed at most this long after an event is stored.", NULL, 0},
    {"checkpoint-every", "AUDITLOG_CHECKPOINT_EVERY", "100000", CONFIG_INT, 1, 100000000,
     "... or as soon as this many events were stored since the last one.", NULL, 0},
    {"check-ms", "AUDITLOG_CHECK_MS", "200", CONFIG_INT, 10, 60000,
     "How often the checker looks for newly stored mutations to flag (gaps, drift).", NULL, 0},
    {"check-grace-ms", "AUDITLOG_CHECK_GRACE_MS", "10000", CONFIG_INT, 0, 3600000,
     "The checker looks at a mutation once it was stored this long ago, so that events "
     "stored a little out of order have all arrived.",
     NULL, 0},
    /* Every read of the log is recorded (reads.h). */
    {"reads-queue", "AUDITLOG_READS_QUEUE", "10000", CONFIG_INT, 1, 1000000,
     "Records of reads that may wait to be stored; when this many wait (the database away), "
     "reads are refused with 503 until they are stored: no read is answered unrecorded.",
     NULL, 0},
    {"reads-linger-ms", "AUDITLOG_READS_LINGER_MS", "50", CONFIG_INT, 1, 600000,
     "Records of reads are stored in one transaction at most this long after the first of "
     "them (or at 1000); stopping stores them at once.",
     NULL, 0},
    /* The live stream (stream.h, README "Live stream"). */
    {"stream-poll-ms", "AUDITLOG_STREAM_POLL_MS", "20", CONFIG_INT, 1, 10000,
     "How often the live stream's reader of each log looks for newly stored events (the "
     "log's writer here wakes it sooner at each COMMIT).", NULL, 0},
    {"stream-buffer", "AUDITLOG_STREAM_BUFFER", "10000", CONFIG_INT, 1, 1000000,
     "Events of each log the live stream keeps in memory, rendered, for its subscribers; one "
     "further behind reads the store itself.",
     NULL, 0},
    {"stream-backlog-max", "AUDITLOG_STREAM_BACKLOG_MAX", "1000000", CONFIG_INT, 0,
     2000000000, "How far behind a log's end (in positions) a stream may resume it; an older "
     "position gets 410.", NULL, 0},
    {"stream-heartbeat-ms", "AUDITLOG_STREAM_HEARTBEAT_MS", "10000", CONFIG_INT, 10, 15000,
     "A stream with nothing to send sends a comment line this often.", NULL, 0},
    {"stream-retry-ms", "AUDITLOG_STREAM_RETRY_MS", "1000", CONFIG_INT, 0, 3600000,
     "The reconnection delay a stream asks of its clients (its retry: field).", NULL, 0},
    /* Exports (events_export.c, README "Exports"). */
    {"exports-max", "AUDITLOG_EXPORTS_MAX", "32", CONFIG_INT, 1, 1000,
     "Exports that may run at once; another gets 503 until one ends. Each holds up to two "
     "threads and two database connections and up to about 12 MB.",
     NULL, 0},
    DAEMON_SHUTDOWN_SETTING,
    DAEMON_LOG_SETTING,
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

/* The handlers refuse the query parameters they do not take. */
static const char *const query_params[] = {
    "filter[actor]", "filter[target]",    "filter[action]", "filter[since]",   "filter[until]",
    "filter[field]", "filter[eventName]", "filter[flag]",   "filter[traceId]", "sort",
    "page[size]",    "page[after]",       NULL};
static const char *const stream_params[] = {
    "filter[actor]", "filter[target]",    "filter[action]", "filter[since]", "filter[until]",
    "filter[field]", "filter[eventName]", "filter[flag]",   "sort",          "page[size]",
    "page[after]",   "after",             NULL};
static const char *const page_params[] = {"page[size]", "page[after]", NULL};
static const char *const size_params[] = {"size", NULL};
static const char *const log_params[] = {"log", NULL};
static const char *const range_params[] = {"log", "from", "to", NULL};
static const char *const export_params[] = {"log", "from", "to", "pin", NULL};
static const char *const state_params[] = {"at", NULL};

static const struct http_route routes[] = {
    /* Health (README "Health"): open, naming no data. */
    {"GET", "/livez", daemon_livez, 0, HTTP_PARAMS_IGNORED},
    {"GET", "/readyz", h_readyz, HTTP_PROBE, HTTP_PARAMS_IGNORED},
    {"GET", "/data-events", h_events_query, HTTP_AUTH, query_params},
    {"GET", "/data-events/stream", h_events_stream, HTTP_AUTH, stream_params},
    {"GET", "/api/:type/:id/data-events", h_events_for_target, HTTP_AUTH, page_params},
    {"GET", "/api/:type/:id/state", h_state, HTTP_AUTH, state_params},
    {"GET", "/api/:type/:id/fields/:field/history", h_field_history, HTTP_AUTH, page_params},
    {"GET", "/checks", h_checks, HTTP_AUTH, NULL},
    /* The log of record: checkpoints and the key are public (no event
     * content), proofs need a token, an event's opened leaf a token that
     * may read the event, verifying and exporting the auditor role. The
     * long ones run on the pool, not on a worker. */
    {"GET", "/checkpoint", h_checkpoint, 0, log_params},
    {"GET", "/checkpoints", h_checkpoints, 0, NULL},
    {"GET", "/.well-known/auditlog-vkey", h_vkey, 0, NULL},
    {"GET", "/data-events/:id/proof", h_proof, HTTP_AUTH, size_params},
    {"GET", "/data-events/:id/leaf", h_leaf, HTTP_AUTH, NULL},
    {"GET", "/consistency", h_consistency, HTTP_AUTH, range_params},
    {"GET", "/verify", h_verify, HTTP_AUTH | HTTP_ASYNC, range_params},
    {"GET", "/export", h_export, HTTP_AUTH | HTTP_ASYNC, export_params},
    {"POST", "/erasures", h_erasure_create, HTTP_AUTH | HTTP_BODY, NULL},
    /* This table described for clients (docs/openapi/): no token needed. */
    {"GET", "/openapi.json", openapi_get, 0, NULL},
};

#define S(name) config_str(settings, NSETTINGS, name)
#define I(name) config_int(settings, NSETTINGS, name)

/* Opens log `log` (origin <log-origin>/<log>) with a's key, as writer. */
static int open_log(struct auditor *a, unsigned log, const char *writer, struct ledger **out)
{
	char origin[1024];
	snprintf(origin, sizeof origin, "%s/%u", S("log-origin"), log);
	struct ledger_config lc = {.log = log,
	                           .writer = writer,
	                           .origin = origin,
	                           .signer = a->signer,
	                           .db = &a->writer,
	                           .checkpoint_ms = I("checkpoint-ms"),
	                           .checkpoint_every = (unsigned)I("checkpoint-every")};
	return ledger_open(&lc, out);
}

int main(int argc, char **argv)
{
	int rc = daemon_setup("auditlog-auditor", settings, NSETTINGS, argc, argv,
	                      "Consumes data events from RabbitMQ into MySQL and answers queries "
	                      "about them by actor and by target.");
	if (rc != DAEMON_CONTINUE)
		return rc;
	/* Where several auditors write one output (run.sh cluster), each line
	 * names its auditor. */
	static char log_name[40];
	if (I("auditors") > 1) {
		snprintf(log_name, sizeof log_name, "auditlog-auditor-%u", (unsigned)I("instance"));
		log_init(log_name, (enum log_level)log_level_parse(S("log-level")));
	}
	rc = 1;
	struct auditor a = {0};
	struct http_server *http = NULL;
	unsigned nconsumers = (unsigned)I("consumers");
	daemon_block_signals();
	if (db_library_init()) {
		log_error("cannot initialise the MySQL client library");
		return 1;
	}
	daemon_db_config(settings, NSETTINGS, &a.writer);
	a.db = a.writer;
	a.db.user = S("mysql-reader-user");
	a.db.password = S("mysql-reader-password");
	a.eraser = a.writer;
	a.eraser.user = S("mysql-eraser-user");
	a.eraser.password = S("mysql-eraser-password");
	a.maintainer = a.writer;
	a.maintainer.user = S("mysql-maintainer-user");
	a.maintainer.password = S("mysql-maintainer-password");
	if (I("test-day-shift"))
		log_warn("test-day-shift: the store's clock is %ld days off (for tests only)",
		         I("test-day-shift"));
	store_set_day_shift((int)I("test-day-shift"));
	if (replica_start(settings, NSETTINGS, &a.db, &a.replica) ||
	    daemon_public_key(settings, NSETTINGS, &a.public_key))
		goto out;
	if (httpc_parse_url(S("api-url"), &a.api)) {
		log_error("api-url must look like http://host:port");
		goto out;
	}
	a.principal_ttl_ms = I("principal-ttl-ms");
	if (!(a.principals = daemon_principals(settings, NSETTINGS, auditor_introspect, &a)))
		goto out;
	struct mq_topology topology;
	if (daemon_topology(settings, NSETTINGS, &topology))
		goto out;
	if (!note_name_valid(S("log-origin")) || strlen(S("log-origin")) > 1000) {
		log_error("log-origin must be a key name (no spaces, no '+'), under 1000 bytes");
		goto out;
	}
	if (ledger_key(S("log-key"), S("log-origin"), &a.signer))
		goto out;
	/* One auditor a number (instance.h): before any log is opened. */
	switch (instance_claim(&a.writer, (unsigned)I("instance"), 5, &a.instance_lock)) {
	case INSTANCE_OK:
		break;
	case INSTANCE_TAKEN:
		log_error("another auditor runs as instance %ld on this database: give each its own "
		          "AUDITLOG_AUDITOR_INSTANCE",
		          I("instance"));
		goto out;
	case INSTANCE_UNCHECKED:
		log_warn("cannot check that no other auditor runs as instance %ld (the database is "
		         "unreachable); starting",
		         I("instance"));
		break;
	}
	/* This process in log_leases: where it runs and answers. */
	char writer[256], host[128] = "";
	gethostname(host, sizeof host - 1);
	snprintf(writer, sizeof writer, "%s pid %ld port %ld", host, (long)getpid(), I("port"));
	for (unsigned p = 0; p < topology.partitions; p++) {
		if (open_log(&a, p, writer, &a.ledgers[p]))
			goto out;
		a.nlogs = p + 1;
	}
	a.ledger = a.ledgers[0];
	/* The auditor's own events (its records of reads, its erasures): with
	 * one classic partition, in log 0 with the rest; with several auditors,
	 * in a log of each auditor's own, which no other writes. */
	a.records = a.ledger;
	if ((topology.partitions > 1 || topology.quorum) &&
	    open_log(&a, AUDITOR_RECORDS_LOG + (unsigned)I("instance"), writer, &a.records)) {
		a.records = NULL;
		goto out;
	}
	struct reads_config rc_reads = {.db = &a.writer,
	                                .ledger = a.records,
	                                .queue_max = (size_t)I("reads-queue"),
	                                .linger_ms = (int)I("reads-linger-ms")};
	if (reads_start(&rc_reads, &a.reads))
		goto out;
	unsigned auditors = (unsigned)I("auditors"), instance = (unsigned)I("instance");
	for (unsigned p = 0; p < a.nlogs; p++) {
		/* Partition p is auditor (p mod auditors)'s share: it checks the
		 * log (its progress is in the database, so another may go on). */
		if (topology.quorum && p % auditors != instance % auditors)
			continue;
		struct checker_config kc = {.log = p,
		                            .db = &a.writer,
		                            .ledger = a.ledgers[p],
		                            .interval_ms = (int)I("check-ms"),
		                            .grace_ms = (int)I("check-grace-ms")};
		if (checker_start(&kc, &a.checkers[p])) {
			log_error("cannot start the checker");
			goto out;
		}
	}
	struct retention_config rcfg = {.db = &a.maintainer,
	                                .check_ms = (int)I("maintenance-ms"),
	                                .months_ahead = 3,
	                                .months = (int)I("retention-months"),
	                                .dir = S("retention-dir")};
	if (retention_start(&rcfg, &a.retention)) {
		log_error("cannot start the maintenance thread");
		goto out;
	}
	store_init();
	a.checkpoint_ms = (int)I("checkpoint-ms");
	if (watch_pair_start(&a.watches, &a.writer, NULL, S("amqp-url"), "aud-dbwatch",
	                     "aud-mqwatch"))
		goto out;
	struct consumer_config cc = {.amqp_url = S("amqp-url"),
	                             .topology = topology,
	                             .db = &a.writer,
	                             .prefetch = (unsigned)I("prefetch"),
	                             .batch_events = (unsigned)I("batch-max"),
	                             .batch_bytes = (size_t)I("batch-bytes")};
	if (nconsumers < topology.partitions)
		nconsumers = topology.partitions;
	for (unsigned i = 0; i < nconsumers; i++) {
		cc.partition = i % topology.partitions;
		cc.ledger = a.ledgers[cc.partition];
		if (!a.reorders[cc.partition] &&
		    !(a.reorders[cc.partition] = reorder_new((int)I("reorder-ms")))) {
			log_error("out of memory");
			goto out;
		}
		cc.reorder = a.reorders[cc.partition];
		/* Thread i consumes partition i mod P: this many consume p. */
		unsigned on_p = (nconsumers - cc.partition + topology.partitions - 1) / topology.partitions;
		cc.shared_queue = !topology.quorum && on_p > 1;
		/* Partition p is auditor (p mod auditors)'s share. */
		bool share = !topology.quorum || cc.partition % auditors == instance % auditors;
		cc.standby_ms = share ? 0 : (int)I("standby-ms");
		cc.rebalance_ms = share ? 0 : (int)I("rebalance-ms");
		if (consumer_start(&cc, &a.consumers[i])) {
			log_error("cannot start the consumers");
			goto out;
		}
		a.nconsumers = i + 1;
	}
	a.stream_heartbeat_ms = I("stream-heartbeat-ms");
	a.stream_retry_ms = I("stream-retry-ms");
	a.stream_backlog_max = (uint64_t)I("stream-backlog-max");
	a.exports_max = (int)I("exports-max");
	/* A hub per log; each writer here hands its hub what it commits. */
	struct stream_logs_config sc = {.db = &a.db,
	                                .poll_ms = (unsigned)I("stream-poll-ms"),
	                                .buffer = (size_t)I("stream-buffer"),
	                                .ledgers = a.ledgers,
	                                .nledgers = a.nlogs,
	                                .records = a.records != a.ledger ? a.records : NULL,
	                                .records_log = AUDITOR_RECORDS_LOG + (uint32_t)I("instance"),
	                                .own_logs_from = a.records != a.ledger ? AUDITOR_RECORDS_LOG : 0};
	if (stream_logs_start(&sc, &a.streams)) {
		log_error("cannot start the live stream's readers");
		goto out;
	}
	struct http_server_config hc = {.routes = routes,
	                                .nroutes = sizeof routes / sizeof routes[0],
	                                .auth = a.public_key,
	                                .principal = auditor_principal,
	                                .cors = 1,
	                                .jsonapi = 1,
	                                .app = &a};
	daemon_http_config(settings, NSETTINGS, &hc);
	rc = daemon_serve(&hc, &http) ? 1 : 0;
	atomic_store(&a.stopping, true);
out:
	http_server_stop(http);
	reads_stop(a.reads); /* stores the last reads' records while the ledger is open */
	stream_logs_stop(a.streams); /* after the server: its streams are gone */
	for (unsigned i = 0; i < a.nconsumers; i++)
		consumer_stop(a.consumers[i]);
	retention_stop(a.retention);
	for (unsigned p = 0; p < a.nlogs; p++) {
		checker_stop(a.checkers[p]);
		ledger_close(a.ledgers[p]); /* signs what the consumers stored last */
		reorder_free(a.reorders[p]);
	}
	if (a.records != a.ledger)
		ledger_close(a.records);
	watch_pair_stop(&a.watches);
	replica_stop(a.replica); /* after the server and the stream: their reads are done */
	note_signer_free(a.signer);
	auth_key_free(a.public_key);
	principal_cache_free(a.principals);
	db_close(a.instance_lock); /* the server frees the lock */
	db_library_end();
	return rc;
}
