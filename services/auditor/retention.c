/* The maintenance thread of the event tables' monthly partitions
 * (retention.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auditor.h"
#include "clock.h"
#include "log.h"
#include "months.h"
#include "retention.h"

/* The partitioned tables (sql/auditor/0015), split and dropped together. */
static const char *const part_tables[] = {"data_events", "data_event_changes",
                                          "data_event_values", "data_event_mutations"};
#define NPART_TABLES (sizeof part_tables / sizeof part_tables[0])
/* Months split off in one round at most (a clock that jumped years ahead
 * must not make thousands of partitions at once). */
#define SPLIT_MAX 48
/* Partitions of a table looked at, at most (the oldest first). */
#define PARTS_MAX 256

struct retention {
	struct retention_config cfg;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* under lock */
	bool warned;
};

/* ---- splitting months off pmax ---- */

struct parts {
	bool partitioned; /* the table has partitions at all */
	bool has_max;     /* ... and pmax among them */
	int last;         /* the latest month split off; -1: none */
	/* The months split off, in order: name and bound (the first day past
	 * them). */
	size_t n;
	char name[PARTS_MAX][16];
	uint32_t bound[PARTS_MAX];
};

static int part_row(void *ctx, const struct db_row *row)
{
	struct parts *p = ctx;
	if (!row->val[0] || !row->val[1])
		return 0; /* not partitioned: one row with NULLs */
	p->partitioned = true;
	if (!strcmp(row->val[1], "MAXVALUE")) {
		p->has_max = !strcmp(row->val[0], "pmax");
		return 0;
	}
	unsigned long bound = strtoul(row->val[1], NULL, 10);
	if (p->n < PARTS_MAX && row->len[0] < sizeof p->name[0]) {
		snprintf(p->name[p->n], sizeof p->name[0], "%s", row->val[0]);
		p->bound[p->n++] = (uint32_t)bound;
	}
	if (bound) {
		int m = months_of_day((uint32_t)bound - 1);
		if (m > p->last)
			p->last = m;
	}
	return 0;
}

static int read_parts(struct db *db, const char *table, struct parts *p)
{
	memset(p, 0, sizeof *p);
	p->last = -1;
	struct db_value k = DB_TEXT(table);
	return db_query(db,
	                "SELECT PARTITION_NAME, PARTITION_DESCRIPTION FROM information_schema.PARTITIONS "
	                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? "
	                "ORDER BY PARTITION_ORDINAL_POSITION",
	                &k, 1, part_row, p);
}

/* Splits the months after the table's last one, up to the store's month
 * plus months_ahead, off its pmax. The statement's text is built from
 * numbers and the fixed table names only: ALTER TABLE takes no
 * placeholders for them. */
static int split_table(struct retention *r, struct db *db, const char *table)
{
	struct parts *pp = malloc(sizeof *pp);
	if (!pp)
		return DB_ERR;
	int st = read_parts(db, table, pp);
	struct parts p = {.partitioned = pp->partitioned, .has_max = pp->has_max, .last = pp->last};
	free(pp);
	if (st)
		return st;
	if (!p.partitioned || !p.has_max) {
		if (!r->warned)
			log_warn("retention: %s has no catch-all partition pmax "
			         "(sql/auditor/0015 not applied?); no month is split off",
			         table);
		r->warned = true;
		return DB_OK;
	}
	int now = months_of_day(store_day());
	int first = p.last >= 0 ? p.last + 1 : now, last = now + r->cfg.months_ahead;
	if (first > last)
		return DB_OK;
	if (last - first >= SPLIT_MAX)
		last = first + SPLIT_MAX - 1;
	size_t cap = 160 + (size_t)(last - first + 1) * 64;
	char *sql = malloc(cap);
	if (!sql)
		return DB_ERR;
	size_t n = (size_t)snprintf(sql, cap, "ALTER TABLE %s REORGANIZE PARTITION pmax INTO (",
	                            table);
	for (int m = first; m <= last; m++) {
		char name[16];
		months_part_name(m, name);
		n += (size_t)snprintf(sql + n, cap - n, "PARTITION %s VALUES LESS THAN (%lu), ", name,
		                      (unsigned long)months_first_day(m + 1));
	}
	snprintf(sql + n, cap - n, "PARTITION pmax VALUES LESS THAN MAXVALUE)");
	st = db_exec(db, sql, NULL, 0, NULL, NULL);
	if (!st) {
		char a[16], b[16];
		months_part_name(first, a);
		months_part_name(last, b);
		log_info("retention: %s: months %s to %s split off pmax", table, a, b);
	}
	free(sql);
	return st;
}

