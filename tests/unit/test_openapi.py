"""The OpenAPI documents (docs/openapi/) against the code they describe, with
no daemon: each is valid against the official OpenAPI 3.1 schema and every
schema in it compiles (tests/tools/openapi_validate.mjs); the operations of
each equal the route table of its daemon's main.c, row for row (method, path,
whether it needs a token, whether it takes a body and of which kind, and the
query parameters of its row's list); the definitions both documents hold
are the same; and the validator refuses answers it must refuse.

    python3 test_openapi.py NODE
"""
import json
import os
import re
import subprocess
import sys

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TOOLS = os.path.join(SRC, "tests", "tools")
VALIDATE = os.path.join(TOOLS, "openapi_validate.mjs")
NODE = sys.argv[1] if len(sys.argv) > 1 else "node"
DAEMONS = {"api": "services/api/main.c", "auditor": "services/auditor/main.c"}
# Operations http.c answers before any route table is read (common/http.c
# serve_metrics): documented, but in no main.c.
BEFORE_ROUTING = {("GET", "/metrics")}

ROW = re.compile(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*([^,]+?)\s*,\s*(\w+)\s*\}')


def c_string_arrays(src):
    """name -> [strings] of every `static const char *const name[] = {...};`."""
    out = {}
    for m in re.finditer(r"static const char \*const (\w+)\[\]\s*=\s*\{(.*?)\};", src, re.S):
        out[m.group(1)] = re.findall(r'"([^"]*)"', m.group(2))
    return out


