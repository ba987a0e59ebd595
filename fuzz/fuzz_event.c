/* fuzz_event: an AMQP message body through event_decode_message, as the
 * auditor's consumer runs it on every delivery.
 *
 * Invariants checked (event.h):
 *  - a refused message (-1) has a reason and the callback never ran; an
 *    accepted one (0) ran it for indexes 0, 1, 2, ... in order;
 *  - a refused element comes with a non-empty reason and its JSON;
 *  - a decoded event satisfies the documented field rules (lowercase UUID,
 *    action in range, timestamp in (0, year 9999], bounded identifiers and
 *    references, printable eventName of at most EVENT_NAME_MAX bytes,
 *    changes present exactly for "changed" and shaped {f:{prev,next}});
 *  - round trip: event_encode of it decodes again with event_decode to an
 *    equal event (id, action, timestamp, actor/target, eventName, changes
 *    by json_equal).
 *
 * One case is left out of the round trip on purpose: event_decode refuses
 * any text over EVENT_MAX_BYTES, and event_encode can legitimately produce
 * more than the message held (reals are re-printed with %.17g, so "1e-7"
 * becomes "9.9999999999999995e-08"), and event_decode_message applies no
 * per-event size limit at all. See fuzz/README.md. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "event.h"
#include "fuzz_util.h"
#include "uuid.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	size_t calls;
	size_t stop_at; /* return non-zero at this index, to exercise the early stop */
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	json_object_seed(1);
	return 0;
}

static int printable(const char *s, size_t n)
{
	return fuzz_no_controls(s, n);
}

static void check_event(const struct event *ev)
{
	FUZZ_CHECK(uuid_valid(ev->id, strnlen(ev->id, sizeof ev->id)), "id \"%.*s\" invalid",
	           (int)sizeof ev->id, ev->id);
	FUZZ_CHECK(ev->action >= EVENT_VIEWED && ev->action <= EVENT_DELETED, "action %d",
	           (int)ev->action);
	FUZZ_CHECK(ev->timestamp > 0 && ev->timestamp <= 253402300799999LL, "timestamp %lld",
	           (long long)ev->timestamp);
	FUZZ_CHECK(fuzz_terminated(ev->actor_type, sizeof ev->actor_type) &&
	               event_type_valid(ev->actor_type, strlen(ev->actor_type)),
	           "actorType invalid");
	FUZZ_CHECK(fuzz_terminated(ev->target_type, sizeof ev->target_type) &&
	               event_type_valid(ev->target_type, strlen(ev->target_type)),
	           "targetType invalid");
	FUZZ_CHECK(fuzz_terminated(ev->actor_id, sizeof ev->actor_id) &&
	               event_ref_valid(ev->actor_id, strlen(ev->actor_id)),
	           "actorId invalid");
	FUZZ_CHECK(fuzz_terminated(ev->target_id, sizeof ev->target_id) &&
	               event_ref_valid(ev->target_id, strlen(ev->target_id)),
	           "targetId invalid");
	FUZZ_CHECK(fuzz_terminated(ev->event_name, sizeof ev->event_name) &&
	               printable(ev->event_name, strlen(ev->event_name)),
	           "eventName invalid");
	FUZZ_CHECK(ev->target_version >= 0 && ev->target_version <= EVENT_VERSION_MAX,
	           "targetVersion %lld", (long long)ev->target_version);
	FUZZ_CHECK(fuzz_terminated(ev->trace_id, sizeof ev->trace_id) &&
	               (!ev->trace_id[0] || trace_id_valid(ev->trace_id, strlen(ev->trace_id))),
	           "traceId \"%.40s\"", ev->trace_id);
	FUZZ_CHECK(ev->action != EVENT_CHANGED || ev->changes, "changed event without changes");
	FUZZ_CHECK(ev->action != EVENT_VIEWED || !ev->changes, "viewed event carries changes");
	if (ev->changes) {
		FUZZ_CHECK(json_is_object(ev->changes) && json_object_size(ev->changes) > 0,
		           "changes not a non-empty object");
		const char *field;
		json_t *c;
		json_object_foreach(ev->changes, field, c)
		{
			FUZZ_CHECK(event_field_valid(field, strlen(field)),
			           "change field name \"%s\" invalid", field);
			FUZZ_CHECK(json_is_object(c) && json_object_size(c) == 2 &&
			               json_object_get(c, "prev") && json_object_get(c, "next"),
			           "change \"%s\" is not {prev, next}", field);
			FUZZ_CHECK(ev->action != EVENT_CREATED || json_is_null(json_object_get(c, "prev")),
			           "created event with a prev value in \"%s\"", field);
			FUZZ_CHECK(ev->action != EVENT_DELETED || json_is_null(json_object_get(c, "next")),
			           "deleted event with a next value in \"%s\"", field);
		}
	}
}

