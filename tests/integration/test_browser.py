"""test_browser.py: the site's pages in a real browser, the system's headless Chromium driven by playwright-core
(tests/js/package.json; installed once per build tree by nodejs.py): /docs (Swagger UI) and /redoc show every
operation of www/openapi.json, Swagger UI's "Try it out" runs code, the playground runs code with stdin, arguments,
a timeout and an uploaded file and hands back the file the code wrote, and the environments page builds an
environment while it follows the build log, after which the playground offers it. Every page is served with its
real Content-Security-Policy (conf/nginx-dev.conf.in): a console error, an uncaught exception, a CSP violation, a
failed request or one that leaves the stack's origin fails the test (ReDoc's two known, harmless CSP refusals
aside). Each script of tests/js/browser/ prints one RESULT line of JSON; the judgements are made here.

Screenshots (full page) go to $top_builddir/tests/artifacts/browser-*.png (the build tree: not committed)."""
import base64
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import nodejs
from conftest import BUILD, SRC

CHROMIUM = "/usr/bin/chromium"
SCRIPTS = os.path.join(SRC, "tests", "js", "browser")
ARTIFACTS = os.path.join(BUILD, "tests", "artifacts")
# In the environment of each node (and so of its Chromium and every process Chromium starts): how the processes
# of one run are found again once it is over.
MARKER = "PYSANDBOX_BROWSER_RUN"

with open(os.path.join(SRC, "www", "openapi.json"), encoding="utf-8") as _f:
    DOC = json.load(_f)
METHODS = ("get", "head", "post", "put", "delete", "options", "patch", "trace")
DOC_OPS = {(m.upper(), p): op for p, item in DOC["paths"].items() for m, op in item.items() if m in METHODS}
# Both UIs list an operation once under each of its tags (under "default" when it has none).
DOC_LISTED = collections.Counter({key: len(op.get("tags") or ["default"]) for key, op in DOC_OPS.items()})


@pytest.fixture(scope="module")
def stack(make_module_service):
    return make_module_service()


