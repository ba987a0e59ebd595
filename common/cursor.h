/* cursor: the opaque keyset position handed out in links.next.
 *
 * A page of events ends at an event; the next page starts strictly after
 * it in the page's order: (targetVersion, timestamp, id) in a target's
 * history, (timestamp, id) elsewhere (the version is then 0). The cursor
 * carries exactly that triple as "version:timestamp:id", base64url-encoded
 * (RFC 4648 §5, no padding) so clients treat it as a token. Decoding is
 * strict: anything that is not a cursor we made is refused. Pure. */
#ifndef AUDITLOG_CURSOR_H
#define AUDITLOG_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

/* Room for a cursor and its NUL: 16 + 1 + 16 + 1 + 36 bytes of text,
 * base64url-encoded. */
#define CURSOR_MAX 96

struct cursor_pos {
	int64_t version;   /* 0 to 2^53 */
	int64_t timestamp; /* ms since the epoch, 0 to 2^53 */
	char id[UUID_STR_LEN + 1];
};

/* Writes the cursor of p and a NUL into out. p's numbers must be within
 * 0 to 2^53 and its id a UUID (what a stored event has). */
void cursor_encode(const struct cursor_pos *p, char out[CURSOR_MAX]);
/* Returns 0 and fills out, or -1 for anything malformed (out is then
 * unspecified). s is NUL-terminated. */
int cursor_decode(const char *s, struct cursor_pos *out);

#endif
