"""GET /openapi.json on the API and the auditor: the document each serves
is the file docs/openapi/<daemon>.json byte for byte, without a token, with
the OpenAPI media type; and the harness's OpenAPI check of every answer
(harness.SchemaCheck) runs on the daemons' real answers and refuses one
that its document does not describe."""
import json
import os

import harness
from harness import SRC, SchemaError, Stack, http, run

MEDIA = "application/vnd.oai.openapi+json;version=3.1"


def test_each_daemon_serves_its_document():
    with Stack(daemons=("api", "auditor")) as s:
        for name in ("api", "auditor"):
            with open(os.path.join(SRC, "docs", "openapi", name + ".json"), "rb") as f:
                want = f.read()
            # No token, and any Accept: the document is public.
            for accept in (None, "application/json", harness.JSONAPI):
                status, hdrs, body = http("GET", s.url(name, "/openapi.json"), None,
                                          {"Accept": accept} if accept else {})
                assert status == 200, (name, status, body[:200])
                assert hdrs["content-type"] == MEDIA, hdrs
                assert body == want, f"{name}: the served document is not the file's bytes"
            doc = json.loads(body)
            assert doc["openapi"] == "3.1.0" and "/openapi.json" in doc["paths"], name
            status, hdrs, body = http("HEAD", s.url(name, "/openapi.json"))
            assert (status, body) == (200, b""), (status, body)
            assert int(hdrs["content-length"]) == len(want), hdrs
            status, _, _ = http("POST", s.url(name, "/openapi.json"), b"")
            assert status == 405, status


def test_real_answers_are_checked():
    """The check is on: answers of the daemons are sent to the validator,
    and an answer taken as it came but under a document that does not fit
    it (the auditor's page checked as if the API had answered it) is
    refused naming the operation."""
    with Stack(daemons=("api", "auditor")) as s:
        tok = s.token(1)
        before = len(harness.schema.cache)
        status, _, _ = s.auditor("GET", "/data-events?filter[actor]=users:1", token=tok)
        assert status == 200
        assert len(harness.schema.cache) > before, "the answer was not checked"
        url = s.url("auditor", "/checks")
        status, hdrs, body = http("GET", url, None, {"Authorization": "Bearer " + tok})
        assert status == 200, status
        # The same bytes, as if the API had answered GET /checks: the API
        # has no such path, so only a 404 would be documented.
        operation, errors = harness.schema.openapi_verdict("api", "GET", "/checks", status, hdrs,
                                                           body.decode())
        assert "no operation has this path" in operation, operation
        assert errors and "status 200 is not documented" in errors[0], errors
        # A verdict is turned into a failure naming the request.
        port = s.ports["auditor"]
        harness.schema.daemons[port] = "api"
        try:
            http("GET", url, None, {"Authorization": "Bearer " + tok})
        except SchemaError as e:
            assert "OpenAPI (docs/openapi/api.json): GET /checks answered 200" in str(e), e
            harness.schema.failures.remove(str(e))  # expected: not this test's failure
        else:
            raise AssertionError("an answer its document does not describe was accepted")
        finally:
            harness.schema.daemons[port] = "auditor"


if __name__ == "__main__":
    run([test_each_daemon_serves_its_document, test_real_answers_are_checked])
