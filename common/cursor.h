/* cursor: the opaque keyset position handed out in links.next.
 *
 * A page of events ends at the event (timestamp, id); the next page starts
 * strictly after it in (timestamp, id) order. The cursor carries exactly
 * that pair, base64url-encoded so clients treat it as a token. Decoding is
 * strict: anything that is not a cursor we made is refused. */
#ifndef AUDITLOG_CURSOR_H
#define AUDITLOG_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

#define CURSOR_MAX 96

/* Writes the cursor and a NUL into out (CURSOR_MAX bytes). */
void cursor_encode(int64_t timestamp, const char *id, char out[CURSOR_MAX]);
/* Returns 0 and fills timestamp and id, or -1 for anything malformed. */
int cursor_decode(const char *s, int64_t *timestamp, char id[UUID_STR_LEN + 1]);

#endif
