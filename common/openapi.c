/* GET /openapi.json: the embedded document, as it is (openapi.h). */
#include <stdlib.h>
#include <string.h>

#include "openapi.h"

void openapi_get(struct http_request *req)
{
	/* http_reply_buffer frees what it sends: a copy of the document. */
	char *copy = malloc(openapi_document_len);
	if (!copy) {
		http_reply_error(req, 500, "Internal error", "Out of memory.");
		return;
	}
	memcpy(copy, openapi_document, openapi_document_len);
	http_reply_buffer(req, 200, OPENAPI_MEDIA_TYPE, copy, openapi_document_len);
}
