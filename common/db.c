#include "db.h"

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "ratelimit.h"

#define DB_STMT_CACHE 48
#define DB_TX_ATTEMPTS 5

struct db_stmt {
	char *sql;
	size_t len;
	MYSQL_STMT *stmt;
};

struct db {
	const struct db_config *cfg;
	MYSQL *conn;
	bool broken;
	bool in_tx; /* inside db_run_tx's transaction */
	size_t nstmts;
	struct db_stmt stmts[DB_STMT_CACHE];
};

/* Metrics (metrics.h), registered by db_library_init. A connection is one
 * thread's (db.h), so a connection opened on a thread whose last one was
 * lost is that one's replacement: a reconnect. */
static struct metrics_counter *connections_lost, *reconnects, *fallbacks;
static _Thread_local bool thread_lost;

int db_library_init(void)
{
	connections_lost = metrics_counter("auditlog_db_connections_lost_total",
	                                   "Database connections found lost (the server went "
	                                   "away, or the network).",
	                                   NULL);
	reconnects =
	    metrics_counter("auditlog_db_reconnects_total",
	                    "Database connections opened to replace one that was lost.", NULL);
	fallbacks = metrics_counter("auditlog_db_fallback_queries_total",
	                            "Reads meant for a read replica that found it gone and were "
	                            "asked of its primary instead.",
	                            NULL);
	return mysql_library_init(0, NULL, NULL) ? -1 : 0;
}

void db_library_end(void)
{
	mysql_library_end();
}

static int classify(unsigned err)
{
	switch (err) {
	case 0:
		return DB_OK;
	case ER_DUP_ENTRY:
		return DB_ERR_DUPLICATE;
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
		return DB_ERR_RETRY;
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_LOST_EXTENDED:
	case ER_CONNECTION_KILLED:
	case ER_SERVER_SHUTDOWN:
	case 4031: /* ER_CLIENT_INTERACTION_TIMEOUT */
		return DB_ERR_GONE;
	case ER_DATA_TOO_LONG:
	case ER_WARN_DATA_OUT_OF_RANGE:
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case ER_BAD_NULL_ERROR:
		return DB_ERR_DATA;
	default:
		return DB_ERR;
	}
}

static int fail(struct db *db, unsigned err, const char *what, const char *msg)
{
	int st = classify(err);
	if (st == DB_ERR_GONE && !db->broken) {
		db->broken = true;
		thread_lost = true;
		if (connections_lost)
			metrics_inc(connections_lost);
	}
	if (st == DB_ERR || st == DB_ERR_DATA)
		log_error("mysql %s: %u %s", what, err, msg);
	else if (st == DB_ERR_GONE) /* a warning: the caller retries, falls back, or answers 503 */
		log_warn("mysql %s: %u %s", what, err, msg);
	else
		log_debug("mysql %s: %u %s", what, err, msg);
	return st;
}

static void drop_statements(struct db *db)
{
	for (size_t i = 0; i < db->nstmts; i++) {
		mysql_stmt_close(db->stmts[i].stmt);
		free(db->stmts[i].sql);
	}
	db->nstmts = 0;
}

