#include <stdbool.h>

#include "mediatype.h"
#include "testhelp.h"

#define J "application/vnd.api+json"

enum header { CONTENT_TYPE, ACCEPT };

static const struct {
	enum header header;
	const char *value;
	enum mediatype_verdict want;
} cases[] = {
    /* Content-Type: profiles are ignored, an empty ext names nothing. */
    {CONTENT_TYPE, J, MEDIATYPE_OK},
    {CONTENT_TYPE, "Application/VND.API+JSON", MEDIATYPE_OK},
    {CONTENT_TYPE, J ";", MEDIATYPE_OK},
    {CONTENT_TYPE, J " ; ", MEDIATYPE_OK},
    {CONTENT_TYPE, J "; profile=x", MEDIATYPE_OK},
    {CONTENT_TYPE, J "; profile=\"https://example.com/a https://example.com/b\"", MEDIATYPE_OK},
    {CONTENT_TYPE, J ";PROFILE=\"a\";profile=b", MEDIATYPE_OK},
    {CONTENT_TYPE, J "; ext=\"\"", MEDIATYPE_OK},
    {CONTENT_TYPE, J "; ext=\"  \"", MEDIATYPE_OK},
    {CONTENT_TYPE, J "; profile=\"with \\\" quote, and comma\"", MEDIATYPE_OK},
    /* Not the JSON:API media type at all. */
    {CONTENT_TYPE, NULL, MEDIATYPE_OTHER},
    {CONTENT_TYPE, "", MEDIATYPE_OTHER},
    {CONTENT_TYPE, "application/json", MEDIATYPE_OTHER},
    {CONTENT_TYPE, "text/plain", MEDIATYPE_OTHER},
    {CONTENT_TYPE, "*/*", MEDIATYPE_OTHER},
    {CONTENT_TYPE, "application", MEDIATYPE_OTHER},
    {CONTENT_TYPE, "application/", MEDIATYPE_OTHER},
    {CONTENT_TYPE, "/vnd.api+json", MEDIATYPE_OTHER},
    {CONTENT_TYPE, "application/vnd.api+jsonx", MEDIATYPE_OTHER},
    {CONTENT_TYPE, " ;" J, MEDIATYPE_OTHER},
    /* Other parameters, and malformed ones. */
    {CONTENT_TYPE, J "; charset=utf-8", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J "; q=1", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J "; version=1.1", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J "; profile", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J "; profile=", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J "; profile=\"x", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J "; profile=\"x\\", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J " x", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J ", " J, MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J "; =x", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J "; profile=a b", MEDIATYPE_PARAMETER},
    {CONTENT_TYPE, J "; ext=\"a\"; charset=x", MEDIATYPE_PARAMETER},
    /* Extensions: we support none. */
    {CONTENT_TYPE, J "; ext=\"https://jsonapi.org/ext/atomic\"", MEDIATYPE_EXTENSION},
    {CONTENT_TYPE, J "; ext=x; profile=y", MEDIATYPE_EXTENSION},

    /* Accept: fine when no instance names JSON:API, or one is usable. */
    {ACCEPT, NULL, MEDIATYPE_OK},
    {ACCEPT, "", MEDIATYPE_OK},
    {ACCEPT, "*/*", MEDIATYPE_OK},
    {ACCEPT, "application/json", MEDIATYPE_OK},
    {ACCEPT, "application/*", MEDIATYPE_OK},
    {ACCEPT, "text/html, */*;q=0.1", MEDIATYPE_OK},
    {ACCEPT, J, MEDIATYPE_OK},
    {ACCEPT, J "; profile=\"a,b\"", MEDIATYPE_OK},
    {ACCEPT, J "; ext=\"\"", MEDIATYPE_OK},
    {ACCEPT, J "; q=0.5", MEDIATYPE_OK},
    {ACCEPT, J ";q=1;charset=x", MEDIATYPE_OK}, /* after q: accept extensions */
    {ACCEPT, J "; charset=x, " J, MEDIATYPE_OK},
    {ACCEPT, J "; ext=\"https://x\", " J "; profile=p", MEDIATYPE_OK},
    {ACCEPT, ",, " J " ,", MEDIATYPE_OK},
    {ACCEPT, "garbage, " J, MEDIATYPE_OK},
    {ACCEPT, J "; q=0, " J "; q=0.1", MEDIATYPE_OK},
    {ACCEPT, J ";;profile=x", MEDIATYPE_OK},
    /* Every instance unusable for its parameters, or q=0. */
    {ACCEPT, J "; charset=utf-8", MEDIATYPE_PARAMETER},
    {ACCEPT, J "; q=0", MEDIATYPE_PARAMETER},
    {ACCEPT, J "; q=0.000", MEDIATYPE_PARAMETER},
    {ACCEPT, J "; profile=\"x", MEDIATYPE_PARAMETER},
    {ACCEPT, J "; version=1, " J "; charset=x", MEDIATYPE_PARAMETER},
    {ACCEPT, J "; profile=p; charset=x", MEDIATYPE_PARAMETER},
    {ACCEPT, "*/*, " J "; charset=x", MEDIATYPE_PARAMETER},
    {ACCEPT, J " junk", MEDIATYPE_PARAMETER},
    /* ... or for extensions we do not support. */
    {ACCEPT, J "; ext=\"https://jsonapi.org/ext/atomic\"", MEDIATYPE_EXTENSION},
    {ACCEPT, J "; version=1, " J "; ext=\"https://x\"", MEDIATYPE_EXTENSION},
    {ACCEPT, J "; ext=a, " J "; ext=\"b c\"", MEDIATYPE_EXTENSION},
};