static int split_months(struct retention *r, struct db *db)
{
	for (size_t i = 0; i < NPART_TABLES; i++) {
		int st = split_table(r, db, part_tables[i]);
		if (st)
			return st;
	}
	return DB_OK;
}

/* ---- retention: export a month, record it, drop it ----
 *
 * For a month wholly before the kept ones (its bound at most the first day
 * of the month `months` before the store's), oldest first, in each of the
 * four tables (data_events first):
 *   1. for each log with appends before the month's bound
 *      (log_appends.stored_day, which the drop leaves whole), its
 *      positions [0, end): a prefix, since days never go down along a log
 *      (checked: the appends must cover it without a hole, else nothing is
 *      dropped); less what log_retained holds already, [first, end) is
 *      the month's;
 *   2. unless log_retained has that range already: the bundle of [first,
 *      end) with the log's latest checkpoint (which must cover end: else
 *      the month waits for the next round), written to <dir>/.<name>.tmp,
 *      every event line there (else nothing is dropped), fsync'd, renamed
 *      to <dir>/<name>, the folder fsync'd; then its row in log_retained
 *      (name and SHA-256);
 *   3. (data_event_mutations: its targets' highest versions kept in
 *      data_event_retained_versions, for the checker;)
 *      ALTER TABLE ... DROP PARTITION.
 * A crash (or a refused DROP) between any two steps leaves a state the
 * next round finishes: a bundle without its row is written again under
 * the same name (with the then latest checkpoint) and recorded once; a
 * recorded range is not exported again; a month gone from one table is
 * still dropped from the others. */

/* What a month holds of one log. */
struct month_log {
	uint32_t log;
	uint64_t first, end, count;
};

struct month_logs {
	struct month_log l[LEDGER_OPEN_MAX * 16];
	size_t n;
	bool overflow;
};

static int month_row(void *ctx, const struct db_row *row)
{
	struct month_logs *m = ctx;
	if (!row->val[0] || !row->val[1] || !row->val[2] || !row->val[3])
		return 0;
	if (m->n == sizeof m->l / sizeof m->l[0]) {
		m->overflow = true;
		return 0;
	}
	m->l[m->n++] = (struct month_log){.log = (uint32_t)strtoul(row->val[0], NULL, 10),
	                                   .first = strtoull(row->val[1], NULL, 10),
	                                   .end = strtoull(row->val[2], NULL, 10),
	                                   .count = strtoull(row->val[3], NULL, 10)};
	return 0;
}

static int found_row(void *ctx, const struct db_row *row)
{
	*(uint64_t *)ctx = row->val[0] ? strtoull(row->val[0], NULL, 10) + 1 : 0;
	return 0;
}

