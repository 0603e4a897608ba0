"""test_supervisor.py: the jail's own processes (the outer helper, init) live outside the run's memory and CPU limits,
so what a run does at its limits is that run's outcome, the deadline holds at any CPU share, and nothing outlives it."""
import base64
import os
import threading

import pytest

import hostinspect
from attack import assert_serving, brief, last_json, run
from hostinspect import wait_for


def test_input_files_larger_than_the_runs_memory_are_not_its_memory(service):
    # Init writes the input files: 36 MB of them for a run of 32 MB must neither kill init nor count as the run's.
    chunk = base64.b64encode(b"x" * (9 << 20)).decode()
    r, _ = run(service, """
        print(sum(os.path.getsize(f"big{i}") for i in range(4)))
        """, memory_mb=32, files={f"big{i}": chunk for i in range(4)})
    assert (r["status"], r["stdout"]) == ("ok", f"{36 << 20}\n"), brief(r)
    assert_serving(service)


@pytest.mark.parametrize("where", ["/work", "/tmp", "/dev/shm"])
def test_filling_a_tmpfs_past_the_memory_limit_is_the_runs_memory_limit(service, where):
    # tmpfs pages are the run's memory: writing 63 MB of files at 32 MB ends the writer by the OOM killer.
    r, _ = run(service, f"""
        for i in range(7):
            with open(f"{where}/f{{i}}", "wb") as f:
                for _ in range(9):
                    f.write(b"x" * (1 << 20))
        print("not reached")
        """, memory_mb=32)
    assert r["status"] == "memory_limit" and "not reached" not in r["stdout"], brief(r)
    assert r["error"] == "Memory limit of 32 MB exceeded", brief(r)
    assert_serving(service)


def test_many_processes_at_the_smallest_cpu_share_keep_the_deadline(service, pool_uids):
    # 60 spinning processes share 1 % of a core; init, outside that quota, ends them all at the deadline.
    r, took = run(service, """
        for _ in range(60):
            if os.fork() == 0:
                while True:
                    pass
        while True:
            pass
        """, timeout=1, cpus=0.01)
    assert r["status"] == "timeout" and r["error"] == "Execution timed out after 1 seconds", brief(r)
    assert 1.0 <= r["execution_time"] < 1.5, brief(r)
    assert took < 3, took
    # Everything of the run was reaped before its answer: nothing may be seen, not even briefly.
    assert hostinspect.run_leftovers(pool_uids, [service.proc.pid]) == []
    assert_serving(service)


def test_a_memory_bomb_of_many_processes_is_the_runs_memory_limit(service):
    # Nine processes, the program among them, each allocating until the OOM killer ends the run.
    r, _ = run(service, """
        for _ in range(8):
            if os.fork() == 0:
                break
        blocks = []
        while True:
            blocks.append(bytearray(4 << 20))
        """, memory_mb=64, timeout=10)
    assert r["status"] == "memory_limit", brief(r)
    assert_serving(service)


@pytest.fixture(scope="module")
def pool_uids(service):
    return set(hostinspect.uid_range(service)) | set(hostinspect.UID_RANGE)


def test_only_the_program_is_in_the_runs_cgroups(service):
    """While a run sleeps, look at its process tree from the host: the outer helper and init are not in the
    cgroups named after the run, the program and its children are."""
    _, health = service.request("GET", "/health")
    if health["isolation"]["cgroup"].startswith("none"):
        pytest.skip("no cgroups on this host")
    result = {}

    def go():
        result["r"], _ = run(service, """
            import time
            if os.fork() == 0:
                time.sleep(3)
                os._exit(0)
            time.sleep(3)
            print(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}))
            """, timeout=10)
    t = threading.Thread(target=go)
    t.start()
    try:
        def tree():
            procs = hostinspect.processes()
            for pid in hostinspect.stack_pids(service, procs):
                if procs[pid]["name"] == hostinspect.INIT_NAME:
                    kids = [k for k, p in procs.items() if p["ppid"] == pid]
                    grandkids = [g for g, p in procs.items() if p["ppid"] in kids]
                    if kids and grandkids:
                        return procs[pid]["ppid"], pid, kids[0], grandkids[0]
            return None
        outer, init, prog, child = wait_for("a run with a child process", tree, timeout=8)
        runs = hostinspect.cgroups_named(f"pysandbox-{outer}")
        assert runs, "no cgroup named after the run"
        assert not runs & hostinspect.own_cgroup_dirs(outer), "the outer helper is in the run's cgroups"
        assert not runs & hostinspect.own_cgroup_dirs(init), "init is in the run's cgroups"
        assert runs <= hostinspect.own_cgroup_dirs(prog), "the program is not in every cgroup of its run"
        assert runs <= hostinspect.own_cgroup_dirs(child), "the program's child is not in its run's cgroups"
    finally:
        t.join(timeout=20)
    assert last_json(result["r"]) == {"pid": 2, "ppid": 1}, brief(result["r"])
    wait_for("the run's cgroups to be removed", lambda: not hostinspect.cgroups_named(f"pysandbox-{outer}"), timeout=5)


def _limits(run_cgroups):
    """The limits in the run's cgroups as the host sees them (v2: one directory; v1: one per controller)."""
    out = {}
    for d in run_cgroups:
        def read(f):
            try:
                with open(os.path.join(d, f)) as fh:
                    return fh.read().strip()
            except OSError:
                return None
        for key, files in (("memory", ("memory.max", "memory.limit_in_bytes")), ("pids", ("pids.max",)),
                           ("cpu", ("cpu.max", "cpu.cfs_quota_us"))):
            for f in files:
                if (v := read(f)) is not None:
                    out[key] = v
    return out


def test_the_runs_cgroups_carry_its_limits(service):
    """Seen from the host while the run sleeps: its memory_mb, its processes and its cpus are in its cgroups."""
    _, health = service.request("GET", "/health")
    controllers = health["isolation"]["cgroup"]
    if controllers.startswith("none"):
        pytest.skip("no cgroups on this host")
    done = {}
    t = threading.Thread(target=lambda: done.update(r=service.execute("import time; time.sleep(3)", timeout=10,
                                                                      memory_mb=100, cpus=0.5)))
    t.start()
    try:
        def run_cgroups():
            procs = hostinspect.processes()
            for pid in hostinspect.stack_pids(service, procs):
                if procs[pid]["name"] == hostinspect.INIT_NAME and any(
                        p["ppid"] == pid and p["name"].startswith("python") for p in procs.values()):
                    return hostinspect.cgroups_named(f"pysandbox-{procs[pid]['ppid']}")
            return None
        limits = _limits(wait_for("a sleeping run", run_cgroups, timeout=8))
    finally:
        t.join(timeout=20)
    assert done["r"]["status"] == "ok", brief(done["r"])
    if "memory" in controllers:
        assert limits["memory"] == str(100 << 20), limits
    if "pids" in controllers:
        assert limits["pids"] == str(64 + 4), limits	# max_processes and a shell wrapper's
    if "cpu" in controllers and "cpu" in limits:
        assert limits["cpu"] in ("50000 100000", "50000"), limits
