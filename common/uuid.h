/* uuid: event identifiers.
 *
 * Producers name each event with a UUIDv7 (RFC 9562): 48 bits of Unix
 * milliseconds, then a 12-bit counter that keeps ids made in the same
 * millisecond by this process in creation order, then 62 random bits. So
 * within one producer, sorting by id is sorting by creation, which keeps a
 * "created" ahead of the "viewed" made in the same request. */
#ifndef AUDITLOG_UUID_H
#define AUDITLOG_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 36

/* Writes a new lowercase UUIDv7 and its NUL into out; returns its
 * millisecond timestamp. Thread-safe; ids are strictly increasing within
 * the process even when the wall clock steps back. */
int64_t uuid_v7(char out[UUID_STR_LEN + 1]);

/* True for the canonical 8-4-4-4-12 lowercase hex form (any version). */
bool uuid_valid(const char *s, size_t len);

#define UUID_BIN_LEN 16
/* The UUID's 16 bytes (RFC 9562 §4: the hex digits' values, first digit
 * in the high half of the first byte), so bytes compare as the text does.
 * s is len bytes in the form uuid_valid takes. Returns 0, or -1 (out left
 * as it was) when s is not in that form. */
int uuid_to_bin(const char *s, size_t len, uint8_t out[UUID_BIN_LEN]);

#endif
