/* The log of record's single writer and checkpoint signer: see ledger.h. */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"

struct ledger {
	uint32_t log;
	char *origin;
	char *writer; /* this writer's name in log_leases */
	/* The epoch of the lease this writer holds (0: none), under append;
	 * read by appends outside it (they hold a ticket: it cannot change
	 * before they end). */
	_Atomic uint64_t epoch;
	/* The lease was taken inside the transaction of the ticket about to be
	 * issued (lease_unsure), or of lease_ticket: held only if that commits
	 * (under lock). */
	bool lease_unsure;
	uint64_t lease_ticket;
	const note_signer *signer;
	note_verifier *verifier;
	const struct db_config *db;
	int checkpoint_ms;
	unsigned checkpoint_every;
	pthread_t thread;
	bool started;
	bool registered; /* in open_logs */

	pthread_mutex_t append; /* held while positions are given (ledger_begin .. ledger_reserve) */
	/* Under append: how appends shared it, told at close. */
	uint64_t appends, waited_ns, held_ns;
	pthread_mutex_t lock;   /* guards what follows; never held across I/O */
	pthread_cond_t cond;    /* the signer waits on it */
	pthread_cond_t turn;    /* tickets wait on it for the ones before them */
	struct merkle_frontier f; /* committed */
	/* Tickets (ledger.h): issued so far, committed (a prefix of them), the
	 * first that failed (UINT64_MAX: none), how many are held; the frontier
	 * after the last issued; whether the stored end must be checked. */
	uint64_t issued, done, failed_from;
	unsigned inflight;
	struct merkle_frontier tentative;
	bool resync;
	uint64_t turn_waited_ns, turns_failed;
	struct merkle_frontier unknown; /* an append whose COMMIT was lost (size 0: none) */
	uint64_t signed_size;
	uint32_t day; /* the latest day claimed (ledger_day) */
	int64_t pending_since_ms; /* when the first unsigned event was committed; 0: none */
	char *latest;             /* the latest signed note */
	int64_t latest_ms;        /* when it was signed (ledger_checkpoint) */
	const char *halted;
	bool ready; /* restored from the database (by the signer thread) */
	pthread_cond_t ready_cond;
	pthread_cond_t grown; /* ledger_wait_grown waits on it */
	pthread_mutex_t listen_lock; /* held during calls into the listener */
	struct ledger_listener listener; /* .wants NULL: none */
	bool stop;
	struct metrics_counter *signed_total; /* checkpoints signed (metrics.h) */
};

/* A log's latest stored checkpoint, as read back. */
struct latest {
	char *note; /* the signed note; NULL: none */
	uint64_t size;
	int64_t signed_ms;
};

uint32_t ledger_log(const struct ledger *l)
{
	return l->log;
}

const char *ledger_origin(const struct ledger *l)
{
	return l->origin;
}

const char *ledger_halted(struct ledger *l)
{
	pthread_mutex_lock(&l->lock);
	const char *h = l->halted;
	pthread_mutex_unlock(&l->lock);
	return h;
}

/* l->lock is held. */
static void halt_locked(struct ledger *l, const char *reason)
{
	if (!l->halted) {
		l->halted = reason;
		log_error("log %u halted: %s. It takes no events and signs nothing until the "
		          "stored log is repaired and the auditor restarted.",
		          (unsigned)l->log, reason);
	}
	pthread_cond_broadcast(&l->turn);
}

void ledger_halt(struct ledger *l, const char *reason)
{
	pthread_mutex_lock(&l->lock);
	halt_locked(l, reason);
	pthread_mutex_unlock(&l->lock);
}

uint64_t ledger_size(struct ledger *l)
{
	pthread_mutex_lock(&l->lock);
	uint64_t n = l->f.size;
	pthread_mutex_unlock(&l->lock);
	return n;
}

uint64_t ledger_wait_grown(struct ledger *l, uint64_t size, int timeout_ms)
{
	struct timespec ts = clock_deadline(timeout_ms);
	pthread_mutex_lock(&l->lock);
	while (l->f.size <= size && !l->stop &&
	       pthread_cond_timedwait(&l->grown, &l->lock, &ts) == 0)
		;
	uint64_t n = l->f.size;
	pthread_mutex_unlock(&l->lock);
	return n;
}

void ledger_listen(struct ledger *l, const struct ledger_listener *li)
{
	pthread_mutex_lock(&l->listen_lock);
	l->listener = li ? *li : (struct ledger_listener){0};
	pthread_mutex_unlock(&l->listen_lock);
}

bool ledger_wants(struct ledger *l, uint64_t *generation)
{
	pthread_mutex_lock(&l->listen_lock);
	bool wants = l->listener.wants && l->listener.wants(l->listener.arg, generation);
	pthread_mutex_unlock(&l->listen_lock);
	return wants;
}

