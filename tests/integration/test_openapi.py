"""test_openapi.py: www/openapi.json is a valid OpenAPI 3.1 document (Redocly's lint, tests/js/lint-openapi.sh), names
every route of the C route table, and says the truth: live answers of every operation, for every status a test can
cause, validate against the schema the document gives for that path, method, status and content type; the statuses
no test can cause are listed in one place, so the document cannot gain or lose an answer silently."""
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading

import jsonschema
import pytest

import nodejs
from conftest import SRC
from envtools import wait_built
from hostinspect import wait_for

DOC_PATH = os.path.join(SRC, "www", "openapi.json")
with open(DOC_PATH, encoding="utf-8") as _f:
    DOC_TEXT = _f.read()
DOC = json.loads(DOC_TEXT)
DOC_URI = "urn:pysandbox:openapi.json"
METHODS = ("get", "head", "post", "put", "delete", "options", "patch", "trace")

# Every operation the document must describe: the C route table's (test_every_c_route_is_documented), and HEAD on
# every GET route.
OPERATIONS = {
    ("GET", "/"), ("HEAD", "/"),
    ("GET", "/health"), ("HEAD", "/health"),
    ("GET", "/metrics"), ("HEAD", "/metrics"),
    ("POST", "/execute"),
    ("POST", "/execute-with-environment"),
    ("GET", "/environments"), ("HEAD", "/environments"), ("POST", "/environments"),
    ("GET", "/environments/{name}"), ("HEAD", "/environments/{name}"), ("DELETE", "/environments/{name}"),
    ("GET", "/environments/{name}/logs"), ("HEAD", "/environments/{name}/logs"),
}

# The one place for the documented answers no test here can cause; every other documented (method, path, status)
# must be produced by a test below (test_zz_every_documented_status_was_exercised).
_FAULT = "a fault on the server's side (database, sandbox set-up, memory)"
_DOWN = "nginx's answer when the pool is not running"
_SITE = "the packaged nginx site's allow list; the development site has none and the tests are loopback clients"
_GATEWAY = "nginx's fastcgi_read_timeout in the production site (360 s)"
_UNHEALTHY = "a failed jail self-test at start-up"
NOT_PRODUCIBLE = {
    ("GET", "/", "500"): _FAULT,
    ("GET", "/health", "500"): _FAULT,
    ("GET", "/health", "503"): _UNHEALTHY + ", or " + _DOWN,
    ("HEAD", "/health", "503"): _UNHEALTHY + ", or " + _DOWN,
    ("GET", "/metrics", "403"): _SITE,
    ("HEAD", "/metrics", "403"): _SITE,
    ("GET", "/metrics", "500"): _FAULT,
    ("GET", "/metrics", "503"): _DOWN,
    ("POST", "/execute", "500"): _FAULT,
    ("POST", "/execute", "504"): _GATEWAY,
    ("POST", "/execute-with-environment", "500"): _FAULT,
    ("POST", "/execute-with-environment", "504"): _GATEWAY,
    ("GET", "/environments", "500"): _FAULT,
    ("POST", "/environments", "500"): _FAULT,
    ("GET", "/environments/{name}", "500"): _FAULT,
    ("DELETE", "/environments/{name}", "500"): _FAULT,
    ("GET", "/environments/{name}/logs", "500"): _FAULT,
}

# (METHOD, path template, status) of every answer check() validated.
EXERCISED = set()

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")


# ---- the document ----------------------------------------------------------------------------------------------


def pointer_get(pointer):
    node = DOC
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def escape(token):
    return token.replace("~", "~0").replace("/", "~1")


