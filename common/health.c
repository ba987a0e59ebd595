/* health: the health+json document (health.h). */
#include "health.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "timestamp.h"

const char *health_status_name(enum health_status s)
{
	switch (s) {
	case HEALTH_PASS:
		return "pass";
	case HEALTH_WARN:
		return "warn";
	case HEALTH_FAIL:
		break;
	}
	return "fail";
}

void health_set(struct health_result *r, enum health_status s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->output, sizeof r->output, fmt, ap);
	va_end(ap);
	r->status = s;
}

void health_bound(struct health_result *r, double value, double max, const char *unit,
                  const char *what)
{
	r->has_value = true;
	r->value = value;
	r->unit = unit;
	if (max <= 0)
		return;
	if (value >= max)
		health_set(r, HEALTH_FAIL, "%s is %.0f %s, at or over its bound of %.0f", what, value,
		           unit, max);
	else if (value >= max / 2)
		health_set(r, HEALTH_WARN, "%s is %.0f %s, over half its bound of %.0f", what, value,
		           unit, max);
}

/* One check's result: an object of its name's entry (§4: an array, of one
 * object, or of one per instance). */
static json_t *entry(const struct health_check *c, const struct health_result *r,
                     const char *time)
{
	json_t *o = json_pack("{s:s, s:s}", "status", health_status_name(r->status), "time", time);
	if (!o)
		return NULL;
	if (r->component_id[0])
		json_object_set_new(o, "componentId", json_string(r->component_id));
	if (c->component_type)
		json_object_set_new(o, "componentType", json_string(c->component_type));
	if (r->has_value) {
		/* Counts as integers; a duration to the microsecond. */
		double v = r->value;
		json_object_set_new(o, "observedValue",
		                    v == (double)(long long)v ? json_integer((json_int_t)v)
		                                              : json_real(round(v * 1000) / 1000));
		if (r->unit)
			json_object_set_new(o, "observedUnit", json_string(r->unit));
	}
	if (r->output[0])
		json_object_set_new(o, "output", json_string(r->output));
	return o;
}

json_t *health_document(const struct health_check *checks, size_t n, int64_t now_ms,
                        unsigned *http_status)
{
	char time[TIMESTAMP_TEXT_MAX];
	timestamp_format(now_ms, time);
	enum health_status worst = HEALTH_PASS;
	json_t *doc = NULL, *all = json_object();
	if (!all)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct health_result r = {0};
		checks[i].fn(checks[i].arg, &r);
		if (r.status > worst)
			worst = r.status;
		json_t *a = json_object_get(all, checks[i].name); /* an earlier instance's */
		if (!a && (!(a = json_array()) || json_object_set_new(all, checks[i].name, a)))
			goto out;
		if (json_array_append_new(a, entry(&checks[i], &r, time)))
			goto out;
	}
	doc = json_pack("{s:s, s:O}", "status", health_status_name(worst), "checks", all);
	*http_status = worst == HEALTH_FAIL ? 503 : 200;
out:
	json_decref(all);
	return doc;
}
