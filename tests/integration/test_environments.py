"""test_environments.py: named environments end to end: real builds in the build jail, real SQLite, runs in them."""
import hashlib
import os
import re
import secrets
import shutil
import signal
import sqlite3
import tempfile
import threading
import time

import pytest

import hostinspect
from envtools import BUILD_WAIT, all_log_lines, create, get_env, log_text, read_log, wait_built, wait_ready
from hostinspect import identity, wait_for

# The original's timestamps: datetime.now(timezone.utc).isoformat() (the fraction only when not zero).
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
ENV_FIELDS = {"name", "description", "python_version", "status", "created_at", "updated_at", "last_used", "error",
              "base_image", "docker_image", "conda_env_name", "env_path"}

# The venv gets pip and setuptools from Debian's bundled wheels but no `wheel`, so setuptools 66 cannot
# build one ("invalid command 'bdist_wheel'"). The setup script therefore writes a ready-made wheel of a
# tiny package into /work and installs it with pip, offline (no PyPI is reachable here).
TINY_SCRIPT = r"""set -e
mkdir -p /work/wheels
python - <<'PY'
import zipfile
di = "tinypkg-1.0.dist-info"
files = {
    "tinypkg/__init__.py": "VALUE = @VALUE@\n",
    di + "/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
    di + "/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
files[di + "/RECORD"] = "".join(p + ",,\n" for p in files) + di + "/RECORD,,\n"
with zipfile.ZipFile("/work/wheels/tinypkg-1.0-py3-none-any.whl", "w") as z:
    for path, text in files.items():
        z.writestr(path, text)
PY
pip install --no-index /work/wheels/tinypkg-1.0-py3-none-any.whl
"""

IMPORT_CODE = "import tinypkg\nprint(tinypkg.VALUE)"


def tiny_script(value):
    return TINY_SCRIPT.replace("@VALUE@", str(value))


# ---- helpers -------------------------------------------------------------------


def run_in(s, name, code, path="/execute-with-environment", timeout=30):
    status, r = s.request("POST", path, {"code": code, "environment": name, "timeout": timeout})
    assert status == 200, (status, r)
    return r


