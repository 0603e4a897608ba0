"""conftest.py: starts the real stack (nginx -> pysandboxd pool -> pysandbox-jail) for the integration tests."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

# The leftover checks' assertions explained as in a test file (they run from the session-finish hook below).
pytest.register_assert_rewrite("leftovers")
import leftovers  # noqa: E402

SRC = os.environ.get("top_srcdir") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("top_builddir") or os.path.join(SRC, "build")
# pysandbox-admin asks pysandboxd for its rules (--print-rules); the one under test, not an installed one.
os.environ.setdefault("PYSANDBOXD", os.path.join(BUILD, "src", "pysandboxd"))


# PYSANDBOX_WARM=1: every stack runs with warm_interpreters (the warm path); run-all.sh runs the API, hostile
# and environment suites both ways.
WARM = os.environ.get("PYSANDBOX_WARM") == "1"
# PYSANDBOX_FORK=1: every stack runs with fork_server (plain runs forked from the fork server), the same way.
FORK = os.environ.get("PYSANDBOX_FORK") == "1"

# RLIMIT_NPROC counts a uid's processes host-wide, so a fork test that fills its run's max_processes would make
# fork fail in another xdist worker's run that has the same uid: each xdist worker's stacks take a uid pool of
# their own (gw0 and a serial run keep the default 60000..60063; a stack's own uid_base still wins).
XDIST_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or 0)
UID_BASE = 60000 if XDIST_INDEX == 0 else 62000 + 200 * XDIST_INDEX	# test_hostile_builds takes 61000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One running stack; stop() ends it by the PID we started and waits for it."""

    def __init__(self, extra_conf="", env=None, rate=None, burst=None, state=None):
        """state: an existing state directory to reuse (a restart); it is then left in place on stop."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.own_state = state is None
        self.state = state or tempfile.mkdtemp(prefix="pysandbox-test-state.")
        self.log_path = os.path.join(self.state, f"service-{self.port}.log")
        e = dict(os.environ)
        if WARM:	# the whole suite on the warm path: each stack keeps warm interpreters unless it says otherwise
            extra_conf = "[service]\nwarm_interpreters = true\n" + extra_conf
        if FORK:
            extra_conf = "[service]\nfork_server = true\n" + extra_conf
        if UID_BASE != 60000:
            extra_conf = f"[jail]\nuid_base = {UID_BASE}\n" + extra_conf
        e.update({"PORT": str(self.port), "STATE_DIR": self.state, "PYSANDBOX_EXTRA_CONF": extra_conf})
        # As in production: the pool drops to an unprivileged service user and only a
        # copy of the jail with file capabilities holds privileges (devserver.sh sets it up).
        e.setdefault("PYSANDBOX_USER", "pysandbox")
        if rate:
            e["RATE"] = str(rate)
        if burst is not None:
            e["BURST"] = str(burst)
        e.update(env or {})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["bash", os.path.join(SRC, "conf", "devserver.sh"), SRC, BUILD],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=e, start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                log = self.read_log()
                self.stop()
                raise RuntimeError("service exited at start:\n" + log)
            try:
                status, _ = self.request("GET", "/health")
                if status in (200, 503):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("service did not answer /health within 20 s:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, raw=None, headers=None, timeout=120):
        """Returns (status, parsed JSON or raw text)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, text, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, text, hdrs = e.code, e.read(), e.headers
        self.last_headers = hdrs
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.decode("utf-8", "replace")

    def execute(self, code, **fields):
        """POST /execute and expect 200. Like a well-behaved client, a refusal for capacity (503) or for this
        client's share (429) is retried after its Retry-After, for up to a minute."""
        fields["code"] = code
        deadline = time.monotonic() + 60
        while True:
            status, body = self.request("POST", "/execute", fields)
            refused = status in (429, 503) and isinstance(body, dict) and body.get("reason") in ("capacity", "client_share")
            if not refused or time.monotonic() > deadline:
                break
            time.sleep(float(self.last_headers.get("Retry-After", "1")))
        assert status == 200, (status, body)
        return body

    def healthy(self):
        status, body = self.request("GET", "/health")
        return status == 200 and body["status"] == "healthy"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        if self.own_state:
            subprocess.run(["rm", "-rf", self.state], check=False)


@pytest.fixture(scope="session")
def service():
    s = Service()
    yield s
    s.stop()


def _stacks():
    """A factory of stacks with their own configuration, and what stops them all."""
    started = []

    def make(**kw):
        s = Service(**kw)
        started.append(s)
        return s

    def stop_all():
        for s in started:
            s.stop()
    return make, stop_all


@pytest.fixture
def make_service():
    """Start extra stacks with their own configuration; all are stopped after the test."""
    make, stop_all = _stacks()
    yield make
    stop_all()


@pytest.fixture(scope="module")
def make_module_service():
    """As make_service, for stacks a whole test module shares; stopped after the module."""
    make, stop_all = _stacks()
    yield make
    stop_all()


