/* b64: base64url without padding (RFC 4648 section 5), as JWTs use it, and
 * base64 with padding (RFC 4648 section 4), as C2SP signed notes use it.
 * Both decoders are strict, so every byte string has one encoding. */
#ifndef AUDITLOG_B64_H
#define AUDITLOG_B64_H

#include <stddef.h>

/* Length of the encoding of n bytes, without terminator. */
size_t b64url_encoded_len(size_t n);
/* Writes b64url_encoded_len(n) characters and a NUL to out. */
void b64url_encode(const unsigned char *in, size_t n, char *out);
/* Strict decoding: only [A-Za-z0-9_-], no padding, no stray bits.
 * out must hold n * 3 / 4 + 1 bytes. Returns the decoded length, or -1. */
long b64url_decode(const char *in, size_t n, unsigned char *out);

/* Length of the padded base64 encoding of n bytes, without terminator. */
size_t b64_encoded_len(size_t n);
/* Writes b64_encoded_len(n) characters and a NUL to out. */
void b64_encode(const unsigned char *in, size_t n, char *out);
/* Strict decoding: only [A-Za-z0-9+/], padded with '=' to a multiple of 4,
 * '=' only at the end, no stray bits. out must hold n * 3 / 4 + 1 bytes.
 * Returns the decoded length, or -1. */
long b64_decode(const char *in, size_t n, unsigned char *out);

#endif