def route_table(path):
    """The rows of `routes[]` in a daemon's main.c: (method, OpenAPI path,
    flags set, query parameter names or None for HTTP_PARAMS_ANY)."""
    with open(os.path.join(SRC, path)) as f:
        src = f.read()
    arrays = c_string_arrays(src)
    body = re.search(r"static const struct http_route routes\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert body, f"{path}: no routes[] table found"
    table = re.sub(r"/\*.*?\*/", "", body.group(1), flags=re.S)
    rows = ROW.findall(table)
    # Every row must have been understood: a row this parser misses would
    # go unchecked.
    assert len(rows) == table.count('{"'), (path, len(rows), table.count('{"'), table)
    out = []
    for method, pattern, _handler, flags, params in rows:
        flags = {f.strip() for f in flags.split("|")} - {"0"}
        openapi_path = re.sub(r":(\w+)", r"{\1}", pattern)
        if params in ("NULL", "HTTP_PARAMS_IGNORED"):
            names = []  # IGNORED: no query is read, so none is documented
        elif params == "HTTP_PARAMS_ANY":
            names = None
        else:
            assert params in arrays, (path, params)
            names = sorted(arrays[params])
        out.append((method, openapi_path, flags, names))
    return out


def node(*args, stdin=None):
    return subprocess.run([NODE, VALIDATE, *args], cwd=TOOLS, input=stdin,
                          capture_output=True, text=True, timeout=120)


def document(name):
    return os.path.join(SRC, "docs", "openapi", name + ".json")


def test_documents_are_valid_openapi():
    r = node(document("api"), document("auditor"))
    assert r.returncode == 0, r.stdout + r.stderr
    print(r.stdout, end="")


def test_operations_equal_the_route_tables():
    for name, main in DAEMONS.items():
        r = node("--operations", document(name))
        assert r.returncode == 0, r.stderr
        ops = {(o["method"], o["path"]): o for o in json.loads(r.stdout)
               if (o["method"], o["path"]) not in BEFORE_ROUTING}
        rows = {(m, p): (flags, params) for m, p, flags, params in route_table(main)}
        missing = sorted(set(rows) - set(ops))
        extra = sorted(set(ops) - set(rows))
        assert not missing, f"{main} routes that docs/openapi/{name}.json lacks: {missing}"
        assert not extra, f"docs/openapi/{name}.json operations no route of {main} has: {extra}"
        for key, (flags, params) in rows.items():
            o = ops[key]
            where = f"{key[0]} {key[1]} ({main} vs docs/openapi/{name}.json)"
            assert o["auth"] == ("HTTP_AUTH" in flags), f"{where}: security vs HTTP_AUTH"
            assert o["body"] == ("HTTP_BODY" in flags), f"{where}: requestBody vs HTTP_BODY"
            assert o["form"] == ("HTTP_FORM" in flags), f"{where}: form body vs HTTP_FORM"
            # A route that leaves its parameters to its handler
            # (HTTP_PARAMS_ANY) passes them on: its handler's are documented.
            if params is not None:
                assert o["query"] == params, f"{where}: query parameters {o['query']} vs {params}"
        print(f"ok   {name}: {len(rows)} routes, each an operation")


def test_shared_definitions_are_the_same():
    """The API relays the auditor's answers (/logs/...): the definitions
    both documents hold must not drift apart."""
    with open(document("api")) as f:
        api = json.load(f)
    with open(document("auditor")) as f:
        auditor = json.load(f)
    shared = 0
    for kind in ("schemas", "parameters", "responses", "securitySchemes"):
        a, b = api["components"][kind], auditor["components"][kind]
        for key in set(a) & set(b):
            assert a[key] == b[key], f"components/{kind}/{key} differs between the documents"
            shared += 1
    assert api["x-unrouted"] == auditor["x-unrouted"]
    assert shared > 30, shared


def answer(method, path, status, ctype, body, headers=None):
    h = {"content-type": ctype} if ctype else {}
    h.update(headers or {})
    return json.dumps({"openapi": document("api"), "method": method, "path": path,
                       "status": status, "contentType": ctype, "headers": h,
                       "body": body if isinstance(body, str) else json.dumps(body)})


def test_the_validator_refuses_what_it_must():
    """checkAnswer's verdicts through the harness's own protocol
    (jsonapi_validate.mjs --serve)."""
    J = "application/vnd.api+json"
    user = {"data": {"type": "users", "id": "1", "attributes": {
        "name": "Ann", "email": "a@b.c", "agreedTos": True}}, "jsonapi": {"version": "1.1"}}
    err404 = {"errors": [{"status": "404", "title": "Not found", "detail": "x"}],
              "jsonapi": {"version": "1.1"}}
    event = {"type": "data-events", "id": "01890a5d-ac96-774b-bcce-b302099a8057",
             "attributes": {"action": "viewed", "timestamp": 1, "actorType": "users",
                            "actorId": "1", "targetType": "users", "targetId": "1",
                            "eventName": None, "log": 0, "seq": 0, "targetVersion": None,
                            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736"}}
    cases = [
        # (answer, None if valid, else a fragment its errors must hold)
        (answer("GET", "/api/users/1", 200, J, user), None),
        # A large export: each line is checked, none of it by a regular
        # expression over the whole body (which overflowed V8's stack).
        (answer("GET", "/logs/data-events", 200, "application/x-ndjson",
                (json.dumps(event) + "\n") * 30000), None),
        (answer("HEAD", "/api/users/1", 200, J, ""), None),
        (answer("GET", "/api/users/7", 404, J, err404), None),
        (answer("GET", "/nowhere", 404, J, err404), None),
        (answer("OPTIONS", "/api/users/1", 204, "", "", {
            "access-control-allow-methods": "GET", "access-control-allow-headers": "x"}), None),
        (answer("GET", "/api/users/1", 200, J, {**user, "data": {**user["data"], "attributes": {
            "name": "Ann", "email": "a@b.c", "agreedTos": True, "extra": 1}}}), '"extra"'),
        (answer("GET", "/api/users/1", 200, J, {**user, "data": {**user["data"], "attributes": {
            "name": "Ann", "email": "a@b.c"}}}), "agreedTos"),
        (answer("GET", "/api/users/1", 418, J, user), "status 418 is not documented"),
        (answer("GET", "/api/users/1", 200, "application/json", user), "Content-Type"),
        (answer("GET", "/api/users/7", 404, J, {**err404, "errors": [
            {**err404["errors"][0], "status": "400"}]}), "/errors/0/status"),
        (answer("PUT", "/api/users/1", 404, J, err404), "status 404 is not documented"),
        (answer("GET", "/nowhere", 200, J, user), "no operation has this path"),
        (answer("POST", "/api/users", 201, J, user), "Location"),
        (answer("GET", "/api/users/1", 405, J, {**err404, "errors": [
            {**err404["errors"][0], "status": "405"}]}), "status 405 is not documented"),
        (answer("GET", "/logs/checkpoint", 200, "text/plain; charset=utf-8",
                "not a checkpoint", {"last-modified": "x"}), "must match pattern"),
        (answer("GET", "/logs/data-events", 200, "application/x-ndjson",
                '{"type":"data-events","id":"x"}\n'), "item 0"),
        (answer("GET", "/api/users/1", 200, J, "{not json"), "not JSON"),
    ]
    stdin = "".join(a + "\n" for a, _ in cases)
    r = subprocess.run([NODE, os.path.join(TOOLS, "jsonapi_validate.mjs"), "--serve"], cwd=TOOLS,
                       input=stdin, capture_output=True, text=True, timeout=120)
    verdicts = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(verdicts) == len(cases), (r.stdout, r.stderr)
    for (a, fragment), v in zip(cases, verdicts):
        req = json.loads(a)
        what = f"{req['method']} {req['path']} {req['status']}"
        if fragment is None:
            assert v["valid"], (what, v)
        else:
            assert not v["valid"], f"{what}: accepted, expected a refusal naming {fragment!r}"
            said = v["errors"] + [v["operation"]]
            assert any(fragment in e for e in said), (what, fragment, said)


def test_a_broken_document_is_refused():
    """What the first test passes must be able to fail."""
    import tempfile
    with open(document("auditor")) as f:
        doc = json.load(f)
    doc["paths"]["/checks"]["get"]["responses"]["200"]["content"][
        "application/vnd.api+json"]["schema"] = {"type": "object", "additionalProprties": False}
    doc["info"]["x"] = 1
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(doc, f)
        f.flush()
        r = node(f.name)
    assert r.returncode == 1, r.stdout
    assert "OpenAPI 3.1 schema: /info" in r.stdout, r.stdout
    assert "additionalProprties" in r.stdout, r.stdout


if __name__ == "__main__":
    failed = 0
    tests = [test_documents_are_valid_openapi, test_operations_equal_the_route_tables,
             test_shared_definitions_are_the_same, test_the_validator_refuses_what_it_must,
             test_a_broken_document_is_refused]
    for t in tests:
        try:
            t()
            print(f"ok   {t.__name__}")
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {t.__name__}: {e}")
    print(f"{len(tests) - failed}/{len(tests)} passed")
    sys.exit(1 if failed else 0)
