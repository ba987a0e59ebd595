/* daemon: what the three daemons share around their main loop: the
 * settings every one of them has, signal handling and start-up checks.
 *
 * Signals: daemon_block_signals() blocks SIGINT and SIGTERM before any
 * thread starts, so every thread inherits the mask and only the main thread
 * ever sees them, synchronously, in daemon_wait_for_signal(). No code runs
 * in a signal handler. */
#ifndef AUDITLOG_DAEMON_H
#define AUDITLOG_DAEMON_H

#include "auth.h"
#include "config.h"
#include "mq.h"
#include "db.h"
#include "health.h"
#include "http.h"
#include "principal.h"

#define DAEMON_LOG_SETTING                                                                   \
	{"log-level", "AUDITLOG_LOG_LEVEL", "info", CONFIG_STRING, 0, 0,                        \
	 "Least severe log level printed: debug, info, warn or error.", NULL, 0},               \
	    {"log-format", "AUDITLOG_LOG_FORMAT", "json", CONFIG_STRING, 0, 0,                  \
	     "Log lines as json (one object a line, with the request's trace_id and "           \
	     "request_id) or text (the plain lines of old).",                                    \
	     NULL, 0}

#define DAEMON_HTTP_SETTINGS(port_env, port)                                                 \
	{"port", port_env, port, CONFIG_INT, 1, 65535, "HTTP port to listen on.", NULL, 0},      \
	    {"http-threads", "AUDITLOG_HTTP_THREADS", "4", CONFIG_INT, 1, 64,                    \
	     "HTTP worker threads (each with its own database connection).", NULL, 0},           \
	    {"body-max", "AUDITLOG_BODY_MAX", "1048576", CONFIG_INT, 1024, 67108864,             \
	     "Largest request body accepted, in bytes (larger gets 413).", NULL, 0},              \
	    {"http-connections", "AUDITLOG_HTTP_CONNECTIONS", "512", CONFIG_INT, 4, 65536,       \
	     "Open HTTP connections at most.", NULL, 0},                                         \
	    {"http-connections-per-ip", "AUDITLOG_HTTP_CONNECTIONS_PER_IP", "0", CONFIG_INT, 0,  \
	     65536,                                                                              \
	     "Open HTTP connections from one address at most; 0: no limit (behind a reverse "    \
	     "proxy every client has the proxy's address).",                                     \
	     NULL, 0},                                                                           \
	    {"http-timeout", "AUDITLOG_HTTP_TIMEOUT", "15", CONFIG_INT, 1, 3600,                 \
	     "Seconds after which an idle or stalled connection is closed.", NULL, 0},           \
	    {"http-header-timeout", "AUDITLOG_HTTP_HEADER_TIMEOUT", "5", CONFIG_INT, 1, 3600,    \
	     "Seconds a new connection has to send a complete request head; later it is "        \
	     "dropped, however slowly it sends.",                                                \
	     NULL, 0},                                                                           \
	    {"metrics-token", "AUDITLOG_METRICS_TOKEN", "", CONFIG_STRING, 0, 0,                 \
	     "GET /metrics (Prometheus text format) answers requests that bear this token "     \
	     "(Authorization: Bearer); empty: there is no /metrics (404). A secret: set it in "  \
	     "the environment, not on the command line.",                                       \
	     NULL, 0},                                                                           \
	    {"access-log", "AUDITLOG_ACCESS_LOG", "false", CONFIG_BOOL, 0, 0,                     \
	     "Log every request at info (method, target, status, milliseconds to the answer's "  \
	     "head, with the request's trace_id and request_id): the line to go from to the "    \
	     "request's events (filter[traceId]). Off: only 5xx answers are logged.",           \
	     NULL, 0}

#define DAEMON_MYSQL_SETTINGS(db_env, db_default, user_env, user_default, pw_env, pw_default)  \
	{"mysql-host", "AUDITLOG_MYSQL_HOST", "localhost", CONFIG_STRING, 0, 0,                 \
	 "MySQL/MariaDB host (localhost means TCP to 127.0.0.1).", NULL, 0},                     \
	    {"mysql-port", "AUDITLOG_MYSQL_PORT", "3306", CONFIG_INT, 1, 65535, "MySQL port.",   \
	     NULL, 0},                                                                           \
	    {"mysql-socket", "AUDITLOG_MYSQL_SOCKET", "", CONFIG_STRING, 0, 0,                   \
	     "MySQL unix socket; when set it is used instead of host and port.", NULL, 0},       \
	    {"mysql-user", user_env, user_default, CONFIG_STRING, 0, 0, "MySQL user.", NULL, 0}, \
	    {"mysql-password", pw_env, pw_default, CONFIG_STRING, 0, 0, "MySQL password.", NULL, \
	     0},                                                                                 \
	    {"mysql-database", db_env, db_default, CONFIG_STRING, 0, 0, "MySQL database.", NULL, \
	     0}

#define DAEMON_AMQP_SETTING                                                                  \
	{"amqp-url", "AUDITLOG_AMQP_URL", "amqp://dev:dev@localhost:5672/", CONFIG_STRING, 0, 0, \
	 "RabbitMQ URL: amqp://user:password@host:port/vhost (a bare / is vhost \"/\"); a "     \
	 "cluster's nodes as several URLs separated by commas, tried in turn.",                 \
	 NULL, 0}

/* The broker's topology (mq.h "topology"): every daemon of a deployment
 * the same. */
