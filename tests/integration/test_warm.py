"""test_warm.py: the warm path (warm_interpreters): a run starts in an interpreter its worker's standby jail
started ahead, with every limit of the jail applied, and serves exactly that one run; runs it does not fit
go cold. (test_warm_boot.py holds the interpreter's start to the cold path's semantics; PYSANDBOX_WARM=1
runs the API and hostile suites on this path too.)"""
import json
import os
import signal
import time

import pytest

import hostinspect
from attack import brief, concurrently, last_json, run
from hostinspect import wait_for
from test_metrics import scrape

IDLE = 1.5	# seconds the service idles before a run whose process's age tells warm from cold
WARM = "[service]\nwarm_interpreters = true\nworkers = 2\nqueue_size = 0\nspare_workers = 1\n"
# How long the program's own process has lived when it runs (its start time, from /proc in its namespace).
AGE = """
    import os
    with open("/proc/self/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    print(json.dumps({"age": up - start, "uid": os.getuid(), "work": sorted(os.listdir("/work")),
                      "main": open("/work/main.py").read().count("_pysandbox" + "_warm_run(")}))
    """


@pytest.fixture(scope="module")
def warm(make_module_service):
    s = make_module_service(extra_conf=WARM + "[jail]\nallow_network = true\n")
    _wait_warm(s)
    return s


def _warm_interpreters(service):
    """The stack's warm standbys whose interpreter is up: uid -> pid of the waiting python3."""
    procs = hostinspect.processes()
    stack = hostinspect.stack_pids(service, procs)
    return {procs[p]["uids"][0]: p for p in stack if procs[p]["name"].startswith("python")
            and procs.get(procs[p]["ppid"], {}).get("name") == hostinspect.IDLE_INIT_NAME}


def _wait_warm(service, n=3):
    """Every run worker (workers 2 + spare 1) with its interpreter up and waiting."""
    return wait_for(f"{n} warm interpreters", lambda: (lambda w: w if len(w) == n else None)(_warm_interpreters(service)))


def test_a_run_starts_in_an_interpreter_up_before_it(warm):
    ready = _wait_warm(warm)
    time.sleep(IDLE)
    r, _ = run(warm, AGE)
    info = last_json(r)
    # Its process was started before the request, while the service idled (a cold run's is as old as its
    # jail's set-up when it runs: milliseconds, some hundred with a network).
    assert r["status"] == "ok" and info["age"] > IDLE, brief(r)
    # As one of the waiting interpreters' uids (the worker's own slot), and /work holds the run's file alone:
    # the warm start it replaced left nothing.
    assert info["uid"] in ready and info["work"] == ["main.py"] and info["main"] == 0, info


def test_runs_it_does_not_fit_go_cold(warm):
    _wait_warm(warm)
    time.sleep(IDLE)
    # (An argument that is the warm verb's word is the program's, on either path.)
    r, _ = run(warm, AGE + "print(sys.argv)", network=True, args=["warm"])
    assert r["status"] == "ok" and json.loads(r["stdout"].splitlines()[-2])["age"] < IDLE, brief(r)
    assert r["stdout"].splitlines()[-1] == "['main.py', 'warm']", brief(r)
    # ... and leave the warm interpreters waiting for the next.
    _wait_warm(warm)


def test_a_run_handed_over_while_its_interpreter_starts_runs_its_own_code(warm):
    # Back to back, each request meets a standby whose interpreter is still starting: init must wait until the
    # interpreter has read its warm start before it writes the run's main.py over it (a write in between once
    # cut the warm start short: "SyntaxError: '(' was never closed" at its line 96, about 1 run in 75).
    def runs(k):
        return [warm.execute(f"print('own code {k}-{i}')", timeout=5) for i in range(150)]
    results = concurrently(lambda: runs(0), lambda: runs(1))
    bad = [brief(r) | {"stderr": r["stderr"][-300:]} for rs in results for r in rs if r["status"] != "ok"]
    assert not bad, bad
    assert [r["stdout"] for r in results[1]] == [f"own code 1-{i}\n" for i in range(150)]


def test_nothing_of_a_warm_run_reaches_the_next(warm):
    first, _ = run(warm, """
        import atexit, builtins, random, signal, sys, threading, time
        builtins.LEFT = "by the first run"
        json.LEFT = "a module's global"
        sys.modules["left_behind"] = json
        sys.path.insert(0, "/tmp/mine")
        open("/tmp/left", "w").write("x")
        open("/work/left", "w").write("x")
        os.environ["LEFT"] = "1"
        signal.signal(signal.SIGUSR1, lambda *_: None)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
        atexit.register(print, "the first run's exit handler")
        os.chdir("/tmp")
        print(json.dumps(random.getrandbits(64)))
        """)
    assert first["status"] == "ok" and first["stdout"].endswith("the first run's exit handler\n"), brief(first)
    for _ in range(4):	# every worker's next interpreter, whichever takes it
        _wait_warm(warm)
        r, _ = run(warm, """
            import atexit, builtins, random, signal, sys, threading
            print(json.dumps({"builtin": hasattr(builtins, "LEFT"), "path": "/tmp/mine" in sys.path,
                              "global": hasattr(json, "LEFT"), "module": "left_behind" in sys.modules,
                              "tmp": os.listdir("/tmp"), "work": sorted(os.listdir("/work")),
                              "env": "LEFT" in os.environ, "cwd": os.getcwd(),
                              "handlers": [signal.getsignal(s) is signal.SIG_DFL
                                           for s in (signal.SIGUSR1, signal.SIGTERM)],
                              "threads": threading.active_count(), "atexit": atexit._ncallbacks(),
                              "random": random.getrandbits(64)}))
            """)
        seen = last_json(r)
        assert seen == {"builtin": False, "path": False, "global": False, "module": False, "tmp": [],
                        "work": ["main.py"], "env": False, "cwd": "/work", "handlers": [True, True],
                        "threads": 1, "atexit": 0, "random": seen["random"]}, seen
        assert seen["random"] != json.loads(first["stdout"].splitlines()[-2]), seen