@pytest.fixture(scope="module")
def modules():
    """The shared node_modules (playwright-core). The suite's dependencies install Chromium, node and npm
    (conf/deps.sh --test): their absence is a failure, not a skip."""
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is needed (conf/deps.sh --test installs Debian's chromium)"
    assert shutil.which("node"), "node is needed (conf/deps.sh --test)"
    return nodejs.node_modules()


# ---- running a page script ---------------------------------------------------------------------------------------


def _marked(value):
    """PIDs of the processes whose environment holds MARKER=value."""
    needle = f"{MARKER}={value}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            pass
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")[:200]
    except OSError:
        return "?"


def _end_run(proc, run_dir):
    """After the node process: every process of this run (Chromium and its helpers, found by MARKER) should be
    gone; wait a moment for them, then kill those left by their PIDs. Returns what had to be killed."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # node's own group, if anything of it is left
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 5
    left = _marked(run_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _marked(run_dir)
    killed = [(pid, _cmdline(pid)) for pid in left]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return killed


def browse(modules, script, url, screenshot=None, timeout=60, **params):
    """Run tests/js/browser/SCRIPT against url with a fresh Chromium profile, HOME and TMPDIR in a temporary
    directory (removed after), and return its RESULT (plus "stderr" and "leftovers", the processes that outlived
    it). screenshot: a name under ARTIFACTS for the full-page screenshot it ends with (an old one is removed
    first, so a test never looks at a stale one)."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix="pysandbox-browser.")
    for sub in ("profile", "home", "tmp"):
        os.mkdir(os.path.join(run_dir, sub))
    home = os.path.join(run_dir, "home")
    config = dict(params, url=url, chromium=CHROMIUM, timeout=timeout, profile=os.path.join(run_dir, "profile"),
                  screenshot="")
    for key, name in [("screenshot", screenshot)] + [(k, v) for k, v in params.items() if k.startswith("screenshot_")]:
        if name:
            config[key] = os.path.join(ARTIFACTS, name)
            if os.path.exists(config[key]):
                os.unlink(config[key])
    # Only what node and Chromium need: no proxy variables, no display (headless), nothing of the user's
    # profile (HOME, XDG dirs and TMPDIR point into run_dir).
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TMPDIR": os.path.join(run_dir, "tmp"),
           "XDG_CONFIG_HOME": os.path.join(home, ".config"), "XDG_CACHE_HOME": os.path.join(home, ".cache"),
           "LANG": "C.UTF-8", "NODE_MODULES_DIR": modules, MARKER: run_dir}
    proc = subprocess.Popen(["node", os.path.join(SCRIPTS, script), json.dumps(config)], cwd=run_dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        try:
            out, err = proc.communicate(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        leftovers = _end_run(proc, run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"{script} printed no RESULT line (exit {proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    result.update(stderr=err[-3000:], exit_status=proc.returncode, leftovers=leftovers)
    assert result["ok"], f"{script} failed: {result.get('error')}\nsteps: {result.get('steps')}\n" \
                         f"log: {json.dumps(result.get('log'))[:3000]}\nstderr: {err[-3000:]}"
    assert proc.returncode == 0, result
    return result


def assert_clean(result, allowed=None):
    """Nothing went wrong on the page: no console error, no uncaught exception, no CSP violation, no failed
    request, no answer of 400 or more, no request to another origin; allowed: {category: [predicate, ...]} of the
    known exceptions. Also: Chromium left no process behind, and the screenshots were written."""
    allowed = allowed or {}
    log = result["log"]
    unexpected = {category: [item for item in items if not any(ok(item) for ok in allowed.get(category, ()))]
                  for category, items in log.items()}
    assert not any(unexpected.values()), json.dumps({k: v for k, v in unexpected.items() if v}, indent=1)
    assert not result["leftovers"], f"processes outlived the browser: {result['leftovers']}"
    for key in [k for k in result if k.startswith("screenshot") and not k.endswith("_error")]:
        with open(result[key], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", result[key]
        assert os.path.getsize(result[key]) > 10000, result[key]
    assert not result.get("screenshot_error"), result["screenshot_error"]


# ---- /docs: Swagger UI -----------------------------------------------------------------------------------------


def test_docs_renders_every_operation(stack, modules):
    r = browse(modules, "docs.js", stack.url, screenshot="browser-docs.png", task="render")
    assert_clean(r)
    assert r["screenshot"]
    shown = collections.Counter((method.upper(), path) for method, path in r["operations"])
    # Every operation of the document, HEAD included, each as often as it has tags; nothing else.
    assert set(shown) == set(DOC_OPS), {"missing": sorted(set(DOC_OPS) - set(shown)),
                                        "extra": sorted(set(shown) - set(DOC_OPS))}
    assert shown == DOC_LISTED, (shown, DOC_LISTED)
    assert sum(shown.values()) == len(r["operations"]) >= len(DOC_OPS) > 0
    assert set(r["tags"]) == {t for op in DOC_OPS.values() for t in (op.get("tags") or ["default"])}, r["tags"]
    assert DOC["info"]["title"] in r["title"] and DOC["info"]["version"] in r["title"], r["title"]
    assert r["spec_errors"] == [], r["spec_errors"]


def test_docs_try_it_out_runs_code(stack, modules):
    body = json.dumps({"code": "print('hello')"})
    r = browse(modules, "docs.js", stack.url, screenshot="browser-docs-try.png", task="try", body=body)
    assert_clean(r)
    # docs-init.js opens "Try it out" everywhere (the button offers "Cancel"); the script clicks it otherwise.
    assert r["try_button_after"] == "Cancel", r["try_button_before"]
    assert r["body_in_editor"] == body
    # Swagger UI sent what was in its editor, once...
    assert len(r["sent"]) == 1, r["sent"]
    sent = r["sent"][0]
    assert sent["method"] == "POST" and json.loads(sent["body"]) == {"code": "print('hello')"}, sent
    assert sent["content_type"].startswith("application/json"), sent
    # ...and shows the live answer: the program's output.
    assert r["response"]["status"] == "200", r["response"]
    answer = json.loads(r["response"]["body"])
    assert answer["stdout"] == "hello\n", answer
    assert answer["success"] is True and answer["status"] == "ok" and answer["exit_code"] == 0, answer


# ---- /redoc: ReDoc ---------------------------------------------------------------------------------------------


def _redoc_eval_probe(v):
    # ReDoc's search library tries new Function() once; the CSP (no 'unsafe-eval') refuses, it does without.
    return v["directive"] == "script-src" and v["blocked"] == "eval" and \
        v["source"].endswith("/static/vendor/redoc/redoc.standalone.js")


def _redoc_logo(url):
    # ReDoc's "API docs by Redocly" logo from its CDN: refused by img-src 'self' data:, so nothing leaves the host.
    return url.startswith("https://cdn.redoc.ly/")


REDOC_ALLOWED = {
    "csp_violations": [_redoc_eval_probe, lambda v: v["directive"] == "img-src" and _redoc_logo(v["blocked"])],
    "console_errors": [lambda m: re.match(r"Loading the image 'https://cdn\.redoc\.ly/[^']*' violates the following "
                                          r"Content Security Policy directive: \"img-src 'self' data:\"", m["text"])],
    "failed_requests": [lambda q: _redoc_logo(q["url"]) and q["error"] == "csp"],
}


def test_redoc_renders_every_operation(stack, modules):
    r = browse(modules, "redoc.js", stack.url, screenshot="browser-redoc.png")
    assert_clean(r, REDOC_ALLOWED)
    # What is refused is exactly those two kinds: no other directive, no other source.
    assert {v["directive"] for v in r["log"]["csp_violations"]} <= {"script-src", "img-src"}
    # The sidebar: one item per operation and tag, its badge the operation's method.
    assert len(r["items"]) == sum(DOC_LISTED.values()), r["items"]
    assert collections.Counter(verb.upper() for _, verb, _ in r["items"]) == \
        collections.Counter({m: sum(n for (mm, _), n in DOC_LISTED.items() if mm == m) for m, _ in DOC_LISTED})
    assert len({href for href, _, _ in r["items"]}) == len(r["items"]), r["items"]
    # The section each item brings up: the operation's method, path and summary, every operation once per tag.
    sections = collections.Counter((method, path) for _, method, path, _ in r["sections"])
    assert set(sections) == set(DOC_OPS), {"missing": sorted(set(DOC_OPS) - set(sections)),
                                           "extra": sorted(set(sections) - set(DOC_OPS))}
    assert sections == DOC_LISTED, sections
    by_href = {href: verb for href, verb, _ in r["items"]}
    for section_id, method, path, heading in r["sections"]:
        assert by_href["#" + section_id].upper() == method, (section_id, method)
        assert heading == DOC_OPS[(method, path)]["summary"], (method, path, heading)
    assert DOC["info"]["title"] in r["title"] and DOC["info"]["version"] in r["title"], r["title"]


# ---- /playground -------------------------------------------------------------------------------------------------

PLAYGROUND_CODE = """import sys
print("file:", open("input.txt").read())
print("stdin:", sys.stdin.read().strip())
print("args:", sys.argv[1:])
open("out.txt", "w").write("data")
"""


def test_playground_runs_code_with_a_file(stack, modules):
    d = tempfile.mkdtemp(prefix="pysandbox-browser-input.")
    try:
        upload = os.path.join(d, "input.txt")
        with open(upload, "w") as f:
            f.write("uploaded-text")
        r = browse(modules, "playground.js", stack.url, screenshot="browser-playground.png", code=PLAYGROUND_CODE,
                   stdin="from-stdin\n", args=["one", "two words"], run_timeout=7,
                   input_file=upload)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert_clean(r)
    # The page sent the form as the API wants it: the picked file in base64, the chosen timeout.
    assert len(r["sent"]) == 1, r["sent"]
    sent = r["sent"][0]
    assert sent["code"] == PLAYGROUND_CODE and sent["stdin"] == "from-stdin\n", sent
    assert sent["args"] == ["one", "two words"] and sent["timeout"] == 7, sent
    assert sent["files"] == {"input.txt": base64.b64encode(b"uploaded-text").decode()}, sent
    assert r["listed"].startswith("input.txt"), r["listed"]
    # What it shows.
    assert r["status"] == "ok" and r["success"] == "true", (r["status"], r["status_text"], r["error"])
    assert r["exit_code"] == "0" and r["error"] == "", r
    assert r["stdout"] == "file: uploaded-text\nstdin: from-stdin\nargs: ['one', 'two words']\n", r["stdout"]
    assert r["stderr"] == ""
    m = re.fullmatch(r"(\d+(?:\.\d+)?) s", r["time"])
    assert m and 0 < float(m.group(1)) < 7, r["time"]
    # The returned file: one link, download="out.txt", a blob: URL whose content is what the program wrote.
    assert [f["download"] for f in r["files"]] == ["out.txt"], r["files"]
    f = r["files"][0]
    assert f["href"].startswith("blob:" + stack.url + "/"), f
    assert f["suggested_filename"] == "out.txt" and f["content"] == "data", f


# ---- /playground/environments ----------------------------------------------------------------------------------------


def test_environments_page_builds_and_playground_offers_it(stack, modules):
    name = "browser-env"
    r = browse(modules, "environments.js", stack.url, timeout=100, name=name, description="made by the browser test",
               setup_script="echo building-now", expect_line="building-now",
               screenshot_environments="browser-environments.png", screenshot="browser-playground-environment.png")
    assert_clean(r)
    # The page followed the build as it ran: "building" before "ready", the script's line shown before the end.
    states = [s for _, s, _ in r["seen"]["states"]]
    assert r["final"] == "ready" and r["build_status"] == "ready" and states[-1] == "ready", r["seen"]
    assert "building" in states[:-1], states
    assert r["seen"]["line_at"] is not None and r["seen"]["line_status"] in ("loading", "building"), r["seen"]
    assert ["stdout", "building-now\n"] in r["log_lines"], r["log_lines"]
    assert r["build_status_text"].startswith("ready"), r["build_status_text"]
    assert name in r["build_name"]
    # The list refreshed on its own: the row is there and ready.
    assert r["row"]["status"] == "ready" and r["row"]["cells"][0] == name, r["row"]
    assert "made by the browser test" in r["row"]["cells"], r["row"]
    status, env = stack.request("GET", f"/environments/{name}")
    assert status == 200 and env["status"] == "ready", (status, env)
    # The playground offers it, and it can be chosen.
    assert name in [value for value, _ in r["playground"]["options"]], r["playground"]
    assert r["selected"] == name, r["selected"]
