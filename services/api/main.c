/* auditlog-api: the JSON:API service (users, notes) that emits a data event
 * for everything it returns, creates, changes or deletes. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "daemon.h"
#include "watch.h"
#include "log.h"
#include "openapi.h"
#include "publisher.h"
#include "relay.h"

static struct config_setting settings[] = {
    DAEMON_HTTP_SETTINGS("AUDITLOG_API_PORT", "3000"),
    DAEMON_MYSQL_SETTINGS("AUDITLOG_API_DB", "audit-logging-api", "AUDITLOG_MYSQL_USER", "dev",
                          "AUDITLOG_MYSQL_PASSWORD", "dev"),
    DAEMON_AMQP_SETTING,
    DAEMON_TOPOLOGY_SETTINGS,
    DAEMON_PUBLIC_KEY_SETTING,
    DAEMON_PRINCIPAL_TTL_SETTING,
    {"jwt-private-key", "AUDITLOG_JWT_PRIVATE_KEY", ".state/keys/jwt-private.pem",
     CONFIG_STRING, 0, 0, "PEM file of the RSA private key that signs tokens.", NULL, 0},
    {"auditor-url", "AUDITLOG_AUDITOR_URL", "http://localhost:3001", CONFIG_STRING, 0, 0,
     "Where the auditor answers; /logs/... is forwarded there.", NULL, 0},
    {"auditor-timeout", "AUDITLOG_AUDITOR_TIMEOUT", "10", CONFIG_INT, 1, 300,
     "Seconds a /logs/... request may take in all before it gets 502; for an export or "
     "/logs/stream, the seconds to the auditor's answer's head (the body may take longer).",
     NULL, 0},
    {"spool-dir", "AUDITLOG_SPOOL_DIR", ".state/spool", CONFIG_STRING, 0, 0,
     "Folder of the view events' write-ahead spool (one API per folder).", NULL, 0},
    {"linger-ms", "AUDITLOG_LINGER_MS", "20", CONFIG_INT, 0, 1000,
     "Milliseconds an event may wait for others to go out with it in one message (and, after "
     "a commit, in one round of the outbox relay): the most it adds to an event's way to the "
     "auditor. Each message and round costs the API, the broker and the database about the "
     "same whatever it carries.",
     NULL, 0},
    {"confirm-window", "AUDITLOG_CONFIRM_WINDOW", "1000", CONFIG_INT, 1, 65535,
     "Most published events awaiting the broker's confirmation.", NULL, 0},
    {"token-endpoint", "AUDITLOG_TOKEN_ENDPOINT", "true", CONFIG_BOOL, 0, 0,
     "Answer GET /tokens/:id, the demo's login that gives anyone a token. Turn it off in "
     "production and use your own identity provider.", NULL, 0},
    {"bench-no-audit", "AUDITLOG_BENCH_NO_AUDIT", "false", CONFIG_BOOL, 0, 0,
     "FOR BENCHMARKS ONLY: emit no data events, to measure what auditing costs.", NULL, 0},
    {"ready-outbox-max", "AUDITLOG_READY_OUTBOX_MAX", "100000", CONFIG_INT, 0, 2000000000,
     "Events waiting in the outbox at which /readyz fails (it warns from half); 0: no bound.",
     NULL, 0},
    {"ready-spool-max", "AUDITLOG_READY_SPOOL_MAX", "268435456", CONFIG_INT, 0,
     1L << 50,
     "Bytes of view events waiting in the spool at which /readyz fails (it warns from "
     "half); 0: no bound.",
     NULL, 0},
    DAEMON_SHUTDOWN_SETTING,
    DAEMON_LOG_SETTING,
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

/* The query parameters each route takes; any other gets 400. */
static const char *const page_params[] = {"page[size]", "page[after]", NULL};
static const char *const state_params[] = {"at", NULL};
/* /logs/by and /logs/for: the path gives the actor or the target, the
 * client the rest of the auditor's filters (README "Filters"). */
static const char *const by_params[] = {"filter[target]", "filter[action]",  "filter[since]",
                                        "filter[until]",  "filter[field]",   "filter[eventName]",
                                        "filter[flag]",   "filter[traceId]", "sort",
                                        "page[size]",     "page[after]",     NULL};
static const char *const for_params[] = {"filter[actor]", "filter[action]",  "filter[since]",
                                         "filter[until]", "filter[field]",   "filter[eventName]",
                                         "filter[flag]",  "filter[traceId]", "sort",
                                         "page[size]",    "page[after]",     NULL};