def test_a_warm_run_has_its_own_limits(warm):
    # The profile is the configuration's maxima; the run's memory, deadline and CPU are set at the hand-over.
    _wait_warm(warm)
    r, _ = run(warm, "x = bytearray(200 << 20)\nprint('not reached')", memory_mb=64)
    assert r["status"] == "memory_limit" and "not reached" not in r["stdout"], brief(r)
    _wait_warm(warm)
    r, _ = run(warm, "import time\ntime.sleep(3)\nprint('not reached')", timeout=1)
    assert r["status"] == "timeout" and r["error"] == "Execution timed out after 1 seconds", brief(r)
    assert 1.0 <= r["execution_time"] < 1.5, brief(r)


def test_a_warm_run_reports_as_a_cold_one(warm):
    _wait_warm(warm)
    r = warm.execute("import sys\nprint(sys.argv)\nprint(input())\n1/0\n", args=["a b", "c"], stdin="typed\n")
    assert (r["status"], r["exit_code"]) == ("error", 1), brief(r)
    assert r["stdout"].splitlines()[-2:] == ["['main.py', 'a b', 'c']", "typed"], brief(r)
    assert r["stderr"].endswith('  File "/work/main.py", line 4, in <module>\n    1/0\n    ~^~\n'
                                "ZeroDivisionError: division by zero\n"), brief(r)
    assert "pysandbox_warm" not in r["stderr"], brief(r)


def test_a_killed_warm_interpreter_is_replaced(warm):
    ready = _wait_warm(warm)
    before = _warm_health(warm)["cold_runs"]["not_ready"]
    for victim in ready.values():
        os.kill(victim, signal.SIGKILL)	# ours to end: processes of the stack this test started
    # (Dead, not dying: one that dies while its run is handed over is that run's end, killed.)
    wait_for("the interpreters to have died", lambda: all(hostinspect.processes().get(v, {}).get("state", "Z") == "Z"
                                                         for v in ready.values()))
    # Every worker's standby now holds a dead interpreter: the run each takes next finds it so before
    # anything of the run is written (init's W record) and runs cold instead, so every run succeeds; the
    # worker's next standby has a new interpreter. Rounds of three at once, until every worker has taken
    # one (one at a time, which worker accepts is nginx's and the kernel's choice: CI once saw 4 runs
    # in a row leave one worker's dead standby untouched).
    def dead_left():
        return set(_warm_interpreters(warm).values()) & set(ready.values())
    for i in range(8):
        results = concurrently(*[lambda k=k: run(warm, f"print('still here {i}-{k}')")[0] for k in range(3)])
        for k, r in enumerate(results):
            assert r["status"] == "ok" and r["stdout"] == f"still here {i}-{k}\n", \
                (i, k, brief(r), warm.read_log()[-3000:])
        if not dead_left():
            break
    assert _warm_health(warm)["cold_runs"]["not_ready"] > before
    # (init's own check found it dead before writing anything of the run; the EPIPE of the hand-over is only
    # the fallback for one dying as init looks)
    assert "the warm interpreter had ended before its run; running cold" in warm.read_log()
    again = _wait_warm(warm)
    assert not set(again.values()) & set(ready.values()), (ready, again)


def _warm_health(service):
    status, h = service.request("GET", "/health")
    assert status == 200, h
    return h["warm"]


def test_operators_see_the_warm_path(warm):
    _wait_warm(warm)
    wait_for("3 warm interpreters on /health", lambda: _warm_health(warm)["ready"] == 3)
    before = _warm_health(warm)
    assert before["enabled"] is True and before["workers"] == 3, before
    assert scrape(warm)["pysandbox_warm_interpreters_ready"] == 3
    time.sleep(IDLE)
    r, _ = run(warm, AGE)
    assert r["status"] == "ok" and last_json(r)["age"] > IDLE, brief(r)	# warm
    r, _ = run(warm, "print(1)", network=True)	# cold: beyond the profile
    assert r["status"] == "ok", brief(r)
    after = _warm_health(warm)
    assert after["runs"] == before["runs"] + 1, (before, after)
    assert after["cold_runs"]["unfit"] == before["cold_runs"]["unfit"] + 1, (before, after)
    assert after["cold_runs"]["off"] == 0, after
    every = after["runs"] + sum(after["cold_runs"].values())
    assert after["hit_rate"] == pytest.approx(after["runs"] / every), after
    samples = scrape(warm)
    assert samples['pysandbox_run_starts_total{path="warm",reason="ready"}'] == after["runs"]
    assert samples['pysandbox_run_starts_total{path="cold",reason="unfit"}'] == after["cold_runs"]["unfit"]
    assert samples['pysandbox_run_starts_total{path="cold",reason="not_ready"}'] == \
        after["cold_runs"]["not_ready"]


def test_a_cold_stack_counts_its_runs_cold(make_service):
    s = make_service(extra_conf="[service]\nwarm_interpreters = false\n")
    r, _ = run(s, "print(1)")
    assert r["status"] == "ok", brief(r)
    h = _warm_health(s)
    assert (h["enabled"], h["workers"], h["ready"], h["runs"], h["cold_runs"]["off"], h["hit_rate"]) == \
        (False, 0, 0, 0, 1, 0), h
    assert scrape(s)['pysandbox_run_starts_total{path="cold",reason="off"}'] == 1