static int open_connection(struct db *db)
{
	const struct db_config *cfg = db->cfg;
	db->conn = mysql_init(NULL);
	if (!db->conn)
		return DB_ERR;
	unsigned io_timeout = cfg->io_timeout_s ? cfg->io_timeout_s : 30;
	unsigned timeout = io_timeout < 5 ? io_timeout : 5;
	mysql_options(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(db->conn, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
	mysql_options(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
	mysql_options(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	bool use_socket = cfg->socket && cfg->socket[0];
	if (!use_socket) {
		/* "localhost" would otherwise mean the default unix socket. */
		unsigned proto = MYSQL_PROTOCOL_TCP;
		mysql_options(db->conn, MYSQL_OPT_PROTOCOL, &proto);
	}
	const char *host = !use_socket && !strcmp(cfg->host, "localhost") ? "127.0.0.1" : cfg->host;
	if (!mysql_real_connect(db->conn, host, cfg->user, cfg->password, cfg->database, cfg->port,
	                        use_socket ? cfg->socket : NULL, 0)) {
		/* Threads try again often while the server is away (the health
		 * watch every 250 ms): say it now and then, with the count. */
		static struct ratelimit limit;
		unsigned long more = 0;
		if (ratelimit_allow(&limit, 1, 10000, &more))
			log_warn("mysql connect to %s:%u/%s as %s: %s (%lu more such failures not logged)",
			         cfg->host, cfg->port, cfg->database, cfg->user, mysql_error(db->conn),
			         more);
		mysql_close(db->conn);
		db->conn = NULL;
		return DB_ERR_GONE;
	}
	db->broken = false;
	if (thread_lost && reconnects)
		metrics_inc(reconnects);
	thread_lost = false;
	return DB_OK;
}

static int reconnect(struct db *db)
{
	drop_statements(db);
	if (db->conn)
		mysql_close(db->conn);
	db->conn = NULL;
	db->broken = true;
	return open_connection(db);
}

int db_connect(const struct db_config *cfg, struct db **out)
{
	struct db *db = calloc(1, sizeof *db);
	if (!db)
		return DB_ERR;
	db->cfg = cfg;
	int st = open_connection(db);
	if (st) {
		free(db);
		return st;
	}
	*out = db;
	return DB_OK;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	drop_statements(db);
	if (db->conn)
		mysql_close(db->conn);
	free(db);
}

bool db_broken(const struct db *db)
{
	return db->broken || !db->conn;
}

/* A thread's connections, one per configuration it asked for. */
struct db_thread_set {
	struct db *dbs[DB_THREAD_CONFIGS];
};

static pthread_key_t thread_key;
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *p)
{
	struct db_thread_set *set = p;
	for (size_t i = 0; i < DB_THREAD_CONFIGS; i++)
		db_close(set->dbs[i]);
	free(set);
	mysql_thread_end();
}

static void make_key(void)
{
	pthread_key_create(&thread_key, thread_exit);
}

struct db *db_thread(const struct db_config *cfg)
{
	pthread_once(&thread_once, make_key);
	struct db_thread_set *set = pthread_getspecific(thread_key);
	if (!set) {
		if (!(set = calloc(1, sizeof *set)))
			return NULL;
		mysql_thread_init();
		pthread_setspecific(thread_key, set);
	}
	size_t i, free_slot = DB_THREAD_CONFIGS;
	for (i = 0; i < DB_THREAD_CONFIGS; i++) {
		if (set->dbs[i] && set->dbs[i]->cfg == cfg)
			break;
		if (!set->dbs[i] && free_slot == DB_THREAD_CONFIGS)
			free_slot = i;
	}
	if (i < DB_THREAD_CONFIGS) {
		struct db *db = set->dbs[i];
		return db_broken(db) && reconnect(db) ? NULL : db;
	}
	if (free_slot == DB_THREAD_CONFIGS) {
		log_error("mysql: a thread asked for more than %d configurations", DB_THREAD_CONFIGS);
		return NULL;
	}
	struct db *db;
	if (db_connect(cfg, &db))
		return NULL;
	set->dbs[free_slot] = db;
	return db;
}

/* The cached prepared statement for sql, preparing it on first use. */
static int statement(struct db *db, const char *sql, MYSQL_STMT **out)
{
	if (db_broken(db))
		return DB_ERR_GONE;
	/* By length first: the batch inserts of different sizes share long
	 * prefixes. */
	size_t len = strlen(sql);
	for (size_t i = 0; i < db->nstmts; i++)
		if (db->stmts[i].len == len && !memcmp(db->stmts[i].sql, sql, len)) {
			*out = db->stmts[i].stmt;
			return DB_OK;
		}
	MYSQL_STMT *stmt = mysql_stmt_init(db->conn);
	if (!stmt)
		return DB_ERR;
	if (mysql_stmt_prepare(stmt, sql, len)) {
		int st = fail(db, mysql_stmt_errno(stmt), "prepare", mysql_stmt_error(stmt));
		mysql_stmt_close(stmt);
		return st;
	}
	if (db->nstmts == DB_STMT_CACHE) { /* evict the oldest */
		mysql_stmt_close(db->stmts[0].stmt);
		free(db->stmts[0].sql);
		memmove(db->stmts, db->stmts + 1, sizeof db->stmts[0] * (DB_STMT_CACHE - 1));
		db->nstmts--;
	}
	char *copy = strdup(sql);
	if (!copy) {
		mysql_stmt_close(stmt);
		return DB_ERR;
	}
	db->stmts[db->nstmts++] = (struct db_stmt){copy, len, stmt};
	*out = stmt;
	return DB_OK;
}

static int execute(struct db *db, const char *sql, const struct db_value *params, size_t n,
                   MYSQL_STMT **out)
{
	MYSQL_STMT *stmt = NULL;
	int st = statement(db, sql, &stmt);
	if (st)
		return st;
	if (mysql_stmt_param_count(stmt) != n) {
		log_error("mysql: statement takes %lu parameters, given %zu: %s",
		          mysql_stmt_param_count(stmt), n, sql);
		return DB_ERR;
	}
	MYSQL_BIND stack[16], *bind = n <= 16 ? stack : calloc(n, sizeof *bind);
	if (!bind)
		return DB_ERR;
	memset(bind, 0, sizeof *bind * n);
	for (size_t i = 0; i < n; i++) {
		switch (params[i].type) {
		case DB_NULL:
			bind[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		case DB_INT:
			bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
			bind[i].buffer = (void *)&params[i].i;
			break;
		case DB_TEXT:
		case DB_BLOB:
			/* Bytes sent as a BLOB are not read in the connection's
			 * character set: a hash or a salt goes in as it is. */
			bind[i].buffer_type =
			    params[i].type == DB_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
			bind[i].buffer = (void *)params[i].s;
			bind[i].buffer_length = params[i].len;
			break;
		}
	}
	st = DB_OK;
	if ((n && mysql_stmt_bind_param(stmt, bind)) || mysql_stmt_execute(stmt))
		st = fail(db, mysql_stmt_errno(stmt), "execute", mysql_stmt_error(stmt));
	if (bind != stack)
		free(bind);
	if (st == DB_OK)
		*out = stmt;
	return st;
}

int db_exec(struct db *db, const char *sql, const struct db_value *params, size_t n,
            uint64_t *affected, uint64_t *insert_id)
{
	MYSQL_STMT *stmt;
	int st = execute(db, sql, params, n, &stmt);
	if (st)
		return st;
	if (affected)
		*affected = mysql_stmt_affected_rows(stmt);
	if (insert_id)
		*insert_id = mysql_stmt_insert_id(stmt);
	mysql_stmt_free_result(stmt);
	return DB_OK;
}

#define DB_MAX_COLUMNS 32

int db_query(struct db *db, const char *sql, const struct db_value *params, size_t n,
             db_row_fn fn, void *ctx)
{
	MYSQL_STMT *stmt;
	int st = execute(db, sql, params, n, &stmt);
	/* A read outside a transaction on a connection found dead (the server
	 * restarted, a proxy cut it while idle) is asked once more on a new
	 * one: nothing was done, and the caller would otherwise answer 503 for
	 * a blip each of its threads meets once. */
	if (st == DB_ERR_GONE && !db->in_tx && reconnect(db) == DB_OK)
		st = execute(db, sql, params, n, &stmt);
	/* A replica that went away: its primary answers instead (db.h). */
	if (st == DB_ERR_GONE && !db->in_tx && db->cfg->fallback) {
		struct db *other = db_thread(db->cfg->fallback);
		if (other && other != db) {
			if (fallbacks)
				metrics_inc(fallbacks);
			return db_query(other, sql, params, n, fn, ctx);
		}
	}
	if (st)
		return st;
	size_t ncols = mysql_stmt_field_count(stmt);
	MYSQL_BIND bind[DB_MAX_COLUMNS];
	char *buf[DB_MAX_COLUMNS] = {0};
	const char *val[DB_MAX_COLUMNS];
	unsigned long len[DB_MAX_COLUMNS];
	my_bool is_null[DB_MAX_COLUMNS];
	if (ncols == 0 || ncols > DB_MAX_COLUMNS) {
		log_error("mysql: query has %zu columns: %s", ncols, sql);
		st = DB_ERR;
		goto out;
	}
	memset(bind, 0, sizeof bind);
	for (size_t i = 0; i < ncols; i++) {
		if (!(buf[i] = malloc(256))) {
			st = DB_ERR;
			goto out;
		}
		bind[i].buffer_type = MYSQL_TYPE_STRING;
		bind[i].buffer = buf[i];
		bind[i].buffer_length = 255;
		bind[i].length = &len[i];
		bind[i].is_null = &is_null[i];
	}
	if (mysql_stmt_bind_result(stmt, bind) || mysql_stmt_store_result(stmt)) {
		st = fail(db, mysql_stmt_errno(stmt), "fetch", mysql_stmt_error(stmt));
		goto out;
	}
	for (;;) {
		int f = mysql_stmt_fetch(stmt);
		if (f == MYSQL_NO_DATA)
			break;
		if (f == MYSQL_DATA_TRUNCATED) {
			/* Grow each buffer that was too small and fetch that column again. */
			for (size_t i = 0; i < ncols; i++) {
				if (is_null[i] || len[i] <= bind[i].buffer_length)
					continue;
				char *b = realloc(buf[i], len[i] + 1);
				if (!b) {
					st = DB_ERR;
					goto out;
				}
				buf[i] = b;
				bind[i].buffer = b;
				bind[i].buffer_length = len[i];
				if (mysql_stmt_fetch_column(stmt, &bind[i], (unsigned)i, 0)) {
					st = fail(db, mysql_stmt_errno(stmt), "fetch", mysql_stmt_error(stmt));
					goto out;
				}
			}
			if (mysql_stmt_bind_result(stmt, bind)) {
				st = DB_ERR;
				goto out;
			}
		} else if (f) {
			st = fail(db, mysql_stmt_errno(stmt), "fetch", mysql_stmt_error(stmt));
			goto out;
		}
		for (size_t i = 0; i < ncols; i++) {
			if (is_null[i]) {
				val[i] = NULL;
				len[i] = 0;
			} else {
				buf[i][len[i]] = '\0';
				val[i] = buf[i];
			}
		}
		struct db_row row = {ncols, val, len};
		if ((st = fn(ctx, &row)))
			goto out;
	}
out:
	mysql_stmt_free_result(stmt);
	for (size_t i = 0; i < ncols && i < DB_MAX_COLUMNS; i++)
		free(buf[i]);
	return st;
}

static int plain(struct db *db, const char *sql)
{
	/* Only fixed transaction-control statements come through here. */
	if (db_broken(db))
		return DB_ERR_GONE;
	if (mysql_real_query(db->conn, sql, strlen(sql)))
		return fail(db, mysql_errno(db->conn), sql, mysql_error(db->conn));
	return DB_OK;
}

int db_run_tx(struct db *db, db_tx_fn fn, void *ctx)
{
	int st = DB_ERR;
	for (int attempt = 1; attempt <= DB_TX_ATTEMPTS; attempt++) {
		if (db_broken(db) && (st = reconnect(db)))
			return st;
		if ((st = plain(db, "START TRANSACTION")) == DB_OK) {
			db->in_tx = true;
			st = fn(db, ctx);
			db->in_tx = false;
			if (st == DB_OK) {
				if (db_broken(db) || mysql_commit(db->conn)) {
					/* The outcome of a lost COMMIT is unknown: do not retry. */
					st = db->conn ? fail(db, mysql_errno(db->conn), "commit",
					                     mysql_error(db->conn))
					              : DB_ERR_GONE;
					if (st == DB_ERR_GONE)
						return DB_ERR;
				}
				if (st == DB_OK)
					return DB_OK;
			}
			if (!db_broken(db))
				mysql_rollback(db->conn);
		}
		if (st != DB_ERR_RETRY && st != DB_ERR_GONE)
			return st;
		log_info("transaction attempt %d: %s; retrying", attempt, db_status_string(st));
		usleep((useconds_t)(attempt * 2000));
	}
	return st;
}

const char *db_status_string(int status)
{
	switch (status) {
	case DB_OK:
		return "ok";
	case DB_ERR_DUPLICATE:
		return "duplicate key";
	case DB_ERR_RETRY:
		return "deadlock or lock wait timeout";
	case DB_ERR_GONE:
		return "database unreachable";
	case DB_ERR_DATA:
		return "value refused by the database";
	case DB_ERR:
		return "database error";
	}
	return status > 0 ? "refused by the caller" : "unknown";
}
