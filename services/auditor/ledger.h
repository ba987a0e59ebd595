/* ledger: the log of record's single writer, one per log (docs/ledger.md).
 *
 * A ledger owns one log's tree state: its size and frontier (the cover of
 * [0, size), RFC 9162 §2.1.1), the signing key, and a thread that signs
 * checkpoints (c2sp.org/tlog-checkpoint). The consumers append through it:
 * store_insert_batch takes a ticket, gives each new event the next position
 * inside its transaction, and commits only after every earlier ticket has,
 * so positions follow commit order with no gap and no repeat.
 *
 * The tree's hashes live in MariaDB (tree.c reads them): log_appends
 * holds the leaf hashes, an append's in one row, log_nodes the complete
 * subtrees of levels 4, 8, 12, ... (LEDGER_STRIDE), so any node is computed
 * from at most 8 stored hashes.
 *
 * Threads: the append lock serialises the giving of positions (consumer
 * threads, in-memory work only); an inner lock guards the state the
 * signer and handlers read. The signer thread
 * has its own MySQL connection.
 *
 * One writer per log at a time, also across processes: a writer holds the
 * log's lease (log_leases, sql/auditor/0014) from its first append on, and
 * each append checks it in its transaction. Another auditor that the broker
 * hands the partition to takes the log over by inserting the next lease,
 * reads the log's end back and continues it: no gap, no repeat, no fork.
 *
 * A ledger that finds its stored state inconsistent (at open: the latest
 * checkpoint does not verify or the stored tree does not extend it; while
 * running: a position it is about to give is already taken) halts: it
 * refuses appends and signs nothing more, and says why in
 * ledger_halted(). Reads and /verify go on. */
#ifndef AUDITLOG_LEDGER_H
#define AUDITLOG_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "merkle.h"
#include "note.h"

/* Interior hashes are stored for levels that are multiples of this. */
#define LEDGER_STRIDE 4
/* The positions an append gave are one row of log_appends (at most
 * LEDGER_APPEND_MAX of them a row): its first position, the ids of its
 * events in position order (LEDGER_ID_LEN bytes each: a UUID's text form,
 * uuid.h) and their leaf hashes (MERKLE_HASH_LEN bytes each). */
#define LEDGER_APPEND_MAX 4096
#define LEDGER_ID_LEN 36
/* Logs one process may have open at once. */
#define LEDGER_OPEN_MAX 72 /* the partitions and the records log */

struct ledger_config {
	uint32_t log;              /* the log's id */
	const char *writer;        /* this writer's name in log_leases (copied; NULL: "auditor") */
	const char *origin;        /* its checkpoint origin (copied) */
	const note_signer *signer; /* borrowed; outlives the ledger */
	const struct db_config *db; /* the writer's user (INSERT, SELECT); borrowed */
	int checkpoint_ms;          /* sign at most this long after the tree grew */
	unsigned checkpoint_every;  /* ... or as soon as it grew by this many events */
};

struct ledger;

/* The logs' signing key: reads the signer key file at path (c2sp.org/
 * signed-note text form, note.h) or, when there is none, makes a new
 * Ed25519 key named name, saves it there (mode 0600, never overwriting)
 * and its verifier key at path + ".vkey" (0644), and logs that it did. The
 * key's name must be name. *out is the caller's (note_signer_free).
 * Returns 0, or -1 (logged). */
int ledger_key(const char *path, const char *name, note_signer **out);

/* Opens a log: starts its signer thread, which first reads the log's size
 * and frontier back from the database (retrying every second while it
 * cannot be reached), checks them against the latest stored checkpoint
 * (signature, origin, and the RFC 9162 §2.1.4 consistency of the stored
 * tree with it), signs a checkpoint of the current size if none covers
 * it, and only then makes the ledger ready. A failed check halts the
 * ledger. Until ready, appends are refused and no checkpoint is known.
 * Returns 0, or -1 when memory or threads run out. */