#define DAEMON_TOPOLOGY_SETTINGS                                                             \
	{"partitions", "AUDITLOG_PARTITIONS", "1", CONFIG_INT, 1, MQ_PARTITIONS_MAX,            \
	 "Partitions of the event stream: events go to one of this many queues by their "       \
	 "target, and partition p is stored in log p (README \"Partitions\").",                \
	 NULL, 0},                                                                               \
	    {"queue-type", "AUDITLOG_QUEUE_TYPE", "classic", CONFIG_STRING, 0, 0,               \
	     "classic, or quorum: replicated queues with a single active consumer each, for a " \
	     "RabbitMQ cluster (README \"Cluster mode\").",                                    \
	     NULL, 0},                                                                           \
	{"delivery-limit", "AUDITLOG_DELIVERY_LIMIT", "100", CONFIG_INT, 1, 1000,                 \
	 "Quorum queues: deliveries after which the broker dead-letters a message (a hand-back "  \
	 "and a lost connection count too: the auditor dead-letters poison itself).", NULL, 0}

#define DAEMON_PUBLIC_KEY_SETTING                                                            \
	{"jwt-public-key", "AUDITLOG_JWT_PUBLIC_KEY", ".state/keys/jwt-public.pem",             \
	 CONFIG_STRING, 0, 0, "PEM file of the RSA public key that verifies tokens.", NULL, 0}, \
	    {"jwt-issuer", "AUDITLOG_JWT_ISSUER", AUTH_ISSUER_DEFAULT, CONFIG_STRING, 0, 0,       \
	     "The iss claim every token must carry (your identity provider's issuer).", NULL, 0}

/* How long a user's existence and roles, once read, are trusted before
 * being read again (common/principal.h). */
#define DAEMON_PRINCIPAL_TTL_SETTING                                                         \
	{"principal-ttl-ms", "AUDITLOG_PRINCIPAL_TTL_MS", "1000", CONFIG_INT, 0, 60000,         \
	 "Milliseconds a token's user, once looked up (does it exist, is it an auditor), is "   \
	 "trusted before it is looked up again: the longest a deletion or role change made "    \
	 "elsewhere goes unnoticed. 0 looks it up on every request.",                           \
	 NULL, 0}

/* How long a stop may take (daemon_serve, daemon_shutdown_left_ms). */
#define DAEMON_SHUTDOWN_SETTING                                                              \
	{"shutdown-deadline", "AUDITLOG_SHUTDOWN_DEADLINE", "10", CONFIG_INT, 1, 3600,          \
	 "Seconds a stop (SIGTERM, SIGINT) may take: it stops accepting, finishes the requests " \
	 "under way and hands on what it holds (the API: spooled and outboxed events to the "   \
	 "broker; the auditor: its batches committed and acknowledged). What is still held "    \
	 "then is sent again at the next start; the process exits with status 1.",              \
	 NULL, 0}

#define DAEMON_CONTINUE (-1)

/* Loads settings and sets up logging. Returns DAEMON_CONTINUE to go on, or
 * the exit status the daemon should end with (0 after --help). */
int daemon_setup(const char *name, struct config_setting *table, size_t n, int argc,
                 char **argv, const char *summary);

/* Fills cfg from the DAEMON_MYSQL_SETTINGS rows; strings are borrowed. */
void daemon_db_config(const struct config_setting *table, size_t n, struct db_config *cfg);
/* Fills t from DAEMON_TOPOLOGY_SETTINGS. Returns 0, or -1 (logged) for a
 * queue type that is neither classic nor quorum. */
int daemon_topology(const struct config_setting *table, size_t n, struct mq_topology *t);

/* Fills port, threads, body_max, the connection limits, the timeouts and
 * the metrics token from the DAEMON_HTTP_SETTINGS rows. */
void daemon_http_config(const struct config_setting *table, size_t n,
                        struct http_server_config *hc);
/* Loads the key the jwt-public-key row names, expecting tokens from the
 * jwt-issuer row's issuer; logs why it cannot. */
int daemon_public_key(const struct config_setting *table, size_t n, struct auth_key **out);
/* A principal cache with the DAEMON_PRINCIPAL_TTL_SETTING row's ttl and
 * lookup(ctx, ...); NULL (logged) when out of memory. Free it with
 * principal_cache_free. */
struct principal_cache *daemon_principals(const struct config_setting *table, size_t n,
                                          principal_lookup_fn lookup, void *ctx);
/* The body of a daemon's http_principal_fn: claims->user_id through cache
 * (arg goes to the lookup); on HTTP_PRINCIPAL_OK claims->auditor is the
 * user's role now. */
enum http_principal daemon_principal(struct principal_cache *cache, const void *arg,
                                     struct auth_claims *claims);

/* Starts the HTTP server, then blocks until SIGINT or SIGTERM. Returns 0
 * after a signal (with *srv running, for the caller to stop in its own
 * order), or -1 when the server could not start. From the signal on, the
 * stop has the shutdown-deadline setting's seconds (every daemon has the
 * DAEMON_SHUTDOWN_SETTING row): a thread then ends the process with
 * status 1 if it still runs. */
int daemon_serve(const struct http_server_config *hc, struct http_server **srv);
/* Milliseconds left of the stop's deadline (all of it before the signal),
 * for a step that waits (the publisher's drain). */
int daemon_shutdown_left_ms(void);

/* Health (health.h) over HTTP, as application/health+json, not cached. */
#define HEALTH_MEDIA_TYPE "application/health+json"
/* GET /livez's handler: 200 {"status":"pass"} while the process serves. */
void daemon_livez(struct http_request *req);
/* Answers a /readyz with the checks' document: 200 (pass, warn) or 503. */
void daemon_reply_health(struct http_request *req, const struct health_check *checks, size_t n);

void daemon_block_signals(void);
/* Blocks until SIGINT or SIGTERM; returns the signal. */
int daemon_wait_for_signal(void);

#endif
