"""test_pool.py: the pysandboxd pool under stress: dead and recycled workers, SIGHUP reload, SIGTERM, concurrency."""
import concurrent.futures
import glob
import json
import os
import pwd
import signal
import subprocess
import tempfile
import threading
import time

import hostinspect
from conftest import BUILD
from hostinspect import identity, wait_for

# ---- the processes of one stack, found from the devserver.sh we started ------


def children(pid):
    out = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(path) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def master_pid(service):
    masters = [p for p in children(service.proc.pid) if cmdline(p)[:1] and cmdline(p)[0].endswith("pysandboxd")]
    assert len(masters) == 1, masters
    return masters[0]


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


# Two runs at once and no queue: the run socket has 2 + 1 spare workers, the API socket 1 (4 in all).
SMALL = "[service]\nworkers = 2\nqueue_size = 0\nspare_workers = 1\n"
SMALL_PROCS = 4
# One run at a time: the run socket's worker and its spare, and the API socket's.
ONE = "[service]\nworkers = 1\nqueue_size = 0\nspare_workers = 1\n"


def worker_pids(service, master=None):
    """The master's FastCGI workers (its builder, named pysandbox-build, is not one)."""
    master = master or master_pid(service)
    # (each command line read once: a child may end between two reads)
    return sorted(p for p, argv in ((p, cmdline(p)) for p in children(master))
                  if argv[:1] and argv[0].endswith("pysandboxd") and comm(p) != "pysandbox-build")


def conf_path(service):
    argv = cmdline(master_pid(service))
    return argv[argv.index("-c") + 1]


def wait_workers(service, master, n=SMALL_PROCS, without=()):
    """Wait until the master has exactly n workers, none of them in without; return their pids."""
    def check():
        w = worker_pids(service, master)
        return w if len(w) == n and not set(w) & set(without) else None
    return wait_for(f"{n} workers other than {list(without)}", check)


def hello(service, n):
    r = service.execute(f'print("hello {n}")')
    assert r["success"] is True and r["stdout"] == f"hello {n}\n", r


def processes_mentioning(text):
    """Live processes whose command line mentions text (the stack's runtime directory)."""
    found = []
    for d in glob.glob("/proc/[0-9]*"):
        pid = int(d.rsplit("/", 1)[1])
        if pid != os.getpid() and any(text in a for a in cmdline(pid)) and identity(pid):
            found.append((pid, cmdline(pid)))
    return found


def start_long_run(service, code, timeout):
    """Send /execute from a thread; returns (thread, result list filled with (status, body) or the exception)."""
    out = []

    def go():
        try:
            out.append(service.request("POST", "/execute", {"code": code, "timeout": timeout}))
        except Exception as e:  # connection reset by a dying stack is a valid outcome for some tests
            out.append(e)
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


def running_program(service):
    """The host pid of the jailed python running main.py whose stack is `service`, once it has started."""
    for p in descendants(service.proc.pid):
        argv = cmdline(p)
        if argv and "main.py" in argv and not argv[0].endswith(("pysandboxd", "pysandbox-jail")):
            return p
    return None


# ---- tests -----------------------------------------------------------------------


def test_killed_idle_worker_is_replaced(make_service):
    s = make_service(extra_conf=SMALL)
    master = master_pid(s)
    before = wait_workers(s, master)
    victim, *survivors = before
    os.kill(victim, signal.SIGKILL)
    after = wait_workers(s, master, without=[victim])
    assert set(survivors) <= set(after) and identity(victim) is None
    for i in range(6):
        hello(s, i)
    status, h = s.request("GET", "/health")
    assert status == 200 and h["status"] == "healthy" and h["pool"]["workers"] == SMALL_PROCS
    assert f"(pid {victim}) died (signal 9)" in s.read_log()