void ledger_offer(struct ledger *l, uint64_t first, const struct db_row *rows, size_t nrows,
                  uint64_t generation)
{
	pthread_mutex_lock(&l->listen_lock);
	if (l->listener.take)
		l->listener.take(l->listener.arg, first, rows, nrows, generation);
	pthread_mutex_unlock(&l->listen_lock);
}

uint64_t ledger_given(struct ledger *l)
{
	pthread_mutex_lock(&l->lock);
	uint64_t n = l->inflight && l->tentative.size > l->f.size ? l->tentative.size : l->f.size;
	pthread_mutex_unlock(&l->lock);
	return n;
}

uint64_t ledger_epoch(struct ledger *l)
{
	return atomic_load(&l->epoch);
}

void ledger_state(struct ledger *l, struct ledger_state *out)
{
	pthread_mutex_lock(&l->lock);
	*out = (struct ledger_state){.ready = l->ready,
	                             .halted = l->halted,
	                             .size = l->f.size,
	                             .signed_size = l->ready ? l->signed_size : 0,
	                             .signed_ms = l->ready && l->latest ? l->latest_ms : 0};
	pthread_mutex_unlock(&l->lock);
}

char *ledger_checkpoint(struct ledger *l, uint64_t *size, int64_t *signed_ms)
{
	pthread_mutex_lock(&l->lock);
	char *note = l->ready && l->latest ? strdup(l->latest) : NULL;
	if (size)
		*size = l->ready ? l->signed_size : 0;
	if (signed_ms)
		*signed_ms = l->ready ? l->latest_ms : 0;
	pthread_mutex_unlock(&l->lock);
	return note;
}

bool ledger_ready(struct ledger *l)
{
	pthread_mutex_lock(&l->lock);
	bool ready = l->ready;
	pthread_mutex_unlock(&l->lock);
	return ready;
}

bool ledger_wait_ready(struct ledger *l, int timeout_ms)
{
	struct timespec ts = clock_deadline(timeout_ms);
	pthread_mutex_lock(&l->lock);
	while (!l->ready && !l->stop && pthread_cond_timedwait(&l->ready_cond, &l->lock, &ts) == 0)
		;
	bool ready = l->ready;
	pthread_mutex_unlock(&l->lock);
	return ready;
}

/* The committed tree is now f: the signer is told. l->lock is held. */
static void grow(struct ledger *l, const struct merkle_frontier *f)
{
	l->f = *f;
	l->unknown.size = 0;
	pthread_cond_broadcast(&l->grown);
	if (!l->pending_since_ms)
		l->pending_since_ms = clock_ms();
	if (l->f.size - l->signed_size >= l->checkpoint_every)
		pthread_cond_signal(&l->cond);
}

/* Lets go of the append lock taken by ledger_begin. */
static void unlock_append(struct ledger *l, struct ledger_append *a)
{
	l->appends++;
	l->held_ns += (uint64_t)(clock_ns() - a->locked_ns);
	a->locked = false;
	pthread_mutex_unlock(&l->append);
}

/* Ends the ticket chain once a failed ticket and every one after it have
 * ended: positions are given again from the committed frontier, after the
 * stored end is checked. l->lock is held. */
static void settle(struct ledger *l)
{
	if (!l->inflight && l->failed_from != UINT64_MAX) {
		l->issued = l->done;
		l->failed_from = UINT64_MAX;
		l->resync = true;
	}
}

static int check_head(struct ledger *l, struct db *db);

int ledger_begin(struct ledger *l, struct ledger_append *a, struct db *db)
{
	int64_t asked = clock_ns();
	a->ticket = 0;
	a->locked = false;
	pthread_mutex_lock(&l->append);
	pthread_mutex_lock(&l->lock);
	/* After a failure, wait for the tickets in flight to end. */
	while (!l->halted && l->ready && (l->failed_from != UINT64_MAX || (l->resync && l->inflight)))
		pthread_cond_wait(&l->turn, &l->lock);
	if (l->halted || !l->ready) {
		pthread_mutex_unlock(&l->lock);
		pthread_mutex_unlock(&l->append);
		return LEDGER_CLOSED;
	}
	if (l->resync) { /* nothing in flight, and nobody else can begin */
		pthread_mutex_unlock(&l->lock);
		int st = check_head(l, db);
		if (st) {
			pthread_mutex_unlock(&l->append);
			return st;
		}
		pthread_mutex_lock(&l->lock);
		l->resync = false;
	}
	a->f = l->inflight ? l->tentative : l->f;
	a->ticket = ++l->issued;
	if (l->lease_unsure) {
		l->lease_ticket = a->ticket;
		l->lease_unsure = false;
	}
	l->inflight++;
	pthread_mutex_unlock(&l->lock);
	a->locked = true;
	a->locked_ns = clock_ns();
	l->waited_ns += (uint64_t)(a->locked_ns - asked);
	return DB_OK;
}