/* SHA-256 of the file at path, as 32 bytes. Returns 0 or -1. */
static int file_sha256(const char *path, uint8_t out[32])
{
	int rc = -1;
	FILE *f = fopen(path, "rb");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(1u << 16);
	if (!f || !md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		goto out;
	size_t n;
	while ((n = fread(buf, 1, 1u << 16, f)) > 0)
		if (!EVP_DigestUpdate(md, buf, n))
			goto out;
	unsigned len = 0;
	if (!ferror(f) && EVP_DigestFinal_ex(md, out, &len) && len == 32)
		rc = 0;
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

/* Writes the bundle of m to the retention folder as name (steps 2 above).
 * Returns DB_OK, a db status, or EXPORT_* (logged): not to be dropped. */
static int write_bundle(struct retention *r, struct db *db, const struct month_log *m,
                        const struct stored_checkpoint *cp, const char *name,
                        uint8_t sha[32])
{
	char tmp[4096], path[4096];
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", r->cfg.dir, name);
	snprintf(path, sizeof path, "%s/%s", r->cfg.dir, name);
	if (mkdir(r->cfg.dir, 0750) && errno != EEXIST) {
		log_error("retention: cannot make the folder %s: %s", r->cfg.dir, strerror(errno));
		return DB_ERR;
	}
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		log_error("retention: cannot write %s: %s", tmp, strerror(errno));
		return DB_ERR;
	}
	uint64_t events = 0;
	int st = export_range_file(db, m->log, cp, m->first, m->end, f, &events);
	bool written = !st && events == m->end - m->first;
	if (fflush(f) || fsync(fileno(f)))
		written = false;
	if (fclose(f))
		written = false;
	if (!st && !written) {
		log_error("retention: log %u [%" PRIu64 ", %" PRIu64 "): the bundle holds %" PRIu64
		          " of its events; the month is not dropped (GET /verify names what is wrong)",
		          (unsigned)m->log, m->first, m->end, events);
		st = EXPORT_UNWRITABLE;
	}
	if (st) {
		unlink(tmp);
		return st;
	}
	if (rename(tmp, path) || file_sha256(path, sha)) {
		log_error("retention: cannot put %s in place: %s", path, strerror(errno));
		unlink(tmp);
		return DB_ERR;
	}
	int dfd = open(r->cfg.dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd); /* the rename itself survives a crash */
		close(dfd);
	}
	return DB_OK;
}

/* Exports each log's positions of the month named part, whose days are
 * below bound, and records them (steps 1, 2). *ready: the month may be
 * dropped. */
static int export_month(struct retention *r, struct db *db, const char *part, uint32_t bound,
                        bool *ready)
{
	*ready = false;
	struct month_logs *ml = calloc(1, sizeof *ml);
	if (!ml)
		return DB_ERR;
	struct db_value k[] = {DB_INT(bound)};
	int st = db_query(db,
	                  "SELECT log_id, MIN(first_seq), MAX(first_seq + LENGTH(leaf_hashes) DIV 32), "
	                  "SUM(LENGTH(leaf_hashes) DIV 32) FROM log_appends "
	                  "WHERE stored_day < ? GROUP BY log_id ORDER BY log_id",
	                  k, 1, month_row, ml);
	if (!st && ml->overflow) {
		log_error("retention: %s holds more logs than one round takes; not dropped", part);
		st = DB_ERR;
	}
	for (size_t i = 0; !st && i < ml->n; i++) {
		struct month_log *m = &ml->l[i];
		if (m->first || m->count != m->end) {
			log_error("retention: log %u's appends up to %s do not cover [0, %" PRIu64
			          ") without a hole; not dropped",
			          (unsigned)m->log, part, m->end);
			st = DB_ERR;
			break;
		}
		if ((st = retention_end(db, m->log, &m->first)))
			break;
		if (m->first >= m->end)
			continue; /* recorded: exported before (a crash or a refused drop since) */
		struct stored_checkpoint cp;
		if ((st = tree_checkpoint(db, m->log, TREE_LATEST, 0, 0, &cp)))
			break;
		if (!cp.found || cp.size < m->end) {
			log_info("retention: log %u's latest checkpoint does not cover %s yet; it waits",
			         (unsigned)m->log, part);
			free(cp.note);
			free(ml);
			return DB_OK;
		}
		char name[128];
		uint8_t sha[32];
		snprintf(name, sizeof name, "auditlog-%u-%" PRIu64 "-%" PRIu64 ".ndjson",
		         (unsigned)m->log, m->first, m->end);
		st = write_bundle(r, db, m, &cp, name, sha);
		free(cp.note);
		if (st)
			break;
		struct db_value v[] = {DB_INT(m->log),         DB_INT((long long)m->first),
		                       DB_INT((long long)m->end), DB_TEXT(part),
		                       DB_TEXT(name),          DB_BLOB(sha, 32)};
		st = db_exec(db,
		             "INSERT INTO log_retained (log_id, first_seq, end_seq, part, bundle, sha256) "
		             "VALUES (?,?,?,?,?,?)",
		             v, 6, NULL, NULL);
		if (!st)
			log_info("retention: log %u positions [%" PRIu64 ", %" PRIu64 ") of %s exported to "
			         "%s/%s",
			         (unsigned)m->log, m->first, m->end, part, r->cfg.dir, name);
	}
	free(ml);
	*ready = !st;
	return st > 0 ? DB_ERR : st;
}

