/* The audit emitter: turns what the data layer did into data events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The request's trace-id as ev's traceId (event.h). http.c makes only
 * valid ones; anything else leaves the event without. */
static void set_trace(struct event *ev, const struct data_ctx *ctx)
{
	if (ctx->trace_id && trace_id_valid(ctx->trace_id, strlen(ctx->trace_id)))
		memcpy(ev->trace_id, ctx->trace_id, TRACE_ID_HEX_LEN + 1);
}

void audit_viewed(const struct data_ctx *ctx, const char *type, const char *id, int64_t version)
{
	struct api *api = ctx->api;
	if (api->audit_off)
		return;
	metrics_inc(emitted[EVENT_VIEWED]);
	struct event ev;
	event_init(&ev, EVENT_VIEWED, ctx->actor.type, ctx->actor.id, type, id, NULL);
	ev.target_version = version;
	set_trace(&ev, ctx);
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

int audit_mutation(const struct data_ctx *ctx, struct db *db, enum event_action action,
                   const char *type, const char *id, int64_t version, json_t *changes)
{
	if (ctx->api->audit_off) {
		json_decref(changes);
		return DB_OK;
	}
	struct event ev;
	event_init(&ev, action, ctx->actor.type, ctx->actor.id, type, id, changes);
	ev.target_version = version;
	set_trace(&ev, ctx);
	int st = outbox(db, &ev);
	event_clear(&ev);
	return st;
}

/* Through the outbox, not the view spool: a security event must not be
 * lost, and the outbox commits it before the token leaves the process
 * (the spool may lose the last group on a crash). */
int audit_token_issued(const struct data_ctx *ctx, struct db *db, const char *user_id,
                       int64_t version)
{
	if (ctx->api->audit_off)
		return DB_OK;
	struct event ev;
	event_init(&ev, EVENT_VIEWED, "users", user_id, "users", user_id, NULL);
	ev.target_version = version;
	set_trace(&ev, ctx);
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