void ledger_reserve(struct ledger *l, struct ledger_append *a)
{
	pthread_mutex_lock(&l->lock);
	l->tentative = a->f;
	pthread_mutex_unlock(&l->lock);
	unlock_append(l, a);
}

int ledger_wait_turn(struct ledger *l, struct ledger_append *a, int timeout_ms)
{
	int64_t t0 = clock_ns();
	struct timespec ts = clock_deadline(timeout_ms);
	pthread_mutex_lock(&l->lock);
	while (l->done + 1 != a->ticket && l->failed_from > a->ticket && !l->halted)
		if (pthread_cond_timedwait(&l->turn, &l->lock, &ts))
			break;
	int st = l->done + 1 == a->ticket && !l->halted ? 0 : -1;
	l->turn_waited_ns += (uint64_t)(clock_ns() - t0);
	l->turns_failed += st != 0;
	pthread_mutex_unlock(&l->lock);
	return st;
}

void ledger_end(struct ledger *l, struct ledger_append *a, enum ledger_outcome outcome)
{
	if (!a->ticket)
		return;
	pthread_mutex_lock(&l->lock);
	l->inflight--;
	if (a->ticket == l->lease_ticket) {
		/* Its transaction held the lease's row: without a COMMIT this writer
		 * holds nothing, and takes the log again at its next append. */
		if (outcome != LEDGER_COMMITTED)
			atomic_store(&l->epoch, 0);
		l->lease_ticket = 0;
	}
	if (outcome == LEDGER_COMMITTED && !a->locked && l->done + 1 == a->ticket) {
		l->done = a->ticket;
		if (a->f.size > l->f.size)
			grow(l, &a->f);
	} else {
		if (outcome == LEDGER_COMMITTED) /* out of turn: a caller's bug */
			halt_locked(l, "an append committed out of turn");
		if (outcome == LEDGER_UNKNOWN)
			l->unknown = a->f;
		if (a->ticket < l->failed_from)
			l->failed_from = a->ticket;
	}
	settle(l);
	pthread_cond_broadcast(&l->turn);
	pthread_mutex_unlock(&l->lock);
	if (a->locked)
		unlock_append(l, a);
	a->ticket = 0;
}

struct end_row {
	uint64_t size;
	uint32_t day;
};

static int size_row(void *ctx, const struct db_row *row)
{
	struct end_row *e = ctx;
	e->size = row->val[0] ? strtoull(row->val[0], NULL, 10) : 0;
	e->day = row->val[1] ? (uint32_t)strtoul(row->val[1], NULL, 10) : 0;
	return 0;
}

/* The log's stored size; its last append's day becomes the ledger's when
 * later (ledger_day). */
static int stored_size(struct ledger *l, struct db *db, uint64_t *size)
{
	struct db_value k[] = {DB_INT(l->log)};
	struct end_row e = {0};
	int st = db_query(db,
	                  "SELECT first_seq + LENGTH(leaf_hashes) DIV 32, stored_day FROM log_appends "
	                  "WHERE log_id = ? ORDER BY first_seq DESC LIMIT 1",
	                  k, 1, size_row, &e);
	*size = e.size;
	if (st >= 0) {
		pthread_mutex_lock(&l->lock);
		if (e.day > l->day)
			l->day = e.day;
		pthread_mutex_unlock(&l->lock);
	}
	return st < 0 ? st : DB_OK;
}

uint32_t ledger_day(struct ledger *l)
{
	pthread_mutex_lock(&l->lock);
	uint32_t day = l->day;
	pthread_mutex_unlock(&l->lock);
	return day;
}

int ledger_claim_day(struct ledger *l, const struct ledger_append *a, uint32_t day)
{
	(void)a; /* the append lock it holds keeps claims in ticket order */
	pthread_mutex_lock(&l->lock);
	int st = day < l->day ? -1 : 0;
	if (!st)
		l->day = day;
	pthread_mutex_unlock(&l->lock);
	return st;
}

/* Checks that the log's stored end is the committed frontier's. When it
 * is further on because an append's COMMIT was lost but happened, and the
 * stored tree is the one that append computed, that becomes the committed
 * frontier. Called from ledger_begin with the append lock held and no
 * ticket in flight. */
static int lease_row(void *ctx, const struct db_row *row)
{
	*(uint64_t *)ctx = row->val[0] ? strtoull(row->val[0], NULL, 10) : 0;
	return 0;
}

