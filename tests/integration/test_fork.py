"""test_fork.py: the fork path (fork_server): a plain run's program is forked from the fork server, jailed in a
user namespace of its own, checked by the jail, and runs as the cold path would; what one child does reaches no
other child nor the server; a server killed under load comes back, and meanwhile runs go cold. (PYSANDBOX_FORK=1
runs the API, hostile and environment suites on this path too: make check-fork.)"""
import json
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


def _look(service):
    """The stack's fork server now: (its jail's pid, the interpreter's pid), or None."""
    procs = hostinspect.processes()
    for pid in hostinspect.stack_pids(service, procs):
        p = procs[pid]
        if (p["name"].startswith("python") and p["state"] != "Z" and hostinspect.is_fork_server(pid, procs)
                and procs.get(p["ppid"], {}).get("name") == hostinspect.JAIL_NAME):	# (not a child of it)
            return p["ppid"], pid
    return None


def _server(service, other_than=None):
    """The stack's fork server, once it is up (and is not other_than)."""
    return wait_for("the fork server", lambda: (lambda s: s if s and s != other_than else None)(_look(service)))


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
        import atexit, builtins, random, signal, sys, threading, time
        builtins.print_ = print
        sys.modules["planted"] = sys
        sys.path.insert(0, "/tmp")
        os.environ["PLANTED"] = "1"
        open("/tmp/left", "w").write("x")
        open("/work/left", "w").write("x")
        signal.signal(signal.SIGTERM, lambda *a: None)
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        atexit.register(print, "first run's exit handler")
        os.chdir("/tmp")
        print(json.dumps({"r": random.random(), "h": hash("pysandbox")}))
        """)
    second, _ = run(fork, """
        import atexit, builtins, random, signal, sys, threading
        print(json.dumps({"r": random.random(), "builtin": hasattr(builtins, "print_"),
                          "module": "planted" in sys.modules, "path": "/tmp" in sys.path,
                          "env": "PLANTED" in os.environ, "tmp": os.listdir("/tmp"),
                          "work": sorted(os.listdir("/work")), "cwd": os.getcwd(),
                          "sigterm": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
                          "threads": threading.active_count(), "atexit": atexit._ncallbacks(),
                          "h": hash("pysandbox")}))
        """)
    assert first["status"] == "ok" and second["status"] == "ok", (brief(first), brief(second))
    a, b = json.loads(first["stdout"].splitlines()[0]), last_json(second)
    assert a["r"] != b["r"] and "exit handler" in first["stdout"] and "exit handler" not in second["stdout"]
    assert b == {"r": b["r"], "builtin": False, "module": False, "path": False, "env": False, "tmp": [],
                 "work": ["main.py"], "cwd": "/work", "sigterm": True, "threads": 1, "atexit": 0, "h": a["h"]}
    # (The hash seed is the server's, shared by its children: documented, SECURITY.md.)


def test_a_child_that_corrupts_its_interpreter_touches_no_other(fork):
    """Copy on write: a child that overwrites the interpreter's shared objects (a small int's value, a
    builtin's code) and then crashes it leaves the server, and the next child, as they were."""
    server = _server(fork)
    r, _ = run(fork, """
        import ctypes
        ctypes.c_ssize_t.from_address(id(5) + 24).value = 6	# the cached int 5 now reads 6
        print(json.dumps({"five": 5 + 0}), flush=True)
        ctypes.memset(id(len), 0xff, 64)	# the builtin's object itself
        ctypes.string_at(0)	# and down
        """)
    assert r["status"] == "killed" and r["signal"] == "SIGSEGV" and last_json(r) == {"five": 6}, brief(r)
    r, _ = run(fork, "print(5 + 0, len('abc'))")
    assert r["status"] == "ok" and r["stdout"] == "5 3\n", brief(r)
    assert _server(fork) == server


