/* sql_id: event ids in the audit tables' statements.
 *
 * The tables keep an event id as BINARY(16): the UUID's bytes in the
 * order of its hex digits (uuid_to_bin, RFC 9562 §4), so an index on them
 * sorts exactly as the text does, and every index holding an event id (the
 * primary key of data_events and the tail of each of its indexes) carries
 * 16 bytes instead of 36 (sql/auditor/0010). Statements convert at their
 * edge, so what the code binds and reads stays the text form:
 *
 *   SQL_ID("e.event_id")  in a select list: the column as lowercase text
 *   SQL_ID_ARG            in place of a ? bound to an id's text
 *
 * (The writer binds the 16 bytes themselves: store_write.c.) MariaDB's own
 * UUID type would do the same but refuses some ids our producers may send
 * (version 8 and over with certain variants, in 10.11), and sorts version
 * 1 to 5 ids in an order of its own. */
#ifndef AUDITLOG_SQL_ID_H
#define AUDITLOG_SQL_ID_H

#define SQL_ID(col)                                                                             \
	"LOWER(INSERT(INSERT(INSERT(INSERT(HEX(" col "), 9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, " \
	"0, '-'))"
#define SQL_ID_ARG "UNHEX(REPLACE(?, '-', ''))"

/* A W3C trace-id (data_events.trace_id, BINARY(16), sql/auditor/0013)
 * likewise: in a select list its 32 lowercase hex digits (NULL when the
 * event has none), and in place of a ? bound to that text. */
#define SQL_TRACE(col) "LOWER(HEX(" col "))"
#define SQL_TRACE_ARG "UNHEX(?)"

#endif