def test_killed_busy_worker_ends_its_run(make_service):
    s = make_service(extra_conf=SMALL)
    master = master_pid(s)
    t, out = start_long_run(s, 'import time\nprint("start", flush=True)\ntime.sleep(60)', 120)
    prog = wait_for("the program to start", lambda: running_program(s))
    busy = [w for w in worker_pids(s, master) if prog in descendants(w)]
    assert len(busy) == 1
    run_tree = [identity(p) for p in descendants(busy[0])]
    assert len(run_tree) >= 3  # jail, its init, the program
    os.kill(busy[0], signal.SIGKILL)
    t.join(30)
    assert not t.is_alive()
    result = out[0]
    # The client is told the service failed, never a success nor a hang.
    assert isinstance(result, tuple) and result[0] in (502, 503), result
    assert result[1] == {"detail": "Service unavailable"}
    wait_for("the run's processes to end", lambda: all(identity(i[0]) != i for i in run_tree if i))
    wait_workers(s, master, without=[busy[0]])
    for i in range(3):
        hello(s, i)


def test_workers_recycled_after_max_requests(make_service):
    s = make_service(extra_conf=SMALL + "max_requests = 3\n")
    master = master_pid(s)
    wait_workers(s, master)
    first = sorted(_wait_standbys(s, "the run workers' standbys", n=3))
    seen = set(first)
    for i in range(12):
        hello(s, i)
        seen.update(worker_pids(s, master))
    # 12 runs cannot all be served by the run socket's three workers of at most 3 requests each.
    wait_for("a run worker to be recycled", lambda: not set(first) <= set(worker_pids(s, master)))
    assert len(seen) > SMALL_PROCS, seen
    wait_workers(s, master)
    status, h = s.request("GET", "/health")
    assert h["status"] == "healthy" and h["pool"]["workers"] == SMALL_PROCS


def test_sighup_applies_a_changed_config(make_service):
    s = make_service(extra_conf=SMALL)
    master = master_pid(s)
    r = s.execute('print("before")', timeout=25)
    assert r["success"] is True
    old_workers = worker_pids(s, master)
    with open(conf_path(s), "a") as f:
        f.write("[limits]\nmax_timeout = 20\n")
    os.kill(master, signal.SIGHUP)

    def refused():
        status, body = s.request("POST", "/execute", {"code": "print(1)", "timeout": 21})
        return status == 422 and body["detail"][0]["loc"] == ["body", "timeout"]
    wait_for("timeout 21 to be refused after the reload", refused)
    r = s.execute('print("after")', timeout=20)
    assert r["success"] is True and r["stdout"] == "after\n"
    status, h = s.request("GET", "/health")
    assert status == 200 and h["status"] == "healthy" and h["limits"]["max_timeout"] == 20
    # New workers answer while the old ones may still be finishing (slow on an emulated host).
    wait_workers(s, master, without=old_workers)
    assert master_pid(s) == master
    assert "configuration reloaded" in s.read_log()


def test_limits_lowered_on_disk_refuse_only_runs_beyond_them_until_the_reload(make_service):
    # The jail enforces the file on disk; the pool, its loaded copy until SIGHUP. In between (an edit
    # not yet reloaded, or the reload's self-test), a run beyond the new limit is refused with a
    # retryable 503 that says why, and the service stays healthy for every other run.
    s = make_service(extra_conf=SMALL)
    master = master_pid(s)
    assert s.execute('print("before")', timeout=25)["success"] is True
    with open(conf_path(s), "a") as f:
        f.write("[limits]\nmax_timeout = 20\n")
    for _ in range(3):
        status, body = s.request("POST", "/execute", {"code": 'print("beyond")', "timeout": 21})
        assert status == 503 and s.last_headers["Retry-After"] == "1", (status, body)
        assert "timeout above the configured maximum" in body["detail"] and "reload" in body["detail"], body
        r = s.execute('print("within")', timeout=20)
        assert r["success"] is True and r["stdout"] == "within\n", r
    status, h = s.request("GET", "/health")
    assert status == 200 and h["status"] == "healthy", h
    assert "reload the service (SIGHUP)" in s.read_log()
    os.kill(master, signal.SIGHUP)

    def refused():
        status, body = s.request("POST", "/execute", {"code": "print(1)", "timeout": 21})
        return status == 422 and body["detail"][0]["loc"] == ["body", "timeout"]
    wait_for("timeout 21 to be refused by validation after the reload", refused)
    assert s.healthy()


