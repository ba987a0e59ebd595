/* fuzz_mediatype: a header value (up to the input's first NUL) through
 * mediatype_content_type and mediatype_accept, as the HTTP server checks a
 * request's Content-Type and Accept before authentication.
 *
 * Invariants (mediatype.h): the verdicts are in range; Content-Type gives
 * OTHER and Accept gives OK for a value that never names application/
 * vnd.api+json; a value that Content-Type accepts is also an acceptable
 * Accept (it has no parameter but profiles and an empty ext); content
 * negotiation (mediatype_prefer) picks an offer or none, and the first
 * for an empty value. */
#include <stdint.h>
#include <strings.h>

#include "fuzz_util.h"
#include "mediatype.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int names_jsonapi(const char *s)
{
	for (; *s; s++)
		if (!strncasecmp(s, "vnd.api+json", 12))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_cstr(data, size);
	enum mediatype_verdict ct = mediatype_content_type(value);
	enum mediatype_verdict accept = mediatype_accept(value);
	FUZZ_CHECK(ct <= MEDIATYPE_EXTENSION && accept <= MEDIATYPE_EXTENSION, "\"%s\": %d %d",
	           value, (int)ct, (int)accept);
	FUZZ_CHECK(accept != MEDIATYPE_OTHER, "\"%s\": Accept said OTHER", value);
	if (!names_jsonapi(value))
		FUZZ_CHECK(ct == MEDIATYPE_OTHER && accept == MEDIATYPE_OK,
		           "\"%s\" names no JSON:API type: %d %d", value, (int)ct, (int)accept);
	if (ct == MEDIATYPE_OK)
		FUZZ_CHECK(accept == MEDIATYPE_OK, "\"%s\": a fine Content-Type, a refused Accept",
		           value);
	static const char *const offers[] = {"application/vnd.api+json", "application/x-ndjson",
	                                     "text/csv"};
	int best = mediatype_prefer(value, offers, 3);
	FUZZ_CHECK(best >= -1 && best < 3, "\"%s\": prefer gave %d", value, best);
	if (!*value)
		FUZZ_CHECK(best == 0, "an empty Accept prefers %d", best);
	free(value);
	return 0;
}
