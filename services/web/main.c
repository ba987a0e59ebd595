/* auditlog-web: serves the browser UI in web/, and nothing outside it. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "http.h"
#include "log.h"
#include "webpath.h"

static struct config_setting settings[] = {
    DAEMON_HTTP_SETTINGS("AUDITLOG_WEB_PORT", "3002"),
    {"web-root", "AUDITLOG_WEB_ROOT", "web", CONFIG_STRING, 0, 0,
     "Folder of the UI's files.", NULL, 0},
    {"api-url", "AUDITLOG_PUBLIC_API_URL", "", CONFIG_STRING, 0, 0,
     "The API's URL as browsers reach it; empty means this host, port 3000.", NULL, 0},
    DAEMON_SHUTDOWN_SETTING,
    DAEMON_LOG_SETTING,
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

struct web {
	char root[PATH_MAX]; /* resolved, no trailing '/' */
	int root_fd;         /* that folder, opened once */
	const char *api_url;
};

static void h_config(struct http_request *req)
{
	struct web *w = http_app(req);
	json_t *doc = json_pack("{s:s}", "apiUrl", w->api_url);
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	http_add_header(req, "Cache-Control", "no-cache");
	if (s)
		http_reply_buffer(req, 200, "application/json", s, strlen(s));
	else
		http_reply_error(req, 500, "Internal error", "Out of memory.");
}

static void not_found(struct http_request *req)
{
	http_reply_error(req, 404, "Not found", "There is no file at this path.");
}

/* Opens rel, a path below root_fd with no symlink left in it (realpath's
 * answer), one component at a time and following no symlink: a component
 * swapped for a symlink after the path was checked makes the open fail
 * instead of leading out of the root. Returns a descriptor or -1. */
static int open_beneath(int root_fd, const char *rel)
{
	char buf[PATH_MAX];
	if ((size_t)snprintf(buf, sizeof buf, "%s", rel) >= sizeof buf)
		return -1;
	char *save = NULL, *name = strtok_r(buf, "/", &save);
	int dir = root_fd, fd = -1;
	while (name) {
		char *next = strtok_r(NULL, "/", &save);
		/* O_NONBLOCK: a FIFO swapped in must not block the worker. */
		fd = openat(dir, name,
		            O_NOFOLLOW | O_CLOEXEC |
		                (next ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK));
		if (dir != root_fd)
			close(dir);
		if (fd < 0 || !next)
			return fd;
		dir = fd;
		name = next;
	}
	return -1;
}

static void h_file(struct http_request *req)
{
	struct web *w = http_app(req);
	char rel[PATH_MAX], joined[PATH_MAX * 2], real[PATH_MAX];
	if (webpath_resolve(http_path(req), rel, sizeof rel)) {
		not_found(req);
		return;
	}
	snprintf(joined, sizeof joined, "%s/%s", w->root, rel);
	/* Symlinks may point anywhere: serve only what really lies under root,
	 * and open exactly the path that was checked. */
	size_t rootlen = strlen(w->root);
	if (!realpath(joined, real) || strncmp(real, w->root, rootlen) || real[rootlen] != '/') {
		not_found(req);
		return;
	}
	int fd = open_beneath(w->root_fd, real + rootlen + 1);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		not_found(req);
		return;
	}
	http_add_header(req, "Cache-Control", "no-cache");
	http_reply_fd(req, 200, webpath_content_type(real), fd, (uint64_t)st.st_size);
}

/* Ready while the UI's page can be read from the web root. */
static void check_root(void *arg, struct health_result *out)
{
	struct web *w = arg;
	if (faccessat(w->root_fd, "index.html", R_OK, 0))
		health_set(out, HEALTH_FAIL, "cannot read index.html in the web root");
}

static void h_readyz(struct http_request *req)
{
	const struct health_check checks[] = {{"web:root", "system", check_root, http_app(req)}};
	daemon_reply_health(req, checks, 1);
}

/* Any query string is fine on static files, not even read: the UI keeps
 * its view and filters in the page's query (cache-busting too). */
static const struct http_route routes[] = {
    {"GET", "/livez", daemon_livez, 0, HTTP_PARAMS_IGNORED},
    {"GET", "/readyz", h_readyz, HTTP_PROBE, HTTP_PARAMS_IGNORED},
    {"GET", "/config.json", h_config, 0, HTTP_PARAMS_IGNORED},
    {"GET", "*", h_file, 0, HTTP_PARAMS_IGNORED},
};

/* The UI loads only its own scripts and styles; it may call the API on
 * another port. */
static const char *const security_headers[] = {
    "X-Content-Type-Options", "nosniff",
    "Content-Security-Policy",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src *; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'",
    "Referrer-Policy", "no-referrer",
    "X-Frame-Options", "DENY",
    NULL};

int main(int argc, char **argv)
{
	int rc = daemon_setup("auditlog-web", settings, NSETTINGS, argc, argv,
	                      "Serves the browser UI from the web root.");
	if (rc != DAEMON_CONTINUE)
		return rc;
	struct web w = {.api_url = config_str(settings, NSETTINGS, "api-url")};
	const char *root = config_str(settings, NSETTINGS, "web-root");
	if (!realpath(root, w.root) ||
	    (w.root_fd = open(w.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		log_error("web-root %s does not exist or cannot be opened", root);
		return 1;
	}
	daemon_block_signals();
	struct http_server *http = NULL;
	struct http_server_config hc = {.routes = routes,
	                                .nroutes = sizeof routes / sizeof routes[0],
	                                .headers = security_headers,
	                                .app = &w};
	daemon_http_config(settings, NSETTINGS, &hc);
	log_info("serving %s", w.root);
	rc = daemon_serve(&hc, &http) ? 1 : 0;
	http_server_stop(http);
	close(w.root_fd);
	return rc;
}
