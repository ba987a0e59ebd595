/* The audit emitter: turns what the data layer did into data events. */
#include <stdlib.h>

#include "api.h"
#include "log.h"
#include "publisher.h"

void audit_viewed(struct api *api, const struct actor *actor, const char *type, const char *id)
{
	if (api->audit_off)
		return;
	struct event ev;
	event_init(&ev, EVENT_VIEWED, actor->type, actor->id, type, id, NULL);
	size_t len;
	char *body = event_encode(&ev, &len);
	if (body)
		publisher_enqueue_view(api->publisher, ev.id, body, len);
	else
		log_error("out of memory encoding a view event");
}

int audit_mutation(struct api *api, struct db *db, const struct actor *actor,
                   enum event_action action, const char *type, const char *id, json_t *changes)
{
	if (api->audit_off) {
		json_decref(changes);
		return DB_OK;
	}
	struct event ev;
	event_init(&ev, action, actor->type, actor->id, type, id, changes);
	size_t len;
	char *body = event_encode(&ev, &len);
	event_clear(&ev);
	if (!body)
		return DB_ERR;
	struct db_value params[] = {DB_TEXT(ev.id), DB_TEXTN(body, len)};
	int st = db_exec(db, "INSERT INTO event_outbox (event_id, body) VALUES (?, ?)", params, 2,
	                 NULL, NULL);
	free(body);
	return st;
}

void audit_committed(struct api *api)
{
	publisher_kick_outbox(api->publisher);
}
