#include "event.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jsonapi.h"

static const char *const action_names[] = {"viewed", "created", "changed", "deleted"};

const char *event_action_name(enum event_action action)
{
	return action_names[action];
}

int event_action_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, action_names[i]))
			return i;
	return -1;
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

void event_init(struct event *ev, enum event_action action, const char *actor_type,
                const char *actor_id, const char *target_type, const char *target_id,
                json_t *changes)
{
	ev->timestamp = uuid_v7(ev->id);
	ev->action = action;
	copy(ev->actor_type, sizeof ev->actor_type, actor_type);
	copy(ev->actor_id, sizeof ev->actor_id, actor_id);
	copy(ev->target_type, sizeof ev->target_type, target_type);
	copy(ev->target_id, sizeof ev->target_id, target_id);
	ev->event_name[0] = '\0';
	ev->target_version = 0;
	ev->trace_id[0] = '\0';
	ev->changes = changes;
}

void event_clear(struct event *ev)
{
	json_decref(ev->changes);
	ev->changes = NULL;
}

/* A writer into a fixed buffer that remembers running out of room (a
 * sticky flag, so a chain of writes is checked once). */
struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->cap - o->len < n + 1) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* s as a JSON string (RFC 8259 §7), escaped as jansson's json_dumps
 * escapes it; false when s holds a byte beyond ASCII (left to jansson,
 * which checks the UTF-8). */
static bool put_string(struct out *o, const char *s)
{
	put(o, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c >= 0x80)
			return false;
		if (c == '"' || c == '\\')
			esc[0] = '\\', esc[1] = (char)c, put(o, esc, 2);
		else if (c >= 0x20)
			put(o, s, 1);
		else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
			esc[0] = '\\',
			esc[1] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't',
			put(o, esc, 2);
		else
			put(o, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04X", c));
	}
	put(o, "\"", 1);
	return true;
}

static void put_member(struct out *o, const char *name)
{
	put(o, ",\"", o->len ? 2 : 1);
	put(o, name, strlen(name));
	put(o, "\":", 2);
}

static void put_int(struct out *o, long long v)
{
	char n[24];
	put(o, n, (size_t)snprintf(n, sizeof n, "%lld", v));
}

size_t event_encode_to(const struct event *ev, char *buf, size_t cap)
{
	if (ev->changes || cap == 0)
		return 0;
	struct out o = {buf, 0, cap, false};
	bool ascii = true;
	put(&o, "{", 1);
	put(&o, "\"id\":", 5);
	ascii &= put_string(&o, ev->id);
	put_member(&o, "action");
	ascii &= put_string(&o, event_action_name(ev->action));
	put_member(&o, "timestamp");
	put_int(&o, (long long)ev->timestamp);
	put_member(&o, "actorType");
	ascii &= put_string(&o, ev->actor_type);
	put_member(&o, "actorId");
	ascii &= put_string(&o, ev->actor_id);
	put_member(&o, "targetType");
	ascii &= put_string(&o, ev->target_type);
	put_member(&o, "targetId");
	ascii &= put_string(&o, ev->target_id);
	if (ev->event_name[0]) {
		put_member(&o, "eventName");
		ascii &= put_string(&o, ev->event_name);
	}
	if (ev->target_version > 0) {
		put_member(&o, "targetVersion");
		put_int(&o, (long long)ev->target_version);
	}
	if (ev->trace_id[0]) {
		put_member(&o, "traceId");
		ascii &= put_string(&o, ev->trace_id);
	}
	put(&o, "}", 1);
	if (!ascii || o.full)
		return 0;
	buf[o.len] = '\0';
	return o.len;
}

char *event_encode(const struct event *ev, size_t *len)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "id", ev->id, "action",
	                      event_action_name(ev->action), "timestamp",
	                      (json_int_t)ev->timestamp, "actorType", ev->actor_type,
	                      "actorId", ev->actor_id, "targetType", ev->target_type,
	                      "targetId", ev->target_id);
	if (!o)
		return NULL;
	if (ev->event_name[0])
		json_object_set_new(o, "eventName", json_string(ev->event_name));
	if (ev->target_version > 0)
		json_object_set_new(o, "targetVersion", json_integer(ev->target_version));
	if (ev->trace_id[0])
		json_object_set_new(o, "traceId", json_string(ev->trace_id));
	if (ev->changes)
		json_object_set(o, "changes", ev->changes);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s)
		*len = strlen(s);
	return s;
}

/* The string value of the first member named key (its quoted name and a
 * colon, no space: compact JSON) in body. */
