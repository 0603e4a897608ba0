"""test_admin.py: pysandbox-admin (HTTP and SQLite verbs) and the www/examples clients against a real stack and its database."""
import collections
import importlib.util
import inspect
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time

import pytest
from hostinspect import wait_for

SRC = os.environ.get("top_srcdir") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ADMIN = os.path.join(SRC, "src", "admin", "pysandbox-admin")
EXAMPLES = os.path.join(SRC, "www", "examples")
PY = "/usr/bin/python3"

# No PyPI here: the setup script writes a tiny setup.py package into /work and installs it offline.
# (setup.py, not pyproject.toml: the venv's setuptools has no `wheel`, so pip uses setup.py install.)
# The sleep keeps the build going long enough to see its log arrive while it runs.
TINY_SETUP = r"""set -e
echo "making tinypkg"
mkdir -p /work/pkg/tinypkg
printf 'VALUE = 42\n' > /work/pkg/tinypkg/__init__.py
cat > /work/pkg/setup.py <<'PY'
from setuptools import setup
setup(name="tinypkg", version="1.0", packages=["tinypkg"])
PY
sleep 1
pip install --no-index /work/pkg
echo "tinypkg installed"
"""

FAIL_SETUP = """echo "about to fail"
echo "oops" >&2
sleep 1
exit 7
"""

FAIL_REASON = "the setup script exited with status 7"


# ---- helpers -------------------------------------------------------------------


@pytest.fixture
def workdir():
    """A scratch directory for setup scripts and configs, removed afterwards."""
    d = tempfile.mkdtemp(prefix="pysandbox-admin-test.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def db_path(s):
    return os.path.join(s.state, "pysandbox.db")


def admin(*args, s=None, url=None, db=None, stdin="", timeout=60):
    """Run pysandbox-admin; the service's URL and database come from s unless given."""
    cmd = [ADMIN]
    if s is not None or url:
        cmd += ["--url", url or s.url]
    if s is not None or db:
        cmd += ["--db", db or db_path(s)]
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, text=True, timeout=timeout)


def ok(p):
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p.stdout


def one_line_failure(p, code, *words):
    """Exit `code` with one line on stderr naming the problem."""
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    err = p.stderr.strip()
    if code == 1:
        assert "\n" not in err, err
    assert err.startswith("pysandbox-admin: "), err
    for w in words:
        assert w in err, (w, err)
    return err


def jout(p):
    return json.loads(ok(p))