/* Content negotiation among what /data-events offers. */
static const char *const offers[] = {"application/vnd.api+json", "application/x-ndjson",
                                     "text/csv"};
static const struct {
	const char *accept;
	int want;
} prefer[] = {
    {NULL, 0},
    {"", 0},
    {"*/*", 0},
    {"text/csv", 2},
    {"TEXT/CSV", 2},
    {"application/x-ndjson", 1},
    {"text/*", 2},
    {"text/html", -1},
    {"text/html, */*;q=0.1", 0},
    {"application/json", -1},
    {"text/csv;q=0.5, application/x-ndjson;q=0.8", 1},
    {"text/csv;q=1, application/x-ndjson;q=1.0", 1},  /* a tie: the earlier offer */
    {"application/*;q=0.2, text/csv;q=0.3", 2},
    {"*/*;q=0.9, application/vnd.api+json;q=0", 1},  /* JSON:API refused, any other */
    {"text/csv;q=0", -1},
    {"text/csv;q=0.000, */*", 0},                     /* the specific range rules csv out */
    {"text/csv;q=2", -1},                             /* malformed weight */
    {"text/csv;q=0.1234", -1},
    {"text/csv;charset=utf-8", 2},                    /* another type's parameters: ignored */
    {"text/csv; charset=utf-8; header=present", 2},   /* the server's own Content-Type */
    {"application/x-ndjson; charset=utf-8", 1},
    {"application/vnd.api+json;charset=x, text/csv;q=0.1", 2}, /* JSON:API's: name nothing */
    {"application/vnd.api+json;ext=x, text/csv;q=0.1", 2},
    {"application/vnd.api+json;profile=x", 0},
    {",,, text/csv ,", 2},
    {"text/", -1},
    {"*/csv", -1},
};

int main(void)
{
	for (size_t i = 0; i < sizeof prefer / sizeof prefer[0]; i++) {
		int got = mediatype_prefer(prefer[i].accept, offers, 3);
		if (got != prefer[i].want)
			fprintf(stderr, "prefer %zu: %s\n", i, prefer[i].accept ? prefer[i].accept : "(null)");
		CHECK_INT(got, prefer[i].want);
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum mediatype_verdict got = cases[i].header == ACCEPT
		                                 ? mediatype_accept(cases[i].value)
		                                 : mediatype_content_type(cases[i].value);
		if (got != cases[i].want)
			fprintf(stderr, "case %zu: %s\n", i, cases[i].value ? cases[i].value : "(null)");
		CHECK_INT(got, cases[i].want);
	}
	return test_report("mediatype");
}