/* The log's newest lease epoch (0: none), its row locked: shared for an
 * append's check, exclusive for taking the log over (log_leases). */
static int newest_lease(struct ledger *l, struct db *db, bool exclusive, uint64_t *epoch)
{
	struct db_value k[] = {DB_INT(l->log)};
	*epoch = 0;
	int st = db_query(db,
	                  exclusive ? "SELECT MAX(epoch) FROM log_leases WHERE log_id = ? FOR UPDATE"
	                            : "SELECT MAX(epoch) FROM log_leases WHERE log_id = ? "
	                              "LOCK IN SHARE MODE",
	                  k, 1, lease_row, epoch);
	return st < 0 ? st : DB_OK;
}

int ledger_check_lease(struct ledger *l, struct db *db)
{
	uint64_t newest;
	int st = newest_lease(l, db, false, &newest);
	if (st)
		return st;
	if (newest == atomic_load(&l->epoch))
		return DB_OK;
	log_warn("log %u: another writer took the log over (lease %llu; this writer's was %llu)",
	         (unsigned)l->log, (unsigned long long)newest,
	         (unsigned long long)atomic_load(&l->epoch));
	return LEDGER_LEASE_LOST;
}

static int read_state(struct ledger *l, struct db *db, struct merkle_frontier *f,
                      struct latest *cp, const char **why);

/* Takes the log over from whoever wrote it last: inserts the next lease
 * (with db's transaction: it holds only if that commits), then reads the
 * log's state back as ledger_open does. The append lock is held and no
 * ticket is in flight. */
static int take_over(struct ledger *l, struct db *db, uint64_t newest)
{
	struct merkle_frontier f;
	struct latest cp = {0};
	const char *why = NULL;
	int st = read_state(l, db, &f, &cp, &why);
	if (st)
		return st;
	if (why) {
		free(cp.note);
		ledger_halt(l, why);
		return DB_ERR;
	}
	struct db_value v[] = {DB_INT(l->log), DB_INT((long long)newest + 1), DB_TEXT(l->writer),
	                       DB_INT((long long)f.size)};
	st = db_exec(db, "INSERT INTO log_leases (log_id, epoch, writer, size) VALUES (?,?,?,?)", v,
	             4, NULL, NULL);
	if (st) {
		free(cp.note);
		return st == DB_ERR_DUPLICATE ? DB_ERR_RETRY : st; /* another took it first */
	}
	pthread_mutex_lock(&l->lock);
	uint64_t had = l->f.size;
	l->f = f;
	l->unknown.size = 0;
	if (cp.note && cp.size >= l->signed_size) {
		free(l->latest);
		l->latest = cp.note;
		l->latest_ms = cp.signed_ms;
		l->signed_size = cp.size;
		cp.note = NULL;
	}
	if (l->f.size > l->signed_size && !l->pending_since_ms)
		l->pending_since_ms = clock_ms();
	pthread_cond_broadcast(&l->grown);
	pthread_mutex_unlock(&l->lock);
	free(cp.note);
	if (newest)
		log_info("log %u: took the log over at size %llu (lease %llu; this writer had seen "
		         "%llu)",
		         (unsigned)l->log, (unsigned long long)f.size, (unsigned long long)newest + 1,
		         (unsigned long long)had);
	atomic_store(&l->epoch, newest + 1);
	pthread_mutex_lock(&l->lock);
	l->lease_unsure = true; /* ledger_begin gives it this transaction's ticket */
	pthread_mutex_unlock(&l->lock);
	return DB_OK;
}

static int check_head(struct ledger *l, struct db *db)
{
	uint64_t newest;
	int st = newest_lease(l, db, true, &newest);
	if (st)
		return st;
	if (!newest || newest != atomic_load(&l->epoch))
		return take_over(l, db, newest);
	pthread_mutex_lock(&l->lock);
	struct merkle_frontier f = l->f, unknown = l->unknown;
	pthread_mutex_unlock(&l->lock);
	uint64_t head;
	st = stored_size(l, db, &head);
	if (st || head == f.size)
		return st;
	if (unknown.size == head && head > f.size) {
		/* Was the lost COMMIT ours? Then the stored cover of [0, head) is
		 * the frontier that append computed. */
		uint8_t border[MERKLE_MAX_FRONTIER][MERKLE_HASH_LEN];
		unsigned count;
		struct tree_source ts = {.db = db, .log = l->log};
		struct merkle_source src = tree_source_init(&ts);
		if (merkle_border_left(head, &src, border, &count))
			return ts.status ? ts.status : DB_ERR;
		if (count == unknown.count && !memcmp(border, unknown.hashes, count * sizeof *border)) {
			log_info("log %u: the append whose COMMIT was lost had committed (size %llu)",
			         (unsigned)l->log, (unsigned long long)head);
			pthread_mutex_lock(&l->lock);
			grow(l, &unknown);
			pthread_cond_signal(&l->cond); /* sign the adopted tree soon */
			pthread_mutex_unlock(&l->lock);
			return DB_OK;
		}
	}
	ledger_halt(l, head > f.size ? "a position this writer was about to give is taken by a row "
	                               "it did not write"
	                             : "rows this writer committed are gone from the stored log");
	return DB_ERR;
}

