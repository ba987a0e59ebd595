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
