#include "daemon.h"

#include <signal.h>
#include <stdio.h>

#include "log.h"

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
	log_init(name, (enum log_level)level);
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
	hc->metrics_token = config_str(table, n, "metrics-token");
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

int daemon_serve(const struct http_server_config *hc, struct http_server **srv)
{
	if (http_server_start(hc, srv))
		return -1;
	log_info("listening on port %u", hc->port);
	int sig = daemon_wait_for_signal();
	log_info("signal %d: stopping", sig);
	return 0;
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