def deref(node, pointer):
    """Follow $ref (local ones only: the document is self-contained); return (node, its pointer)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        pointer = ref[1:]
        node = pointer_get(pointer)
    return node, pointer


def operations():
    """{(METHOD, path): operation object} of the document."""
    return {(m.upper(), p): op for p, item in DOC["paths"].items() for m, op in item.items() if m in METHODS}


def response_of(method, path, status):
    """The document's response object (and its pointer) for an answer; fails if it is not documented."""
    op = DOC["paths"][path][method.lower()]
    assert str(status) in op["responses"], \
        f"{method} {path} answered {status}, which the document does not list ({sorted(op['responses'])})"
    pointer = f"/paths/{escape(path)}/{method.lower()}/responses/{status}"
    return deref(op["responses"][str(status)], pointer)


def validator(pointer):
    """A Draft 2020-12 validator of the schema at pointer, with the document's $refs resolvable."""
    try:
        # jsonschema 4.18 and later: a registry holding the whole document.
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
        registry = Registry().with_resource(DOC_URI, Resource(contents=DOC, specification=DRAFT202012))
        return jsonschema.Draft202012Validator({"$ref": DOC_URI + "#" + pointer}, registry=registry)
    except ImportError:
        # Debian 12's python3-jsonschema (4.10): a resolver over the whole document.
        resolver = jsonschema.RefResolver.from_schema(DOC)
        return jsonschema.Draft202012Validator({"$ref": "#" + pointer}, resolver=resolver)


