/* utf8: strict UTF-8 decoding (RFC 3629 §3-4), for the parsers that must
 * refuse what RFC 3629 calls ill-formed: the event decoder's id grammar,
 * RFC 8785 canonical JSON, and C2SP signed notes. Pure; no allocation. */
#ifndef AUDITLOG_UTF8_H
#define AUDITLOG_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the one UTF-8 sequence at s, of which n > 0 bytes are readable
 * (borrowed, not NUL-terminated), into *cp. Returns its length in bytes
 * (1 to 4), or 0 when it is ill-formed: an overlong form, a surrogate
 * (U+D800-U+DFFF), a code point above U+10FFFF, a stray continuation byte,
 * or a sequence cut short by n. *cp is set only on success. */
size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

#endif