static bool peek_string(const char *body, size_t len, const char *key, const char **val,
                        size_t *val_len)
{
	size_t klen = strlen(key);
	const char *end = body + len, *k = body;
	while ((k = memchr(k, key[0], (size_t)(end - k))) && (size_t)(end - k) > klen &&
	       memcmp(k, key, klen))
		k++;
	if (!k || (size_t)(end - k) <= klen)
		return false;
	const char *v = k + klen;
	const char *q = memchr(v, '"', (size_t)(end - v));
	if (!q)
		return false;
	*val = v;
	*val_len = (size_t)(q - v);
	return true;
}

bool event_target_peek(const char *body, size_t len, const char **type, size_t *type_len,
                       const char **id, size_t *id_len)
{
	/* Members before these (id, action, timestamp, actorType, actorId) hold
	 * no quote, so the first match is the event's own member. */
	return peek_string(body, len, "\"targetType\":\"", type, type_len) &&
	       event_type_valid(*type, *type_len) &&
	       peek_string(body, len, "\"targetId\":\"", id, id_len) && event_ref_valid(*id, *id_len);
}

/* "." and "..", which a path would read as dot-segments. */
static bool dots(const char *s, size_t len)
{
	return (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.');
}

static bool ascii_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool event_type_valid(const char *s, size_t len)
{
	if (len == 0 || len > EVENT_TYPE_MAX || dots(s, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!ascii_alnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

bool event_field_valid(const char *s, size_t len)
{
	return len <= EVENT_FIELD_MAX && event_type_valid(s, len);
}

/* Code points beyond ASCII that show as a space or as nothing: C1
 * controls, spaces, zero-width and bidirectional controls, fillers,
 * variation selectors, tags, noncharacters. */
static bool blank_beyond_ascii(uint32_t c)
{
	return c <= 0xa0 || c == 0xad || c == 0x34f || c == 0x61c || c == 0x115f || c == 0x1160 ||
	       c == 0x1680 || c == 0x17b4 || c == 0x17b5 || (c >= 0x180b && c <= 0x180f) ||
	       (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
	       (c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0x3164 ||
	       (c >= 0xfdd0 && c <= 0xfdef) || (c >= 0xfe00 && c <= 0xfe0f) || c == 0xfeff ||
	       c == 0xffa0 || (c >= 0xfff0 && c <= 0xfffb) || (c & 0xfffe) == 0xfffe ||
	       (c >= 0xe0000 && c <= 0xe0fff);
}

bool event_ref_valid(const char *s, size_t len)
{
	if (len == 0 || len > EVENT_REF_MAX || dots(s, len))
		return false;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		uint32_t c;
		size_t n = utf8_next(u + i, len - i, &c);
		if (n == 0)
			return false;
		bool ok = c < 0x80
		              ? c && (ascii_alnum((unsigned char)c) || strchr("-._~@+", (int)c))
		              : !blank_beyond_ascii(c);
		if (!ok)
			return false;
		i += n;
	}
	return true;
}

static bool printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int fail(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}

static int fail_too_big(char *why, size_t cap, size_t size)
{
	return fail(why, cap, "event is %zu bytes; the limit is %u", size, EVENT_MAX_BYTES);
}

static int get_string(json_t *o, const char *name, bool (*valid)(const char *, size_t),
                      const char *rule, char *dst, size_t cap, char *why, size_t why_len)
{
	json_t *v = json_object_get(o, name);
	if (!json_is_string(v))
		return fail(why, why_len, "\"%s\" must be a string", name);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (!valid(s, n) || n >= cap)
		return fail(why, why_len, "\"%s\" must be %s", name, rule);
	memcpy(dst, s, n + 1);
	return 0;
}

/* True when every integer inside v is within ±2^53: the log commits to
 * values in their canonical JSON (RFC 8785), which reads numbers as
 * doubles, so a larger integer would not be bound exactly (docs/ledger.md).
 * The parser bounds the depth. */
static bool integers_exact(const json_t *v)
{
	const json_int_t limit = 9007199254740992LL; /* 2^53 */
	size_t i;
	const char *k;
	json_t *x;
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		return json_integer_value(v) <= limit && json_integer_value(v) >= -limit;
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(v); i++)
			if (!integers_exact(json_array_get(v, i)))
				return false;
		return true;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, k, x)
		{
			if (!integers_exact(x))
				return false;
		}
		return true;
	default:
		return true;
	}
}

/* changes on an event of action a: a non-empty object of fields, each
 * {prev, next}; on created every prev is null, on deleted every next. */
static int check_changes(json_t *changes, enum event_action a, char *why, size_t why_len)
{
	if (!json_is_object(changes) || json_object_size(changes) == 0)
		return fail(why, why_len, "\"changes\" must be a non-empty object");
	const char *field;
	json_t *c;
	json_object_foreach(changes, field, c)
	{
		if (!event_field_valid(field, strlen(field)))
			return fail(why, why_len, "a field name in \"changes\" must be %s",
			            EVENT_TYPE_RULE);
		if (!strncmp(field, EVENT_RESERVED_FIELD_PREFIX, strlen(EVENT_RESERVED_FIELD_PREFIX)))
			return fail(why, why_len,
			            "field \"%.64s\": names that begin with \"" EVENT_RESERVED_FIELD_PREFIX
			            "\" are the auditor's own, for the parameters of a read it records",
			            field);
		if (!json_is_object(c) || json_object_size(c) != 2 || !json_object_get(c, "prev") ||
		    !json_object_get(c, "next"))
			return fail(why, why_len,
			            "change \"%.64s\" must be an object with exactly \"prev\" and "
			            "\"next\"",
			            field);
		if (a == EVENT_CREATED && !json_is_null(json_object_get(c, "prev")))
			return fail(why, why_len,
			            "change \"%.64s\" of a created event must have \"prev\": null "
			            "(it carries the initial value as \"next\")",
			            field);
		if (a == EVENT_DELETED && !json_is_null(json_object_get(c, "next")))
			return fail(why, why_len,
			            "change \"%.64s\" of a deleted event must have \"next\": null "
			            "(it carries the last value as \"prev\")",
			            field);
		if (!integers_exact(c))
			return fail(why, why_len,
			            "change \"%.64s\" holds an integer beyond 2^53, which the log cannot "
			            "commit to exactly (send it as a string)",
			            field);
	}
	return 0;
}

/* Why a message did not parse: not JSON, or JSON with a number beyond what
 * is read (jsonapi_parse_json's title says which). */
static int fail_unparsed(char *why, size_t why_len, const struct jsonapi_error *jerr)
{
	return fail(why, why_len, "%s: %s",
	            strcmp(jerr->title, JSONAPI_NUMBER_RANGE) ? "not JSON" : "JSON we cannot hold",
	            jerr->detail);
}

int event_decode(const char *buf, size_t len, struct event *ev, char *why, size_t why_len)
{
	ev->changes = NULL;
	if (len > EVENT_MAX_BYTES)
		return fail_too_big(why, why_len, len);
	if (len == 0)
		return fail(why, why_len, "empty message");
	struct jsonapi_error jerr;
	json_t *o = jsonapi_parse_json(buf, len, &jerr);
	if (!o)
		return fail_unparsed(why, why_len, &jerr);
	int rc = event_decode_json(o, ev, why, why_len);
	json_decref(o);
	return rc;
}

int event_decode_message(const char *buf, size_t len, event_fn fn, void *ctx, char *why,
                         size_t why_len)
{
	if (len > EVENT_MESSAGE_MAX_BYTES)
		return fail(why, why_len, "message is %zu bytes; the limit is %u", len,
		            EVENT_MESSAGE_MAX_BYTES);
	if (len == 0)
		return fail(why, why_len, "empty message");
	struct jsonapi_error jerr;
	json_t *o = jsonapi_parse_json(buf, len, &jerr);
	if (!o)
		return fail_unparsed(why, why_len, &jerr);
	int rc = -1;
	if (json_is_array(o) &&
	    (json_array_size(o) == 0 || json_array_size(o) > EVENT_BATCH_MAX)) {
		fail(why, why_len, "an array of events must hold 1 to %d of them", EVENT_BATCH_MAX);
		goto out;
	}
	if (!json_is_array(o) && !json_is_object(o)) {
		fail(why, why_len, "event must be a JSON object");
		goto out;
	}
	if (json_is_object(o) && len > EVENT_MAX_BYTES) {
		fail_too_big(why, why_len, len);
		goto out;
	}
	size_t n = json_is_array(o) ? json_array_size(o) : 1;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_is_array(o) ? json_array_get(o, i) : o;
		struct event ev;
		char reason[256];
		/* Only an array over the limit can hold an element over it. */
		size_t size = len > EVENT_MAX_BYTES ? json_dumpb(e, NULL, 0, JSON_COMPACT) : 0;
		int bad = size > EVENT_MAX_BYTES ? fail_too_big(reason, sizeof reason, size)
		                                 : event_decode_json(e, &ev, reason, sizeof reason);
		if (fn(ctx, i, bad ? NULL : &ev, e, bad ? reason : NULL))
			break;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

int event_decode_json(json_t *o, struct event *ev, char *why, size_t why_len)
{
	static const char *const members[] = {"id",      "action",        "timestamp", "actorType",
	                                      "actorId", "targetType",    "targetId",  "eventName",
	                                      "changes", "targetVersion", "traceId",   NULL};
	int rc = -1;
	ev->changes = NULL;
	if (!json_is_object(o))
		return fail(why, why_len, "event must be a JSON object");
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		size_t i = 0;
		while (members[i] && strcmp(members[i], key))
			i++;
		if (!members[i])
			return fail(why, why_len, "unknown member \"%.64s\"", key);
	}

	json_t *id = json_object_get(o, "id");
	if (!json_is_string(id) || !uuid_valid(json_string_value(id), json_string_length(id))) {
		fail(why, why_len, "\"id\" must be a lowercase UUID string");
		goto out;
	}
	memcpy(ev->id, json_string_value(id), UUID_STR_LEN + 1);

	json_t *action = json_object_get(o, "action");
	int a = json_is_string(action) ? event_action_parse(json_string_value(action)) : -1;
	if (a < 0) {
		fail(why, why_len, "\"action\" must be one of viewed, created, changed, deleted");
		goto out;
	}
	ev->action = (enum event_action)a;

	json_t *ts = json_object_get(o, "timestamp");
	/* Up to year 9999 in milliseconds; a timestamp in seconds still passes,
	 * but nothing negative or absurd does. */
	if (!json_is_integer(ts) || json_integer_value(ts) <= 0 ||
	    json_integer_value(ts) > 253402300799999LL) {
		fail(why, why_len, "\"timestamp\" must be a positive integer of milliseconds");
		goto out;
	}
	ev->timestamp = json_integer_value(ts);

	if (get_string(o, "actorType", event_type_valid, EVENT_TYPE_RULE, ev->actor_type,
	               sizeof ev->actor_type, why, why_len) ||
	    get_string(o, "actorId", event_ref_valid, EVENT_REF_RULE, ev->actor_id,
	               sizeof ev->actor_id, why, why_len) ||
	    get_string(o, "targetType", event_type_valid, EVENT_TYPE_RULE, ev->target_type,
	               sizeof ev->target_type, why, why_len) ||
	    get_string(o, "targetId", event_ref_valid, EVENT_REF_RULE, ev->target_id,
	               sizeof ev->target_id, why, why_len))
		goto out;

	json_t *name = json_object_get(o, "eventName");
	ev->event_name[0] = '\0';
	if (name && !json_is_null(name)) {
		if (!json_is_string(name) || json_string_length(name) == 0 ||
		    json_string_length(name) > EVENT_NAME_MAX ||
		    !printable(json_string_value(name), json_string_length(name))) {
			fail(why, why_len, "\"eventName\" must be a string of 1 to %d bytes",
			     EVENT_NAME_MAX);
			goto out;
		}
		memcpy(ev->event_name, json_string_value(name), json_string_length(name) + 1);
	}

	json_t *version = json_object_get(o, "targetVersion");
	ev->target_version = 0;
	if (version && !json_is_null(version)) {
		if (!json_is_integer(version) || json_integer_value(version) < 1 ||
		    json_integer_value(version) > EVENT_VERSION_MAX) {
			fail(why, why_len, "\"targetVersion\" must be an integer from 1 to 2^53");
			goto out;
		}
		ev->target_version = json_integer_value(version);
	}

	/* Absent from older producers' events; when present, a W3C trace-id. */
	json_t *trace = json_object_get(o, "traceId");
	ev->trace_id[0] = '\0';
	if (trace) {
		if (!json_is_string(trace) ||
		    !trace_id_valid(json_string_value(trace), json_string_length(trace))) {
			fail(why, why_len,
			     "\"traceId\" must be a W3C trace-id: 32 lowercase hex digits, not all "
			     "zero");
			goto out;
		}
		memcpy(ev->trace_id, json_string_value(trace), TRACE_ID_HEX_LEN + 1);
	}

	/* A changed event says what changed; created and deleted may carry the
	 * initial and the last values; a view changes nothing. */
	json_t *changes = json_object_get(o, "changes");
	if (ev->action == EVENT_VIEWED) {
		if (changes && !json_is_null(changes)) {
			fail(why, why_len, "\"changes\" is not allowed on viewed events");
			goto out;
		}
	} else if (ev->action == EVENT_CHANGED || (changes && !json_is_null(changes))) {
		if (check_changes(changes, ev->action, why, why_len))
			goto out;
		ev->changes = json_incref(changes);
	}
	rc = 0;
out:
	return rc;
}