def test_sighup_with_broken_config_keeps_the_old_one(make_service):
    s = make_service(extra_conf=SMALL + "[limits]\nmax_timeout = 20\n")
    master = master_pid(s)
    path = conf_path(s)
    old_workers = wait_workers(s, master)
    with open(path) as f:
        good = f.read()
    with open(path, "a") as f:
        f.write("max_timeout = banana\n")
    os.kill(master, signal.SIGHUP)
    wait_for("the reload to be refused", lambda: "reload refused" in s.read_log())
    assert worker_pids(s, master) == old_workers
    status, body = s.request("POST", "/execute", {"code": "print(1)", "timeout": 21})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "timeout"]
    # The jail enforces the file on disk (its limits are the security boundary), so a
    # broken file fails closed: no code runs, and /health names the line to fix.
    status, body = s.request("POST", "/execute", {"code": 'print("canary-" + "output")', "timeout": 20})
    assert status in (500, 503), body
    assert "canary-output" not in json.dumps(body)
    # The worker's report makes the master run its self-test, which finds the file broken.
    h = wait_for("the self-test to find the file broken",
                 lambda: (r := s.request("GET", "/health"))[0] == 503 and r[1])
    assert h["status"] == "unhealthy" and "line" in h["reason"], h
    # Fixing the file and reloading brings the service back at once.
    with open(path, "w") as f:
        f.write(good)
    os.kill(master, signal.SIGHUP)
    wait_for("health to return", lambda: s.request("GET", "/health")[0] == 200)
    status, body = s.request("POST", "/execute", {"code": 'print("back")', "timeout": 20})
    assert status == 200 and body["stdout"] == "back\n", body


def stack_snapshot(s):
    """Every process of the stack now (with identities) and its runtime directory."""
    runtime = os.path.dirname(conf_path(s))
    procs = [identity(p) for p in [s.proc.pid] + descendants(s.proc.pid)]
    return runtime, [i for i in procs if i]


def assert_stack_gone(s, runtime, procs):
    left = [i for i in procs if identity(i[0]) == i]
    assert not left, [(i[0], cmdline(i[0])) for i in left]
    assert not processes_mentioning(runtime)
    assert not os.path.exists(runtime)


def sigterm_and_wait(s, limit):
    s.proc.send_signal(signal.SIGTERM)
    try:
        return s.proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(s.proc.pid, signal.SIGKILL)
        s.proc.wait()
        raise AssertionError(f"the stack did not stop within {limit} s of SIGTERM")


def test_sigterm_lets_a_run_finish_within_grace(make_service):
    s = make_service(extra_conf=SMALL + "shutdown_grace = 15\n")
    t, out = start_long_run(s, 'import time\nprint("start", flush=True)\ntime.sleep(2)\nprint("end")', 30)
    wait_for("the program to start", lambda: running_program(s))
    runtime, procs = stack_snapshot(s)
    assert any(cmdline(p)[:1] and cmdline(p)[0].endswith("pysandbox-jail") for p, _ in procs)
    assert any("nginx" in " ".join(cmdline(p)) for p, _ in procs)
    sigterm_and_wait(s, 30)
    t.join(10)
    assert not t.is_alive() and isinstance(out[0], tuple), out
    status, body = out[0]
    assert status == 200, body
    assert body["success"] is True and body["stdout"] == "start\nend\n"
    assert_stack_gone(s, runtime, procs)


def test_sigterm_kills_a_run_past_grace(make_service):
    s = make_service(extra_conf=SMALL + "shutdown_grace = 1\n")
    t, out = start_long_run(s, 'import time\nprint("start", flush=True)\ntime.sleep(60)', 120)
    prog = wait_for("the program to start", lambda: running_program(s))
    runtime, procs = stack_snapshot(s)
    assert identity(prog) in procs
    started = time.monotonic()
    sigterm_and_wait(s, 30)
    t.join(10)
    assert not t.is_alive()
    # The run did not get its 60 s: it was cut off after the grace period.
    assert time.monotonic() - started < 30
    result = out[0]
    assert not (isinstance(result, tuple) and result[0] == 200), result
    assert_stack_gone(s, runtime, procs)
    assert "grace period over" in s.read_log()


