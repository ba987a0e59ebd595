#include "diff.h"
#include "testhelp.h"

int main(void)
{
	json_t *stored = json_pack("{s:s, s:s, s:b}", "name", "Jim", "email", "j@x.io", "agreedTos", 1);

	/* Nothing differs: no changes at all. */
	json_t *same = json_pack("{s:s, s:b}", "name", "Jim", "agreedTos", 1);
	CHECK(diff_changes(stored, same) == NULL);

	/* Only the fields whose value differs, with prev and next. */
	json_t *patch = json_pack("{s:s, s:s, s:b}", "name", "Jim", "email", "k@x.io", "agreedTos", 0);
	json_t *c = diff_changes(stored, patch);
	CHECK(c != NULL);
	CHECK_INT(json_object_size(c), 2);
	CHECK(json_object_get(c, "name") == NULL);
	CHECK_STR(json_string_value(json_object_get(json_object_get(c, "email"), "prev")), "j@x.io");
	CHECK_STR(json_string_value(json_object_get(json_object_get(c, "email"), "next")), "k@x.io");
	CHECK(json_is_true(json_object_get(json_object_get(c, "agreedTos"), "prev")));
	CHECK(json_is_false(json_object_get(json_object_get(c, "agreedTos"), "next")));

	/* A field that was absent counts as null. */
	json_t *added = json_pack("{s:s}", "nickname", "J");
	json_t *c2 = diff_changes(stored, added);
	CHECK(c2 && json_is_null(json_object_get(json_object_get(c2, "nickname"), "prev")));

	/* Same text but different type is a change. */
	json_t *typed = json_pack("{s:i}", "agreedTos", 1);
	json_t *c3 = diff_changes(stored, typed);
	CHECK(c3 != NULL);

	json_decref(stored);
	json_decref(same);
	json_decref(patch);
	json_decref(c);
	json_decref(added);
	json_decref(c2);
	json_decref(typed);
	json_decref(c3);
	return test_report("diff");
}