def test_health_and_metrics_show_the_fork_server(fork):
    def fork_server():
        _, h = fork.request("GET", "/health")
        return h["fork_server"] if h["fork_server"]["pss_kb"] else None
    f = wait_for("the fork server's memory on /health", fork_server)
    assert f["enabled"] is True and f["running"] is True and f["starts"] >= 1 and f["runs"] >= 1, f
    # An idle interpreter's pages, most of them shared with its children: some MB, not tens.
    assert 1000 < f["pss_kb"] < 40000, f
    m = scrape(fork)
    assert m["pysandbox_fork_server_up"] == 1 and m["pysandbox_fork_server_starts_total"] >= 1
    assert m["pysandbox_fork_server_pss_bytes"] > 1000 * 1024
    assert m['pysandbox_run_starts_total{path="fork",reason="ready"}'] >= 1


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
    old = _server(fork)
    _, server = old
    cold_before = _starts(fork).get(("cold", "fork_unavailable"), 0)
    os.kill(server, signal.SIGKILL)	# (the stack's own fork server, which this test started)
    results = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        results += concurrently(*[lambda: run(fork, "print('ok')")[0]] * 2)
        if _starts(fork).get(("cold", "fork_unavailable"), 0) > cold_before:
            break
    # Each is answered: cold (or forked, once the server is back), or, for one in flight as the server died
    # (its pid namespace took the run's), killed; never the sandbox's failure.
    assert all((r["status"] == "ok" and r["stdout"] == "ok\n") or (r["status"] == "killed" and r["signal"] == "SIGKILL")
               for r in results), [brief(r) for r in results]
    assert any(r["status"] == "ok" for r in results), [brief(r) for r in results]
    assert _server(fork, other_than=old)[1] != server
    before = _starts(fork).get(("fork", "ready"), 0)
    wait_for("a forked run", lambda: run(fork, "print('ok')")[0]["stdout"] == "ok\n" and
             _starts(fork).get(("fork", "ready"), 0) > before)


def test_no_run_may_take_the_fork_servers_uids(fork):
    """Two uids of the pool are the fork server's and its children's (a run as the children's would own their
    user namespaces): the jail refuses both to every run, forked or cold, whatever the worker asks."""
    from test_jail_direct import base_args, run_jail
    n = len(hostinspect.uid_range(fork))
    refused = {}
    for slot in [0, n - 1] + list(range(n - 12, n - 1)):	# a run's, the self-test's, the builds' and the server's
        for fork_flag in (True, None):
            rc, out, _, status = run_jail(fork, base_args(fork, **{"--slot": str(slot), "--fork": fork_flag}) + ["run"])
            if b"is the fork server's" in status:
                assert status.startswith(b"L ") and out == b"", status
                refused.setdefault(slot, []).append(fork_flag)
            elif fork_flag and b"takes no fork run" in status:	# (a build's slot: the fork path is the runs')
                assert status.startswith(b"L ") and out == b"" and slot not in (0, n - 1), status
            else:
                assert rc == 0 and out == b"hello\n", (slot, fork_flag, status)
    assert len(refused) == 2 and all(v == [True, None] for v in refused.values()), refused


def test_only_a_fork_runs_jail_keeps_cap_sys_ptrace(fork):
    """The jail reads a forked run's /proc with CAP_SYS_PTRACE (its processes are not its uid's); every other
    helper gives it up at its start (main.c's drop_ptrace)."""
    import threading
    from test_jail_direct import base_args, run_jail
    CAP_SYS_PTRACE = 19
    held = {}
    for fork_flag in (None, True):
        done = {}
        args = base_args(fork, **{"--fork": fork_flag}) + ["run"]
        t = threading.Thread(target=lambda: done.update(r=run_jail(fork, args, code=b"import time\ntime.sleep(1.5)\n")))
        t.start()
        try:
            def find():
                found = next((pid for pid, p in hostinspect.processes().items()
                              if p["ppid"] == os.getpid() and p["name"] == hostinspect.JAIL_NAME), None)
                if found is None and not t.is_alive():
                    pytest.fail(f"the run ended before its jail was seen: {done}")
                return found
            jail = wait_for("the jail", find)
            time.sleep(0.5)	# (past its start: the run sleeps)
            with open(f"/proc/{jail}/status") as f:
                caps = {k: int(v, 16) for k, v in (line.split(":\t") for line in f if line.startswith("Cap"))}
        finally:
            t.join()
        rc, out, _, status = done["r"]
        assert rc == 0 and status.startswith(b"R exited 0 "), (fork_flag, status)
        held[bool(fork_flag)] = bool(caps["CapEff"] >> CAP_SYS_PTRACE & 1), bool(caps["CapPrm"] >> CAP_SYS_PTRACE & 1)
    assert held == {False: (False, False), True: (True, True)}, held


def test_the_fork_server_and_its_runs_hold_their_filters(fork):
    """The server holds a seccomp filter of its own (no ptrace, process_vm_*, pidfd_getfd, setns or kcmp into
    its children, whatever uid it takes), and each run's processes keep it under the run's: two filters."""
    _, server = _server(fork)
    with open(f"/proc/{server}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    assert (status["Seccomp"], status["NoNewPrivs"], status.get("Seccomp_filters", "1")) == ("2", "1", "1"), status
    r, _ = run(fork, "print(open('/proc/self/status').read())")
    mine = dict(line.split(":\t", 1) for line in r["stdout"].splitlines() if ":\t" in line)
    assert (mine["Seccomp"], mine.get("Seccomp_filters", "2")) == ("2", "2"), brief(r)
    before = _starts(fork).get(("fork", "ready"), 0)
    run(fork, "print('ok')")
    assert _starts(fork).get(("fork", "ready"), 0) > before	# (forked: the jail found the server's filter)