int ledger_open(const struct ledger_config *cfg, struct ledger **out);
/* Whether the ledger has read its state back. */
bool ledger_ready(struct ledger *l);
/* Waits up to timeout_ms for that; returns ledger_ready(). */
bool ledger_wait_ready(struct ledger *l, int timeout_ms);
/* Stops the signer (after signing what was appended), frees l. NULL ok. */
void ledger_close(struct ledger *l);

uint32_t ledger_log(const struct ledger *l);
const char *ledger_origin(const struct ledger *l);
/* NULL while the ledger works; else a static-lifetime reason (owned by l). */
const char *ledger_halted(struct ledger *l);

/* ---- the writer's side (store_write.c) ----
 *
 * An append goes through four steps, so that consumers insert their rows
 * in parallel and only the positions are given one batch at a time:
 *
 *   ledger_begin     takes the append lock and the next ticket; a->f is the
 *                    frontier after every earlier ticket (committed or not)
 *   (the caller hashes its leaves at positions a->f.size, ... and grows a->f)
 *   ledger_reserve   publishes the grown frontier for the next ticket and
 *                    unlocks: the append lock covers in-memory work only
 *   (the caller inserts its rows)
 *   ledger_wait_turn waits until every earlier ticket has committed, so
 *                    commits follow positions and the committed positions
 *                    are always a prefix 0 .. n-1
 *   (the caller commits)
 *   ledger_end       tells the outcome; wakes the next ticket
 *
 * A ticket that rolls back (or whose COMMIT is lost) fails every later
 * ticket still in flight: they roll back too and retry. Once they all
 * have, the next ledger_begin checks the log's stored end against the
 * committed frontier (and adopts a lost COMMIT that did happen) before
 * giving positions again. */
struct ledger_append {
	uint64_t ticket;          /* 0: none held */
	bool locked;              /* the append lock is held (begin .. reserve) */
	struct merkle_frontier f; /* the frontier the caller grows */
	int64_t locked_ns;        /* when the lock was taken (statistics) */
};
/* Returned by ledger_begin when the ledger is halted or not yet ready. */
#define LEDGER_CLOSED 1
/* Returned by ledger_check_lease when another writer took the log over. */
#define LEDGER_LEASE_LOST 2
/* Begins an append (above). db is the caller's connection, inside its
 * transaction, for the stored-end check after a failure. Returns DB_OK
 * with the lock and a ticket held, LEDGER_CLOSED, or a db status (DB_ERR
 * after halting the ledger when another writer's rows stand where this
 * one's go, or rows it committed are gone); then nothing is held. */
int ledger_begin(struct ledger *l, struct ledger_append *a, struct db *db);
/* Checks, in db's transaction (after ledger_begin), that this writer
 * still holds the log's lease (log_leases: the newest epoch is the one it
 * took), holding that row with a shared lock until the transaction ends,
 * so that no other writer can take the log over before it commits.
 * Returns DB_OK, LEDGER_LEASE_LOST (the caller rolls back and gives up
 * its batch: the broker gave the partition to another auditor, which
 * stores it; the next ledger_begin takes the log back), or a db status. */
int ledger_check_lease(struct ledger *l, struct db *db);
/* Publishes a->f (grown by the caller) and unlocks. */
void ledger_reserve(struct ledger *l, struct ledger_append *a);
/* Waits until every ticket before a's has committed: returns 0. Returns -1
 * when one of them failed, the ledger halted, or timeout_ms passed (which
 * breaks a wait that the database's own lock waits would close into a
 * cycle: a later ticket holding a row an earlier one needs); the caller
 * then rolls back. */
int ledger_wait_turn(struct ledger *l, struct ledger_append *a, int timeout_ms);
enum ledger_outcome { LEDGER_COMMITTED, LEDGER_ROLLED_BACK, LEDGER_UNKNOWN };
/* Ends the append begun by ledger_begin (at any step; no-op when none is
 * held): a->f becomes the ledger's committed frontier when it committed,
 * is kept aside for the check after a lost COMMIT (LEDGER_UNKNOWN). */