/* Whether a partition's name is one of ours, pYYYYMM: the only names that
 * go into the statements below. */
static bool our_month(const char *part)
{
	return strlen(part) == 7 && part[0] == 'p' && strspn(part + 1, "0123456789") == 6;
}

/* Before a month of data_event_mutations goes: the highest version (and
 * whether it deleted its target) of each target it holds, kept in
 * data_event_retained_versions, so that the checker flags no gap below a
 * target's first kept version (checker.c). Only grows: a round run again
 * after a crash writes the same. part is a name read back from the server;
 * only pYYYYMM goes into the statement. */
static int keep_top_versions(struct db *db, const char *part)
{
	char sql[512];
	snprintf(sql, sizeof sql,
	         "INSERT INTO data_event_retained_versions (target_type, target_id, top) "
	         "SELECT target_type, target_id, MAX(target_version * 2 + (action = 'deleted')) "
	         "FROM data_event_mutations PARTITION (%s) WHERE target_version > 0 "
	         "GROUP BY target_type, target_id "
	         "ON DUPLICATE KEY UPDATE top = GREATEST(top, VALUES(top))",
	         part);
	return db_exec(db, sql, NULL, 0, NULL, NULL);
}

/* Drops the months past the retention from one table (steps 1-3). */
static int retain_table(struct retention *r, struct db *db, const char *table)
{
	struct parts *p = malloc(sizeof *p);
	if (!p)
		return DB_ERR;
	int st = read_parts(db, table, p);
	uint32_t keep = months_first_day(months_of_day(store_day()) - r->cfg.months);
	for (size_t i = 0; !st && i < p->n && p->bound[i] && p->bound[i] <= keep; i++) {
		if (!our_month(p->name[i])) {
			log_error("retention: %s has a partition %s that is no month of ours; nothing "
			          "after it is dropped",
			          table, p->name[i]);
			st = DB_ERR;
			break;
		}
		bool ready;
		st = export_month(r, db, p->name[i], p->bound[i], &ready);
		if (st || !ready)
			break;
		if (!strcmp(table, "data_event_mutations") &&
		    (st = keep_top_versions(db, p->name[i])))
			break;
		char sql[128];
		snprintf(sql, sizeof sql, "ALTER TABLE %s DROP PARTITION %s", table, p->name[i]);
		if ((st = db_exec(db, sql, NULL, 0, NULL, NULL)))
			break;
		log_info("retention: %s: %s dropped", table, p->name[i]);
	}
	free(p);
	return st;
}

static int retain(struct retention *r, struct db *db)
{
	if (!r->cfg.months)
		return DB_OK;
	for (size_t i = 0; i < NPART_TABLES; i++) {
		int st = retain_table(r, db, part_tables[i]);
		if (st)
			return st;
	}
	return DB_OK;
}

/* ---- retained positions, for the handlers ---- */

static int retained_row(void *ctx, const struct db_row *row)
{
	struct retained *r = ctx;
	if (!row->val[0] || !row->val[1] || !row->val[2] || !row->val[3])
		return 0;
	r->found = true;
	r->from = strtoull(row->val[0], NULL, 10);
	r->to = strtoull(row->val[1], NULL, 10);
	snprintf(r->bundle, sizeof r->bundle, "%.*s", (int)row->len[2], row->val[2]);
	snprintf(r->sha256, sizeof r->sha256, "%.*s", (int)row->len[3], row->val[3]);
	return 0;
}

int retention_find(struct db *db, uint32_t log, uint64_t seq, struct retained *out)
{
	*out = (struct retained){0};
	struct db_value k[] = {DB_INT(log), DB_INT((long long)seq)};
	int st = db_query(db,
	                  "SELECT first_seq, end_seq, bundle, LOWER(HEX(sha256)) FROM log_retained "
	                  "WHERE log_id = ? AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1",
	                  k, 2, retained_row, out);
	if (!st && out->found && seq >= out->to)
		*out = (struct retained){0};
	return st < 0 ? st : DB_OK;
}

