#include "diff.h"

json_t *diff_changes(json_t *stored, json_t *patch)
{
	json_t *changes = NULL;
	const char *field;
	json_t *next;
	json_object_foreach(patch, field, next)
	{
		json_t *prev = json_object_get(stored, field);
		if (!prev)
			prev = json_null();
		if (json_equal(prev, next))
			continue;
		if (!changes && !(changes = json_object()))
			return NULL;
		json_object_set_new(changes, field, json_pack("{s:O, s:O}", "prev", prev, "next", next));
	}
	return changes;
}

static json_t *whole(json_t *attrs, int deleted)
{
	if (!json_object_size(attrs))
		return NULL;
	json_t *changes = json_object();
	const char *field;
	json_t *value;
	json_object_foreach(attrs, field, value)
	{
		json_t *c = deleted ? json_pack("{s:O, s:n}", "prev", value, "next")
		                    : json_pack("{s:n, s:O}", "prev", "next", value);
		if (!changes || json_object_set_new(changes, field, c)) {
			json_decref(changes);
			return NULL;
		}
	}
	return changes;
}

json_t *diff_created(json_t *attrs)
{
	return whole(attrs, 0);
}

json_t *diff_deleted(json_t *attrs)
{
	return whole(attrs, 1);
}