/* /logs/data-events: the auditor's /data-events, all of its parameters. */
static const char *const events_params[] = {
    "filter[actor]", "filter[target]",    "filter[action]", "filter[since]",   "filter[until]",
    "filter[field]", "filter[eventName]", "filter[flag]",   "filter[traceId]", "sort",
    "page[size]",    "page[after]",       NULL};
static const char *const notes_params[] = {"filter[target]", "page[size]", "page[after]", NULL};

static const struct http_route routes[] = {
    /* Health (README "Health"): open, naming no data. */
    {"GET", "/livez", daemon_livez, 0, HTTP_PARAMS_IGNORED},
    {"GET", "/readyz", h_readyz, HTTP_PROBE, HTTP_PARAMS_IGNORED},
    {"POST", "/tokens/introspect", h_token_introspect, HTTP_BODY | HTTP_FORM, NULL},
    {"GET", "/tokens/:id", h_token_get, 0, NULL},
    {"GET", "/.well-known/jwks.json", h_jwks_get, 0, NULL},
    {"GET", "/api/users", h_users_list, HTTP_AUTH, page_params},
    {"POST", "/api/users", h_user_create, HTTP_AUTH | HTTP_BODY, NULL},
    {"GET", "/api/users/:id", h_user_get, HTTP_AUTH, NULL},
    {"PATCH", "/api/users/:id", h_user_update, HTTP_AUTH | HTTP_BODY, NULL},
    {"DELETE", "/api/users/:id", h_user_delete, HTTP_AUTH, NULL},
    {"GET", "/api/notes", h_notes_list, HTTP_AUTH, notes_params},
    {"POST", "/api/notes", h_note_create, HTTP_AUTH | HTTP_BODY, NULL},
    {"GET", "/api/notes/:id", h_note_get, HTTP_AUTH, NULL},
    {"DELETE", "/api/notes/:id", h_note_delete, HTTP_AUTH, NULL},
    /* The path decides the filter; the proxy waits on the auditor off the
     * HTTP workers. */
    {"GET", "/logs/by/:type/:id", h_logs_by, HTTP_AUTH | HTTP_ASYNC, by_params},
    {"GET", "/logs/for/:type/:id", h_logs_for, HTTP_AUTH | HTTP_ASYNC, for_params},
    {"GET", "/logs/state/:type/:id", h_logs_state, HTTP_AUTH | HTTP_ASYNC, state_params},
    {"GET", "/logs/history/:type/:id/:field", h_logs_field_history, HTTP_AUTH | HTTP_ASYNC,
     page_params},
    {"GET", "/logs/checkpoint", h_logs_ledger, HTTP_AUTH | HTTP_ASYNC, HTTP_PARAMS_ANY},
    {"GET", "/logs/checkpoints", h_logs_ledger, HTTP_AUTH | HTTP_ASYNC, NULL},
    {"GET", "/logs/.well-known/auditlog-vkey", h_logs_ledger, HTTP_AUTH | HTTP_ASYNC, NULL},
    {"GET", "/logs/data-events/:id/proof", h_logs_ledger, HTTP_AUTH | HTTP_ASYNC, HTTP_PARAMS_ANY},
    {"GET", "/logs/data-events/:id/leaf", h_logs_ledger, HTTP_AUTH | HTTP_ASYNC, NULL},
    {"GET", "/logs/consistency", h_logs_ledger, HTTP_AUTH | HTTP_ASYNC, HTTP_PARAMS_ANY},
    {"GET", "/logs/verify", h_logs_ledger, HTTP_AUTH | HTTP_ASYNC, HTTP_PARAMS_ANY},
    {"GET", "/logs/export", h_logs_ledger, HTTP_AUTH | HTTP_ASYNC, HTTP_PARAMS_ANY},
    {"POST", "/logs/erasures", h_logs_erase, HTTP_AUTH | HTTP_BODY | HTTP_ASYNC, NULL},
    /* Streamed through (relay.h): the pool waits only for the answer's
     * head; the body is relayed with no thread waiting for it. The
     * stream's parameters are the auditor's to check. */
    {"GET", "/logs/data-events", h_logs_events, HTTP_AUTH | HTTP_ASYNC, events_params},
    {"GET", "/logs/stream", h_logs_stream, HTTP_AUTH | HTTP_ASYNC, HTTP_PARAMS_ANY},
    /* This table described for clients (docs/openapi/): no token needed. */
    {"GET", "/openapi.json", openapi_get, 0, NULL},
};

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	if (!f)
		return NULL;
	if ((buf = malloc(65536))) {
		*len = fread(buf, 1, 65535, f);
		if (ferror(f) || !feof(f)) {
			free(buf);
			buf = NULL;
		} else {
			buf[*len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

#define S(name) config_str(settings, NSETTINGS, name)
#define I(name) config_int(settings, NSETTINGS, name)

int main(int argc, char **argv)
{
	int rc = daemon_setup("auditlog-api", settings, NSETTINGS, argc, argv,
	                      "The JSON:API service for users and notes; every object it returns, "
	                      "creates, changes or deletes becomes a data event.");
	if (rc != DAEMON_CONTINUE)
		return rc;
	rc = 1;
	struct api api = {.auditor_timeout_ms = (int)I("auditor-timeout") * 1000};
	struct http_server *http = NULL;
	daemon_block_signals();
	if (db_library_init()) {
		log_error("cannot initialise the MySQL client library");
		return 1;
	}
	daemon_db_config(settings, NSETTINGS, &api.db);
	api.audit_off = I("bench-no-audit");
	api.token_endpoint = I("token-endpoint");
	if (api.token_endpoint)
		log_warn("GET /tokens/:id is on: anyone can get a token for any user (the demo's "
		         "login). Set AUDITLOG_TOKEN_ENDPOINT=false in production.");
	if (api.audit_off)
		for (int i = 0; i < 3; i++)
			log_error("AUDITING IS OFF (bench-no-audit): this API records NO data events. "
			          "Only for measuring what auditing costs; never in production.");
	if (daemon_public_key(settings, NSETTINGS, &api.public_key))
		goto out;
	if (!(api.private_pem = read_file(S("jwt-private-key"), &api.private_pem_len))) {
		log_error("cannot read the private key %s", S("jwt-private-key"));
		goto out;
	}
	if (!(api.principals = daemon_principals(settings, NSETTINGS, api_principal_lookup, &api)))
		goto out;
	if (!(api.forwards = forward_cache_new(I("principal-ttl-ms")))) {
		log_error("out of memory");
		goto out;
	}
	if (httpc_parse_url(S("auditor-url"), &api.auditor)) {
		log_error("auditor-url must look like http://host:port");
		goto out;
	}
	if (relay_start(&api.relay)) {
		log_error("cannot start the relay");
		goto out;
	}
	audit_init();
	api.ready_outbox_max = (uint64_t)I("ready-outbox-max");
	api.ready_spool_max = (uint64_t)I("ready-spool-max");
	/* The outbox's backlog comes with the probe: an estimate that costs
	 * the same whatever the backlog (the positions between the oldest row
	 * and the newest). */
	if (watch_pair_start(&api.watches, &api.db,
	                     "SELECT MAX(seq) - MIN(seq) + 1 FROM event_outbox", S("amqp-url"),
	                     "api-dbwatch", "api-mqwatch"))
		goto out;
	api_health_metrics(&api, true);
	struct publisher_config pc = {.amqp_url = S("amqp-url"),
	                              .db = &api.db,
	                              .spool_dir = S("spool-dir"),
	                              .confirm_window = (unsigned)I("confirm-window"),
	                              .linger_ms = (int)I("linger-ms")};
	if (daemon_topology(settings, NSETTINGS, &pc.topology))
		goto out;
	if (publisher_start(&pc, &api.publisher)) {
		log_error("cannot start the publisher");
		goto out;
	}
	struct http_server_config hc = {.routes = routes,
	                                .nroutes = sizeof routes / sizeof routes[0],
	                                .auth = api.public_key,
	                                .principal = api_principal,
	                                .cors = 1,
	                                .jsonapi = 1,
	                                .app = &api};
	daemon_http_config(settings, NSETTINGS, &hc);
	rc = daemon_serve(&hc, &http) ? 1 : 0;
out:
	/* The relay first: it ends each relayed body as it should end (an
	 * export cut short, a live stream cleanly), which the server's stop
	 * then sends on, instead of ending a waiting export as if complete. */
	relay_stop(api.relay);
	http_server_stop(http);
	/* What is left of the deadline, less a margin for what follows. */
	int left = daemon_shutdown_left_ms() - 200;
	publisher_stop(api.publisher, left > 0 ? left : 0);
	if (api.watches.db)
		api_health_metrics(&api, false);
	watch_pair_stop(&api.watches);
	auth_key_free(api.public_key);
	principal_cache_free(api.principals);
	forward_cache_free(api.forwards);
	free(api.private_pem);
	db_library_end();
	return rc;
}
