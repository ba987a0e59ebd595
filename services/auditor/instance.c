/* Claiming an auditor's instance number: instance.h. */
#include "instance.h"

#include <string.h>

#include "log.h"

static int lock_row(void *ctx, const struct db_row *row)
{
	*(int *)ctx = row->val[0] ? (strcmp(row->val[0], "1") ? 0 : 1) : -1;
	return 0;
}

enum instance_status instance_claim(const struct db_config *cfg, unsigned instance, int wait_s,
                                    struct db **out)
{
	enum instance_status result = INSTANCE_UNCHECKED;
	struct db *db = NULL;
	*out = NULL;
	if (db_connect(cfg, &db)) {
		db = NULL;
		goto out;
	}
	/* The connection idles for the process's life: the server's
	 * wait_timeout (8 h by default) would close it and free the lock. */
	if (db_exec(db, "SET SESSION wait_timeout = 31536000", NULL, 0, NULL, NULL))
		goto out;
	struct db_value params[] = {DB_INT(instance), DB_INT(wait_s)};
	int got = -1; /* GET_LOCK: 1 taken, 0 timed out, NULL an error */
	if (db_query(db, "SELECT GET_LOCK(CONCAT('auditlog-auditor:', DATABASE(), ':', ?), ?)",
	             params, 2, lock_row, &got) ||
	    got < 0)
		goto out;
	if (!got) {
		result = INSTANCE_TAKEN;
		goto out;
	}
	result = INSTANCE_OK;
	*out = db;
	db = NULL;
out:
	db_close(db);
	return result;
}