def count_runs(s):
    con = sqlite3.connect(f"file:{db_path(s)}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        con.close()


def api_log(s, name):
    status, body = s.request("GET", f"/environments/{name}/logs?offset=0&limit=10000")
    assert status == 200, (status, body)
    return body["lines"]


def log_text(lines):
    """The human format of logs and wait: time, stream padded to 6, text."""
    return [f'{l["ts"]} {l["stream"]:<6} {l["line"]}' for l in lines]


def nearest_rank(values, p):
    v = sorted(values)
    return v[max(1, -(-p * len(v) // 100)) - 1]


class Proc:
    """A pysandbox-admin run in the background whose output lines are time-stamped as they arrive."""

    def __init__(self, *args):
        self.p = subprocess.Popen([ADMIN] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def lines(self, timeout=90):
        """[(seconds since start, line)], read until exit; then the exit status and stderr."""
        t0 = time.monotonic()
        out = []
        try:
            for line in self.p.stdout:
                out.append((time.monotonic() - t0, line.rstrip("\n")))
                if time.monotonic() - t0 > timeout:
                    raise AssertionError("pysandbox-admin ran too long: " + repr(out))
            self.p.wait(timeout=timeout)
        finally:
            self.kill()
        self.ended = time.monotonic() - t0
        self.rc = self.p.returncode
        self.stderr = self.p.stderr.read()
        return out

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


# ---- help and usage ----------------------------------------------------------------

VERBS = ["list", "create", "info", "delete", "wait", "logs", "runs", "stats", "db", "prune"]


def test_help_usage_errors_and_shellcheck():
    top = ok(admin("--help"))
    for verb in VERBS:
        assert verb in top
    assert "http://127.0.0.1:8000" in top and "PYSANDBOX_URL" in top and "--json" in top
    for verb in VERBS:
        text = ok(admin(verb, "--help"))
        assert text.startswith("usage: pysandbox-admin") and verb in text.splitlines()[0], text
        assert ok(admin("help", verb)) == text
    assert "--wait-timeout MINUTES" in ok(admin("create", "--help"))
    assert "default 10" in ok(admin("wait", "-h"))
    assert ok(admin("--version")).startswith("pysandbox-admin ")

    bad = [
        [],                                         # no verb
        ["frobnicate"],                             # unknown verb
        ["list", "--bogus"],                        # unknown option
        ["list", "extra"],
        ["info"],                                   # missing name
        ["info", "a", "b"],
        ["info", "bad name"],                       # name outside ^[A-Za-z0-9_-]{1,50}$
        ["info", "x" * 51],
        ["delete", "../etc"],
        ["create", "onlyname"],
        ["create", "n", "script.sh", "--wait-timeout", "soon"],
        ["create", "n", "script.sh", "--description"],  # option without its value
        ["wait", "n", "--timeout", "-1"],
        ["logs", "it's"],
        ["runs", "--since", "3 days"],
        ["runs", "--since", "1y"],
        ["runs", "--limit", "0"],
        ["runs", "--limit", "5; DROP TABLE runs"],
        ["runs", "--env", "x' OR '1'='1"],
        ["stats", "extra"],
        ["db"],
        ["db", "repair"],
        ["--config", "/nonexistent/pysandbox.conf", "prune"],	# no duration, no retention_days to read
        ["prune", "--older-than", "soon"],
        ["--url", "ftp://host", "list"],
    ]
    for args in bad:
        p = admin(*args)
        assert p.returncode == 2, (args, p.returncode, p.stdout, p.stderr)
        assert p.stderr.startswith("pysandbox-admin") or p.stderr.startswith("usage:"), (args, p.stderr)
        assert p.stdout == "", (args, p.stdout)

    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    for script in (ADMIN, os.path.join(EXAMPLES, "curl-examples.sh")):
        r = subprocess.run(["shellcheck", script], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout


# ---- an environment's life, and the runs in it --------------------------------


def test_environment_lifecycle_runs_stats_prune(make_service, workdir):
    s = make_service()
    tiny = write(os.path.join(workdir, "tiny.sh"), TINY_SETUP)

    assert "(no environments)" in ok(admin("list", s=s))
    assert jout(admin("list", "--json", s=s)) == {"environments": [], "total": 0}

    # create --wait: the log is shown while the build runs, then the final status.
    proc = Proc("--url", s.url, "create", "tiny", tiny, "--description", "a tiny package", "--wait")
    out = proc.lines()
    assert proc.rc == 0, (out, proc.stderr)
    text = [l for _, l in out]
    assert text[:3] == ["🔧 Creating environment 'tiny'...", f"📄 Setup script: {tiny}", "🐍 Python version: 3.11"]
    assert "✅ Environment created!" in text and "   Status: building" in text
    assert "⏳ Waiting for environment 'tiny' to finish building..." in text
    assert text[-1].startswith("✅ Environment build finished!"), text
    lines = api_log(s, "tiny")
    shown = [l for l in text if l.startswith("   20")]
    assert shown == ["   " + l for l in log_text(lines)], (shown, lines)   # every line once, in order
    assert any("making tinypkg" in l for l in shown) and any("Successfully installed tinypkg-1.0" in l for l in shown)
    first = next(t for t, l in out if "build started" in l)
    assert proc.ended - first > 1.0, "the log was not shown while the build ran"

    # Known runs: four with the default interpreter, three in tiny, two refused.
    assert s.execute("print(1)")["status"] == "ok"
    assert s.execute("print(2)")["status"] == "ok"
    assert s.execute("import sys; sys.exit(3)")["exit_code"] == 3
    assert s.execute("while True: pass", timeout=1)["status"] == "timeout"
    for code in ("import tinypkg; print(tinypkg.VALUE)", "print(0)"):
        r = s.execute(code, environment="tiny")
        assert r["status"] == "ok", r
    assert s.execute("raise SystemExit(4)", environment="tiny")["exit_code"] == 4
    assert s.request("POST", "/execute", {"code": "   "})[0] == 400
    assert s.request("POST", "/execute-with-environment", {"code": "print(1)", "environment": "nope"})[0] == 404
    wait_for("9 run records", lambda: count_runs(s) == 9)

    # list and info, human and JSON
    listing = ok(admin("list", s=s))
    for want in ("📋 Environments:", "   1 environment:", "   ✅ tiny", "      Status: ready",
                 "      Description: a tiny package", "      Python version: 3.11", "      Created: 20"):
        assert want in listing, (want, listing)
    wait_for("last_used", lambda: "      Last used: 20" in ok(admin("list", s=s)))
    lj = jout(admin("list", "--json", s=s))
    assert lj["total"] == 1 and lj["environments"][0]["status"] == "ready"
    info = ok(admin("info", "tiny", s=s))
    for want in ("🔍 Environment: tiny", "   ✅ Name: tiny", "   📝 Description: a tiny package",
                 "   🐍 Python version: 3.11", "   📊 Status: ready", "   📅 Created: 20", "   🕐 Last used: 20",
                 "   ⏱  Build time: ", "   💾 Size: "):
        assert want in info, (want, info)
    assert jout(admin("--json", "info", "tiny", s=s)) == s.request("GET", "/environments/tiny")[1]
    one_line_failure(admin("info", "nope", s=s), 1, "environment 'nope' not found")

    # logs from SQLite: the same lines as the API, with timestamps
    logs = ok(admin("logs", "tiny", s=s)).splitlines()
    assert logs == log_text(lines) + ["-- ✅ ready"]
    lj = jout(admin("logs", "tiny", "--json", s=s))
    assert lj["name"] == "tiny" and lj["status"] == "ready" and lj["error"] is None and lj["lines"] == lines
    one_line_failure(admin("logs", "nope", s=s), 1, "environment 'nope' not found")

    # runs
    runs = jout(admin("runs", "--json", s=s))
    assert runs["total"] == 9 and len(runs["runs"]) == 9
    assert collections.Counter(r["status"] for r in runs["runs"]) == {"ok": 4, "error": 2, "timeout": 1, "rejected": 2}
    # A request refused for its environment is recorded under that environment's name.
    assert collections.Counter(r["environment"] for r in runs["runs"]) == {None: 5, "tiny": 3, "nope": 1}
    assert sorted(r["exit_code"] for r in runs["runs"] if r["status"] == "error") == [3, 4]
    assert sorted(r["http_status"] for r in runs["runs"]) == [200] * 7 + [400, 404]
    # Newest start first (ids follow the order the records were written: after each answer, by any worker).
    keys = [(r["started_at"], r["id"]) for r in runs["runs"]]
    assert keys == sorted(keys, reverse=True), keys
    ids = [r["id"] for r in runs["runs"]]
    assert [r["id"] for r in jout(admin("runs", "--limit", "2", "--json", s=s))["runs"]] == ids[:2]
    failed = jout(admin("runs", "--failed", "--json", s=s))
    assert collections.Counter(r["status"] for r in failed["runs"]) == {"error": 2, "timeout": 1, "rejected": 2}
    in_tiny = jout(admin("runs", "--env", "tiny", "--json", s=s))
    assert in_tiny["total"] == 3 and {r["environment"] for r in in_tiny["runs"]} == {"tiny"}
    assert jout(admin("runs", "--env", "tiny", "--failed", "--json", s=s))["total"] == 1
    assert jout(admin("runs", "--since", "1h", "--json", s=s))["total"] == 9
    assert ok(admin("runs", "--env", "other", s=s)).strip() == "(no runs)"
    table = ok(admin("runs", s=s)).splitlines()
    assert table[0].split() == ["TIME", "ENVIRONMENT", "DURATION", "STATUS", "EXIT", "HTTP"]
    assert len(table) == 10
    assert sum(" tiny " in l for l in table) == 3 and sum(" rejected " in l for l in table) == 2
    assert sum(" timeout " in l for l in table) == 1

    # stats: exact counts; percentiles by nearest rank over the runs (rejected requests apart)
    st = jout(admin("stats", "--json", s=s))
    assert st["since"] is None
    by_env = {e["environment"]: e for e in st["environments"]}
    assert set(by_env) == {None, "tiny", "nope"}
    default, in_env, nope = by_env[None], by_env["tiny"], by_env["nope"]
    assert (nope["runs"], nope["failed"], nope["rejected"]) == (0, 0, 1)
    ran = [r for r in runs["runs"] if r["status"] != "rejected"]
    d_default = [r["duration"] for r in ran if r["environment"] is None]
    d_tiny = [r["duration"] for r in ran if r["environment"] == "tiny"]
    assert default["environment"] is None and (default["runs"], default["failed"], default["rejected"]) == (4, 2, 1)
    assert default["failure_rate"] == 0.5
    assert in_env["environment"] == "tiny" and (in_env["runs"], in_env["failed"], in_env["rejected"]) == (3, 1, 0)
    assert in_env["failure_rate"] == 0.3333
    assert (default["p50"], default["p95"]) == (nearest_rank(d_default, 50), nearest_rank(d_default, 95))
    assert (in_env["p50"], in_env["p95"]) == (nearest_rank(d_tiny, 50), nearest_rank(d_tiny, 95))
    assert default["p95"] >= 1.0 > default["p50"]          # the timed-out run is the slowest
    a = st["all"]
    assert (a["runs"], a["failed"], a["rejected"], a["failure_rate"]) == (7, 3, 2, 0.4286)
    assert a["p95"] == nearest_rank(d_default + d_tiny, 95) == max(d_default + d_tiny)
    assert a["last_used"] == max(r["started_at"] for r in ran)
    assert in_env["last_used"] == max(r["started_at"] for r in ran if r["environment"] == "tiny")
    human = ok(admin("stats", s=s)).splitlines()
    assert human[0].split()[:6] == ["ENVIRONMENT", "RUNS", "FAILED", "FAIL%", "P50", "P95"]
    rows = {line.split()[0]: line.split()[:4] for line in human[1:]}
    assert rows["(default)"] == ["(default)", "4", "2", "50%"]
    assert rows["tiny"] == ["tiny", "3", "1", "33.3%"]
    assert rows["(all)"] == ["(all)", "7", "3", "42.9%"]
    assert human[-1].split()[0] == "(all)"
    assert jout(admin("stats", "--since", "2h", "--json", s=s))["all"]["runs"] == 7

    # create errors, create --json, delete with and without confirmation
    one_line_failure(admin("create", "tiny", tiny, s=s), 1, "environment 'tiny' already exists")
    one_line_failure(admin("create", "other", os.path.join(workdir, "missing.sh"), s=s), 1, "missing.sh")
    one_line_failure(admin("create", "other", tiny, "--python-version", "2.7", s=s), 1, "python_version", "3.11")
    quick = jout(admin("create", "quick", tiny, "--json", s=s))
    assert quick["name"] == "quick" and quick["status"] == "building" and quick["preload"] == []
    pre = jout(admin("create", "pre", tiny, "--preload", "json", "--preload=xml.dom", "--json", s=s))
    assert pre["preload"] == ["json", "xml.dom"], pre
    assert "📦 Preload: json xml.dom" in ok(admin("info", "pre", s=s))
    one_line_failure(admin("create", "bad-pre", tiny, "--preload", "-x", s=s), 1, "preload")
    assert jout(admin("delete", "pre", "--yes", "--json", s=s)) == {"message": "Environment 'pre' deleted"}
    assert jout(admin("delete", "quick", "--yes", "--json", s=s)) == {"message": "Environment 'quick' deleted"}
    p = admin("delete", "tiny", s=s, stdin="n\n")
    assert p.returncode == 1
    assert p.stderr.splitlines() == ["Delete environment 'tiny'? (y/N): n", "pysandbox-admin: deletion of 'tiny' cancelled"]
    assert s.request("GET", "/environments/tiny")[0] == 200

    # prune: nothing is an hour old; then everything before this second goes
    dry = jout(admin("prune", "--older-than", "1h", "--dry-run", "--json", s=s))
    assert (dry["runs_deleted"], dry["log_lines_deleted"], dry["dry_run"]) == (0, 0, True)
    assert "would delete 0 run records" in ok(admin("prune", "--older-than", "1h", "--dry-run", s=s))
    time.sleep(1.1)
    pr = jout(admin("prune", "--older-than", "0s", "--json", s=s))
    assert (pr["runs_deleted"], pr["log_lines_deleted"], pr["environments"], pr["dry_run"]) == (9, len(lines), 1, False)
    assert jout(admin("runs", "--json", s=s)) == {"runs": [], "total": 0}
    assert ok(admin("logs", "tiny", s=s)).splitlines() == ["-- ✅ ready"]
    assert "(no runs)" in ok(admin("stats", s=s))
    assert "deleted 0 run records" in ok(admin("prune", "--older-than", "0s", s=s))
    assert ok(admin("db", "vacuum", s=s)).startswith("✅ vacuumed ")
    vac = jout(admin("db", "vacuum", "--json", s=s))
    assert vac["vacuumed"] is True and vac["size_after"] > 0
    assert s.execute("print('still fine')")["stdout"] == "still fine\n"   # the service kept working

    out = ok(admin("delete", "tiny", s=s, stdin="y\n"))
    assert "✅ Environment 'tiny' deleted" in out
    one_line_failure(admin("delete", "tiny", "--yes", s=s), 1, "environment 'tiny' not found")
    one_line_failure(admin("info", "tiny", s=s), 1, "not found")


# ---- a failing build: wait and logs --follow ---------------------------------------


def test_failing_build_wait_and_follow(make_service, workdir):
    s = make_service()
    script = write(os.path.join(workdir, "fail.sh"), FAIL_SETUP)
    out = ok(admin("create", "failing", script, "--description", "exits 7", s=s))
    assert "   Status: building" in out

    # Still building after 0.6 s: the wait times out with status 1; the build goes on.
    p = admin("wait", "failing", "--timeout", "0.01", s=s)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stdout.splitlines()[-1].startswith("❌ Environment build timed out")
    assert s.request("GET", "/environments/failing")[1]["status"] == "building"

    waiter = Proc("--url", s.url, "wait", "failing")
    follower = Proc("--db", db_path(s), "logs", "failing", "--follow")
    jfollower = Proc("--db", db_path(s), "logs", "failing", "--follow", "--json")
    jwaiter = Proc("--url", s.url, "--json", "wait", "failing")
    w_out = [l for _, l in waiter.lines()]
    f_out = [l for _, l in follower.lines()]
    j_out = [l for _, l in jfollower.lines()]
    jw_out = "\n".join(l for _, l in jwaiter.lines())

    env = s.request("GET", "/environments/failing")[1]
    assert env["status"] == "failed" and env["error"] == FAIL_REASON
    lines = api_log(s, "failing")
    assert any(l["stream"] == "stderr" and l["line"] == "oops" for l in lines)

    assert waiter.rc == 1, (w_out, waiter.stderr)
    assert w_out[0] == "⏳ Waiting for environment 'failing' to finish building..."
    assert w_out[1:-1] == ["   " + l for l in log_text(lines)]
    assert w_out[-1] == f"❌ Environment build failed: {FAIL_REASON}"

    assert follower.rc == 0, (f_out, follower.stderr)
    assert f_out == log_text(lines) + [f"-- ❌ failed: {FAIL_REASON}"]
    assert jfollower.rc == 0, jfollower.stderr
    assert [json.loads(l) for l in j_out] == lines

    assert jwaiter.rc == 1
    final = json.loads(jw_out)
    assert final["status"] == "failed" and final["error"] == FAIL_REASON

    info = ok(admin("info", "failing", s=s))
    assert "   ❌ Name: failing" in info and f"   ❗ Error: {FAIL_REASON}" in info
    listing = ok(admin("list", s=s))
    assert "   ❌ failing" in listing and f"      Error: {FAIL_REASON}" in listing
    lj = jout(admin("logs", "failing", "--json", s=s))
    assert lj["status"] == "failed" and lj["error"] == FAIL_REASON and lj["lines"] == lines
    # A finished build: wait shows the whole log and the failure again; an unknown one fails at once.
    p = admin("wait", "failing", s=s)
    assert p.returncode == 1 and p.stdout.splitlines()[-1] == f"❌ Environment build failed: {FAIL_REASON}"
    one_line_failure(admin("wait", "ghost", s=s), 1, "environment 'ghost' not found")


# ---- hostile text: terminal escapes shown, never obeyed ------------------------------

# What a setup script can send to the operator's terminal: a window title, a screen clear and a cursor
# move, an OSC 8 hyperlink, an OSC 52 clipboard write, C1 controls in UTF-8 (CSI, NEL), a bidi override,
# DEL, and bytes that are not UTF-8 (the service stores them as U+FFFD). It exits 3, so the build fails.
HOSTILE_SETUP = r"""printf 'title \033]0;pwned\007 clear \033[2J\033[H moved\n'
printf 'link \033]8;;http://evil.example/\033\\click\033]8;;\033\\ clip \033]52;c;cHduZWQ=\007\n' >&2
printf 'c1 \302\23331m csi \302\205 nel \342\200\256 rlo \177 del\n'
printf 'raw \233 \377\376 bytes\n'
exit 3
"""

HOSTILE_DESC = "desc \x1b]0;pwned\x07 \x1b[2J \x9b31m \x85 \u202e rlo\r fake\n      Status: ready\ttab \x7f"

# Written into the database directly (what a damaged or tampered database holds): not UTF-8, with CR
# and a newline that would fake a log line.
DB_ERROR = b"exit \x1b]52;c;cHduZWQ=\x07 \xc2\x9b2J \r over \n fake \xff\xfe"
DB_LINE = b"db \x1b[2J\r\n2026-01-01T00:00:00Z stdout faked \xc2\x85 \xe2\x80\xae \xff"
DB_RUN_ENV = b"ev\x1b]0;x\x07\xc2\x9b\xe2\x81\xa6"


def vis(text):
    """The visible form pysandbox-admin gives control characters (its jq `vis`)."""
    out = []
    for ch in text:
        c = ord(ch)
        if ch in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[ch])
        elif c < 0x20 or c == 0x7f:
            out.append(f"\\x{c:02x}")
        elif 0x80 <= c < 0xa0 or c in (0x61c, 0x200e, 0x200f) or 0x2028 <= c <= 0x202e or 0x2066 <= c <= 0x2069:
            out.append(f"\\u{c:04x}")
        else:
            out.append(ch)
    return "".join(out)


def admin_bytes(*args, s):
    """pysandbox-admin's stdout and stderr as bytes, exactly as a terminal would get them."""
    return subprocess.run([ADMIN, "--url", s.url, "--db", db_path(s)] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=90)


def inert(raw, what):
    """Text that a terminal can only show: valid UTF-8, and no control character but the newline."""
    text = raw.decode("utf-8")          # invalid UTF-8 raises here
    assert re.search(rb"\xc2[\x80-\x9f]", raw) is None, (what, raw)
    for b in (b"\x1b", b"\x07", b"\r", b"\x7f"):
        assert b not in raw, (what, b, raw)
    bad = [ch for ch in text if vis(ch) != ch and ch != "\n"]
    assert not bad, (what, bad, text)
    return text


def test_hostile_text_is_inert(make_service, workdir):
    s = make_service()
    script = write(os.path.join(workdir, "hostile.sh"), HOSTILE_SETUP)

    # create --wait: the description goes in as given; the log and the failure are shown as they come.
    p = admin_bytes("create", "hostile", script, "--description", HOSTILE_DESC, "--wait", s=s)
    assert p.returncode == 1, (p.stdout, p.stderr)
    created = inert(p.stdout + p.stderr, "create --wait")
    assert any(l.startswith("   20") and l.endswith(" stdout title " + vis("\x1b]0;pwned\x07 clear \x1b[2J\x1b[H moved"))
               for l in created.splitlines()), created
    assert r"title \x1b]0;pwned\x07 clear \x1b[2J\x1b[H moved" in created
    assert r"link \x1b]8;;http://evil.example/\x1b\click\x1b]8;;\x1b\ clip \x1b]52;c;cHduZWQ=\x07" in created
    assert r"c1 \u009b31m csi \u0085 nel \u202e rlo \x7f del" in created
    assert "raw \ufffd \ufffd\ufffd bytes" in created
    env = s.request("GET", "/environments/hostile")[1]
    assert env["status"] == "failed" and env["description"] == HOSTILE_DESC

    # The database, damaged or tampered with: an error and a log line that are not UTF-8, a run record.
    con = sqlite3.connect(db_path(s), timeout=10)
    try:
        with con:
            env_id = con.execute("SELECT id FROM environments WHERE name = 'hostile'").fetchone()[0]
            con.execute("UPDATE environments SET error = CAST(? AS TEXT) WHERE id = ?", (DB_ERROR, env_id))
            con.execute("INSERT INTO build_logs (env_id, seq, ts, stream, line) SELECT ?, max(seq) + 1,"
                        " '2026-01-01T00:00:01Z', 'stdout', CAST(? AS TEXT) FROM build_logs WHERE env_id = ?",
                        (env_id, DB_LINE, env_id))
            con.execute("INSERT INTO runs (started_at, environment, duration, status, exit_code, bytes_in,"
                        " bytes_out, http_status) VALUES (?, CAST(? AS TEXT), 0.25, 'error\x1b[5m', 1, 0, 0, 200)",
                        (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), DB_RUN_ENV))
        con.text_factory = lambda b: b.decode("utf-8", "replace")   # as jq reads it: U+FFFD per bad byte
        rows = con.execute("SELECT seq, ts, stream, line FROM build_logs WHERE env_id = ? ORDER BY seq",
                           (env_id,)).fetchall()
    finally:
        con.close()
    lines = [dict(zip(("seq", "ts", "stream", "line"), r)) for r in rows]
    error = DB_ERROR.decode("utf-8", "replace")
    run_env = DB_RUN_ENV.decode("utf-8", "replace")
    assert lines[-1]["line"] == DB_LINE.decode("utf-8", "replace")

    # Every human output: inert, one line per log line, each field on its own line, shown visibly.
    logs = inert(ok(admin_bytes("logs", "hostile", s=s)), "logs").splitlines()
    assert logs == [f'{l["ts"]} {l["stream"]:<6} {vis(l["line"])}' for l in lines] + [f"-- ❌ failed: {vis(error)}"]
    assert r"db \x1b[2J\r\n2026-01-01T00:00:00Z stdout faked \u0085 \u202e " + "\ufffd" in logs[-2]
    assert inert(ok(admin_bytes("logs", "hostile", "--follow", s=s)), "logs --follow").splitlines() == logs
    p = admin_bytes("wait", "hostile", s=s)
    assert p.returncode == 1, (p.stdout, p.stderr)
    waited = inert(p.stdout + p.stderr, "wait").splitlines()
    assert waited == (["⏳ Waiting for environment 'hostile' to finish building..."] + ["   " + l for l in logs[:-1]]
                      + [f"❌ Environment build failed: {vis(error)}"])
    assert r"exit \x1b]52;c;cHduZWQ=\x07 \u009b2J \r over \n fake " + "\ufffd\ufffd" in waited[-1]

    info = inert(ok(admin_bytes("info", "hostile", s=s)), "info").splitlines()
    assert f"   📝 Description: {vis(HOSTILE_DESC)}" in info and f"   ❗ Error: {vis(error)}" in info
    assert r"desc \x1b]0;pwned\x07 \x1b[2J \u009b31m \u0085 \u202e rlo\r fake\n      Status: ready\ttab \x7f" \
        in info[2]
    listing = inert(ok(admin_bytes("list", s=s)), "list").splitlines()
    assert f"      Description: {vis(HOSTILE_DESC)}" in listing and f"      Error: {vis(error)}" in listing
    assert sum(l.startswith("      Status: ") for l in listing) == 1     # the description fakes no field

    table = inert(ok(admin_bytes("runs", s=s)), "runs").splitlines()
    assert len(table) == 2 and vis(run_env) in table[1] and r"error\x1b[5m" in table[1], table
    assert r"ev\x1b]0;x\x07\u009b\u2066" in table[1]
    stats = inert(ok(admin_bytes("stats", s=s)), "stats").splitlines()
    assert any(l.startswith(vis(run_env) + " ") for l in stats), stats
    inert(ok(admin_bytes("db", "check", s=s)), "db check")

    # A detail from the service that echoes what it was given: one line, inert.
    p = admin_bytes("create", "other", script, "--python-version", "\x1b]0;pwned\x07\x9b", s=s)
    assert p.returncode == 1 and p.stdout.startswith(b"\xf0\x9f\x94\xa7 Creating"), (p.stdout, p.stderr)
    err = inert(p.stderr, "detail")
    assert err.count("\n") == 1 and r"python_version '\x1b]0;pwned\x07\u009b'" in err, err
    assert "\\u009b" in inert(admin_bytes("info", "bad\x9bname", s=s).stderr, "usage error")

    # --json: the same JSON values, every character as stored; and as inert on a terminal.
    def jraw(*args, code=0):
        p = admin_bytes(*args, "--json", s=s)
        assert p.returncode == code, (args, p.stdout, p.stderr)
        inert(p.stdout, args)
        return json.loads(p.stdout)

    ij = jraw("info", "hostile")
    assert ij["description"] == HOSTILE_DESC and ij["error"] == error and ij["status"] == "failed"
    assert jraw("list")["environments"] == [ij]
    assert jraw("wait", "hostile", code=1) == ij
    lj = jraw("logs", "hostile")
    assert lj["error"] == error and lj["lines"] == lines
    p = admin_bytes("logs", "hostile", "--follow", "--json", s=s)
    assert [json.loads(l) for l in inert(ok(p), "logs --follow --json").splitlines()] == lines
    rj = jraw("runs")["runs"]
    assert len(rj) == 1 and rj[0]["environment"] == run_env and rj[0]["status"] == "error\x1b[5m"
    assert {e["environment"] for e in jraw("stats")["environments"]} == {run_env}


# ---- the service down -------------------------------------------------------------


def test_service_down_http_fails_sqlite_works(make_service, workdir):
    state = tempfile.mkdtemp(prefix="pysandbox-test-state.")
    try:
        s = make_service(state=state)
        for code in ("print(1)", "print(2)", "raise SystemExit(5)"):
            s.execute(code)
        wait_for("3 run records", lambda: count_runs(s) == 3)
        url = s.url
        s.stop()

        script = write(os.path.join(workdir, "s.sh"), "echo hi\n")
        for args in (["list"], ["list", "--json"], ["info", "x"], ["delete", "x", "--yes"], ["wait", "x"],
                     ["create", "x", script], ["create", "x", script, "--wait", "--json"]):
            p = admin(*args, url=url)
            one_line_failure(p, 1, f"cannot reach the service at {url}", "connection refused")

        db = os.path.join(state, "pysandbox.db")
        runs = jout(admin("runs", "--json", db=db))
        assert runs["total"] == 3
        assert collections.Counter(r["status"] for r in runs["runs"]) == {"ok": 2, "error": 1}
        assert len(ok(admin("runs", db=db)).splitlines()) == 4
        st = jout(admin("stats", "--json", db=db))
        assert (st["all"]["runs"], st["all"]["failed"], st["all"]["rejected"]) == (3, 1, 0)
        assert "(default)" in ok(admin("stats", db=db))
        check = ok(admin("db", "check", db=db))
        assert check.startswith(f"✅ database OK: {db} (schema 3, journal wal)")
        cj = jout(admin("db", "check", "--json", db=db))
        assert cj["ok"] is True and cj["integrity"] == ["ok"] and cj["foreign_keys"] == []
        assert jout(admin("prune", "--older-than", "7d", "--dry-run", "--json", db=db))["runs_deleted"] == 0
        one_line_failure(admin("logs", "x", db=db), 1, "environment 'x' not found")

        # The database found through the configuration file's [service] state_dir.
        conf = write(os.path.join(workdir, "pysandbox.conf"),
                     f"[service]\n# where\nstate_dir = {state}   # inline comment\n[jail]\nstate_dir = /nowhere\n")
        assert jout(admin("--config", conf, "runs", "--json"))["total"] == 3
        one_line_failure(admin("--config", os.path.join(workdir, "none.conf"), "runs"), 1, "none.conf")
        one_line_failure(admin("runs", db=os.path.join(workdir, "none.db")), 1, "no database at")
        assert not os.path.exists(os.path.join(workdir, "none.db"))

        # A damaged copy: db check says so and exits 1.
        bad = os.path.join(workdir, "bad.db")
        src, dst = sqlite3.connect(db), sqlite3.connect(bad)
        src.backup(dst)
        page_size = dst.execute("PRAGMA page_size").fetchone()[0]
        root = dst.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
        src.close()
        dst.close()
        with open(bad, "r+b") as f:      # the runs table's root page gets an invalid page type
            f.seek((root - 1) * page_size)
            f.write(b"\x07" + b"\xff" * 11)
        p = admin("db", "check", db=bad)
        assert p.returncode == 1, (p.stdout, p.stderr)
        assert p.stdout.startswith(f"❌ database damaged: {bad}\n   "), (p.stdout, p.stderr)
        p = admin("db", "check", "--json", db=bad)
        assert p.returncode == 1 and json.loads(p.stdout)["ok"] is False
    finally:
        shutil.rmtree(state, ignore_errors=True)


# ---- the example clients ------------------------------------------------------------


def load_client():
    spec = importlib.util.spec_from_file_location("simplepysandbox_client",
                                                  os.path.join(EXAMPLES, "simplepysandbox_client.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_clients(make_service, workdir, capsys):
    s = make_service()
    mod = load_client()
    C = mod.SimplePySandboxClient
    # The original README's signatures.
    assert str(inspect.signature(C.execute_code)) == "(self, code, timeout=10, environment=None)"
    assert str(inspect.signature(C.create_environment)) == \
        "(self, name, setup_script, description='', python_version='3.11')"
    for m in ("list_environments", "delete_environment", "health_check"):
        assert callable(getattr(C, m))
    assert str(inspect.signature(C.delete_environment)) == "(self, name)"

    client = C(s.url)
    assert client.health_check()["status"] == "healthy"
    r = client.execute_code("import math\nprint(math.sqrt(16))")
    assert r["success"] is True and r["stdout"] == "4.0\n"
    r = client.execute_code("1/0")
    assert r["success"] is False and "ZeroDivisionError" in r["stderr"]
    client.print_result(r)
    assert "❌ error" in capsys.readouterr().out
    r = client.execute_code("print(1)", environment="nope")
    assert r["success"] is False and r["error"] == "Environment 'nope' not found" and client.last_status == 200
    client.print_result(r)
    assert "Environment 'nope' not found" in capsys.readouterr().out
    assert client.list_environments() == {"environments": [], "total": 0}
    with pytest.raises(mod.SimplePySandboxError):
        C("http://127.0.0.1:1").health_check()

    # The demo walks through everything; its environment builds from a local script (no PyPI).
    setup = write(os.path.join(workdir, "demo.sh"), 'echo "demo environment set up"\n')
    d = subprocess.run([PY, os.path.join(EXAMPLES, "demo_client.py"), "--url", s.url, "--env-script", setup,
                        "--env-wait", "60"], capture_output=True, text=True, timeout=90)
    assert d.returncode == 0, (d.stdout, d.stderr)
    for want in ("Service status: healthy", "Hello from SimplePySandbox!", "test_data.csv", "张三,25,北京",
                 "✅ Performance test done!", "SyntaxError", "ZeroDivisionError", "demo environment set up",
                 "Environment 'demo-env' deleted", "✅ environments"):
        assert want in d.stdout, (want, d.stdout)
    assert "❌ basic" not in d.stdout

    # The curl examples: one call per endpoint, the environment gone at the end.
    c = subprocess.run(["sh", os.path.join(EXAMPLES, "curl-examples.sh"), s.url],
                       capture_output=True, text=True, timeout=60)
    assert c.returncode == 0, (c.stdout, c.stderr)
    assert c.stdout.count("\n-> HTTP 200") == 11 and "-> HTTP 400" in c.stdout, c.stdout
    for path in ("/docs -> HTTP 200", "/redoc -> HTTP 200", "/openapi.json -> HTTP 200"):
        assert path in c.stdout
    assert s.request("GET", "/environments")[1]["total"] == 0

    # Last: an environment deleted at once, its build cancelled while it starts.
    env = client.create_environment("client-env", "echo hi", description="from the client")
    assert env["status"] == "building" and env["description"] == "from the client" and env["python_version"] == "3.11"
    assert [e["name"] for e in client.list_environments()["environments"]] == ["client-env"]
    assert client.delete_environment("client-env") == {"message": "Environment 'client-env' deleted"}
    assert "detail" in client.delete_environment("client-env") and client.last_status == 404
