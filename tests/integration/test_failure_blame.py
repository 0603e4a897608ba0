"""test_failure_blame.py: a failure one request, its run or its environment caused is that request's error; only the
self-test (or a failure it then confirms) turns /health unhealthy, so no request can make the service refuse others."""
import concurrent.futures
import os
import signal
import threading
import time

import pytest

import hostinspect
from attack import assert_serving, brief
from envtools import create, get_env, wait_ready
from hostinspect import wait_for

# Setup scripts that build a venv and then break its interpreter in ways only the environment is to blame for.
BREAKERS = {
    "removed": "rm -f /env/bin/python /env/bin/python3 /env/bin/python3.*",
    "directory": "rm -f /env/bin/python && mkdir /env/bin/python",
    "not-executable": "cp --remove-destination \"$(readlink -f /env/bin/python)\" /env/bin/python.real && "
                      "rm -f /env/bin/python && mv /env/bin/python.real /env/bin/python && chmod 0644 /env/bin/python",
    "symlink-loop": "rm -f /env/bin/python && ln -s python /env/bin/python",
    "unreadable-env": "chmod 0700 /env",
}


@pytest.fixture(scope="module")
def stack(make_module_service):
    return make_module_service(extra_conf="[service]\nworkers = 3\n")


def healthy_answers(s, seconds):
    """/health every 50 ms for seconds: every answer it gave."""
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(s.request("GET", "/health")[0])
        time.sleep(0.05)
    return out


@pytest.mark.parametrize("how", sorted(BREAKERS))
def test_an_environment_that_broke_its_interpreter_fails_its_own_runs(stack, how):
    name = f"broken-{how}"
    log_before = len(stack.read_log())
    create(stack, name, BREAKERS[how])
    wait_ready(stack, name)
    # While the broken environment is tried again and again, everyone else is served.
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        broken = [ex.submit(stack.request, "POST", "/execute-with-environment",
                            {"code": "print(1)", "environment": name}) for _ in range(6)]
        plain = [ex.submit(stack.request, "POST", "/execute", {"code": "print('fine')"}) for _ in range(6)]
        health = ex.submit(healthy_answers, stack, 2)
        results = [f.result(timeout=60) for f in broken]
        others = [f.result(timeout=60) for f in plain]
    # The first to run fails as a run; the rest fail the same way or find the environment marked failed.
    ran = [b for st, b in results if st == 200]
    assert ran and all(b["success"] is False and b["status"] == "error" and "could not be started" in b["error"]
                       for b in ran), results
    assert all(st == 200 or (st == 400 and "not ready" in b["detail"]) for st, b in results), results
    assert all(st == 200 and b["stdout"] == "fine\n" for st, b in others), [(st, brief(b)) for st, b in others]
    assert set(health.result()) == {200}, health.result()
    env = get_env(stack, name)
    assert env["status"] == "failed" and "could not be started" in env["error"], env
    assert "sandbox could not be set up" not in stack.read_log()[log_before:]
    assert_serving(stack)
    stack.request("DELETE", f"/environments/{name}")


def test_a_jail_killed_mid_run_fails_that_run_and_the_self_test_keeps_health(stack):
    """A jail that dies under a run (here: SIGKILLed from outside) is reported to the master, whose self-test
    passes: that run gets 500, the service stays healthy, and each report runs at most one self-test a second."""
    log_before = len(stack.read_log())
    statuses = []
    for _ in range(4):
        out = {}
        t = threading.Thread(target=lambda: out.update(r=stack.request(
            "POST", "/execute", {"code": "import time; time.sleep(20)", "timeout": 30})))
        t.start()

        def outer():
            # The outer helper of a run in flight: a worker's jail whose init runs the sleeping program.
            procs = hostinspect.processes()
            for pid in hostinspect.stack_pids(stack, procs):
                p = procs[pid]
                outer = procs.get(p["ppid"], {})
                worker = procs.get(outer.get("ppid"), {})
                # (A jail whose parent's parent is not a pysandboxd is the master's self-test.)
                if (p["name"] == hostinspect.INIT_NAME and outer.get("name") == hostinspect.JAIL_NAME
                        and worker.get("name") == hostinspect.DAEMON_NAME
                        and procs.get(worker["ppid"], {}).get("name") == hostinspect.DAEMON_NAME
                        and any(q["ppid"] == pid and q["name"].startswith("python") for q in procs.values())):
                    return p["ppid"]
            return None
        os.kill(wait_for("a running jail", outer, timeout=10), signal.SIGKILL)
        t.join(timeout=30)
        statuses.append(out["r"][0])
        assert set(healthy_answers(stack, 0.3)) == {200}
    assert statuses == [500] * 4, statuses
    log = stack.read_log()[log_before:]
    assert log.count("a worker reported a jail failure: running the self-test") >= 1, log
    assert "jail self-test failed" not in log, log
    assert_serving(stack)