def test_concurrent_requests(service):
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        futures = [ex.submit(service.execute, f'import time\ntime.sleep(0.3)\nprint("hello {i}")') for i in range(8)]
        results = [f.result(timeout=120) for f in futures]
    for i, r in enumerate(results):
        assert r["success"] is True and r["stdout"] == f"hello {i}\n", r
    status, h = service.request("GET", "/health")
    assert h["status"] == "healthy"


def test_sigterm_while_workers_start_stops_at_once():
    """A stop signal that reaches the master while it forks its workers must still stop them all."""
    with tempfile.TemporaryDirectory(prefix="pysandbox-sig.") as d:
        conf = os.path.join(d, "pysandbox.conf")
        with open(conf, "w") as f:
            f.write(f"[service]\nsocket = {d}/s.sock\napi_socket = {d}/api.sock\nsocket_mode = 0600\nstate_dir = {d}\nworkers = 4\n"
                    f"shutdown_grace = 2\n[jail]\njail = {BUILD}/src/pysandbox-jail\n")
        for attempt in range(10):
            with open(os.path.join(d, "log"), "w+") as log:
                p = subprocess.Popen([os.path.join(BUILD, "src", "pysandboxd"), "-c", conf],
                                     stdout=log, stderr=subprocess.STDOUT)
                try:
                    # The socket is bound before the self-test and the forks: stop the pool right then.
                    deadline = time.monotonic() + 10
                    while not os.path.exists(f"{d}/s.sock") and p.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.001)
                    assert os.path.exists(f"{d}/s.sock"), "pysandboxd made no socket"
                    p.send_signal(signal.SIGTERM)
                    assert p.wait(timeout=30) == 0
                finally:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
                log.seek(0)
                text = log.read()
            # Idle workers stop at once: none is left for the grace period to kill, none dies of the signal.
            assert "grace period over" not in text, (attempt, text)
            assert " died " not in text, (attempt, text)
            assert "stopped" in text


# ---- standby jails: each worker spawns the jail of its next run once its answer has gone ----------------

CGROUP_CODE = ("import json; print(json.dumps(sorted({l.rstrip().split(':', 2)[2].rsplit('/', 1)[1]"
               " for l in open('/proc/self/cgroup') if 'pysandbox-' in l})))")


def _wait_standbys(service, what, n=None):
    """run worker pid -> its standby jails, once n run workers (default: as /health counts the run socket's)
    have one each; the API socket's workers keep none."""
    if n is None:
        pool = service.request("GET", "/health")[1]["pool"]
        n = pool["workers"] - pool["api_workers"]

    seen = {}

    def ready():
        seen["workers"] = hostinspect.standby_jails(service)
        m = {w: v for w, v in seen["workers"].items() if v}
        return m if len(m) == n and all(len(v) == 1 for v in m.values()) else None
    try:
        return wait_for(what, ready)
    except AssertionError as e:
        # What was there instead, and what the service said (its reasons for no standby are debug lines).
        raise AssertionError(f"{e}: {n} run workers wanted, worker -> standbys seen last: {seen.get('workers')}\n"
                             f"the service's log, its end:\n{service.read_log()[-3000:]}") from None