void ledger_end(struct ledger *l, struct ledger_append *a, enum ledger_outcome outcome);
/* Days (sql/auditor/0015: stored_day). The rows of an append are stored
 * under one day, and days never go down along a log's positions, so the
 * months that retention drops are a prefix of each log.
 * ledger_day: the latest day claimed so far (read back from the log's last
 * append at open and at taking over); an append chooses
 * max(store_day(), ledger_day()) before it begins. ledger_claim_day, under
 * the append lock (between ledger_begin and ledger_reserve), makes day the
 * log's latest and returns 0, or returns -1 when an earlier append claimed
 * a later day (the caller rolls back and chooses again). */
uint32_t ledger_day(struct ledger *l);
int ledger_claim_day(struct ledger *l, const struct ledger_append *a, uint32_t day);
/* Halts the ledger with reason (a string literal). Callable with the
 * append lock held or not. */
void ledger_halt(struct ledger *l, const char *reason);

/* ---- readers ---- */

/* The committed size. */
uint64_t ledger_size(struct ledger *l);
/* The log's state in one reading (its lock taken once): what /readyz and
 * /metrics report. halted is as ledger_halted's; size the committed size;
 * signed_size and signed_ms the latest checkpoint's (0 until ready). */
struct ledger_state {
	bool ready;
	const char *halted;
	uint64_t size, signed_size;
	int64_t signed_ms;
};
void ledger_state(struct ledger *l, struct ledger_state *out);
/* Waits until the committed size is above size, the ledger closes, or
 * timeout_ms (milliseconds) passes, and returns the committed size then:
 * a reader of new positions (the live stream's hub) learns of a COMMIT at
 * once instead of at its next poll. */
uint64_t ledger_wait_grown(struct ledger *l, uint64_t size, int timeout_ms);
/* ---- a listener: the live stream, told of each append at its COMMIT ----
 *
 * The writer hands over the rows it committed, so the stream's reader need
 * not read back what was just written. wants() is asked before an
 * append's transaction (so that no rows are gathered when nobody listens)
 * and gives a generation that the listener checks at take(): a take()
 * whose generation is no longer the listener's is stale (values may have
 * been erased since the transaction began). take() gets the rows of
 * positions first, first + 1, ... with the columns and in the order of
 * store_read_positions' statement (auditor.h: one row per event and
 * changed field), borrowed for the call, after the COMMIT and before the
 * ledger learns of it (ledger_end): whoever ledger_wait_grown wakes finds
 * them taken. Both are called with the listener's own lock held: they
 * must be quick, and may not call the ledger's listener functions. */
struct ledger_listener {
	bool (*wants)(void *arg, uint64_t *generation);
	void (*take)(void *arg, uint64_t first, const struct db_row *rows, size_t nrows,
	             uint64_t generation);
	void *arg;
};
/* Sets (li copied) or, with NULL, removes the listener; returns once no
 * call into the one it replaces is in progress. */
void ledger_listen(struct ledger *l, const struct ledger_listener *li);
/* Whether the listener wants the next append's rows; its generation in
 * *generation. False without a listener. */
bool ledger_wants(struct ledger *l, uint64_t *generation);
/* Hands the rows (borrowed) of positions first, ... to the listener, if
 * there is one. */
void ledger_offer(struct ledger *l, uint64_t first, const struct db_row *rows, size_t nrows,
                  uint64_t generation);

/* The end of the positions given so far, committed or in flight: no row
 * this writer wrote or will commit for them lies past it. */
uint64_t ledger_given(struct ledger *l);
/* The lease epoch under which this writer last wrote the log (log_leases),
 * 0 when it never took it. Another writer may have taken the log over
 * since without this one knowing yet: a reader that needs to know whether
 * this process writes the log now compares it with the newest stored epoch
 * (log_set_held). */
uint64_t ledger_epoch(struct ledger *l);
/* The latest signed checkpoint: a malloc'd copy of the signed note for the
 * caller to free, its size in *size and when it was signed in *signed_ms
 * (ms since the epoch: the writer's wall clock when it stored the
 * checkpoint, or the stored row's signed_at for one signed before the
 * writer started); either may be NULL. NULL when none yet (or out of
 * memory). */