_leftover = {"before": None}	# leftovers.snapshot() of the host when this pytest run started


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    # Before any stack of the session starts (xdist starts its workers at session start, after this): what the
    # host already holds is not ours to judge. Only the controller checks (see pytest_sessionfinish).
    if not hasattr(config, "workerinput"):
        _leftover["before"] = leftovers.snapshot()


# ---- TAP output for automake's tap-driver (one line per test) --------------
_tap = {"n": 0, "file": None}


def pytest_sessionstart(session):
    path = os.environ.get("TAP_FILE")
    # Under pytest-xdist the controller gets every report and writes the TAP lines; its workers do not.
    if path and not os.environ.get("PYTEST_XDIST_WORKER"):
        _tap["file"] = open(path, "w")


def pytest_runtest_logreport(report):
    f = _tap["file"]
    if f is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _tap["n"] += 1
        name = report.nodeid.replace("#", "")
        if report.skipped:
            f.write(f"ok {_tap['n']} - {name} # SKIP\n")
        elif report.passed:
            f.write(f"ok {_tap['n']} - {name}\n")
        else:
            f.write(f"not ok {_tap['n']} - {name}\n")
        f.flush()


def _sweep_killed_jail_cgroups():
    """Tests that SIGKILL a whole stack also kill its jails before they remove their cgroups; the service
    sweeps such leftovers when it next starts, which after the last test never happens: do it here."""
    import glob
    for d in glob.glob("/sys/fs/cgroup/*/pysandbox-*") + glob.glob("/sys/fs/cgroup/*/**/pysandbox-*", recursive=True):
        pid = d.rsplit("pysandbox-", 1)[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            try:
                os.rmdir(d)
            except OSError:
                pass
    # cgroup v2: what devserver.sh made for a stack killed outright (its runtime dir is then gone too).
    for d in glob.glob("/sys/fs/cgroup/pysandbox-dev.*"):
        if not os.path.exists("/tmp/pysandbox-run." + d.rsplit(".", 1)[1]):
            for leaf in (os.path.join(d, "pysandbox-pool"), d):
                try:
                    os.rmdir(leaf)
                except OSError:
                    pass


# ---- the leftover checks, once every stack of the run has stopped ----------


def _leftover_checks(session):
    """Runs leftovers.CHECKS with a probe stack of their own, each reported like a test (its TAP line, pytest's
    counts, its failure in the report); returns how many failed."""
    config, hook = session.config, session.config.hook
    rel = os.path.relpath(leftovers.__file__, str(config.rootpath))
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        if getattr(terminal, "_width_of_current_line", 0):
            terminal.write("\n")	# after the progress dots of -q
        terminal.write_sep("-", f"leftover checks ({rel}), every stack of the run stopped")
        session.testscollected += len(leftovers.CHECKS)	# their progress ([NN%]) on its own line
    probe, probe_error = None, None
    try:
        probe = Service()
    except Exception as e:	# reported by each check that needs it
        probe_error = f"the probe stack did not start: {e}"
    failed = 0
    try:
        for check in leftovers.CHECKS:
            nodeid = f"{rel}::{check.__name__}"
            location = (rel, check.__code__.co_firstlineno - 1, check.__name__)
            hook.pytest_runtest_logstart(nodeid=nodeid, location=location)
            start = time.monotonic()
            try:
                if probe is None and check not in leftovers.STACKLESS:
                    raise AssertionError(probe_error)
                check(_leftover["before"], probe)
                outcome, longrepr = "passed", None
            except Exception:
                excinfo = pytest.ExceptionInfo.from_current()
                excinfo.traceback = excinfo.traceback.cut(path=leftovers.__file__)	# from the check on
                outcome, longrepr = "failed", excinfo.getrepr(style="short")
                failed += 1
            report = pytest.TestReport(nodeid, location, {check.__name__: 1}, outcome, longrepr, "call",
                                       duration=time.monotonic() - start)
            hook.pytest_runtest_logreport(report=report)
            hook.pytest_runtest_logfinish(nodeid=nodeid, location=location)
    finally:
        if probe is not None:
            probe.stop()
    return failed


# A wrapper, innermost: its part after the yield runs once every plain pytest_sessionfinish has returned (pytest's
# teardown of what is left of the session's fixtures, pytest-xdist's shutdown of its workers, which waits for their
# processes to exit) and before the terminal reporter's summary (which then counts and shows the checks).
@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_sessionfinish(session, exitstatus):
    yield
    _sweep_killed_jail_cgroups()
    # Once per pytest run: in the controller (pytest-xdist's workers have workerinput), not for --collect-only or
    # a run that was interrupted or misused, nor against a sabotaged build (tests/sabotage: what its switch lets
    # through is expected to stay behind; sabotage.py removes it and judges only the tests that cover the switch).
    if (not hasattr(session.config, "workerinput") and _leftover["before"] is not None
            and not session.config.option.collectonly and not os.environ.get("PYSANDBOX_SABOTAGE")
            and exitstatus not in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR)):
        if _leftover_checks(session) and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    f = _tap["file"]
    if f is not None:
        f.write(f"1..{_tap['n']}\n")
        f.close()
