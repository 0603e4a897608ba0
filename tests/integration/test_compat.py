"""test_compat.py: the original service's behaviour its clients rely on, row by row with COMPAT.md, against the real stack."""
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import tempfile
from datetime import datetime

import pytest
import requests

from conftest import SRC
from envtools import create, get_env, log_text, wait_built, wait_ready

ADMIN = os.path.join(SRC, "src", "admin", "pysandbox-admin")
# datetime.now(timezone.utc).isoformat(), the original's timestamps.
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")


def raw(s, method, path, body=None, headers=None):
    """One request as sent, redirects not followed: (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    try:
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def stack(make_module_service):
    return make_module_service()


# ---- environments ---------------------------------------------------------------------------------------

def test_setup_script_stops_at_its_first_failing_command(stack):
    # The original ran setup scripts under set -e: a pip install that fails fails the build, even when later
    # commands succeed. (--no-index: nothing is reachable here, and it fails at once.)
    create(stack, "first-fails", "pip install --no-index no-such-package-here\necho after-the-failure\n")
    env = wait_built(stack, "first-fails")
    text = log_text(stack, "first-fails")
    assert env["status"] == "failed" and "exited with status 1" in env["error"], (env, text)
    assert "after-the-failure" not in text, text
    assert env["env_path"] is None, env


def test_admin_create_wait_reports_a_failing_first_command(stack):
    # The original CLI's `create NAME SCRIPT --wait`, as the README gives it: a build whose first command
    # fails is reported as failed, with a non-zero exit.
    with tempfile.TemporaryDirectory(prefix="pysandbox-compat.") as d:
        script = os.path.join(d, "setup.sh")
        with open(script, "w") as f:
            f.write("false\necho done\n")
        p = subprocess.run([ADMIN, "--url", stack.url, "create", "cli-fails", script, "--wait", "--wait-timeout", "2"],
                           capture_output=True, text=True, timeout=180)
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert "failed" in (p.stdout + p.stderr), (p.stdout, p.stderr)
    assert get_env(stack, "cli-fails")["status"] == "failed"


def test_environment_object_has_the_original_fields(stack):
    env, _ = create(stack, "fields", "echo hi")
    # While it builds: the original's fields are all there, env_path not yet.
    assert {"name", "description", "base_image", "docker_image", "conda_env_name", "env_path", "python_version",
            "status", "created_at", "last_used"} <= set(env), env
    assert env["env_path"] is None and env["docker_image"] is None
    assert env["conda_env_name"] == "sandbox-fields"
    env = wait_ready(stack, "fields")
    # base_image names the interpreter the venv was made from; env_path is where runs find it.
    assert isinstance(env["base_image"], str) and os.path.isabs(env["base_image"]), env
    assert os.path.basename(env["base_image"]).startswith("python3"), env
    r = stack.execute("import sys; print(sys.prefix)", environment="fields")
    assert r["stdout"] == env["env_path"] + "\n", (r, env)
    # The list carries the same objects.
    listed = {e["name"]: e for e in stack.request("GET", "/environments")[1]["environments"]}
    # (last_used is written once the run's answer has gone, so it may have changed since.)
    assert {k: v for k, v in listed["fields"].items() if k != "last_used"} == {k: v for k, v in env.items() if k != "last_used"}


def test_base_image_is_accepted_and_bounded(stack):
    env, _ = create(stack, "with-image", "echo hi", base_image="python:3.11-slim")
    assert env["base_image"] != "python:3.11-slim"	# taken for compatibility, not used: no Docker here
    status, body = stack.request("POST", "/environments", {"name": "bad-image", "setup_script": "echo hi",
                                                           "base_image": "x" * 201})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "base_image"], body
    status, body = stack.request("POST", "/environments", {"name": "bad-image", "setup_script": "echo hi",
                                                           "base_image": 3})
    assert status == 422 and body["detail"][0]["type"] == "string_type", body


def test_timestamps_in_the_original_format(stack):
    create(stack, "stamps", "echo hi")
    wait_ready(stack, "stamps")
    stack.execute("print(1)", environment="stamps")
    env = wait_for_last_used(stack, "stamps")
    for key in ("created_at", "updated_at", "last_used", "build_started_at", "build_finished_at"):
        assert ISO.match(env[key]), (key, env[key])
        assert datetime.fromisoformat(env[key]).utcoffset().total_seconds() == 0
    assert ISO.match(stack.request("GET", "/health")[1]["timestamp"])
    lines = stack.request("GET", "/environments/stamps/logs")[1]["lines"]
    assert lines and all(ISO.match(l["ts"]) for l in lines), lines


def wait_for_last_used(s, name):
    from hostinspect import wait_for
    return wait_for(f"{name}'s last_used", lambda: (lambda e: e if e["last_used"] else None)(get_env(s, name)))


def test_duplicate_is_400_with_the_original_shape(stack):
    create(stack, "twice", "echo hi")
    status, body = stack.request("POST", "/environments", {"name": "twice", "setup_script": "echo hi"})
    assert (status, body) == (400, {"detail": "Environment 'twice' already exists"})


# ---- runs -----------------------------------------------------------------------------------------------

def test_uploaded_module_imports(stack):
    # As for `python main.py`: the code's directory leads sys.path.
    r = stack.execute("import helper\nprint(helper.twice(21))", files={"helper.py": b64("def twice(x):\n    return 2 * x\n")})
    assert r["success"] is True and r["stdout"] == "42\n", r
    r = stack.execute("import pkg.mod\nprint(pkg.mod.X)", files={"pkg/__init__.py": "", "pkg/mod.py": b64("X = 'sub'\n")})
    assert r["stdout"] == "sub\n", r


def test_run_stays_isolated_with_the_script_directory_on_the_path(stack):
    # Only /work was added: PYTHON* variables and the user site still do not count.
    code = ("import sys, site, os\n"
            "print(sys.path[0], sys.flags.ignore_environment, sys.flags.no_user_site, site.ENABLE_USER_SITE)\n"
            "print(sorted(k for k in os.environ if k.startswith('PYTHON')))")
    r = stack.execute(code)
    assert r["stdout"].splitlines() == ["/work 1 1 False", "[]"], r


@pytest.mark.parametrize("body,why", [
    ({"environment": "never-made"}, "Environment 'never-made' not found"),
    ({"files": {"../evil.txt": b64("x")}}, "Unsafe file name '../evil.txt'"),
    ({"files": {"/etc/evil": b64("x")}}, "Unsafe file name '/etc/evil'"),
    ({"files": {"data.csv": "not base64!"}}, "File 'data.csv' is not valid base64"),
])
def test_failed_runs_are_200_for_the_original_clients(stack, body, why):
    # Both of the original's example clients call raise_for_status() and then read success.
    r = requests.post(f"{stack.url}/execute", json={"code": "print(1)", **body}, timeout=60)
    r.raise_for_status()
    result = r.json()
    assert result["success"] is False and result["error"].startswith(why), result
    assert result["stdout"] == "" and result["files"] == {}, result


def test_not_ready_environment(stack):
    create(stack, "slow-build", "sleep 20")
    # /execute: a failed run; /execute-with-environment: 400 (both the original's answers).
    r = requests.post(f"{stack.url}/execute", json={"code": "print(1)", "environment": "slow-build"}, timeout=60)
    assert r.status_code == 200 and r.json()["success"] is False and "not ready" in r.json()["error"], r.text
    r = requests.post(f"{stack.url}/execute-with-environment", json={"code": "print(1)", "environment": "slow-build"},
                      timeout=60)
    assert r.status_code == 400 and "not ready" in r.json()["detail"], r.text
    assert stack.request("DELETE", "/environments/slow-build")[0] == 200


def test_unknown_environment_on_execute_with_environment_is_404(stack):
    r = requests.post(f"{stack.url}/execute-with-environment", json={"code": "print(1)", "environment": "nowhere"},
                      timeout=60)
    assert (r.status_code, r.json()) == (404, {"detail": "Environment 'nowhere' not found"})


def test_numeric_strings_accepted(stack):
    r = requests.post(f"{stack.url}/execute", json={"code": "print('x')", "timeout": "5"}, timeout=60)
    assert r.status_code == 200 and r.json()["stdout"] == "x\n", r.text


def test_422_entries_carry_input_ctx_and_url(stack):
    status, body = stack.request("POST", "/execute", {"code": "print(1)", "timeout": -1})
    assert status == 422
    assert body["detail"] == [{"type": "greater_than", "loc": ["body", "timeout"], "msg": "Input should be greater than 0",
                               "input": -1, "ctx": {"gt": 0}, "url": "https://errors.pydantic.dev/2.6/v/greater_than"}]


# ---- HTTP: redirects, HEAD, CORS ---------------------------------------------------------------------------

def test_trailing_slash_redirects(stack):
    status, h, _ = raw(stack, "GET", "/environments/?offset=1")
    assert status == 307 and h["location"] == "/environments?offset=1", h
    status, h, _ = raw(stack, "POST", "/execute/", {"code": "print(1)"})
    assert status == 307 and h["location"] == "/execute", h
    # A client that follows it (requests does, keeping the method and body for a 307) gets the run.
    r = requests.post(f"{stack.url}/execute/", json={"code": "print('via 307')"}, timeout=60)
    assert r.status_code == 200 and r.json()["stdout"] == "via 307\n" and r.history[0].status_code == 307
    # Never to a path that is not a route, and nothing of the client's path can break the header.
    assert raw(stack, "GET", "/nope/")[0] == 404
    status, h, _ = raw(stack, "GET", "/environments/a%0D%0AX-Evil:%201/")
    assert status == 307 and h["location"] == "/environments/a%0D%0AX-Evil%3A%201" and "x-evil" not in h, h


@pytest.mark.parametrize("path", ["/", "/health", "/environments", "/environments/fields", "/environments/fields/logs"])
def test_head_on_every_get_route(stack, path):
    create_once(stack, "fields")
    status_get, h_get, body_get = raw(stack, "GET", path)
    status, h, body = raw(stack, "HEAD", path)
    assert (status, body) == (status_get, b""), (path, status)
    assert status == 200 and h["content-type"] == h_get["content-type"], (path, h)


def create_once(s, name):
    if s.request("GET", f"/environments/{name}")[0] == 404:
        create(s, name, "echo hi")
        wait_ready(s, name)


def test_head_on_a_post_route_is_405(stack):
    status, h, _ = raw(stack, "HEAD", "/execute")
    assert status == 405 and h["allow"] == "POST"


def test_cors_any_origin_by_default(stack):
    origin = {"Origin": "https://app.example"}
    status, h, _ = raw(stack, "OPTIONS", "/execute", headers={**origin, "Access-Control-Request-Method": "POST",
                                                              "Access-Control-Request-Headers": "content-type, x-request-id"})
    assert status == 200, h
    assert h["access-control-allow-origin"] == "*"
    assert "POST" in h["access-control-allow-methods"] and "DELETE" in h["access-control-allow-methods"]
    assert h["access-control-allow-headers"] == "content-type, x-request-id"
    assert int(h["access-control-max-age"]) > 0
    # On every answer, errors included: the pool's 200, 404, 422, 405, 307 and nginx's own 413.
    for method, path, body in [("POST", "/execute", {"code": "print(1)"}), ("GET", "/nope", None),
                               ("POST", "/execute", {"code": 1}), ("GET", "/execute", None),
                               ("GET", "/environments/", None), ("GET", "/docs", None)]:
        status, h, _ = raw(stack, method, path, body, headers=origin)
        assert h.get("access-control-allow-origin") == "*", (method, path, status, h)
        assert "X-Request-ID" in h["access-control-expose-headers"]
        assert "vary" not in h or "Origin" not in h["vary"]
    # nginx's own 413, from the declared length alone (no body sent).
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as sock:
        sock.sendall(b"POST /execute HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 900000000\r\n\r\n")
        head = sock.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413") and "\r\nAccess-Control-Allow-Origin: *\r\n" in head, head


def test_cors_restricted_to_a_list(make_service):
    s = make_service(env={"CORS_ORIGINS": "https://one.example http://localhost:3000"})
    for origin in ("https://one.example", "http://localhost:3000"):
        status, h, _ = raw(s, "OPTIONS", "/environments", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert status == 200 and h["access-control-allow-origin"] == origin and h["vary"] == "Origin", h
        status, h, _ = raw(s, "GET", "/health", headers={"Origin": origin})
        assert h["access-control-allow-origin"] == origin, h
    for origin in ("https://two.example", "https://one.example.evil", "null"):
        status, h, _ = raw(s, "GET", "/health", headers={"Origin": origin})
        assert status == 200 and "access-control-allow-origin" not in h and h["vary"] == "Origin", (origin, h)
    # A list that is not origins is refused before anything starts.
    with pytest.raises(RuntimeError, match="bad origin"):
        make_service(env={"CORS_ORIGINS": 'https://ok.example "; evil'})