static void round_trip(const struct event *ev)
{
	size_t len = 0;
	char *s = event_encode(ev, &len);
	FUZZ_CHECK(s != NULL, "event_encode failed");
	FUZZ_CHECK(len == strlen(s), "event_encode length %zu, strlen %zu", len, strlen(s));
	if (len > EVENT_MAX_BYTES) { /* refused by contract; see the comment at the top */
		free(s);
		return;
	}
	struct event back;
	char why[256] = "";
	int rc = event_decode(s, len, &back, why, sizeof why);
	FUZZ_CHECK(rc == 0, "re-encoded event refused: %s\n  encoding: %s", why, s);
	FUZZ_CHECK(!strcmp(back.id, ev->id), "id differs");
	FUZZ_CHECK(back.action == ev->action, "action differs");
	FUZZ_CHECK(back.timestamp == ev->timestamp, "timestamp differs");
	FUZZ_CHECK(!strcmp(back.actor_type, ev->actor_type), "actorType differs");
	FUZZ_CHECK(!strcmp(back.actor_id, ev->actor_id), "actorId differs");
	FUZZ_CHECK(!strcmp(back.target_type, ev->target_type), "targetType differs");
	FUZZ_CHECK(!strcmp(back.target_id, ev->target_id), "targetId differs");
	FUZZ_CHECK(!strcmp(back.event_name, ev->event_name), "eventName differs");
	FUZZ_CHECK(back.target_version == ev->target_version, "targetVersion differs");
	FUZZ_CHECK(!strcmp(back.trace_id, ev->trace_id), "traceId differs");
	FUZZ_CHECK((back.changes == NULL) == (ev->changes == NULL), "changes present/absent");
	FUZZ_CHECK(!ev->changes || json_equal(back.changes, ev->changes), "changes differ");
	event_clear(&back);
	free(s);
}

static int on_event(void *vctx, size_t index, struct event *ev, json_t *element, const char *why)
{
	struct ctx *ctx = vctx;
	FUZZ_CHECK(index == ctx->calls, "callback index %zu, expected %zu", index, ctx->calls);
	ctx->calls++;
	FUZZ_CHECK(element != NULL, "callback without the element's JSON");
	if (ev) {
		FUZZ_CHECK(why == NULL, "event decoded but a reason given");
		check_event(ev);
		round_trip(ev);
		event_clear(ev);
		FUZZ_CHECK(ev->changes == NULL, "event_clear left changes");
	} else {
		FUZZ_CHECK(why != NULL && why[0], "element refused without a reason");
	}
	return index == ctx->stop_at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1); /* exact size: reads past len are caught */
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	struct ctx ctx = {0, size % 7 == 0 ? (size / 7) % 5 : SIZE_MAX};
	char why[256];
	memset(why, 'X', sizeof why);
	/* The publisher's router reads any body it is given within its bounds. */
	const char *pt, *pi;
	size_t ptl, pil;
	if (event_target_peek(buf, size, &pt, &ptl, &pi, &pil))
		FUZZ_CHECK(pt >= buf && pt + ptl <= buf + size && pi >= buf && pi + pil <= buf + size &&
		               event_type_valid(pt, ptl) && event_ref_valid(pi, pil),
		           "a peeked target outside the body or not in the grammar");
	int rc = event_decode_message(buf, size, on_event, &ctx, why, sizeof why);
	if (rc == 0) {
		FUZZ_CHECK(ctx.calls >= 1 && ctx.calls <= EVENT_BATCH_MAX,
		           "message accepted with %zu callbacks", ctx.calls);
	} else {
		FUZZ_CHECK(rc == -1, "event_decode_message returned %d", rc);
		FUZZ_CHECK(ctx.calls == 0, "message refused after %zu callbacks", ctx.calls);
		FUZZ_CHECK(fuzz_terminated(why, sizeof why) && why[0], "refused without a reason");
	}
	free(buf);
	return 0;
}