def db_query(s, sql, args=()):
    """Read the service's SQLite database directly, read-only."""
    con = sqlite3.connect(f"file:{s.state}/pysandbox.db?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def env_id(s, name):
    rows = db_query(s, "SELECT id FROM environments WHERE name = ?", (name,))
    assert len(rows) == 1, rows
    return rows[0][0]


def pool_uids(s):
    return set(hostinspect.uid_range(s)) | set(hostinspect.UID_RANGE)


def pool_processes(uids, token=None, root=None):
    """Live processes with a uid of the pool that carry token on their command line or descend from root."""
    procs = hostinspect.processes()
    found = []
    for pid, p in hostinspect.pool_processes(uids, procs):
        if (token and any(token in a for a in p["cmdline"])) or (root and hostinspect.descends_from(pid, root, procs)):
            found.append(hostinspect.describe(pid, procs))
    return found


def build_jails(s, build_id):
    """pysandbox-jail processes of this stack building environment id build_id (`--env .build-ID`)."""
    procs = hostinspect.processes()
    return [pid for pid, p in procs.items()
            if p["name"] == hostinspect.JAIL_NAME and f".build-{build_id}" in p["cmdline"]
            and hostinspect.descends_from(pid, s.proc.pid, procs)]


def stack_jails(s):
    """Every pysandbox-jail process of this stack running a run or a build (not the workers' idle standbys)."""
    procs = hostinspect.processes()
    return [pid for pid in hostinspect.stack_pids(s, procs) if procs[pid]["name"] in hostinspect.JAIL_NAMES
            and not hostinspect.is_standby_part(pid, procs)]


def build_dirs(s):
    try:
        return sorted(d for d in os.listdir(f"{s.state}/envs") if d.startswith((".build-", ".trash-")))
    except FileNotFoundError:
        return []


def default_interpreter(s):
    status, h = s.request("GET", "/health")
    assert status == 200, h
    defaults = [i["version"] for i in h["interpreters"] if i["default"]]
    assert len(defaults) == 1, h["interpreters"]
    return defaults[0], [i["version"] for i in h["interpreters"]]


def assert_env_object(env, name, description, python_version):
    assert ENV_FIELDS <= set(env), env
    assert env["name"] == name and env["description"] == description, env
    assert env["python_version"] == python_version, env
    assert TS.match(env["created_at"]) and TS.match(env["updated_at"]), env


def validation_errors(s, body, path="/environments"):
    status, resp = s.request("POST", path, body)
    assert status == 422, (body, status, resp)
    assert set(resp) == {"detail"} and isinstance(resp["detail"], list) and resp["detail"], resp
    return resp["detail"]


# ---- the life of one environment ---------------------------------------------------


def test_lifecycle_create_build_use_delete(make_service, record_property):
    s = make_service()
    version, _ = default_interpreter(s)
    env, took = create(s, "life", tiny_script(42), description="a tiny package")
    record_property("create_seconds", round(took, 4))
    assert took < 1.0, f"POST /environments took {took:.2f} s: the build must run in the background"
    # python_version omitted: the default interpreter's.
    assert_env_object(env, "life", "a tiny package", version)
    assert env["created_at"] == env["updated_at"]
    assert env["last_used"] is None and env["error"] is None

    assert get_env(s, "life")["status"] == "building"
    env = wait_ready(s, "life")
    record_property("build_seconds", env.get("build_seconds"))
    assert_env_object(env, "life", "a tiny package", version)
    assert env["error"] is None and env["last_used"] is None
    assert env["updated_at"] >= env["created_at"]
    home = f"{s.state}/envs/life"
    assert os.path.isfile(f"{home}/pyvenv.cfg") and os.access(f"{home}/bin/python", os.X_OK)

    status, listing = s.request("GET", "/environments")
    assert status == 200 and set(listing) == {"environments", "total"}, listing
    names = [e["name"] for e in listing["environments"]]
    assert names == ["life"] and listing["total"] == 1, listing
    assert listing["environments"][0] == get_env(s, "life")

    r = run_in(s, "life", IMPORT_CODE)
    assert (r["success"], r["status"], r["stdout"], r["environment"]) == (True, "ok", "42\n", "life"), r
    r = run_in(s, "life", IMPORT_CODE, path="/execute")
    assert (r["success"], r["status"], r["stdout"], r["environment"]) == (True, "ok", "42\n", "life"), r
    # Without the environment the package is not there.
    r = s.execute(IMPORT_CODE)
    assert r["status"] == "error" and "ModuleNotFoundError: No module named 'tinypkg'" in r["stderr"], r
    assert r["environment"] is None

    # last_used is written once the response has gone.
    env = wait_for("last_used to be set", lambda: (lambda e: e if e["last_used"] else None)(get_env(s, "life")))
    assert TS.match(env["last_used"]) and env["last_used"] >= env["created_at"], env

    eid = env_id(s, "life")
    assert db_query(s, "SELECT count(*) FROM build_logs WHERE env_id = ?", (eid,))[0][0] > 0
    status, body = s.request("DELETE", "/environments/life")
    assert status == 200 and set(body) == {"message"} and "life" in body["message"], (status, body)
    status, body = s.request("GET", "/environments/life")
    assert status == 404 and "life" in body["detail"], (status, body)
    status, body = s.request("POST", "/execute-with-environment", {"code": "print(1)", "environment": "life"})
    assert status == 404 and "life" in body["detail"], (status, body)
    status, body = s.request("GET", "/environments/life/logs")
    assert status == 404, (status, body)
    status, body = s.request("DELETE", "/environments/life")
    assert status == 404, (status, body)
    status, listing = s.request("GET", "/environments")
    assert listing == {"environments": [], "total": 0}, listing
    assert not os.path.exists(home)
    wait_for("the deleted environment's files to be removed", lambda: build_dirs(s) == [])
    assert os.listdir(f"{s.state}/envs") == []
    assert db_query(s, "SELECT count(*) FROM build_logs WHERE env_id = ?", (eid,)) == [(0,)]
    assert db_query(s, "SELECT count(*) FROM environments") == [(0,)]


# ---- the original README's examples -------------------------------------------------


from readme_client import SimplePySandboxClient  # noqa: E402  (the original README's client, verbatim)


def test_readme_examples(make_service):
    s = make_service()
    version, versions = default_interpreter(s)
    if "3.11" not in versions:
        pytest.skip(f"the README asks for python 3.11; this host has {versions}")
    # curl -X POST /environments, the README's body: builds in the background, then fails (no PyPI here).
    readme_body = {
        "name": "data-science",
        "description": "数据科学环境",
        "setup_script": "pip install numpy pandas matplotlib seaborn scikit-learn",
        "python_version": "3.11",
    }
    status, env = s.request("POST", "/environments", readme_body)
    assert status == 200, (status, env)
    assert_env_object(env, "data-science", "数据科学环境", "3.11")
    assert env["status"] == "building" and env["last_used"] is None and env["error"] is None

    # The README client's create_environment, built at the same time.
    client = SimplePySandboxClient(s.url)
    env = client.create_environment("readme-client", tiny_script(7), description="自定义环境")
    assert isinstance(env, dict), env
    assert_env_object(env, "readme-client", "自定义环境", "3.11")
    assert env["status"] == "building" and env["last_used"] is None and env["error"] is None

    status, listing = s.request("GET", "/environments")
    assert status == 200 and listing["total"] == 2, listing
    assert [e["name"] for e in listing["environments"]] == ["data-science", "readme-client"]

    wait_ready(s, "readme-client")
    result = client.execute_code("import tinypkg\nprint(tinypkg.VALUE)", environment="readme-client")
    assert (result["success"], result["stdout"], result["environment"]) == (True, "7\n", "readme-client"), result

    env = wait_built(s, "data-science")
    assert env["status"] == "failed", env
    m = re.fullmatch(r"the setup script exited with status (\d+)", env["error"] or "")
    assert m and int(m.group(1)) != 0, env
    lines = all_log_lines(s, "data-science")
    assert [l["seq"] for l in lines] == list(range(len(lines)))
    stderr = [l["line"] for l in lines if l["stream"] == "stderr"]
    assert any(l.startswith("ERROR:") and "numpy" in l for l in stderr), stderr
    assert lines[-1]["stream"] == "system" and lines[-1]["line"].endswith(env["error"]), lines[-1]

    # The README's execute-with-environment example on the failed environment, then its DELETE.
    status, body = s.request("POST", "/execute-with-environment", {
        "code": "import numpy as np\nprint(np.random.rand(3))", "environment": "data-science", "timeout": 30})
    assert status == 400 and "failed" in body["detail"], (status, body)
    status, body = s.request("DELETE", "/environments/data-science")
    assert status == 200 and "data-science" in body["message"], (status, body)
    status, listing = s.request("GET", "/environments")
    assert [e["name"] for e in listing["environments"]] == ["readme-client"] and listing["total"] == 1, listing


# ---- failures and validation ---------------------------------------------------


def test_failing_script_and_its_log(make_service):
    s = make_service()
    create(s, "fails", "echo before\necho to-stderr >&2\nexit 7\necho never")
    env = wait_built(s, "fails")
    assert env["status"] == "failed" and env["error"] == "the setup script exited with status 7", env
    lines = all_log_lines(s, "fails")
    assert [l["seq"] for l in lines] == list(range(len(lines))), lines
    for l in lines:
        assert set(l) == {"seq", "ts", "stream", "line"} and TS.match(l["ts"]), l
        assert l["stream"] in ("stdout", "stderr", "system"), l
    stdout = [l["line"] for l in lines if l["stream"] == "stdout"]
    assert stdout[-1] == "before" and "never" not in stdout, stdout
    assert stdout.index("pysandbox: running the setup script") < stdout.index("before")
    assert [l["line"] for l in lines if l["stream"] == "stderr"] == ["to-stderr"]
    assert lines[0]["stream"] == "system" and lines[0]["line"].startswith("build started"), lines[0]
    assert lines[-1]["stream"] == "system", lines[-1]
    assert re.fullmatch(r"build failed after [0-9.]+ s: the setup script exited with status 7", lines[-1]["line"])
    assert not os.path.exists(f"{s.state}/envs/fails")
    assert build_dirs(s) == []
    # A failed environment cannot be used: 400 on /execute-with-environment, a failed run on /execute
    # (the original's answers).
    status, body = s.request("POST", "/execute-with-environment", {"code": "print(1)", "environment": "fails"})
    assert status == 400 and "fails" in body["detail"] and "failed" in body["detail"], (status, body)
    status, body = s.request("POST", "/execute", {"code": "print(1)", "environment": "fails"})
    assert status == 200 and body["success"] is False and body["environment"] == "fails", (status, body)
    assert "fails" in body["error"] and "failed" in body["error"], body
    page = read_log(s, "fails")
    assert page["status"] == "failed" and page["complete"] is True


def test_python_version(make_service):
    s = make_service()
    version, versions = default_interpreter(s)
    errs = validation_errors(s, {"name": "old", "setup_script": "echo hi", "python_version": "2.7"})
    assert [e["loc"] for e in errs] == [["body", "python_version"]], errs
    msg = errs[0]["msg"]
    assert "2.7" in msg and all(v in msg for v in versions), (msg, versions)
    errs = validation_errors(s, {"name": "old", "setup_script": "echo hi", "python_version": 3.11})
    assert [e["loc"] for e in errs] == [["body", "python_version"]], errs
    assert s.request("GET", "/environments")[1]["total"] == 0
    # Explicitly the default's version, and omitted: both the default interpreter.
    env, _ = create(s, "explicit", "echo hi", python_version=version)
    assert env["python_version"] == version
    env, _ = create(s, "implicit", "echo hi")
    assert env["python_version"] == version
    for name in ("explicit", "implicit"):
        assert wait_ready(s, name)["python_version"] == version
    r = run_in(s, "implicit", "import sys\nprint('%d.%d' % sys.version_info[:2])")
    assert r["stdout"] == version + "\n", r


def test_create_validation(make_service):
    s = make_service()
    good = {"name": "dup", "setup_script": "echo hi"}
    create(s, "dup", "echo hi")
    status, body = s.request("POST", "/environments", good)
    assert status == 400 and body == {"detail": "Environment 'dup' already exists"}, (status, body)

    for bad in ["../x", "a b", "x" * 51, "", "a/b", "a\x00b", "é", ".", 7, None, ["a"], {"a": 1}]:
        errs = validation_errors(s, {"name": bad, "setup_script": "echo hi"})
        assert [e["loc"] for e in errs] == [["body", "name"]], (bad, errs)
    errs = validation_errors(s, {"setup_script": "echo hi"})
    assert errs == [{"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {"setup_script": "echo hi"},
                     "url": "https://errors.pydantic.dev/2.6/v/missing"}], errs

    for bad in ["", "   \n\t ", "x" * 65537, 5]:
        errs = validation_errors(s, {"name": "scr", "setup_script": bad})
        assert [e["loc"] for e in errs] == [["body", "setup_script"]], (repr(bad)[:40], errs)
    errs = validation_errors(s, {"name": "scr"})
    assert errs == [{"type": "missing", "loc": ["body", "setup_script"], "msg": "Field required", "input": {"name": "scr"},
                     "url": "https://errors.pydantic.dev/2.6/v/missing"}], errs

    errs = validation_errors(s, {"name": "desc", "setup_script": "echo hi", "description": "d" * 201})
    assert [e["loc"] for e in errs] == [["body", "description"]], errs
    errs = validation_errors(s, {"name": "desc", "setup_script": "echo hi", "description": 5})
    assert [e["loc"] for e in errs] == [["body", "description"]], errs
    # Several faults at once: each reported.
    errs = validation_errors(s, {"name": "a b", "setup_script": " ", "python_version": "2.7"})
    assert sorted(e["loc"][1] for e in errs) == ["name", "python_version", "setup_script"], errs
    for raw in (b"{", b"[]", b'"x"'):
        status, body = s.request("POST", "/environments", raw=raw)
        assert status == 422, (raw, status, body)

    # Nothing of that was stored.
    status, listing = s.request("GET", "/environments")
    assert [e["name"] for e in listing["environments"]] == ["dup"] and listing["total"] == 1, listing

    # The limits themselves are accepted: a 50-character name, 200 characters of description (not bytes),
    # a setup script of exactly 65536 bytes.
    script = "echo hi\n" + "#" * (65536 - len("echo hi\n"))
    assert len(script.encode()) == 65536
    accepted = [("n" * 50, {"setup_script": "echo hi"}),
                ("desc", {"setup_script": "echo hi", "description": "数" * 200}),
                ("big-script", {"setup_script": script})]
    for name, fields in accepted:
        env, _ = create(s, name, **fields)
        assert env["description"] == fields.get("description", ""), env
    status, listing = s.request("GET", "/environments")
    assert listing["total"] == 4, listing
    assert db_query(s, "SELECT length(CAST(setup_script AS BLOB)) FROM environments "
                       "WHERE name = 'big-script'") == [(65536,)]
    # Deleting them while they build (or wait for a slot) leaves nothing.
    for name in ["dup"] + [n for n, _ in accepted]:
        status, body = s.request("DELETE", f"/environments/{name}")
        assert status == 200, (name, status, body)
    assert s.request("GET", "/environments")[1] == {"environments": [], "total": 0}
    wait_for("every build to stop", lambda: not stack_jails(s))
    wait_for("no build directory left", lambda: build_dirs(s) == [] and os.listdir(f"{s.state}/envs") == [])


def test_preload_modules_are_imported_after_the_setup_script(make_service):
    s = make_service()
    # A module the setup script writes, and two of the standard library's: the build imports each once the
    # script has succeeded; the environment shows them, in order, and runs see them as usual.
    site = '"$(python -c \'import sysconfig; print(sysconfig.get_path("purelib"))\')"'
    script = f"echo 'print(\"mymod imported\")' > {site}/mymod.py\n"
    env, _ = create(s, "pre", script, preload=["mymod", "json", "xml.dom.minidom"])
    assert env["preload"] == ["mymod", "json", "xml.dom.minidom"], env
    env = wait_ready(s, "pre")
    assert env["preload"] == ["mymod", "json", "xml.dom.minidom"], env
    lines = [(l["stream"], l["line"]) for l in all_log_lines(s, "pre")]
    assert ("system", "preload: mymod json xml.dom.minidom") in lines, lines
    stdout = [line for stream, line in lines if stream == "stdout"]
    assert stdout[-2:] == ["pysandbox: importing the preload modules: mymod json xml.dom.minidom", "mymod imported"], lines
    assert run_in(s, "pre", "import mymod")["stdout"] == "mymod imported\n"

    # One that does not import fails the build, with the traceback in the log; the modules are imported in
    # order and the first failure stops it.
    create(s, "missing", "echo ok", preload=["json", "no_such_module_here", "never_tried"])
    env = wait_built(s, "missing")
    assert env["status"] == "failed", env
    assert env["error"] == ("a preload module could not be imported after the setup script (the build log "
                            "shows which, and why)"), env
    text = log_text(s, "missing")
    assert "ModuleNotFoundError: No module named 'no_such_module_here'" in text, text
    assert "pysandbox: the preload module no_such_module_here could not be imported" in text, text
    assert "never_tried" not in text.split("importing the preload modules")[-1].split("\n", 1)[1], text
    assert not os.path.exists(f"{s.state}/envs/missing")
    # A module that raises on import is as much a failure; a failing setup script is reported as itself, and
    # no module is imported after it.
    create(s, "raises", f"echo 'raise SystemExit(3)' > {site}/bad.py", preload=["bad"])
    assert wait_built(s, "raises")["error"].startswith("a preload module could not be imported")
    create(s, "script-fails", "exit 9", preload=["json"])
    env = wait_built(s, "script-fails")
    assert env["error"] == "the setup script exited with status 9", env
    assert "importing the preload modules" not in log_text(s, "script-fails")

    # Validation: a list of at most 32 distinct dotted module names; null or absent is none ([]).
    create(s, "null-preload", "echo hi", preload=None)
    create(s, "no-preload", "echo hi")
    listed = {e["name"]: e["preload"] for e in s.request("GET", "/environments")[1]["environments"]}
    assert listed == {"pre": ["mymod", "json", "xml.dom.minidom"], "missing": ["json", "no_such_module_here", "never_tried"],
                      "raises": ["bad"], "script-fails": ["json"], "null-preload": [], "no-preload": []}, listed
    for bad in ["json", 5, {"a": 1}, ["m%d" % i for i in range(33)]]:
        errs = validation_errors(s, {"name": "v", "setup_script": "echo hi", "preload": bad})
        assert [e["loc"] for e in errs] == [["body", "preload"]], (bad, errs)
    errs = validation_errors(s, {"name": "v", "setup_script": "echo hi",
                                 "preload": ["ok.mod", "1x", "a..b", "a.", "", "x-y", "é", 7, "a" * 101, "ok.mod"]})
    assert [e["loc"] for e in errs] == [["body", "preload", i] for i in range(1, 10)], errs
    assert [e["type"] for e in errs] == ["string_pattern_mismatch"] * 6 + ["string_type", "string_pattern_mismatch",
                                                                         "value_error"], errs
    assert errs[-1]["msg"] == "Value error, ok.mod is listed twice", errs
    create(s, "limits", "echo hi", preload=["a" * 100] + ["m%d" % i for i in range(31)])
    for name in ("null-preload", "no-preload", "limits"):	# (their builds are not this test's subject)
        assert s.request("DELETE", f"/environments/{name}")[0] == 200
    assert db_query(s, "SELECT preload FROM environments WHERE name = 'pre'") == [("mymod json xml.dom.minidom",)]


def test_unknown_environment_endpoints(make_service):
    s = make_service()
    for method, path in (("GET", "/environments/ghost"), ("DELETE", "/environments/ghost"),
                         ("GET", "/environments/ghost/logs"), ("GET", "/environments/ghost/logs?offset=0")):
        status, body = s.request(method, path)
        assert status == 404 and "ghost" in body["detail"], (method, path, status, body)
    status, body = s.request("POST", "/execute-with-environment", {"code": "print(1)", "environment": "ghost"})
    assert status == 404 and "ghost" in body["detail"], (status, body)
    status, body = s.request("POST", "/execute", {"code": "print(1)", "environment": "ghost"})
    assert status == 200 and body["success"] is False and "ghost" in body["error"], (status, body)


# ---- the build log ---------------------------------------------------------------


def test_log_read_from_a_position(make_service):
    s = make_service()
    create(s, "numbered", "for i in $(seq 1 10); do echo \"line $i\"; done")
    first = read_log(s, "numbered")
    # Right after the create the build has at most started: the log is not complete.
    assert first["status"] == "building" and first["complete"] is False, first
    wait_ready(s, "numbered")

    page = read_log(s, "numbered", offset=0, limit=3)
    assert set(page) == {"name", "status", "offset", "next_offset", "complete", "lines"}, page
    assert (page["name"], page["status"], page["offset"], page["next_offset"], page["complete"]) == \
        ("numbered", "ready", 0, 3, False), page
    assert [l["seq"] for l in page["lines"]] == [0, 1, 2], page
    seen = list(page["lines"])
    pages = 1
    while not page["complete"]:
        page = read_log(s, "numbered", offset=page["next_offset"], limit=3)
        pages += 1
        assert page["offset"] == seen[-1]["seq"] + 1, page
        assert len(page["lines"]) <= 3
        seen += page["lines"]
        assert pages < 100
    assert [l["seq"] for l in seen] == list(range(len(seen))), seen
    whole = read_log(s, "numbered")
    assert whole["lines"] == seen and whole["complete"] is True and whole["next_offset"] == len(seen), whole
    stdout = [l["line"] for l in seen if l["stream"] == "stdout"]
    assert stdout[-10:] == [f"line {i}" for i in range(1, 11)], stdout
    assert seen[-1]["stream"] == "system" and seen[-1]["line"].startswith("build succeeded"), seen[-1]
    # Past the end: nothing, the same position, complete.
    end = read_log(s, "numbered", offset=len(seen), limit=5)
    assert (end["lines"], end["next_offset"], end["complete"]) == ([], len(seen), True), end
    far = read_log(s, "numbered", offset=10_000, limit=5)
    assert (far["lines"], far["next_offset"], far["complete"]) == ([], 10_000, True), far
    # The last line alone.
    last = read_log(s, "numbered", offset=len(seen) - 1, limit=1)
    assert last["lines"] == seen[-1:] and last["next_offset"] == len(seen), last

    for query in ("offset=-1", "offset=abc", "offset=", "offset=1.5", "limit=0", "limit=-3", "limit=x",
                  "limit=10001"):
        status, body = s.request("GET", f"/environments/numbered/logs?{query}")
        assert status == 422, (query, status, body)
        assert isinstance(body["detail"], list) and body["detail"][0]["loc"][0] == "query", (query, body)
    status, body = s.request("GET", "/environments/nothere/logs?offset=0&limit=3")
    assert status == 404 and "nothere" in body["detail"], (status, body)


# ---- cancelling, crashing --------------------------------------------------------------


def test_delete_during_build_cancels_it(make_service, record_property):
    s = make_service()
    uids = pool_uids(s)
    token = f"30.{secrets.randbelow(10 ** 6):06d}"
    create(s, "slow", f"echo started\nsleep {token}\necho finished")
    wait_for("the setup script to start", lambda: any(
        l["line"] == "started" for l in read_log(s, "slow")["lines"]), timeout=BUILD_WAIT)
    eid = env_id(s, "slow")
    assert build_jails(s, eid), "no jail found for the build"
    assert pool_processes(uids, token=token), "the setup script's sleep is not running"
    assert os.path.isdir(f"{s.state}/envs/.build-{eid}")
    # Using it while it builds: 400 naming the status, or on /execute a failed run naming it.
    status, body = s.request("POST", "/execute-with-environment", {"code": "print(1)", "environment": "slow"})
    assert status == 400 and "building" in body["detail"], (status, body)
    status, body = s.request("POST", "/execute", {"code": "print(1)", "environment": "slow"})
    assert status == 200 and body["success"] is False and "building" in body["error"], (status, body)

    t0 = time.monotonic()
    status, body = s.request("DELETE", "/environments/slow")
    took = time.monotonic() - t0
    assert status == 200 and "slow" in body["message"], (status, body)
    assert took < 1.0, f"DELETE took {took:.2f} s"
    status, body = s.request("GET", "/environments/slow")
    assert status == 404, (status, body)
    wait_for("the build to stop", lambda: not stack_jails(s) and not pool_processes(uids, token=token),
             timeout=10)
    record_property("cancel_seconds", round(time.monotonic() - t0, 3))
    wait_for("the build directory to go", lambda: build_dirs(s) == [], timeout=10)
    assert os.listdir(f"{s.state}/envs") == []
    assert db_query(s, "SELECT count(*) FROM build_logs WHERE env_id = ?", (eid,)) == [(0,)]
    assert db_query(s, "SELECT count(*) FROM environments") == [(0,)]
    assert pool_processes(uids, root=s.proc.pid) == []

    # The same name again: a new, complete build of its own.
    create(s, "slow", "echo again")
    env = wait_ready(s, "slow")
    assert env["error"] is None
    lines = all_log_lines(s, "slow")
    assert [l["seq"] for l in lines] == list(range(len(lines)))
    stdout = [l["line"] for l in lines if l["stream"] == "stdout"]
    assert stdout[-1] == "again" and "started" not in stdout and "finished" not in stdout, stdout
    assert sorted(os.listdir(f"{s.state}/envs")) == ["slow"]


def test_delete_during_build_then_create_at_once(make_service):
    """The usual retry: delete a build and create the same name again at once; the old build must stop
    and must not touch the new environment (its row, its log, its directory)."""
    s = make_service()
    uids = pool_uids(s)
    token = f"30.{secrets.randbelow(10 ** 6):06d}"
    create(s, "retry", f"echo old-build\nsleep {token}\necho old-finished")
    wait_for("the old setup script to start", lambda: any(
        l["line"] == "old-build" for l in read_log(s, "retry")["lines"]), timeout=BUILD_WAIT)
    status, body = s.request("DELETE", "/environments/retry")
    assert status == 200, (status, body)
    create(s, "retry", "echo new-build")
    wait_for("the old build to stop", lambda: not pool_processes(uids, token=token), timeout=10)
    env = wait_ready(s, "retry")
    assert env["error"] is None, env
    lines = all_log_lines(s, "retry")
    texts = [l["line"] for l in lines]
    assert [l["seq"] for l in lines] == list(range(len(lines))), lines
    assert "old-build" not in texts and "old-finished" not in texts, texts
    assert len([t for t in texts if t.startswith("build started")]) == 1, texts
    assert [l["line"] for l in lines if l["stream"] == "stdout"][-1] == "new-build", texts
    r = run_in(s, "retry", "print('new')")
    assert r["stdout"] == "new\n", r
    wait_for("no build directory left", lambda: build_dirs(s) == [], timeout=10)
    assert sorted(os.listdir(f"{s.state}/envs")) == ["retry"]


def test_sigkill_during_build_then_restart(make_service):
    old = make_service()
    uids = pool_uids(old)
    token = f"60.{secrets.randbelow(10 ** 6):06d}"
    # Two builds take both slots (max_builds = 2); the third waits for one.
    create(old, "victim-a", f"echo started\nsleep {token}")
    create(old, "victim-b", f"echo started\nsleep {token}")
    create(old, "queued", "echo queued")
    for name in ("victim-a", "victim-b"):
        wait_for(f"{name} to start", lambda: any(l["line"] == "started" for l in read_log(old, name)["lines"]),
                 timeout=BUILD_WAIT)
    assert db_query(old, "SELECT build_started_at IS NULL FROM environments WHERE name = 'queued'") == [(1,)]

    procs = hostinspect.processes()
    runtime = hostinspect.runtime_dir(old, procs)
    assert runtime and os.path.isdir(runtime), runtime
    stack = {identity(p) for p in hostinspect.stack_pids(old, procs)} - {None}
    names = {procs[p]["name"] for p, _ in stack if p in procs}
    assert {hostinspect.JAIL_NAME, "pysandbox-build", hostinspect.DAEMON_NAME, "nginx"} <= names, names
    try:
        os.killpg(old.proc.pid, signal.SIGKILL)
        old.proc.wait(timeout=10)

        def gone():
            left = [i for i in stack if identity(i[0]) == i]
            return not left and not pool_processes(uids, token=token) and \
                not [p for p, i in hostinspect.processes().items() if any(runtime in a for a in i["cmdline"])]
        wait_for("every process of the killed stack to end", gone, timeout=15)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    # What the crash left: two builds marked running, their build directories.
    rows = dict(db_query(old, "SELECT name, status FROM environments"))
    assert rows == {"victim-a": "building", "victim-b": "building", "queued": "building"}, rows
    assert len([d for d in build_dirs(old) if d.startswith(".build-")]) == 2, build_dirs(old)

    new = make_service(state=old.state)
    try:
        # What the service says as soon as it answers; judged at the end, after the rest has been checked.
        first = {name: get_env(new, name)["status"] for name in ("victim-a", "victim-b")}
        for name in ("victim-a", "victim-b"):
            env = wait_built(new, name, timeout=10)
            assert env["status"] == "failed" and "interrupted" in env["error"], env
            page = read_log(new, name)
            assert page["complete"] is True and any(l["line"] == "started" for l in page["lines"]), page
        # The queued one had not started: it is built now.
        env = wait_ready(new, "queued")
        assert all_log_lines(new, "queued")[-2]["line"] == "queued"
        status, listing = new.request("GET", "/environments")
        assert sorted((e["name"], e["status"]) for e in listing["environments"]) == \
            [("queued", "ready"), ("victim-a", "failed"), ("victim-b", "failed")], listing
        assert db_query(new, "SELECT count(*) FROM environments WHERE status = 'building'") == [(0,)]
        wait_for("the crashed builds' directories to be removed", lambda: build_dirs(new) == [], timeout=10)
        assert sorted(os.listdir(f"{new.state}/envs")) == ["queued"]
        assert db_query(new, "PRAGMA integrity_check") == [("ok",)]
        assert db_query(new, "PRAGMA foreign_key_check") == []
        r = run_in(new, "queued", "print('after the crash')")
        assert r["stdout"] == "after the crash\n", r
        # A build no process runs any more is never reported as "building" once the service answers.
        assert first == {"victim-a": "failed", "victim-b": "failed"}, \
            f"right after the restart the dead builds were still reported as {first}"
    finally:
        new.stop()


def test_sigterm_during_build_then_restart(make_service):
    """A graceful stop ends a running build and records it as interrupted; a restart keeps that."""
    state = tempfile.mkdtemp(prefix="pysandbox-test-state.")
    try:
        old = make_service(state=state)
        create(old, "stopped", "echo started\nsleep 60")
        wait_for("the setup script to start", lambda: any(
            l["line"] == "started" for l in read_log(old, "stopped")["lines"]), timeout=BUILD_WAIT)
        t0 = time.monotonic()
        old.stop()
        assert old.proc.returncode is not None and time.monotonic() - t0 < 25
        new = make_service(state=state)
        try:
            env = get_env(new, "stopped")
            assert env["status"] == "failed" and "interrupted" in env["error"], env
            lines = all_log_lines(new, "stopped")
            assert [l["seq"] for l in lines] == list(range(len(lines)))
            assert lines[-1]["stream"] == "system" and "interrupted" in lines[-1]["line"], lines[-1]
            assert build_dirs(new) == [] and os.listdir(f"{state}/envs") == []
            assert db_query(new, "PRAGMA integrity_check") == [("ok",)]
        finally:
            new.stop()
    finally:
        shutil.rmtree(state, ignore_errors=True)


def test_build_timeout(make_service):
    s = make_service(extra_conf="[environments]\nbuild_timeout = 6\n")
    uids = pool_uids(s)
    token = f"60.{secrets.randbelow(10 ** 6):06d}"
    create(s, "too-slow", f"echo started\nsleep {token}")
    env = wait_built(s, "too-slow")
    # The timeout covers the whole build (on a loaded host it may strike while the venv is still created).
    assert env["status"] == "failed" and env["error"] == "the setup script timed out after 6 seconds", env
    assert "timed out after 6 seconds" in all_log_lines(s, "too-slow")[-1]["line"]
    assert wait_for("the script's sleep to end", lambda: not pool_processes(uids, token=token), timeout=5)
    assert build_dirs(s) == [] and os.listdir(f"{s.state}/envs") == []


# ---- hostile setup scripts ---------------------------------------------------------------


def test_hostile_setup_script(make_service):
    s = make_service()
    uids = pool_uids(s)
    tok = f"{secrets.randbelow(10 ** 6):06d}"
    try:
        with open("/etc/shadow") as f:
            shadow = [l for l in f.read().splitlines() if l.strip()]
    except OSError:
        shadow = []
    with open("/etc/passwd", "rb") as f:
        passwd_before = hashlib.sha256(f.read()).hexdigest()
    attempts = [
        ("shadow", "cat /etc/shadow"),
        ("proc1", "cat /proc/1/root/etc/shadow"),
        ("usr", f"touch /usr/pysbx-{tok}"),
        ("usrlib", f"touch /usr/lib/pysbx-{tok}"),
        ("etc", f"touch /etc/pysbx-{tok}"),
        ("passwd", "echo x >> /etc/passwd"),
        ("envdotdot", f"touch /env/../pysbx-{tok}"),
        ("root", f"touch /pysbx-{tok}"),
        ("work", f"touch /work/ok-{tok}"),
        ("env", f"touch /env/ok-{tok}"),
    ]
    # set +e: each attempt's status is echoed, past the failures (setup scripts run under set -e).
    script = "set +e\n" + "".join(f'{cmd}; echo "{key}=$?"\n' for key, cmd in attempts)
    script += (f"(sleep 300.{tok} &)\n"
               f"nohup sleep 301.{tok} >/dev/null 2>&1 &\n"
               f"setsid sleep 302.{tok} &\n"
               f"setsid -f sleep 303.{tok} >/dev/null 2>&1\n"
               f"sleep 304.{tok} </dev/null >/dev/null 2>&1 & disown\n"
               "echo done\n")
    create(s, "hostile", script)
    env = wait_built(s, "hostile")
    lines = all_log_lines(s, "hostile")
    text = "\n".join(l["line"] for l in lines)
    assert env["status"] == "ready", (env, text)

    stdout = [l["line"] for l in lines if l["stream"] == "stdout"]
    ran = stdout[stdout.index("pysandbox: running the setup script") + 1:]
    expected = [f"{key}=1" for key, _ in attempts[:-2]] + ["work=0", "env=0", "done"]
    assert ran == expected, text
    stderr = [l["line"] for l in lines if l["stream"] == "stderr"]
    denied = ("Permission denied", "Read-only file system")
    for path in (f"/usr/pysbx-{tok}", f"/usr/lib/pysbx-{tok}", f"/etc/pysbx-{tok}", f"/env/../pysbx-{tok}",
                 f"/pysbx-{tok}"):
        msgs = [l for l in stderr if l.startswith(f"touch: cannot touch '{path}': ")]
        assert len(msgs) == 1 and msgs[0].endswith(denied), (path, stderr)
    assert any(l.endswith("/etc/passwd: " + d) for l in stderr for d in denied), stderr
    assert any(l.startswith("cat: /etc/shadow: ") for l in stderr), stderr
    assert any(l.startswith("cat: /proc/1/root/etc/shadow: ") for l in stderr), stderr
    for secret in shadow:
        assert secret not in text

    # The host is untouched; the venv kept what the script put in it, and only that.
    for d in ("/", "/usr", "/usr/lib", "/etc", f"{s.state}/envs"):
        assert not [n for n in os.listdir(d) if tok in n], d
    with open("/etc/passwd", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == passwd_before
    assert os.path.isfile(f"{s.state}/envs/hostile/ok-{tok}")

    # Nothing the script started survived the build.
    assert wait_for("the script's processes to be gone", lambda: not pool_processes(uids, token=f".{tok}"),
                    timeout=5) is True
    assert pool_processes(uids, root=s.proc.pid) == []
    r = run_in(s, "hostile", f"import os\nprint(os.path.exists('/env/ok-{tok}'))")
    assert r["stdout"] == "True\n", r


# ---- concurrency and isolation ---------------------------------------------------------


def test_two_builds_and_two_runs_at_once(make_service):
    s = make_service()
    create(s, "conc-a", tiny_script(1))
    create(s, "conc-b", tiny_script(2))

    def both_building():
        a, b = read_log(s, "conc-a"), read_log(s, "conc-b")
        # Each build's jail has spoken (the venv is being created) while the other is still building.
        return a["status"] == b["status"] == "building" and len(a["lines"]) >= 2 and len(b["lines"]) >= 2
    wait_for("both builds to run at the same time", both_building, timeout=BUILD_WAIT)
    for name in ("conc-a", "conc-b"):
        wait_ready(s, name)

    code = ("import time, tinypkg\nt0 = time.time()\ntime.sleep(1.5)\n"
            "print(tinypkg.VALUE, tinypkg.__file__, t0, time.time())")
    results = {}

    def go(name, path):
        results[name] = run_in(s, name, code, path=path)
    threads = [threading.Thread(target=go, args=("conc-a", "/execute-with-environment")),
               threading.Thread(target=go, args=("conc-b", "/execute"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(results) == {"conc-a", "conc-b"}, results
    spans = {}
    for name, value in (("conc-a", "1"), ("conc-b", "2")):
        r = results[name]
        assert r["status"] == "ok" and r["environment"] == name, r
        v, path, start, end = r["stdout"].split()
        assert v == value and path.startswith("/env/lib/"), r
        spans[name] = (float(start), float(end))
    (a0, a1), (b0, b1) = spans["conc-a"], spans["conc-b"]
    assert a0 < b1 and b0 < a1, f"the runs did not overlap: {spans}"


def test_run_cannot_modify_its_environment(make_service):
    s = make_service()
    create(s, "ro", tiny_script(42))
    wait_ready(s, "ro")
    host_init = f"{s.state}/envs/ro/lib"
    found = [os.path.join(d, f) for d, _, fs in os.walk(host_init) for f in fs
             if f == "__init__.py" and d.endswith("/site-packages/tinypkg")]
    assert len(found) == 1, found
    with open(found[0]) as f:
        assert f.read() == "VALUE = 42\n"
    code = """
import errno, os, shutil, tinypkg
pkg = os.path.dirname(tinypkg.__file__)
def attempt(f, *a):
    try:
        f(*a)
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
print(attempt(lambda: open(pkg + "/__init__.py", "w").write("VALUE = 0\\n")))
print(attempt(lambda: open(pkg + "/evil.py", "w").write("x = 1\\n")))
print(attempt(os.remove, pkg + "/__init__.py"))
print(attempt(lambda: open("/env/pyvenv.cfg", "a").write("x")))
print(attempt(os.mkdir, "/env/lib/new"))
print(attempt(shutil.rmtree, "/env/bin"))
print(attempt(os.chmod, pkg, 0o777))
"""
    r = run_in(s, "ro", code)
    got = r["stdout"].split()
    # Appending to a file the run's uid does not own may be refused for that (EACCES) before the mount's
    # read-only flag is looked at; every other attempt meets the read-only mount.
    assert len(got) == 7 and got[3] in ("EROFS", "EACCES"), r
    assert got[:3] + got[4:] == ["EROFS"] * 6, r
    r = run_in(s, "ro", IMPORT_CODE)
    assert r["stdout"] == "42\n", r
    with open(found[0]) as f:
        assert f.read() == "VALUE = 42\n"
    assert sorted(os.listdir(os.path.dirname(found[0]))) in (["__init__.py"], ["__init__.py", "__pycache__"])


def test_runs_table_records_each_execute(make_service):
    s = make_service()
    create(s, "runs-env", tiny_script(5))
    wait_ready(s, "runs-env")
    assert db_query(s, "SELECT count(*) FROM runs") == [(0,)]
    assert run_in(s, "runs-env", IMPORT_CODE)["stdout"] == "5\n"
    assert run_in(s, "runs-env", IMPORT_CODE, path="/execute")["stdout"] == "5\n"
    assert s.execute("print('plain')")["stdout"] == "plain\n"
    r = run_in(s, "runs-env", "import tinypkg, sys\nsys.exit(tinypkg.VALUE - 2)")
    assert (r["status"], r["exit_code"]) == ("error", 3), r
    wait_for("four runs to be recorded", lambda: db_query(s, "SELECT count(*) FROM runs") == [(4,)])
    assert sorted(db_query(s, "SELECT status, count(*) FROM runs GROUP BY status")) == [("error", 1), ("ok", 3)]
    rows = db_query(s, "SELECT status, environment, exit_code, http_status, count(*) FROM runs "
                       "GROUP BY status, environment, exit_code, http_status")
    assert sorted(rows, key=repr) == sorted([("error", "runs-env", 3, 200, 1), ("ok", "runs-env", 0, 200, 2),
                                             ("ok", None, 0, 200, 1)], key=repr), rows
    for started, duration, bytes_in, bytes_out in db_query(
            s, "SELECT started_at, duration, bytes_in, bytes_out FROM runs"):
        assert TS.match(started) and duration > 0 and bytes_in > 0 and bytes_out > 0
