/* gtid: MariaDB's global transaction ids and positions, as text
 * (mariadb.com/kb/en/gtid): a GTID is domain-server-seq (three decimal
 * integers: a 32-bit replication domain, a 32-bit server id, a 64-bit
 * sequence number), and a position is a comma list of GTIDs, at most one
 * per domain ("0-1-4711", "0-1-4711,1-2-9"; "" holds no domain), as
 * @@gtid_binlog_pos, @@gtid_slave_pos and MASTER_GTID_WAIT speak it.
 *
 * The auditor reads the primary's position after a write and sends it to
 * the client (the Read-After header, README "Read replica"); the client
 * may send it back, so gtid_parse faces input: strict grammar, no
 * leading zeros beyond "0", no sign, no space inside, values in range, no
 * domain twice, at most GTID_DOMAINS_MAX domains.
 *
 * Pure; positions are plain values (no allocation). */
#ifndef AUDITLOG_GTID_H
#define AUDITLOG_GTID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GTID_DOMAINS_MAX 16
/* The longest text of a position: 16 domains of 10+1+10+1+20 digits and
 * dashes, 15 commas, and a NUL. */
#define GTID_TEXT_MAX (GTID_DOMAINS_MAX * 43)

/* The request and response header that carries a position (RFC 9110
 * field-name manner, no X- prefix: RFC 6648). */
#define GTID_HEADER "Read-After"

struct gtid {
	uint32_t domain, server;
	uint64_t seq;
};

struct gtid_pos {
	size_t n; /* domains, 0 to GTID_DOMAINS_MAX */
	struct gtid g[GTID_DOMAINS_MAX];
};

/* Parses s (len bytes, not NUL-terminated; spaces and tabs around it are
 * ignored, as around a header's value) into *out. Returns 0, or -1 when s
 * is not a position of the grammar above (out is then unspecified). "" (or
 * only spaces) is the empty position. */
int gtid_parse(const char *s, size_t len, struct gtid_pos *out);

/* Writes p as text (NUL-terminated, its GTIDs in p's order) into out,
 * which has room for GTID_TEXT_MAX bytes. Returns the length. */
size_t gtid_format(const struct gtid_pos *p, char *out);

/* Whether have has reached want: for every domain of want, have holds that
 * domain at a sequence number at least want's (server ids do not count,
 * as for MASTER_GTID_WAIT). Every position has reached the empty one. */
bool gtid_reached(const struct gtid_pos *have, const struct gtid_pos *want);

#endif