char *ledger_checkpoint(struct ledger *l, uint64_t *size, int64_t *signed_ms);

/* ---- tree.c: a log's stored tree as a merkle_source ----
 *
 * Answers the hash of the complete subtree (level, index) from the rows:
 * the leaf hashes of log_appends for level 0, log_nodes for levels that are
 * multiples of LEDGER_STRIDE, and for any other level the fold of the at
 * most 2^(LEDGER_STRIDE-1) stored hashes below it (one range query). A
 * missing or short row set makes node() fail (MERKLE_ESOURCE to the
 * caller). db is borrowed; the source works on the caller's thread. */
struct tree_ask {
	unsigned level;
	uint64_t index;
	uint8_t hash[MERKLE_HASH_LEN];
	bool known;
};
struct tree_source {
	struct db *db;
	uint32_t log;
	int status; /* the last db status, DB_OK or a negative db_status */
	/* Batching (tree_source_record / tree_source_fetch): */
	bool recording;
	struct tree_ask *asks; /* malloc'd; tree_source_free releases them */
	size_t nasks, cap;
};
struct merkle_source tree_source_init(struct tree_source *ts);
/* Batching a proof's reads. Which nodes a proof, root or border asks for
 * depends on positions only, never on hashes; so: tree_source_record(ts),
 * run the merkle function once (it gets zero hashes: throw its result
 * away), tree_source_fetch(ts) reads every node it asked in one or two
 * queries, and the same call run again is answered from them (a node not
 * asked the first time is still read on its own). Returns DB_OK or a db
 * status (ts->status). tree_source_free releases what ts holds. */
void tree_source_record(struct tree_source *ts);
int tree_source_fetch(struct tree_source *ts);
void tree_source_free(struct tree_source *ts);

/* The first position of the append (a row of log_appends) that starts at
 * or before seq, the last such: the one holding seq when the log has it.
 * *start = seq when none does. Returns DB_OK or a db status. */
int tree_append_start(struct db *db, uint32_t log, uint64_t seq, uint64_t *start);

/* A stored checkpoint (a row of log_checkpoints). */
struct stored_checkpoint {
	bool found;
	uint64_t size;
	uint8_t root[MERKLE_HASH_LEN];
	bool root_ok; /* the stored root had 32 bytes (else root is zero-padded) */
	char *note;   /* the signed note, malloc'd: free it */
	int64_t signed_ms; /* signed_at: when it was stored, ms since the epoch */
};
enum tree_pick {
	TREE_EXACT,  /* the checkpoint of size a */
	TREE_LATEST, /* the largest */
	TREE_NEXT,   /* the smallest with a <= size <= b */
};
/* Reads one stored checkpoint of log into *cp (zeroed first). Returns
 * DB_OK (cp->found says whether there was one) or a db status. */
int tree_checkpoint(struct db *db, uint32_t log, enum tree_pick pick, uint64_t a, uint64_t b,
                    struct stored_checkpoint *cp);
/* Calls fn(ctx, log, cp) with the latest stored checkpoint of each log that
 * has one, by ascending log; cp is borrowed for the call. fn returns 0 to
 * go on. Returns DB_OK, a db status, or DB_ERR when fn stopped (or out of
 * memory). */
typedef int (*tree_checkpoint_fn)(void *ctx, uint32_t log, const struct stored_checkpoint *cp);
int tree_checkpoints_latest(struct db *db, tree_checkpoint_fn fn, void *ctx);
/* Whether a stored checkpoint is one the log signed: TREE_CP_OK, or
 * TREE_CP_SIGNATURE (not a signed note of this key: c2sp.org/signed-note,
 * or not a checkpoint: c2sp.org/tlog-checkpoint), or TREE_CP_ROW (its row's
 * size or root, or its origin, differ from its note). */
enum tree_cp_check { TREE_CP_OK, TREE_CP_SIGNATURE, TREE_CP_ROW };
enum tree_cp_check tree_checkpoint_check(const struct stored_checkpoint *cp,
                                         const note_verifier *key, const char *origin);

#endif
