/* openapi: GET /openapi.json, the daemon's OpenAPI 3.1 description of
 * itself (docs/openapi/<daemon>.json).
 *
 * The document is embedded at build time: CMake (cmake/embed.cmake, the
 * auditlog_openapi() function of CMakeLists.txt) turns the JSON file into
 * a C source defining openapi_document, which each daemon links with this
 * module, so the binary serves it without reading any file at run time.
 * tests/integration/test_openapi.py checks that the served bytes are the
 * file's, and the harness validates every answer of the integration tests
 * against the document. */
#ifndef AUDITLOG_OPENAPI_H
#define AUDITLOG_OPENAPI_H

#include <stddef.h>

#include "http.h"

/* The media type registered for OpenAPI documents in JSON (IANA,
 * application/vnd.oai.openapi+json, with the specification's version). */
#define OPENAPI_MEDIA_TYPE "application/vnd.oai.openapi+json;version=3.1"

/* The document's bytes (openapi_document_len of them, then a NUL that is
 * not counted), defined by the generated source. */
extern const char openapi_document[];
extern const size_t openapi_document_len;

/* The handler of GET /openapi.json (no token needed): 200 with the
 * document, or 500 when out of memory. */
void openapi_get(struct http_request *req);

#endif
