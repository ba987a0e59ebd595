/* fuzz_webpath: a request path (up to the input's first NUL) through
 * webpath_resolve, as the web server maps it under its root; when the
 * input does not start with '/', "/" + input is resolved too.
 *
 * Invariants on success (webpath.h): the result fits cap with its NUL, is
 * non-empty and relative (no leading '/'), has no empty segment ("//", or a
 * trailing '/'), no segment starting with '.' (so no "." or ".."), no '\\',
 * no control character; and webpath_content_type gives a non-empty type.
 * Each path is resolved into a PATH_MAX buffer and into a 24-byte one, both
 * malloc'd at exactly cap bytes so ASan reports any write past them.
 *
 * ".." inside a segment ("a..b") is a legal file name under the contract
 * and is not flagged; ".." as a segment is (it starts with '.'). */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "webpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(const char *raw, const char *out, size_t cap)
{
	FUZZ_CHECK(fuzz_terminated(out, cap), "\"%s\": result unterminated", raw);
	size_t n = strlen(out);
	FUZZ_CHECK(n > 0, "\"%s\": empty result", raw);
	FUZZ_CHECK(out[0] != '/', "\"%s\" -> \"%s\": absolute", raw, out);
	FUZZ_CHECK(out[n - 1] != '/', "\"%s\" -> \"%s\": ends in '/'", raw, out);
	FUZZ_CHECK(!strstr(out, "//"), "\"%s\" -> \"%s\": empty segment", raw, out);
	FUZZ_CHECK(!strchr(out, '\\'), "\"%s\" -> \"%s\": backslash", raw, out);
	FUZZ_CHECK(fuzz_no_controls(out, n), "\"%s\" -> \"%s\": control character", raw, out);
	for (const char *seg = out; seg; seg = strchr(seg, '/')) {
		if (*seg == '/')
			seg++;
		FUZZ_CHECK(*seg != '.', "\"%s\" -> \"%s\": segment starting with '.'", raw, out);
	}
	const char *type = webpath_content_type(out);
	FUZZ_CHECK(type && type[0], "\"%s\": no content type", out);
}

static void resolve(const char *raw, size_t cap)
{
	char *out = malloc(cap);
	if (!out)
		abort();
	memset(out, 'X', cap);
	if (webpath_resolve(raw, out, cap) == 0)
		check_result(raw, out, cap);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *raw = fuzz_cstr(data, size);
	resolve(raw, PATH_MAX);
	resolve(raw, 24);
	if (raw[0] != '/') {
		size_t n = strlen(raw);
		char *slashed = malloc(n + 2);
		if (!slashed)
			abort();
		slashed[0] = '/';
		memcpy(slashed + 1, raw, n + 1);
		resolve(slashed, PATH_MAX);
		resolve(slashed, 24);
		free(slashed);
	}
	const char *type = webpath_content_type(raw);
	FUZZ_CHECK(type && type[0], "no content type for the raw input");
	free(raw);
	return 0;
}
