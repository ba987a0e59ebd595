#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "health.h"
#include "log.h"

/* The shutdown-deadline setting, and the instant (clock_ms) it ends once a
 * signal came; 0 before. */
static int shutdown_deadline_s = 10;
static int64_t shutdown_until_ms;

int daemon_setup(const char *name, struct config_setting *table, size_t n, int argc,
                 char **argv, const char *summary)
{
	enum config_result r = config_load(table, n, argc, argv, summary);
	if (r == CONFIG_EXIT_OK)
		return 0;
	if (r != CONFIG_OK)
		return 2;
	int level = log_level_parse(config_str(table, n, "log-level"));
	if (level < 0) {
		fprintf(stderr, "%s: log-level must be debug, info, warn or error\n", name);
		return 2;
	}
	int format = log_format_parse(config_str(table, n, "log-format"));
	if (format < 0) {
		fprintf(stderr, "%s: log-format must be json or text\n", name);
		return 2;
	}
	log_init(name, (enum log_level)level);
	shutdown_deadline_s = (int)config_int(table, n, "shutdown-deadline");
	log_set_format((enum log_format)format);
	return DAEMON_CONTINUE;
}

void daemon_db_config(const struct config_setting *table, size_t n, struct db_config *cfg)
{
	cfg->host = config_str(table, n, "mysql-host");
	cfg->port = (unsigned)config_int(table, n, "mysql-port");
	cfg->socket = config_str(table, n, "mysql-socket");
	cfg->user = config_str(table, n, "mysql-user");
	cfg->password = config_str(table, n, "mysql-password");
	cfg->database = config_str(table, n, "mysql-database");
}

int daemon_topology(const struct config_setting *table, size_t n, struct mq_topology *t)
{
	const char *type = config_str(table, n, "queue-type");
	*t = (struct mq_topology){.partitions = (unsigned)config_int(table, n, "partitions"),
	                          .quorum = !strcmp(type, "quorum"),
	                          .delivery_limit = (unsigned)config_int(table, n, "delivery-limit")};
	if (!t->quorum && strcmp(type, "classic")) {
		log_error("queue-type must be classic or quorum, not \"%s\"", type);
		return -1;
	}
	return 0;
}

void daemon_http_config(const struct config_setting *table, size_t n,
                        struct http_server_config *hc)
{
	hc->port = (unsigned)config_int(table, n, "port");
	hc->threads = (unsigned)config_int(table, n, "http-threads");
	hc->body_max = (size_t)config_int(table, n, "body-max");
	hc->connections_max = (unsigned)config_int(table, n, "http-connections");
	hc->connections_per_ip_max = (unsigned)config_int(table, n, "http-connections-per-ip");
	hc->timeout_s = (unsigned)config_int(table, n, "http-timeout");
	hc->header_timeout_s = (unsigned)config_int(table, n, "http-header-timeout");
	/* Half the stop's deadline for the requests under way; the rest is for
	 * handing on what they produced. */
	hc->drain_ms = shutdown_deadline_s * 500;
	hc->metrics_token = config_str(table, n, "metrics-token");
	hc->access_log = config_int(table, n, "access-log") != 0;
}

int daemon_public_key(const struct config_setting *table, size_t n, struct auth_key **out)
{
	const char *path = config_str(table, n, "jwt-public-key");
	if (auth_key_load_file(path, out)) {
		log_error("cannot load an RSA public key of 2048 bits or more from %s", path);
		return -1;
	}
	const char *issuer = config_str(table, n, "jwt-issuer");
	if (auth_key_set_issuer(*out, issuer)) {
		log_error("jwt-issuer must be 1 to %d bytes", AUTH_ISSUER_MAX);
		auth_key_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

struct principal_cache *daemon_principals(const struct config_setting *table, size_t n,
                                          principal_lookup_fn lookup, void *ctx)
{
	struct principal_config cfg = {.ttl_ms = config_int(table, n, "principal-ttl-ms"),
	                               .lookup = lookup,
	                               .lookup_ctx = ctx};
	struct principal_cache *c = principal_cache_new(&cfg);
	if (!c)
		log_error("out of memory");
	return c;
}

enum http_principal daemon_principal(struct principal_cache *cache, const void *arg,
                                     struct auth_claims *claims)
{
	bool auditor = false;
	switch (principal_check(cache, claims->user_id, arg, &auditor, NULL)) {
	case PRINCIPAL_OK:
		claims->auditor = auditor;
		return HTTP_PRINCIPAL_OK;
	case PRINCIPAL_GONE:
		return HTTP_PRINCIPAL_GONE;
	default:
		return HTTP_PRINCIPAL_UNAVAILABLE;
	}
}

/* A stop that outlives its deadline ends here: whatever was not handed on
 * (unconfirmed views, an uncommitted batch) is where a crash would leave
 * it, and is sent or delivered again at the next start. */
static void *watchdog(void *arg)
{
	(void)arg;
	/* The deadline is fixed once the signal came: one sleep to it. */
	int left = daemon_shutdown_left_ms();
	struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = left % 1000 * 1000000L};
	while (left > 0 && nanosleep(&ts, &ts) && errno == EINTR)
		;
	log_error("stopping took longer than shutdown-deadline (%d s): exiting now; what was not "
	          "handed on is sent again at the next start",
	          shutdown_deadline_s);
	_exit(1);
	return NULL;
}

int daemon_serve(const struct http_server_config *hc, struct http_server **srv)
{
	if (http_server_start(hc, srv))
		return -1;
	log_info("listening on port %u", hc->port);
	int sig = daemon_wait_for_signal();
	shutdown_until_ms = clock_ms() + (int64_t)shutdown_deadline_s * 1000;
	pthread_t t;
	if (pthread_create(&t, NULL, watchdog, NULL) == 0)
		pthread_detach(t);
	log_info("signal %d: stopping (stop accepting, finish requests, hand on what is held; "
	         "at most %d s)",
	         sig, shutdown_deadline_s);
	return 0;
}

int daemon_shutdown_left_ms(void)
{
	if (!shutdown_until_ms)
		return shutdown_deadline_s * 1000;
	int64_t left = shutdown_until_ms - clock_ms();
	return left > 0 ? (int)left : 0;
}

void daemon_livez(struct http_request *req)
{
	static const char body[] = "{\"status\":\"pass\"}";
	char *buf = malloc(sizeof body);
	if (buf)
		memcpy(buf, body, sizeof body);
	http_add_header(req, "Cache-Control", "no-store");
	http_reply_buffer(req, buf ? 200 : 503, HEALTH_MEDIA_TYPE, buf, buf ? sizeof body - 1 : 0);
}

void daemon_reply_health(struct http_request *req, const struct health_check *checks, size_t n)
{
	unsigned status = 503;
	json_t *doc = health_document(checks, n, clock_wall_ms(), &status);
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	json_decref(doc);
	http_add_header(req, "Cache-Control", "no-store");
	if (!text) {
		http_reply_error(req, 503, "Service Unavailable", "Out of memory.");
		return;
	}
	http_reply_buffer(req, status, HEALTH_MEDIA_TYPE, text, strlen(text));
}

static sigset_t stop_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	return set;
}

void daemon_block_signals(void)
{
	sigset_t set = stop_signals();
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int daemon_wait_for_signal(void)
{
	sigset_t set = stop_signals();
	int sig = 0;
	while (sigwait(&set, &sig))
		;
	return sig;
}