/* ---- checkpoints ---- */

/* Signs the checkpoint of f and stores it; then it is the latest. A size
 * already signed is not signed twice: the stored checkpoint must have the
 * same root, else the ledger halts. */
static int sign_and_store(struct ledger *l, struct db *db, const struct merkle_frontier *f)
{
	uint8_t root[MERKLE_HASH_LEN];
	char *text = NULL, *note = NULL;
	size_t len;
	if (merkle_frontier_root(f, root) || note_checkpoint_format(l->origin, f->size, root, NULL, &text) ||
	    note_sign(text, strlen(text), &l->signer, 1, &note, &len)) {
		free(text);
		log_error("log %u: cannot sign a checkpoint of size %llu", (unsigned)l->log,
		          (unsigned long long)f->size);
		return DB_ERR;
	}
	free(text);
	struct db_value v[] = {DB_INT(l->log), DB_INT((long long)f->size),
	                       DB_BLOB(root, MERKLE_HASH_LEN), DB_TEXTN(note, len)};
	int st = db_exec(db,
	                 "INSERT INTO log_checkpoints (log_id, size, root, note) VALUES (?,?,?,?)",
	                 v, 4, NULL, NULL);
	int64_t signed_ms = clock_wall_ms();
	if (st == DB_ERR_DUPLICATE) {
		struct stored_checkpoint cp;
		st = tree_checkpoint(db, l->log, TREE_EXACT, f->size, 0, &cp);
		if (!st && cp.found && cp.root_ok && !memcmp(cp.root, root, MERKLE_HASH_LEN)) {
			free(note);
			note = cp.note;
			signed_ms = cp.signed_ms;
		} else {
			free(cp.note);
			if (!st) {
				ledger_halt(l, "a stored checkpoint of the size being signed has another root");
				st = DB_ERR;
			}
		}
	}
	if (st) {
		free(note);
		return st;
	}
	pthread_mutex_lock(&l->lock);
	free(l->latest);
	l->latest = note;
	l->latest_ms = signed_ms;
	if (f->size > l->signed_size || !l->signed_size)
		l->signed_size = f->size;
	l->pending_since_ms = l->f.size > f->size ? clock_ms() : 0;
	pthread_mutex_unlock(&l->lock);
	metrics_inc(l->signed_total);
	log_debug("log %u: signed the checkpoint of size %llu", (unsigned)l->log,
	          (unsigned long long)f->size);
	return DB_OK;
}

static int restore(struct ledger *l, struct db *db);

/* Sleeps up to ms on the ledger's condition; the lock is held. */
static void nap(struct ledger *l, int64_t ms)
{
	struct timespec ts = clock_deadline(ms);
	pthread_cond_timedwait(&l->cond, &l->lock, &ts);
}

/* Reads the log's state back, retrying every second while the database
 * cannot be reached. Returns false when asked to stop first. */
static bool open_log(struct ledger *l, struct db **db)
{
	bool warned = false;
	for (;;) {
		int st = *db || !db_connect(l->db, db) ? restore(l, *db) : DB_ERR_GONE;
		if (st == DB_OK)
			break;
		if (!warned)
			log_warn("log %u: cannot read its stored state yet (%s); retrying every second",
			         (unsigned)l->log, db_status_string(st));
		warned = true;
		if (*db && db_broken(*db)) {
			db_close(*db);
			*db = NULL;
		}
		pthread_mutex_lock(&l->lock);
		if (!l->stop)
			nap(l, 1000);
		bool stop = l->stop;
		pthread_mutex_unlock(&l->lock);
		if (stop)
			return false;
	}
	pthread_mutex_lock(&l->lock);
	l->ready = true;
	pthread_cond_broadcast(&l->ready_cond);
	pthread_mutex_unlock(&l->lock);
	log_info("log %u (%s): %llu events, checkpoint of size %llu%s", (unsigned)l->log, l->origin,
	         (unsigned long long)l->f.size, (unsigned long long)l->signed_size,
	         l->halted ? ", HALTED" : "");
	return true;
}

