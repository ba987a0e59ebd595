/* Instants in queries: see timestamp.h. */
#include "timestamp.h"

#include <stdbool.h>
#include <stdio.h>

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms",
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Its inverse (civil_from_days). */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int y, unsigned m)
{
	static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n digits at s[*i]; returns -1 if they are not digits. */
static long digits(const char *s, size_t len, size_t *i, size_t n)
{
	long v = 0;
	if (*i + n > len)
		return -1;
	for (size_t k = 0; k < n; k++) {
		char c = s[*i + k];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*i += n;
	return v;
}

static bool expect(const char *s, size_t len, size_t *i, char a, char b)
{
	if (*i >= len || (s[*i] != a && s[*i] != b))
		return false;
	(*i)++;
	return true;
}

static int parse_millis(const char *s, size_t len, int64_t *ms)
{
	if (len == 0 || len > 15)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > TIMESTAMP_MAX)
		return -1;
	*ms = v;
	return 0;
}

int timestamp_parse(const char *s, size_t len, int64_t *ms)
{
	size_t i = 0;
	if (len < 20 || s[4] != '-')
		return parse_millis(s, len, ms);
	long y = digits(s, len, &i, 4), mo, d, h, mi, sec, frac = 0;
	if (y < 1970 || !expect(s, len, &i, '-', '-') || (mo = digits(s, len, &i, 2)) < 1 ||
	    mo > 12 || !expect(s, len, &i, '-', '-') || (d = digits(s, len, &i, 2)) < 1 ||
	    d > (long)days_in_month((int)y, (unsigned)mo) || !expect(s, len, &i, 'T', 't') ||
	    (h = digits(s, len, &i, 2)) < 0 || h > 23 || !expect(s, len, &i, ':', ':') ||
	    (mi = digits(s, len, &i, 2)) < 0 || mi > 59 || !expect(s, len, &i, ':', ':') ||
	    (sec = digits(s, len, &i, 2)) < 0 || sec > 60)
		return -1;
	if (i < len && s[i] == '.') {
		size_t start = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 9) {
			if (i - start < 3)
				frac = frac * 10 + (s[i] - '0');
			i++;
		}
		if (i == start || (i < len && s[i] >= '0' && s[i] <= '9'))
			return -1; /* no digit, or more than 9 */
		for (size_t k = i - start; k < 3; k++)
			frac *= 10;
	}
	long offset = 0; /* minutes east of UTC */
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i++] == '-' ? -1 : 1;
		long oh = digits(s, len, &i, 2), om;
		if (oh < 0 || oh > 23 || !expect(s, len, &i, ':', ':') ||
		    (om = digits(s, len, &i, 2)) < 0 || om > 59)
			return -1;
		offset = sign * (oh * 60 + om);
	} else {
		return -1;
	}
	if (i != len)
		return -1;
	int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
	            sec - offset * 60;
	int64_t v = t * 1000 + frac;
	if (t < 0 || v > TIMESTAMP_MAX)
		return -1;
	*ms = v;
	return 0;
}

/* ms clamped to [0, TIMESTAMP_MAX], split into its day (since the epoch)
 * and the civil date and time of day of it. */
struct civil {
	int64_t days;
	int y;
	unsigned m, d;
	int hour, min, sec, ms;
};

static struct civil civil_of(int64_t ms)
{
	struct civil c;
	if (ms < 0)
		ms = 0;
	if (ms > TIMESTAMP_MAX)
		ms = TIMESTAMP_MAX;
	c.days = ms / 86400000;
	int64_t rest = ms % 86400000;
	civil_from_days(c.days, &c.y, &c.m, &c.d);
	c.hour = (int)(rest / 3600000);
	c.min = (int)(rest / 60000 % 60);
	c.sec = (int)(rest / 1000 % 60);
	c.ms = (int)(rest % 1000);
	return c;
}

void timestamp_format(int64_t ms, char out[TIMESTAMP_TEXT_MAX])
{
	struct civil c = civil_of(ms);
	snprintf(out, TIMESTAMP_TEXT_MAX, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", c.y, c.m, c.d,
	         c.hour, c.min, c.sec, c.ms);
}

void timestamp_format_http(int64_t ms, char out[TIMESTAMP_TEXT_MAX])
{
	/* Day 0, 1970-01-01, was a Thursday. Names from RFC 9110, not from a
	 * locale. */
	static const char day_names[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct civil c = civil_of(ms);
	snprintf(out, TIMESTAMP_TEXT_MAX, "%s, %02u %s %04d %02d:%02d:%02d GMT",
	         day_names[c.days % 7], c.d, month_names[c.m - 1], c.y, c.hour, c.min, c.sec);
}
