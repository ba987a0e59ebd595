/* The audit emitter: turns what the data layer did into data events. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "publisher.h"

/* By action (enum event_action); and the events committed to the outbox. */
static struct metrics_counter *emitted[EVENT_DELETED + 1], *outboxed;

void audit_init(void)
{
	for (int a = EVENT_VIEWED; a <= EVENT_DELETED; a++)
		emitted[a] = metrics_counter(
		    "auditlog_emitted_events_total",
		    "Data events the API made, by action: a view when it is read (then spooled "
		    "or dropped), a mutation or a token issued when its transaction commits.",
		    "action", event_action_name((enum event_action)a), NULL);
	outboxed = metrics_counter("auditlog_outboxed_events_total",
	                           "Data events committed to the outbox with their change "
	                           "(mutations and tokens issued).",
	                           NULL);
}

void audit_viewed(struct api *api, const struct actor *actor, const char *type, const char *id,
                  int64_t version)
{
	if (api->audit_off)
		return;
	metrics_inc(emitted[EVENT_VIEWED]);
	struct event ev;
	event_init(&ev, EVENT_VIEWED, actor->type, actor->id, type, id, NULL);
	ev.target_version = version;
	char buf[EVENT_ENCODE_TO_MAX];
	size_t len = event_encode_to(&ev, buf, sizeof buf);
	if (len) {
		publisher_enqueue_view(api->publisher, ev.id, buf, len);
		return;
	}
	char *body = event_encode(&ev, &len);
	if (body)
		publisher_enqueue_view(api->publisher, ev.id, body, len);
	else
		log_error("out of memory encoding a view event");
	free(body);
}

/* Writes ev to the outbox in the caller's transaction. */
static int outbox(struct db *db, const struct event *ev)
{
	size_t len;
	char *body = event_encode(ev, &len);
	if (!body)
		return DB_ERR;
	struct db_value params[] = {DB_TEXT(ev->id), DB_TEXTN(body, len)};
	int st = db_exec(db, "INSERT INTO event_outbox (event_id, body) VALUES (?, ?)", params, 2,
	                 NULL, NULL);
	free(body);
	return st;
}

int audit_mutation(struct api *api, struct db *db, const struct actor *actor,
                   enum event_action action, const char *type, const char *id, int64_t version,
                   json_t *changes)
{
	if (api->audit_off) {
		json_decref(changes);
		return DB_OK;
	}
	struct event ev;
	event_init(&ev, action, actor->type, actor->id, type, id, changes);
	ev.target_version = version;
	int st = outbox(db, &ev);
	event_clear(&ev);
	return st;
}

/* Through the outbox, not the view spool: a security event must not be
 * lost, and the outbox commits it before the token leaves the process
 * (the spool may lose the last group on a crash). */
int audit_token_issued(struct api *api, struct db *db, const char *user_id, int64_t version)
{
	if (api->audit_off)
		return DB_OK;
	struct event ev;
	event_init(&ev, EVENT_VIEWED, "users", user_id, "users", user_id, NULL);
	ev.target_version = version;
	snprintf(ev.event_name, sizeof ev.event_name, "%s", AUDIT_TOKEN_ISSUED);
	int st = outbox(db, &ev);
	event_clear(&ev);
	return st;
}

void audit_committed(struct api *api, enum event_action action)
{
	if (api->audit_off)
		return;
	metrics_inc(emitted[action]);
	metrics_inc(outboxed);
	publisher_kick_outbox(api->publisher);
}