static void *signer_main(void *arg)
{
	struct ledger *l = arg;
	struct db *db = NULL;
	if (!open_log(l, &db)) {
		db_close(db);
		return NULL;
	}
	pthread_mutex_lock(&l->lock);
	for (;;) {
		bool due = !l->halted && l->f.size > l->signed_size &&
		           (l->stop || l->f.size - l->signed_size >= l->checkpoint_every ||
		            clock_ms() - l->pending_since_ms >= l->checkpoint_ms);
		if (!due) {
			if (l->stop)
				break;
			int64_t wait = l->checkpoint_ms;
			if (l->pending_since_ms && l->f.size > l->signed_size) {
				wait = l->pending_since_ms + l->checkpoint_ms - clock_ms();
				if (wait < 1)
					wait = 1;
			}
			nap(l, wait);
			continue;
		}
		struct merkle_frontier f = l->f;
		pthread_mutex_unlock(&l->lock);
		if (!db && db_connect(l->db, &db))
			db = NULL;
		int st = db ? sign_and_store(l, db, &f) : DB_ERR_GONE;
		if (st && db && db_broken(db)) {
			db_close(db);
			db = NULL;
		}
		pthread_mutex_lock(&l->lock);
		if (st && !l->stop) {
			nap(l, 1000); /* try again a little later, not in a tight loop */
		} else if (st) {
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
	db_close(db);
	return NULL;
}

/* The logs this process writes, for /metrics: one collector over them
 * all, so that each family's samples come together (the text format's
 * rule), one sample per log. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ledger *open_logs[LEDGER_OPEN_MAX];
static unsigned nopen;

/* The logs' state at scrape time (metrics.h), each under its lock: size
 * and latest checkpoint once read back, and whether it halted. */
static void collect(struct metrics_out *out, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&open_lock);
	struct {
		char log[12];
		struct ledger_state st;
	} v[LEDGER_OPEN_MAX];
	unsigned n = nopen;
	for (unsigned i = 0; i < n; i++) {
		snprintf(v[i].log, sizeof v[i].log, "%u", (unsigned)open_logs[i]->log);
		ledger_state(open_logs[i], &v[i].st);
	}
	pthread_mutex_unlock(&open_lock);
	metrics_out_family(out, "auditlog_log_halted",
	                   "1 when the log halted (it takes no events and signs nothing: the "
	                   "auditor's log says why), else 0.",
	                   METRICS_GAUGE);
	for (unsigned i = 0; i < n; i++)
		metrics_out_sample(out, "auditlog_log_halted", v[i].st.halted != NULL, "log", v[i].log,
		                   NULL);
	metrics_out_family(out, "auditlog_log_size_events",
	                   "Events in the log of record: the committed tree's size.",
	                   METRICS_GAUGE);
	for (unsigned i = 0; i < n; i++)
		if (v[i].st.ready) /* else its state is not read back yet */
			metrics_out_sample(out, "auditlog_log_size_events", (double)v[i].st.size, "log",
			                   v[i].log, NULL);
	metrics_out_family(out, "auditlog_checkpoint_size_events",
	                   "The tree size of the latest signed checkpoint.", METRICS_GAUGE);
	for (unsigned i = 0; i < n; i++)
		if (v[i].st.ready)
			metrics_out_sample(out, "auditlog_checkpoint_size_events",
			                   (double)v[i].st.signed_size, "log", v[i].log, NULL);
	metrics_out_family(out, "auditlog_checkpoint_lag_events",
	                   "Events stored but in no signed checkpoint yet.", METRICS_GAUGE);
	for (unsigned i = 0; i < n; i++)
		if (v[i].st.ready)
			metrics_out_sample(out, "auditlog_checkpoint_lag_events",
			                   v[i].st.size > v[i].st.signed_size
			                       ? (double)(v[i].st.size - v[i].st.signed_size)
			                       : 0,
			                   "log", v[i].log, NULL);
	metrics_out_family(out, "auditlog_checkpoint_timestamp_seconds",
	                   "When the latest checkpoint was signed, in seconds since the epoch.",
	                   METRICS_GAUGE);
	for (unsigned i = 0; i < n; i++)
		if (v[i].st.ready && v[i].st.signed_ms)
			metrics_out_sample(out, "auditlog_checkpoint_timestamp_seconds",
			                   (double)v[i].st.signed_ms / 1000, "log", v[i].log, NULL);
}

static void add_collector(void)
{
	metrics_collector_add(collect, NULL);
}

/* The collector is added once and stays: it reads only open_logs (and
 * takes open_lock inside the registry's mutex, so never the other way). */
static bool register_open(struct ledger *l)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, add_collector);
	pthread_mutex_lock(&open_lock);
	bool ok = nopen < LEDGER_OPEN_MAX;
	if (ok)
		open_logs[nopen++] = l;
	pthread_mutex_unlock(&open_lock);
	return ok;
}