def _standby_cgroups_ready(jail, service):
    """Its run's cgroups made ahead (v2: one; v1: one per controller /health names) and holding the program's
    waiting process alone (v2: cloned into it; v1: joined ahead of the request, off its path), never the jail's
    own processes (outside the run's limits)."""
    procs = hostinspect.processes()
    prog = hostinspect.standby_program(jail, procs)
    if prog is None:
        return False
    init = procs[prog]["ppid"]
    mine = hostinspect.cgroups_named(f"pysandbox-{jail}")
    if mine & (hostinspect.own_cgroup_dirs(jail) | hostinspect.own_cgroup_dirs(init)):
        return False
    if any(os.path.exists(os.path.join(d, "cgroup.controllers")) for d in mine):
        return len(mine) == 1 and mine <= hostinspect.own_cgroup_dirs(prog)
    _, health = service.request("GET", "/health")
    controllers = health["isolation"]["cgroup"].removeprefix("v1: ").split(", ")
    return len(mine) == len(controllers) and mine <= hostinspect.own_cgroup_dirs(prog)


def test_each_run_worker_keeps_one_standby_jail(service):
    per_worker = _wait_standbys(service, "every run worker to have its standby jail")
    api = [w for w, v in hostinspect.standby_jails(service).items() if not v]
    assert len(api) == service.request("GET", "/health")[1]["pool"]["api_workers"], api
    pool_uid = pwd.getpwnam("pysandbox").pw_uid
    procs = hostinspect.processes()
    for worker, (jail,) in per_worker.items():
        # The pool's real uid (so the worker can signal it), effective root: its cgroups are root's.
        assert procs[jail]["uids"][:2] == (pool_uid, 0), procs[jail]
        # A standby that has just started may still be making (v1: joining) them, one grace period each.
        wait_for(f"standby {jail} to be in its cgroups", lambda: _standby_cgroups_ready(jail, service), timeout=5)
        mine = hostinspect.cgroups_named(f"pysandbox-{jail}")
        assert not hostinspect.own_cgroup_dirs(worker) & mine


def test_every_run_gets_fresh_cgroups_removed_after_it(service):
    seen = []
    for _ in range(8):
        r = service.execute(CGROUP_CODE)
        assert r["status"] == "ok", r
        names = json.loads(r["stdout"])
        assert len(set(names)) == 1 and names[0].startswith("pysandbox-"), names
        seen.append(names[0])
        # The next jail to start (this worker's standby, spawned after the answer) removes it.
        wait_for(f"{names[0]} to be removed", lambda: not hostinspect.cgroups_named(names[0]), timeout=5)
    assert len(set(seen)) == len(seen), seen


def test_a_killed_standby_is_replaced(make_service):
    s = make_service(extra_conf=ONE)
    before = _wait_standbys(s, "the run workers' standbys")
    jails = [j for v in before.values() for j in v]
    for jail in jails:
        os.kill(jail, signal.SIGKILL)
    wait_for("the standbys to die", lambda: all(identity(j) is None for j in jails))
    # Two run workers, both standbys dead: runs until one lands on a worker that finds its standby gone.
    for i in range(6):
        hello(s, i)
        if any(f"standby jail {j} had ended; starting another" in s.read_log() for j in jails):
            break
    assert any(f"standby jail {j} had ended; starting another" in s.read_log() for j in jails), s.read_log()[-2000:]
    new = wait_for("a new standby", lambda: {j for v in hostinspect.standby_jails(s).values() for j in v} - set(jails))
    assert new
    wait_for("the killed standbys' cgroups to be removed",
             lambda: not any(hostinspect.cgroups_named(f"pysandbox-{j}") for j in jails), timeout=15)


def test_a_recycled_worker_ends_its_standby(make_service):
    s = make_service(extra_conf=ONE + "max_requests = 2\nlog_level = debug\n")	# debug: why a standby is missing
    first = _wait_standbys(s, "the run workers' standbys")
    for i in range(4):
        hello(s, i)	# two run workers, four runs: one of them serves its second
    gone = wait_for("a recycled run worker", lambda: [w for w in first if identity(w) is None])
    jails = [j for w in gone for j in first[w]]
    wait_for("its standby to end", lambda: all(identity(j) is None for j in jails))
    second = _wait_standbys(s, "the new worker's standby")
    assert not set(gone) & set(second)
    wait_for("the old standby's cgroups to be removed",
             lambda: not any(hostinspect.cgroups_named(f"pysandbox-{j}") for j in jails), timeout=15)
