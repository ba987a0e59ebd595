/* webpath: turning a request path into a file path under the web root.
 *
 * The result is relative, made only of segments that are not empty, not
 * "." or "..", do not start with '.', and hold no '/', '\\', NUL or control
 * character after percent-decoding. So joined to the root it cannot name
 * anything outside it (symlinks aside: the server checks those). */
#ifndef AUDITLOG_WEBPATH_H
#define AUDITLOG_WEBPATH_H

#include <stddef.h>

/* raw is the request path as sent (still percent-encoded, no query).
 * "/" and paths ending in '/' get "index.html". Writes the relative path
 * into out (cap bytes); returns 0, or -1 if the path is refused. */
int webpath_resolve(const char *raw, char *out, size_t cap);

/* The Content-Type for a file name, by extension. */
const char *webpath_content_type(const char *path);

#endif