static void unregister_open(struct ledger *l)
{
	pthread_mutex_lock(&open_lock);
	for (unsigned i = 0; i < nopen; i++)
		if (open_logs[i] == l) {
			open_logs[i] = open_logs[--nopen];
			break;
		}
	pthread_mutex_unlock(&open_lock);
}

/* ---- opening a log ---- */

/* Checks the stored tree of size f->size against the latest stored
 * checkpoint, which becomes *out (found: out->note, the caller's to free).
 * Returns 0, or a reason. */
static const char *check_latest(struct ledger *l, struct db *db, const struct merkle_frontier *f,
                                struct stored_checkpoint cp, struct latest *out, int *st)
{
	const char *why = NULL;
	*st = DB_OK;
	if (!cp.found)
		goto out;
	switch (tree_checkpoint_check(&cp, l->verifier, l->origin)) {
	case TREE_CP_OK:
		break;
	case TREE_CP_SIGNATURE:
		why = "the latest stored checkpoint is not signed by this log's key";
		goto out;
	case TREE_CP_ROW:
		why = "the latest stored checkpoint's row does not match its signed note";
		goto out;
	}
	if (cp.size > f->size) {
		why = "the stored log is shorter than its latest checkpoint (rolled back or truncated)";
		goto out;
	}
	uint8_t root[MERKLE_HASH_LEN], proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	size_t n;
	struct tree_source ts = {.db = db, .log = l->log};
	struct merkle_source src = tree_source_init(&ts);
	if (merkle_frontier_root(f, root) || merkle_consistency_proof(cp.size, f->size, &src, proof, &n)) {
		*st = ts.status;
		why = *st ? NULL : "the stored tree lacks hashes between the latest checkpoint and its end";
		goto out;
	}
	if (merkle_consistency_verify(cp.size, f->size, cp.root, root, proof, n))
		why = "the stored tree does not extend the latest checkpoint";
	else {
		*out = (struct latest){.note = cp.note, .size = cp.size, .signed_ms = cp.signed_ms};
		cp.note = NULL;
	}
out:
	free(cp.note);
	return why;
}

/* Reads the log's stored state: *f the cover of its stored end, *cp its
 * latest checkpoint (note NULL: none), which the stored tree must extend.
 * Returns a db status; on DB_OK, *why is NULL or the reason to halt (then
 * cp holds nothing). */
static int read_state(struct ledger *l, struct db *db, struct merkle_frontier *f,
                      struct latest *cp, const char **why)
{
	*cp = (struct latest){0};
	*why = NULL;
	merkle_frontier_init(f);
	/* The latest checkpoint first, then the end: another writer (another
	 * auditor, which has this log now) may append and sign meanwhile, and a
	 * checkpoint read before the end cannot be beyond it unless the log
	 * was truncated. */
	struct stored_checkpoint latest;
	int st = tree_checkpoint(db, l->log, TREE_LATEST, 0, 0, &latest);
	if (st)
		return st;
	uint64_t size;
	if ((st = stored_size(l, db, &size))) {
		free(latest.note);
		return st;
	}
	uint8_t border[MERKLE_MAX_FRONTIER][MERKLE_HASH_LEN];
	unsigned count;
	struct tree_source ts = {.db = db, .log = l->log};
	struct merkle_source src = tree_source_init(&ts);
	if (merkle_border_left(size, &src, border, &count) ||
	    merkle_frontier_restore(f, size, border, count)) {
		free(latest.note);
		if (ts.status)
			return ts.status;
		*why = "the stored tree lacks hashes of its own end";
		return DB_OK;
	}
	*why = check_latest(l, db, f, latest, cp, &st);
	return st < 0 ? st : DB_OK;
}

/* At open, before the ledger is ready: nothing else reads it yet. */
static int restore(struct ledger *l, struct db *db)
{
	/* From scratch: an attempt may have failed half-way. */
	free(l->latest);
	l->latest = NULL;
	l->latest_ms = 0;
	l->signed_size = 0;
	l->halted = NULL;
	struct latest cp;
	const char *why;
	int st = read_state(l, db, &l->f, &cp, &why);
	if (st)
		return st;
	if (why) {
		l->halted = why;
		log_error("log %u halted: %s. It takes no events and signs nothing until the stored "
		          "log is repaired.",
		          (unsigned)l->log, why);
		return DB_OK;
	}
	l->latest = cp.note;
	l->latest_ms = cp.signed_ms;
	l->signed_size = cp.size;
	if (!l->latest || l->f.size > l->signed_size) {
		struct merkle_frontier f = l->f;
		return sign_and_store(l, db, &f);
	}
	return DB_OK;
}

