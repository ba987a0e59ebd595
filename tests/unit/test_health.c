/* health: the health+json document (draft-inadarei-api-health-check-06):
 * the worst check decides the status and the HTTP status, each check is
 * an array of one object with its value, unit and output. */
#include "health.h"
#include "testhelp.h"

static void fixed(void *arg, struct health_result *out)
{
	*out = *(const struct health_result *)arg;
}

static json_t *check_of(json_t *doc, const char *name)
{
	json_t *a = json_object_get(json_object_get(doc, "checks"), name);
	return json_is_array(a) && json_array_size(a) == 1 ? json_array_get(a, 0) : NULL;
}

int main(void)
{
	struct health_result pass = {0}, warn = {0}, fail = {0}, timed = {0};
	health_bound(&pass, 3, 100, "events", "the backlog");
	health_bound(&warn, 50, 100, "events", "the backlog");
	health_bound(&fail, 100, 100, "bytes", "the spool");
	timed.has_value = true;
	timed.value = 0.2781234;
	timed.unit = "ms";
	CHECK_INT(pass.status, HEALTH_PASS);
	CHECK_STR(pass.output, "");
	CHECK_INT(warn.status, HEALTH_WARN);
	CHECK_INT(fail.status, HEALTH_FAIL);
	CHECK_STR(fail.output, "the spool is 100 bytes, at or over its bound of 100");
	struct health_result unbounded = {0};
	health_bound(&unbounded, 1e12, 0, "bytes", "the spool");
	CHECK_INT(unbounded.status, HEALTH_PASS);

	unsigned status = 0;
	struct health_check all_pass[] = {{"a:x", "datastore", fixed, &pass},
	                                  {"b:y", NULL, fixed, &timed}};
	json_t *doc = health_document(all_pass, 2, 0, &status);
	CHECK(doc != NULL);
	CHECK_INT(status, 200);
	CHECK_STR(json_string_value(json_object_get(doc, "status")), "pass");
	json_t *a = check_of(doc, "a:x");
	CHECK(a != NULL);
	CHECK_STR(json_string_value(json_object_get(a, "componentType")), "datastore");
	CHECK(json_is_integer(json_object_get(a, "observedValue"))); /* a count: an integer */
	CHECK_INT(json_integer_value(json_object_get(a, "observedValue")), 3);
	CHECK_STR(json_string_value(json_object_get(a, "observedUnit")), "events");
	CHECK_STR(json_string_value(json_object_get(a, "time")), "1970-01-01T00:00:00.000Z");
	CHECK(json_object_get(a, "output") == NULL);
	json_t *b = check_of(doc, "b:y");
	CHECK(b != NULL && json_object_get(b, "componentType") == NULL);
	CHECK(json_real_value(json_object_get(b, "observedValue")) == 0.278); /* to the µs */
	json_decref(doc);

	struct health_check mixed[] = {{"a:x", NULL, fixed, &pass}, {"w:w", NULL, fixed, &warn}};
	doc = health_document(mixed, 2, 0, &status);
	CHECK_INT(status, 200); /* warn is still ready */
	CHECK_STR(json_string_value(json_object_get(doc, "status")), "warn");
	CHECK_STR(json_string_value(json_object_get(check_of(doc, "w:w"), "status")), "warn");
	CHECK(json_is_string(json_object_get(check_of(doc, "w:w"), "output")));
	json_decref(doc);

	struct health_check failing[] = {
	    {"w:w", NULL, fixed, &warn}, {"f:f", NULL, fixed, &fail}, {"a:x", NULL, fixed, &pass}};
	doc = health_document(failing, 3, 0, &status);
	CHECK_INT(status, 503);
	CHECK_STR(json_string_value(json_object_get(doc, "status")), "fail");
	CHECK_INT(json_object_size(json_object_get(doc, "checks")), 3);
	json_decref(doc);

	doc = health_document(NULL, 0, 0, &status);
	CHECK_INT(status, 200);
	CHECK_STR(json_string_value(json_object_get(doc, "status")), "pass");
	json_decref(doc);
	return test_report("health");
}