def validate(pointer, value, what):
    errors = sorted(validator(pointer).iter_errors(value), key=lambda e: list(e.absolute_path))
    assert not errors, f"{what} does not match #{pointer}:\n" + "\n".join(
        f"  at {list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10]) + \
        "\n  the answer: " + json.dumps(value, ensure_ascii=False)[:1500]


# ---- requests ------------------------------------------------------------------------------------------------


def call(s, method, path, body=None, raw=None, headers=None, source="127.0.0.1", timeout=120):
    """One request, redirects not followed; returns (status, headers with lower-case names, body bytes)."""
    host, port = s.url.split("//", 1)[1].split(":")
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    c = http.client.HTTPConnection(host, int(port), timeout=timeout, source_address=(source, 0))
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def check(s, method, template, path=None, body=None, raw=None, headers=None, source="127.0.0.1", expect=None):
    """Make the request, validate the answer against the document's response for its status, record it as
    exercised and return (status, parsed JSON or text or None, headers)."""
    status, hdrs, data = call(s, method, path or template, body=body, raw=raw, headers=headers, source=source)
    what = f"{method} {path or template} -> {status}"
    if expect is not None:
        assert status == expect, f"{what}, not {expect}: {data[:1000]!r}"
    if status == 405:
        # Answered for a method the path does not list: its documented shape is that of the path's operations.
        return check_405(template, hdrs, data, what), None, hdrs
    resp, pointer = response_of(method, template, status)
    EXERCISED.add((method, template, str(status)))
    for name in resp.get("headers", {}):
        assert name.lower() in hdrs, f"{what}: the documented header {name} is missing ({sorted(hdrs)})"
    if method == "HEAD":
        assert data == b"", f"{what}: a body in the answer to HEAD"
        assert "content" not in resp, f"{what}: the document gives HEAD's answer a body"
        return status, None, hdrs
    content = resp.get("content")
    if not content:
        assert data == b"", f"{what}: a body where the document gives none"
        return status, None, hdrs
    ctype = hdrs.get("content-type", "")
    base = ctype.split(";")[0].strip().lower()
    keys = [k for k in content if k.split(";")[0].strip().lower() == base]
    assert keys, f"{what}: Content-Type {ctype!r} is not among the documented {sorted(content)}"
    key = keys[0]
    if base == "application/json":
        value = json.loads(data)
        validate(f"{pointer}/content/{escape(key)}/schema", value, what)
    else:
        value = data.decode("utf-8")
        assert key.lower().replace(" ", "") == ctype.lower().replace(" ", ""), (key, ctype)
        validate(f"{pointer}/content/{escape(key)}/schema", value, what)
    return status, value, hdrs


def check_405(template, hdrs, data, what):
    """A 405: validated against the 405 of every operation of the path (each documents the same), recorded for
    each; Allow lists exactly the path's methods."""
    ops = [m for m in DOC["paths"][template] if m in METHODS]
    value = json.loads(data)
    documented = [m for m in ops if "405" in DOC["paths"][template][m]["responses"]]
    assert documented, f"{what}: no operation of {template} documents 405"
    for m in documented:
        resp, pointer = response_of(m.upper(), template, 405)
        validate(f"{pointer}/content/application~1json/schema", value, what)
        for name in resp.get("headers", {}):
            assert name.lower() in hdrs, f"{what}: the documented header {name} is missing"
        EXERCISED.add((m.upper(), template, "405"))
    # As the original (Starlette adds HEAD to every GET route's methods): every method of the path, HEAD included.
    allow = {t.strip().upper() for t in hdrs.get("allow", "").split(",") if t.strip()} - {"OPTIONS"}
    assert allow == {m.upper() for m in ops}, f"{what}: Allow {hdrs.get('allow')!r}, the document has {ops}"
    return 405


def assert_failed_run(body, *words, environment=None):
    """A request the original answered with a failed run: nothing ran."""
    assert body["success"] is False and body["status"] == "error", body
    assert body["exit_code"] is None and body["signal"] is None, body
    assert body["stdout"] == "" and body["stderr"] == "" and body["files"] == {}, body
    assert body["execution_time"] == 0, body
    assert body["error"], body
    for w in words:
        assert w in body["error"], (w, body["error"])
    assert body["environment"] == environment, body


# ---- the document itself -------------------------------------------------------------------------------------


def test_lint_with_redocly():
    """tests/js/lint-openapi.sh with the pinned Redocly CLI of the build tree's shared install (nodejs.py: npm ci
    once per build tree), then a lint with no error and no warning. The suite's dependencies install node and npm:
    their absence is a failure, not a skip."""
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed (conf/deps.sh --test)"
    modules = nodejs.node_modules()
    work = tempfile.mkdtemp(prefix="pysandbox-openapi-lint.")
    try:
        r = subprocess.run(["bash", os.path.join(SRC, "tests", "js", "lint-openapi.sh"), SRC, work],
                           env=dict(os.environ, NODE_MODULES_DIR=modules),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        out = r.stdout.decode("utf-8", "replace")
        assert r.returncode == 0, out[-6000:]
        assert "0 errors, 0 warnings, 0 ignored" in out, out[-6000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_document_is_what_the_project_says():
    assert DOC["openapi"] == "3.1.0"
    with open(os.path.join(SRC, "configure.ac")) as f:
        version = re.search(r"AC_INIT\(\[[^]]*\],\s*\[([^]]+)\]", f.read()).group(1)
    assert DOC["info"]["version"] == version
    assert DOC["servers"][0]["url"] == "/"
    assert {t["name"] for t in DOC["tags"]} == {"execution", "environments", "service"}
    # One format: 2-space JSON, UTF-8 as is, a final newline (the file is edited by hand).
    assert DOC_TEXT == json.dumps(DOC, indent=2, ensure_ascii=False) + "\n"
    # The conventions no single operation shows.
    for words in ("307", "HEAD", "OPTIONS", "Access-Control-Allow-Origin", "+00:00"):
        assert words in DOC["info"]["description"], words
    # Every schema the document names resolves and is a valid Draft 2020-12 schema.
    for name, schema in DOC["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
    # Every operation but HEAD has an answer for a client's mistake (Redocly's rule for it is off because of HEAD).
    for (method, path), op in operations().items():
        if method != "HEAD":
            assert any(s.startswith("4") for s in op["responses"]), (method, path)


def test_the_document_has_every_operation_and_no_other():
    assert set(operations()) == OPERATIONS


def test_every_c_route_is_documented():
    """The route table of src/api/route.c (http_route) and the document's paths and methods are the same."""
    with open(os.path.join(SRC, "src", "api", "route.c")) as f:
        text = f.read()
    table = re.search(r"http_route\(.*?table\[\]\s*=\s*\{(.*?)\n\t\};", text, re.S)
    assert table, "the route table of http_route was not found in src/api/route.c"
    routes = re.findall(r'\{\s*"([^"]*)",\s*"([^"]*)",\s*ROUTE_[A-Z_]+\s*\}', table.group(1))
    assert len(routes) >= 8, routes
    c_ops = set()
    for path, methods in routes:
        for m in (t.strip() for t in methods.split(",")):
            c_ops.add((m, path))
            if m == "GET":
                c_ops.add(("HEAD", path))
    # '*' in the table stands for one path segment, a {parameter} in the document.
    doc_ops = {(m, re.sub(r"\{[^}/]+\}", "*", p)) for m, p in operations()}
    assert c_ops == doc_ops, f"only in src/api/route.c: {sorted(c_ops - doc_ops)}; only in the document: " \
                             f"{sorted(doc_ops - c_ops)}"


def test_the_served_document_is_the_file(service):
    status, hdrs, data = call(service, "GET", "/openapi.json")
    assert status == 200 and hdrs["content-type"].startswith("application/json")
    assert json.loads(data) == DOC


# ---- live answers --------------------------------------------------------------------------------------------


def test_service_routes(service):
    _, root, _ = check(service, "GET", "/", expect=200)
    assert root["version"] == DOC["info"]["version"]
    check(service, "HEAD", "/", expect=200)
    check(service, "PUT", "/", expect=405)
    _, health, _ = check(service, "GET", "/health", expect=200)
    assert health["status"] == "healthy" and TS.match(health["timestamp"]), health
    check(service, "HEAD", "/health", expect=200)
    check(service, "POST", "/health", body={}, expect=405)
    _, text, _ = check(service, "GET", "/metrics", expect=200)
    assert "pysandbox_up 1" in text
    check(service, "HEAD", "/metrics", expect=200)
    check(service, "DELETE", "/metrics", expect=405)


HELLO = "print(\"Hello, SimplePySandbox!\")\nresult = 2 + 3\nprint(f\"2 + 3 = {result}\")"


def test_execute_runs(service):
    _, r, _ = check(service, "POST", "/execute", body={"code": HELLO, "timeout": 10}, expect=200)
    assert r["success"] and r["stdout"] == "Hello, SimplePySandbox!\n2 + 3 = 5\n", r
    # The README's data-processing example: a file comes back.
    code = ("import json\ndata = {\"numbers\": [1, 2, 3, 4, 5], \"sum\": sum([1, 2, 3, 4, 5])}\n"
            "with open(\"result.json\", \"w\") as f:\n    json.dump(data, f, indent=2)\nprint(\"数据处理完成\")")
    _, r, _ = check(service, "POST", "/execute", body={"code": code, "timeout": 15}, expect=200)
    assert json.loads(base64.b64decode(r["files"]["result.json"]))["sum"] == 15, r
    # A program that fails is a 200 with success false.
    _, r, _ = check(service, "POST", "/execute", body={"code": "x = 10\ny = 0\nresult = x / y\n"}, expect=200)
    assert not r["success"] and r["exit_code"] == 1 and "ZeroDivisionError" in r["stderr"], r
    _, r, _ = check(service, "POST", "/execute", body={"code": "import time\nprint('started', flush=True)\n"
                                                                "time.sleep(10)", "timeout": 0.5}, expect=200)
    assert r["status"] == "timeout" and r["stdout"] == "started\n", r
    # Every optional field, numbers as numeric strings (pydantic's lax mode), raw output bytes.
    _, r, _ = check(service, "POST", "/execute", body={
        "code": "import sys, helper\nsys.stdout.buffer.write(b'\\xff')\nsys.stdout.buffer.flush()\nprint(helper.f(), sys.argv[1:], "
                "sys.stdin.read(), open('sub/data.csv').read())",
        "files": {"helper.py": base64.b64encode(b"def f(): return 42\n").decode(),
                  "sub/data.csv": base64.b64encode(b"a,b").decode()},
        "stdin": "in", "args": ["--x"], "timeout": "5", "memory_mb": "512", "cpus": "0.5", "network": "false",
        "output_encoding": "base64"}, expect=200)
    assert r["success"] and r["stdout"] == "\ufffd42 ['--x'] in a,b\n", r
    assert base64.b64decode(r["stdout_base64"]) == b"\xff42 ['--x'] in a,b\n", r


def test_execute_inputs_the_original_answered_with_a_failed_run(service):
    unknown = "no-such-env-" + secrets.token_hex(3)
    _, r, _ = check(service, "POST", "/execute", body={"code": "print(1)", "environment": unknown}, expect=200)
    assert_failed_run(r, unknown, environment=unknown)
    for name in ("../evil.txt", "/etc/evil", "a/../../b", "bad\u0001name", "main.py"):
        _, r, _ = check(service, "POST", "/execute", body={"code": "print(1)", "files": {name: "aGk="}}, expect=200)
        assert_failed_run(r)
    # A name that is also the directory of another.
    _, r, _ = check(service, "POST", "/execute", body={"code": "print(1)", "files": {"a": "aGk=", "a/b": "aGk="}},
                    expect=200)
    assert_failed_run(r)
    for content in ("!!!!", "aGk", "aG k=", "aGk=\n"):
        _, r, _ = check(service, "POST", "/execute", body={"code": "print(1)", "files": {"f.txt": content}},
                        expect=200)
        assert_failed_run(r)


def test_execute_refusals(service):
    for code in ("", "   \n"):
        _, r, _ = check(service, "POST", "/execute", body={"code": code}, expect=400)
        assert r["detail"] == "Code cannot be empty", r
    _, r, _ = check(service, "POST", "/execute", body={"code": "#" * (50 * 1024 + 1)}, expect=400)
    assert "too long" in r["detail"].lower(), r
    check(service, "GET", "/execute", expect=405)
    # 413: more files than max_input_files (100), a file over max_file_size (10 MB).
    _, r, _ = check(service, "POST", "/execute", body={"code": "print(1)", "files": {f"f{i}": "" for i in range(101)}},
                    expect=413)
    big = base64.b64encode(b"\0" * (10 * 1024 * 1024 + 1)).decode()
    _, r, _ = check(service, "POST", "/execute", body={"code": "print(1)", "files": {"big.bin": big}}, expect=413)
    # 422 with several problems, each with its input.
    req = {"timeout": 0, "memory_mb": 1, "cpus": 5, "args": "x"}
    _, r, _ = check(service, "POST", "/execute", body=req, expect=422)
    by_field = {tuple(e["loc"]): e for e in r["detail"]}
    assert {("body", "code"), ("body", "timeout"), ("body", "memory_mb"), ("body", "cpus"), ("body", "args")} \
        <= set(by_field), r
    assert by_field[("body", "code")]["type"] == "missing" and by_field[("body", "code")]["input"] == req, r
    assert by_field[("body", "timeout")]["input"] == 0 and by_field[("body", "memory_mb")]["input"] == 1, r
    _, r, _ = check(service, "POST", "/execute", body={"code": "print(1)", "network": True, "timeout": "soon"},
                    expect=422)
    assert len(r["detail"]) == 2, r
    _, r, _ = check(service, "POST", "/execute", raw=b"{", expect=422)
    assert r["detail"][0]["type"] == "json_invalid", r


@pytest.fixture(scope="module")
def envs(service):
    """A ready environment and a failed one, built for this module (their names are its own); deleted after."""
    tag = secrets.token_hex(3)
    names = {"ready": f"oas-ready-{tag}", "failed": f"oas-failed-{tag}"}
    scripts = {"ready": "echo hi", "failed": "echo failing\nexit 3\necho never"}
    for kind, name in names.items():
        _, env, _ = check(service, "POST", "/environments", expect=200, body={
            "name": name, "description": "openapi test", "setup_script": scripts[kind], "base_image": "python:3.11-slim"})
        assert env["status"] == "building" and env["env_path"] is None and env["docker_image"] is None, env
        assert env["conda_env_name"] == "sandbox-" + name and TS.match(env["created_at"]), env
    for kind, name in names.items():
        env = wait_built(service, name)
        assert env["status"] == kind, env
    yield names
    for name in names.values():
        call(service, "DELETE", f"/environments/{name}")


def test_environment_routes(service, envs):
    ready, failed = envs["ready"], envs["failed"]
    _, lst, _ = check(service, "GET", "/environments", expect=200)
    assert {ready, failed} <= {e["name"] for e in lst["environments"]} and lst["total"] == len(lst["environments"])
    check(service, "HEAD", "/environments", expect=200)
    check(service, "PUT", "/environments", body={}, expect=405)
    _, env, _ = check(service, "GET", "/environments/{name}", f"/environments/{ready}", expect=200)
    assert env["status"] == "ready" and env["env_path"] == "/env" and env["base_image"].startswith("/usr/"), env
    assert TS.match(env["build_finished_at"]) and env["build_seconds"] >= 0, env
    _, env, _ = check(service, "GET", "/environments/{name}", f"/environments/{failed}", expect=200)
    assert env["status"] == "failed" and env["error"] and env["env_path"] is None, env
    check(service, "HEAD", "/environments/{name}", f"/environments/{ready}", expect=200)
    check(service, "GET", "/environments/{name}", "/environments/none-such", expect=404)
    check(service, "GET", "/environments/{name}", "/environments/bad%20name", expect=404)
    check(service, "HEAD", "/environments/{name}", "/environments/none-such", expect=404)
    check(service, "PUT", "/environments/{name}", f"/environments/{ready}", body={}, expect=405)
    _, log, _ = check(service, "GET", "/environments/{name}/logs", f"/environments/{ready}/logs", expect=200)
    assert log["complete"] and any(l["line"] == "hi" for l in log["lines"]), log
    _, log, _ = check(service, "GET", "/environments/{name}/logs", f"/environments/{failed}/logs?offset=1&limit=2",
                      expect=200)
    assert log["offset"] == 1 and len(log["lines"]) <= 2, log
    check(service, "HEAD", "/environments/{name}/logs", f"/environments/{ready}/logs", expect=200)
    check(service, "GET", "/environments/{name}/logs", "/environments/none-such/logs", expect=404)
    check(service, "HEAD", "/environments/{name}/logs", "/environments/none-such/logs", expect=404)
    _, r, _ = check(service, "GET", "/environments/{name}/logs", f"/environments/{ready}/logs?limit=0", expect=422)
    assert r["detail"][0]["loc"][0] == "query", r
    check(service, "HEAD", "/environments/{name}/logs", f"/environments/{ready}/logs?offset=-1", expect=422)
    check(service, "POST", "/environments/{name}/logs", f"/environments/{ready}/logs", body={}, expect=405)


def test_create_refusals(service, envs):
    _, r, _ = check(service, "POST", "/environments", body={"name": envs["ready"], "setup_script": "echo hi"},
                    expect=400)
    assert r["detail"] == f"Environment '{envs['ready']}' already exists", r
    _, r, _ = check(service, "POST", "/environments", expect=422, body={
        "name": "bad name!", "setup_script": " ", "description": "d" * 201, "python_version": "2.7",
        "base_image": "x" * 201})
    locs = {tuple(e["loc"]) for e in r["detail"]}
    assert {("body", "name"), ("body", "setup_script"), ("body", "description"), ("body", "python_version"),
            ("body", "base_image")} <= locs, r
    _, r, _ = check(service, "POST", "/environments", body={"description": "no name"}, expect=422)
    assert {tuple(e["loc"]) for e in r["detail"]} == {("body", "name"), ("body", "setup_script")}, r


def test_execute_with_environment(service, envs):
    ready, failed = envs["ready"], envs["failed"]
    path = "/execute-with-environment"
    _, r, _ = check(service, "POST", path, body={"code": "import sys\nprint(sys.prefix)", "environment": ready},
                    expect=200)
    assert r["success"] and r["stdout"] == "/env\n" and r["environment"] == ready, r
    _, r, _ = check(service, "POST", path, body={"code": "print(1)", "environment": ready,
                                                 "files": {"../x": "aGk="}}, expect=200)
    assert_failed_run(r, environment=ready)
    _, r, _ = check(service, "POST", path, body={"code": "print(1)", "environment": ready,
                                                 "files": {"x": "not base64"}}, expect=200)
    assert_failed_run(r, environment=ready)
    _, r, _ = check(service, "POST", path, body={"code": "print(1)", "environment": "none-such"}, expect=404)
    assert "none-such" in r["detail"], r
    _, r, _ = check(service, "POST", path, body={"code": "print(1)", "environment": failed}, expect=400)
    assert failed in r["detail"], r
    check(service, "POST", path, body={"code": " ", "environment": ready}, expect=400)
    _, r, _ = check(service, "POST", path, body={"timeout": -1}, expect=422)
    assert {("body", "code"), ("body", "environment"), ("body", "timeout")} <= {tuple(e["loc"]) for e in r["detail"]}
    check(service, "POST", path, body={"code": "print(1)", "environment": ready,
                                       "files": {f"f{i}": "" for i in range(101)}}, expect=413)
    check(service, "GET", path, expect=405)
    # On /execute, an environment that is not ready is a failed run.
    _, r, _ = check(service, "POST", "/execute", body={"code": "print(1)", "environment": failed}, expect=200)
    assert_failed_run(r, failed, environment=failed)


def test_an_environment_being_built(service):
    """Not ready while it builds (400 on /execute-with-environment, a failed run on /execute); deleting it cancels
    the build."""
    name = "oas-building-" + secrets.token_hex(3)
    check(service, "POST", "/environments", body={"name": name, "setup_script": "sleep 120"}, expect=200)
    try:
        _, r, _ = check(service, "POST", "/execute-with-environment", body={"code": "print(1)", "environment": name},
                        expect=400)
        assert name in r["detail"] and "not ready" in r["detail"], r
        _, r, _ = check(service, "POST", "/execute", body={"code": "print(1)", "environment": name}, expect=200)
        assert_failed_run(r, name, environment=name)
    finally:
        _, r, _ = check(service, "DELETE", "/environments/{name}", f"/environments/{name}", expect=200)
    assert r["message"] == f"Environment '{name}' deleted", r
    check(service, "DELETE", "/environments/{name}", f"/environments/{name}", expect=404)
    check(service, "DELETE", "/environments/{name}", "/environments/bad%20name", expect=404)


def test_load_refusals(make_module_service):
    """429 (nginx's rate limit) and 503 (every sandbox busy, no queue) on both run routes, and nginx's 413 for a
    body over max_body_size: one stack of one sandbox, no queue, one request a second per client, 1 MB bodies."""
    s = make_module_service(rate=1, burst=0, extra_conf="[service]\nworkers = 1\nqueue_size = 0\n"
                                                         "queue_timeout = 0\nmax_body_size = 1M\n")
    done = {}
    long_run = threading.Thread(target=lambda: done.update(r=call(
        s, "POST", "/execute", {"code": "import time\ntime.sleep(4)\nprint('done')", "timeout": 20},
        source="127.0.4.1")))
    long_run.start()
    try:
        wait_for("the long run to take the one sandbox",
                 lambda: json.loads(call(s, "GET", "/health")[2])["pool"]["runs"] == 1, timeout=15)
        for i, path in enumerate(("/execute", "/execute-with-environment")):
            client = f"127.0.4.{10 + i}"
            body = {"code": "print(1)", "environment": "any"}
            # The client's first request this second reaches the pool, which is full: 503 capacity.
            _, r, hdrs = check(s, "POST", path, body=body, source=client, expect=503)
            assert r["reason"] == "capacity" and hdrs["retry-after"] == "1", r
            # Its second within the second is nginx's: 429 rate_limit.
            _, r, hdrs = check(s, "POST", path, body=body, source=client, expect=429)
            assert r["reason"] == "rate_limit" and hdrs["retry-after"] == "1", r
        _, r, _ = check(s, "POST", "/environments", raw=json.dumps({"name": "big", "setup_script": "#" * (1 << 21)})
                        .encode(), source="127.0.4.20", expect=413)
        assert r["detail"] == "Request body too large", r
    finally:
        long_run.join(30)
    status, _, data = done["r"]
    assert status == 200 and json.loads(data)["stdout"] == "done\n", (status, data)


def test_trailing_slash_redirects(service):
    """A path with a trailing slash that names a route without it: 307 to it, the query kept (the original)."""
    for method, path, location in (("GET", "/environments/", "/environments"),
                                   ("GET", "/health/?x=1", "/health?x=1"),
                                   ("POST", "/execute/", "/execute"),
                                   ("GET", "/environments/some-env/logs/?offset=2", "/environments/some-env/logs?offset=2"),
                                   ("HEAD", "/environments/", "/environments")):
        status, hdrs, _ = call(service, method, path, body={"code": "print(1)"} if method == "POST" else None)
        assert status == 307, (method, path, status)
        loc = hdrs.get("location", "")
        if loc.startswith(("http://", "https://")):
            loc = "/" + loc.split("/", 3)[3]
        assert loc == location, (method, path, hdrs.get("location"))
    status, _, _ = call(service, "GET", "/no-such-route/")
    assert status == 404


def test_cors(service):
    """Browser clients work as with the original: any origin, OPTIONS preflights answered (by nginx)."""
    origin = {"Origin": "http://client.example"}
    status, hdrs, _ = call(service, "GET", "/", headers=origin)
    assert status == 200 and hdrs.get("access-control-allow-origin") == "*", hdrs
    status, hdrs, _ = call(service, "OPTIONS", "/execute", headers=dict(
        origin, **{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}))
    assert status in (200, 204), (status, hdrs)
    assert hdrs.get("access-control-allow-origin") == "*", hdrs
    assert "POST" in hdrs.get("access-control-allow-methods", "").upper() or \
        hdrs.get("access-control-allow-methods") == "*", hdrs


def test_zz_every_documented_status_was_exercised():
    """Runs last (by name and place): every answer the document lists was produced above or is listed in
    NOT_PRODUCIBLE, and nothing there is producible after all or undocumented."""
    documented = {(m, p, st) for (m, p), op in operations().items() for st in op["responses"]}
    stale = set(NOT_PRODUCIBLE) - documented
    assert not stale, f"NOT_PRODUCIBLE names answers the document does not list: {sorted(stale)}"
    produced = set(NOT_PRODUCIBLE) & EXERCISED
    assert not produced, f"produced after all, take them out of NOT_PRODUCIBLE: {sorted(produced)}"
    missing = documented - EXERCISED - set(NOT_PRODUCIBLE)
    assert not missing, ("documented answers no test produced (a test above failed, or add a request for it, or "
                         f"list it in NOT_PRODUCIBLE with the reason): {sorted(missing)}")