int retention_end(struct db *db, uint32_t log, uint64_t *end)
{
	struct db_value k = DB_INT(log);
	uint64_t e = 0;
	int st = db_query(db, "SELECT MAX(end_seq) - 1 FROM log_retained WHERE log_id = ?", &k, 1,
	                  found_row, &e);
	*end = e;
	return st < 0 ? st : DB_OK;
}

void retention_reply_gone(struct http_request *req, uint32_t log, uint64_t seq,
                          const struct retained *r)
{
	http_reply_error(req, 410, "Retained away",
	                 "Position %" PRIu64 " of log %u was retained away: positions %" PRIu64
	                 " to %" PRIu64 " of log %u are in the bundle %s (SHA-256 %s) in the "
	                 "auditor's retention folder; auditlog-verify checks it.",
	                 seq, (unsigned)log, r->from, r->to - 1, (unsigned)log, r->bundle,
	                 r->sha256);
}

/* ---- the thread ---- */

static int lock_row(void *ctx, const struct db_row *row)
{
	*(bool *)ctx = row->val[0] && !strcmp(row->val[0], "1");
	return 0;
}

/* Takes (or gives back) the database's named lock of the maintenance, so
 * that of several auditors on one database one runs a round at a time (two
 * would split the same month, or write the same bundle). Not waiting:
 * *mine false means another runs one now; this one tries at its next. */
static int round_lock(struct db *db, bool take, bool *mine)
{
	*mine = false;
	int st = db_query(db,
	                  take ? "SELECT GET_LOCK(CONCAT('auditlog-maintenance:', DATABASE()), 0)"
	                       : "SELECT RELEASE_LOCK(CONCAT('auditlog-maintenance:', DATABASE()))",
	                  NULL, 0, lock_row, mine);
	return st < 0 ? st : DB_OK;
}

/* Sleeps up to ms unless stopping; returns whether to stop. */
static bool nap(struct retention *r, int ms)
{
	pthread_mutex_lock(&r->lock);
	struct timespec ts = clock_deadline(ms);
	if (!r->stop)
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	bool stop = r->stop;
	pthread_mutex_unlock(&r->lock);
	return stop;
}

static void *retention_main(void *arg)
{
	struct retention *r = arg;
	struct db *db = NULL;
	bool failing = false;
	for (;;) {
		int st = DB_OK;
		if (!db && db_connect(r->cfg.db, &db)) {
			db = NULL;
			st = DB_ERR_GONE;
		}
		bool mine = false;
		if (!st)
			st = round_lock(db, true, &mine);
		if (!st && mine) {
			st = split_months(r, db);
			if (!st)
				st = retain(r, db);
			bool ignored;
			int unlocked = round_lock(db, false, &ignored);
			if (!st)
				st = unlocked;
		}
		if (st) {
			if (!failing)
				log_warn("retention: the maintenance of the monthly partitions failed (%s, as "
				         "MySQL user %s); trying again in %d ms",
				         db_status_string(st), r->cfg.db->user, r->cfg.check_ms);
			failing = true;
			if (db && db_broken(db)) {
				db_close(db);
				db = NULL;
			}
		} else {
			failing = false;
		}
		if (nap(r, r->cfg.check_ms))
			break;
	}
	db_close(db);
	return NULL;
}

int retention_start(const struct retention_config *cfg, struct retention **out)
{
	*out = NULL;
	struct retention *r = calloc(1, sizeof *r);
	if (!r)
		return -1;
	r->cfg = *cfg;
	if (r->cfg.check_ms <= 0)
		r->cfg.check_ms = 3600000;
	if (r->cfg.months_ahead < 1)
		r->cfg.months_ahead = 1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&r->lock, NULL);
	if (pthread_create(&r->thread, NULL, retention_main, r)) {
		retention_stop(r);
		return -1;
	}
	r->started = true;
	*out = r;
	return 0;
}

void retention_stop(struct retention *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
