/* httpc: a minimal HTTP/1.1 client for calls between our own daemons
 * (the API's proxy to the auditor, the auditor's token introspection at
 * the API). One request per connection. */
#ifndef AUDITLOG_HTTPC_H
#define AUDITLOG_HTTPC_H

#include <stddef.h>

/* The largest answer (status line, headers and body) a request takes. */
#define HTTPC_MAX_BODY (16u << 20)
/* Returned when the answer is larger than that. */
#define HTTPC_ETOOBIG (-2)

struct httpc_url {
	char host[256];
	char port[8];
	char prefix[256]; /* path prefix without trailing '/', may be "" */
};

struct httpc_response {
	unsigned status;
	char content_type[128];
	char last_modified[64]; /* the Last-Modified header's value, or "" */
	char *head; /* owned: the header lines, CRLF-separated (httpc_header) */
	char *body; /* owned, NUL-terminated */
	size_t body_len;
};

/* Parses "http://host[:port][/prefix]". Returns 0 or -1. */
int httpc_parse_url(const char *url, struct httpc_url *out);

/* GETs prefix + target (which starts with '/') with the given Authorization
 * header value (NULL for none) and more request headers ("Name: value"
 * strings, NULL-terminated; headers may be NULL): the traceparent to send
 * on (W3C Trace Context, http_traceparent), say; the whole
 * exchange (connecting, sending, reading the answer) must be over within
 * timeout_ms, however the peer trickles its bytes. Returns 0 with out
 * filled (free it with httpc_response_free), HTTPC_ETOOBIG when the answer
 * is larger than HTTPC_MAX_BODY bytes, or -1 when the peer could not be
 * reached in time, did not answer in time, or answered something that is
 * not HTTP. */
int httpc_get(const struct httpc_url *url, const char *target, const char *authorization,
              const char *const *headers, int timeout_ms, struct httpc_response *out);
/* POSTs body (len bytes, borrowed) as content_type to prefix + target,
 * accepting application/json. Returns as httpc_get does. */
int httpc_post(const struct httpc_url *url, const char *target, const char *content_type,
               const char *body, size_t len, int timeout_ms, struct httpc_response *out);
/* POSTs the JSON:API document body (len bytes, borrowed) to prefix +
 * target with the given Authorization (NULL for none) and more headers
 * as httpc_get takes them, accepting JSON:API. Returns as httpc_get does. */
int httpc_post_jsonapi(const struct httpc_url *url, const char *target, const char *authorization,
                       const char *const *headers, const char *body, size_t len, int timeout_ms,
                       struct httpc_response *out);
/* The value of the answer's header name (case-insensitive; the first when
 * it came more than once; its surrounding spaces and tabs left out) into
 * out (cap bytes, NUL-terminated). Returns 0, or -1 when the answer has no
 * such header or its value does not fit. */
int httpc_header(const struct httpc_response *resp, const char *name, char *out, size_t cap);
void httpc_response_free(struct httpc_response *resp);

#endif
