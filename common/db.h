/* db: MySQL/MariaDB through prepared statements only.
 *
 * A struct db is one connection with its cache of prepared statements; it
 * belongs to one thread at a time. db_thread() hands each thread its own
 * for each configuration (a role: the reader on the primary, the reader on
 * a replica), made on first use, remade after the server went away, and
 * closed when the thread exits.
 *
 * Status codes: DB_OK (0) or a negative DB_ERR_*. Positive values are left
 * to callers, so a db_run_tx callback can return its own outcome (say,
 * "not found") and have the transaction rolled back. */
#ifndef AUDITLOG_DB_H
#define AUDITLOG_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum db_status {
	DB_OK = 0,
	DB_ERR_DUPLICATE = -1, /* a unique key refused the row */
	DB_ERR_RETRY = -2,     /* deadlock or lock wait timeout: the transaction may be retried */
	DB_ERR_GONE = -3,      /* no connection to the server */
	DB_ERR_DATA = -4,      /* the server refused a value (too long, out of range) */
	DB_ERR = -5,           /* anything else */
};

struct db_config {
	const char *host, *user, *password, *database, *socket; /* socket "" means TCP */
	unsigned port;
	unsigned io_timeout_s; /* connect (at most 5), read and write timeout; 0: 30 s */
	/* A read replica's configuration names the primary's here (the same
	 * user and database there; NULL: none): a db_query outside a
	 * transaction that finds this server gone, and cannot connect to it
	 * again, is asked of the fallback's server instead, on this thread's
	 * connection for it (db_thread). */
	const struct db_config *fallback;
};

enum db_type { DB_NULL, DB_INT, DB_TEXT, DB_BLOB };

struct db_value {
	enum db_type type;
	long long i;
	const char *s; /* borrowed */
	size_t len;
};

#define DB_INT(v) ((struct db_value){.type = DB_INT, .i = (v)})
#define DB_TEXT(v) ((struct db_value){.type = DB_TEXT, .s = (v), .len = strlen(v)})
#define DB_TEXTN(v, n) ((struct db_value){.type = DB_TEXT, .s = (v), .len = (n)})
/* n raw bytes (BINARY, BLOB columns): never read as characters. */
#define DB_BLOB(v, n) ((struct db_value){.type = DB_BLOB, .s = (const char *)(v), .len = (n)})
#define DB_NULL_VALUE ((struct db_value){.type = DB_NULL})

struct db;

/* A fetched row: every column as text, val[i] NULL for SQL NULL. Borrowed
 * for the duration of the callback. */
struct db_row {
	size_t n;
	const char *const *val;
	const unsigned long *len;
};

/* Returns 0 to go on, anything else to stop (returned by db_query). */
typedef int (*db_row_fn)(void *ctx, const struct db_row *row);
typedef int (*db_tx_fn)(struct db *db, void *ctx);

/* Must be called once, before any thread uses the database. */
int db_library_init(void);
void db_library_end(void);

int db_connect(const struct db_config *cfg, struct db **out);
void db_close(struct db *db);
/* This thread's connection for cfg (known by its address: a thread holds
 * at most DB_THREAD_CONFIGS of them), connecting or reconnecting as
 * needed; NULL when the server cannot be reached. */
#define DB_THREAD_CONFIGS 4
struct db *db_thread(const struct db_config *cfg);
/* True once the connection was lost; the owner should reconnect. */
bool db_broken(const struct db *db);

/* Runs one statement. affected and insert_id may be NULL. */
int db_exec(struct db *db, const char *sql, const struct db_value *params, size_t n,
            uint64_t *affected, uint64_t *insert_id);
/* Runs one query and calls fn for each row. Outside db_run_tx, a query
 * that finds the connection dead is run once more on a new connection
 * (before any row was handed to fn), or on the fallback's (db_config). */
int db_query(struct db *db, const char *sql, const struct db_value *params, size_t n,
             db_row_fn fn, void *ctx);

/* Runs fn inside a transaction: commits when it returns 0, rolls back
 * otherwise and returns its value. Retries the whole transaction a few
 * times on deadlock or lock wait timeout, and once after a lost connection
 * when the loss happened before COMMIT was sent. */
int db_run_tx(struct db *db, db_tx_fn fn, void *ctx);

const char *db_status_string(int status);

#endif