int ledger_open(const struct ledger_config *cfg, struct ledger **out)
{
	*out = NULL;
	struct ledger *l = calloc(1, sizeof *l);
	if (!l || !(l->origin = strdup(cfg->origin))) {
		free(l);
		return -1;
	}
	l->log = cfg->log;
	if (!(l->writer = strdup(cfg->writer ? cfg->writer : "auditor"))) {
		free(l->origin);
		free(l);
		return -1;
	}
	l->signer = cfg->signer;
	l->db = cfg->db;
	l->checkpoint_ms = cfg->checkpoint_ms > 0 ? cfg->checkpoint_ms : 1000;
	l->checkpoint_every = cfg->checkpoint_every ? cfg->checkpoint_every : 100000;
	l->failed_from = UINT64_MAX;
	l->resync = true; /* the first append checks the stored end */
	char log[12];
	snprintf(log, sizeof log, "%u", (unsigned)l->log);
	l->signed_total = metrics_counter("auditlog_checkpoints_signed_total",
	                                  "Checkpoints signed and stored.", "log", log, NULL);
	merkle_frontier_init(&l->f);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_cond_init(&l->turn, &ca); /* ledger_wait_turn's deadline is CLOCK_MONOTONIC */
	pthread_cond_init(&l->ready_cond, &ca); /* ledger_wait_ready's deadline is CLOCK_MONOTONIC */
	pthread_cond_init(&l->grown, &ca);
	pthread_mutex_init(&l->listen_lock, NULL);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->append, NULL);
	if (note_verifier_from_signer(l->signer, &l->verifier) ||
	    pthread_create(&l->thread, NULL, signer_main, l)) {
		ledger_close(l);
		return -1;
	}
	l->started = true;
	if (!register_open(l)) {
		ledger_close(l);
		return -1;
	}
	l->registered = true;
	*out = l;
	return 0;
}

void ledger_close(struct ledger *l)
{
	if (!l)
		return;
	if (l->appends)
		log_info("log %u: %llu appends held the append lock %.3f s in all and waited %.3f s "
		         "for it; waited %.3f s for earlier appends to commit, %llu of them in vain",
		         (unsigned)l->log, (unsigned long long)l->appends, (double)l->held_ns / 1e9,
		         (double)l->waited_ns / 1e9, (double)l->turn_waited_ns / 1e9,
		         (unsigned long long)l->turns_failed);
	if (l->started) {
		if (l->registered)
			unregister_open(l);
		pthread_mutex_lock(&l->lock);
		l->stop = true;
		pthread_cond_signal(&l->cond);
		pthread_cond_broadcast(&l->ready_cond);
		pthread_cond_broadcast(&l->grown);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
	}
	pthread_cond_destroy(&l->ready_cond);
	pthread_cond_destroy(&l->grown);
	pthread_mutex_destroy(&l->listen_lock);
	note_verifier_free(l->verifier);
	pthread_cond_destroy(&l->cond);
	pthread_cond_destroy(&l->turn);
	pthread_mutex_destroy(&l->lock);
	pthread_mutex_destroy(&l->append);
	free(l->latest);
	free(l->origin);
	free(l->writer);
	free(l);
}

int ledger_key(const char *path, const char *name, note_signer **out)
{
	const char *why = NULL;
	*out = NULL;
	int st = note_signer_load(path, out, &why);
	if (st == NOTE_EIO && errno == ENOENT) {
		char *vkey = NULL, vpath[4096];
		if (note_signer_generate(name, out) || note_signer_save(*out, path) ||
		    note_signer_verifier_key(*out, &vkey)) {
			log_error("cannot make the log's signing key at %s: %s", path, strerror(errno));
			note_signer_free(*out);
			*out = NULL;
			return -1;
		}
		snprintf(vpath, sizeof vpath, "%s.vkey", path);
		int fd = open(vpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dprintf(fd, "%s\n", vkey) < 0)
			log_warn("cannot write the verifier key to %s: %s", vpath, strerror(errno));
		if (fd >= 0)
			close(fd);
		log_info("made the log's signing key %s (keep it, and back it up: checkpoints signed "
		         "with it verify only with its verifier key %s)",
		         path, vkey);
		free(vkey);
		return 0;
	}
	if (st) {
		log_error("cannot read the log's signing key %s: %s%s%s", path, note_status_string(st),
		          why ? ": " : "", why ? why : "");
		return -1;
	}
	if (strcmp(note_signer_name(*out), name)) {
		log_error("the log's signing key %s is named %s, but the log origin setting is %s",
		          path, note_signer_name(*out), name);
		note_signer_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}
