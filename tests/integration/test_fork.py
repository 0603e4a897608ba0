"""test_fork.py: the fork path (fork_server): a plain run's program is forked from the fork server, jailed in a
user namespace of its own, checked by the jail, and runs as the cold path would; what one child does reaches no
other child nor the server; a server killed under load comes back, and meanwhile runs go cold. (PYSANDBOX_FORK=1
runs the API, hostile and environment suites on this path too: make check-fork.)"""
import os
import re
import signal
import time

import pytest

import hostinspect
from attack import brief, concurrently, last_json, run
from hostinspect import wait_for
from test_metrics import scrape

FORK = "[service]\nfork_server = true\nworkers = 2\nqueue_size = 0\nspare_workers = 1\n"


@pytest.fixture(scope="module")
def fork(make_module_service):
    s = make_module_service(extra_conf=FORK)
    _server(s)
    return s


def _server(service):
    """The stack's fork server: (its jail's pid, the interpreter's pid), once both are up."""
    def look():
        procs = hostinspect.processes()
        for pid in hostinspect.stack_pids(service, procs):
            p = procs[pid]
            if p["name"].startswith("python") and hostinspect.is_fork_server(pid, procs):
                return p["ppid"], pid
        return None
    return wait_for("the fork server", look)


def _starts(service):
    """pysandbox_run_starts_total by (path, reason)."""
    out = {}
    for key, value in scrape(service).items():
        m = re.fullmatch(r'pysandbox_run_starts_total\{path="(\w+)",reason="(\w+)"\}', key)
        if m:
            out[m.group(1), m.group(2)] = value
    return out


def test_a_plain_run_is_forked(fork):
    before = _starts(fork).get(("fork", "ready"), 0)
    r, _ = run(fork, "import sys, os\nprint(__name__, sys.argv, os.getpid())\n1/0\n", args=["x"])
    # The cold path's semantics: its own pid namespace (pid 2), __main__, argv, the traceback's /work/main.py.
    assert r["stdout"] == "__main__ ['main.py', 'x'] 2\n", brief(r)
    assert r["exit_code"] == 1 and r["stderr"].startswith("Traceback (most recent call last):\n  File \"/work/main.py\"")
    assert r["stderr"].endswith("ZeroDivisionError: division by zero\n"), brief(r)
    assert r["resources"]["cpu_time"] > 0 and r["resources"]["max_rss_kb"] > 0, brief(r)
    assert _starts(fork).get(("fork", "ready"), 0) == before + 1


def test_children_share_nothing_of_each_other(fork):
    """Each child is a copy of the server, never of another child: what one run changes in its interpreter
    (a builtin, a module, random's state) and in /work or /tmp, the next does not see."""
    first, _ = run(fork, """
        import builtins, random, sys
        builtins.print_ = print
        sys.modules["planted"] = sys
        open("/tmp/left", "w").write("x")
        open("/work/left", "w").write("x")
        print(json.dumps({"r": random.random()}))
        """)
    second, _ = run(fork, """
        import builtins, os, random, sys
        print(json.dumps({"r": random.random(), "builtin": hasattr(builtins, "print_"),
                          "module": "planted" in sys.modules, "tmp": os.listdir("/tmp"),
                          "work": sorted(os.listdir("/work"))}))
        """)
    a, b = last_json(first), last_json(second)
    assert first["status"] == "ok" and second["status"] == "ok", (brief(first), brief(second))
    assert a["r"] != b["r"]
    assert b == {"r": b["r"], "builtin": False, "module": False, "tmp": [], "work": ["main.py"]}


def test_a_run_cannot_reach_its_fork_server(fork):
    """The server is outside the run's pid namespace, its socket outside the run's root, and its uid is not the
    run's: signals to every process the run can name, and ptrace, reach nothing of it."""
    jail, server = _server(fork)
    r, _ = run(fork, """
        import os, signal
        seen = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        killed = []
        for pid in range(1, 200):
            try:
                os.kill(pid, signal.SIGKILL if pid != os.getpid() else 0)
                killed.append(pid)
            except OSError:
                pass
        print(json.dumps({"seen": seen, "killed": killed, "socket": os.path.exists("/run/pysandbox-jail"),
                          "ptrace": sc(101, 16, 1, 0, 0)}))	# PTRACE_ATTACH to pid 1
        """)
    out = last_json(r)
    assert out["seen"] == [2] and out["killed"] == [2] and out["socket"] is False, out
    assert out["ptrace"] == "EPERM", out
    assert _server(fork) == (jail, server)
    r, _ = run(fork, "print('still')")
    assert r["stdout"] == "still\n", brief(r)


def test_a_killed_fork_server_comes_back_and_runs_go_cold_meanwhile(fork):
    _, server = _server(fork)
    cold_before = _starts(fork).get(("cold", "fork_unavailable"), 0)
    os.kill(server, signal.SIGKILL)	# (the stack's own fork server, which this test started)
    results = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        results += concurrently(*[lambda: run(fork, "print('ok')")[0]] * 2)
        if _starts(fork).get(("cold", "fork_unavailable"), 0) > cold_before:
            break
    assert all(r["status"] == "ok" and r["stdout"] == "ok\n" for r in results), [brief(r) for r in results]
    _, again = _server(fork)
    assert again != server
    before = _starts(fork).get(("fork", "ready"), 0)
    wait_for("a forked run", lambda: run(fork, "print('ok')")[0]["stdout"] == "ok\n" and
             _starts(fork).get(("fork", "ready"), 0) > before)
