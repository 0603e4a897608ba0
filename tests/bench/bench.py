"""bench.py: measures SimplePySandbox (latency vs a bare interpreter, environments, throughput, pool idle memory)."""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from baseline import bare_start

HELLO = {"code": "print('hello')"}
HELLO_BODY = json.dumps(HELLO).encode()
WARMUP = 20

# Targets: what the C rewrite promises over the original FastAPI service (42 ms p50, 40 req/s, 46 MB idle).
TARGET_RATIO = 1.5
TARGET_RPS = 150.0
TARGET_MB = 10.0
# Environments: a create answers at once whatever the setup script does (the original blocked for the
# whole build), and a run in a ready environment costs little more than a plain one.
TARGET_CREATE_MS = 50.0
TARGET_ENV_RATIO = 1.2
# The warm path's (issue 13): hello world at most 0.2x a bare start, and at 8 connections at least 5x the bare
# interpreter's single-core rate (1 / its p50).
TARGET_WARM_RATIO = 0.2
TARGET_WARM_RATE = 5.0
MB = 1024 * 1024

ENV_HELLO = "bench-hello"            # the ready environment hello world runs in
ENV_READY_SCRIPT = "echo ready"
ENV_SLOW_SCRIPT = "sleep 5; echo done"
ENV_TRIVIAL_SCRIPT = "echo done"
ENV_CREATE_PREFIX = "bench-create-"

WRK_LUA = r"""-- bench.lua: written by bench.py; POSTs hello world and counts answers that are not a correct 200.
wrk.method = "POST"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  bad_status = 0
  bad_body = 0
end
function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif not (body:find('"success":true', 1, true) and body:find('"stdout":"hello\\n"', 1, true)) then
    bad_body = bad_body + 1
  end
end
function done(summary, latency, requests)
  local s, b = 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("bad_status")
    b = b + t:get("bad_body")
  end
  io.write(string.format("BENCH bad_status=%%d bad_body=%%d p50_us=%%d p90_us=%%d\n",
                         s, b, latency:percentile(50), latency:percentile(90)))
end
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pct(values, p):
    """The p-th percentile (nearest rank) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def summary_ms(samples_ns):
    ms = [s / 1e6 for s in samples_ns]
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p90_ms": pct(ms, 90), "p99_ms": pct(ms, 99),
            "min_ms": min(ms), "max_ms": max(ms), "mean_ms": statistics.fmean(ms)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- 1. the bare interpreter -----------------------------------------------
def bench_bare(n):
    samples, cpu = [], []
    for i in range(WARMUP + n):
        ns, cpu_s = bare_start()
        if i >= WARMUP:
            samples.append(ns)
            cpu.append(cpu_s)
    res = summary_ms(samples)
    res["cpu_ms"] = statistics.mean(cpu) * 1000.0	# the interpreter's own CPU per start, user + system
    return res


# ---- 2. the stack -----------------------------------------------------------
class Stack:
    """nginx + pysandboxd started through conf/devserver.sh; stop() ends it by the PID started here.

    Everything of the run (state dir, service log, wrk script) lives in one temporary directory
    that stop() removes; devserver.sh removes its own runtime directory when it stops."""

    def __init__(self, srcdir, builddir, extra_conf=""):
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="pysandbox-bench.")
        self.state = os.path.join(self.tmp, "state")
        self.log_path = os.path.join(self.tmp, "service.log")
        env = dict(os.environ)
        env.update({"PORT": str(self.port), "STATE_DIR": self.state, "RATE": "100000", "BURST": "100000"})
        env.pop("PYSANDBOX_EXTRA_CONF", None)
        if extra_conf:	# --conf: e.g. "[service]\nwarm_interpreters = true\n" for the warm path
            env["PYSANDBOX_EXTRA_CONF"] = extra_conf
        self.cmd = ["bash", os.path.join(srcdir, "conf", "devserver.sh"), srcdir, builddir]
        self.env = env
        self.log = None
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True)

    def wait_healthy(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the stack exited at start:\n" + self.read_log())
            try:
                status, body = self.request("GET", "/health")
                if status == 200 and body.get("status") == "healthy":
                    return body
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"no healthy /health within {timeout} s:\n" + self.read_log())

    def request(self, method, path, body=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, json.loads(r.read())
        finally:
            conn.close()

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        # A second Ctrl-C must not leave the stack running half-stopped.
        old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._stop()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def _stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # devserver.sh runs in its own session: its process group is everything it started.
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_hello(status, raw):
    if status != 200:
        raise RuntimeError(f"/execute answered {status}: {raw[:300]!r}")
    body = json.loads(raw)
    if body.get("success") is not True or body.get("stdout") != "hello\n":
        raise RuntimeError(f"/execute gave a wrong result: {raw[:300]!r}")


# ---- 3. sequential latency --------------------------------------------------
class Client:
    """One keep-alive connection; call() times one request-response round trip."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        t0 = time.perf_counter_ns()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
        except (OSError, http.client.HTTPException):
            self.reconnect()
            raise
        t1 = time.perf_counter_ns()
        if r.will_close:
            self.reconnect()
        return r.status, raw, t1 - t0

    def reconnect(self):
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def close(self):
        self.conn.close()


def bench_sequential(stack, n, env_name):
    """Plain hello world and hello world in environment env_name, one request at a time, interleaved
    (plain-env, env-plain, ...) so both see the same machine state; each on its own keep-alive connection."""
    env_body = json.dumps({"code": HELLO["code"], "environment": env_name}).encode()
    plain, env = Client(stack.port), Client(stack.port)
    samples = {"plain": [], "env": []}
    try:
        for i in range(WARMUP + n):
            order = (("plain", plain, "/execute", HELLO_BODY), ("env", env, "/execute-with-environment", env_body))
            for kind, client, path, body in (order if i % 2 == 0 else order[::-1]):
                status, raw, ns = client.call("POST", path, body)
                check_hello(status, raw)
                if i >= WARMUP:
                    samples[kind].append(ns)
    finally:
        plain.close()
        env.close()
    return summary_ms(samples["plain"]), summary_ms(samples["env"])


def bench_floor(stack, n):
    """GET /health one at a time: what nginx, FastCGI and a pool worker cost with no run at all, the floor
    under any run's latency."""
    client = Client(stack.port)
    samples = []
    try:
        for i in range(WARMUP + n):
            status, raw, ns = client.call("GET", "/health")
            if status != 200:
                raise RuntimeError(f"GET /health answered {status}: {raw[:200]!r}")
            if i >= WARMUP:
                samples.append(ns)
    finally:
        client.close()
    return summary_ms(samples)


# ---- 3b. environments ---------------------------------------------------------
def env_get(stack, name):
    status, body = stack.request("GET", f"/environments/{name}")
    return body if status == 200 else None


def env_create_ready(stack, timeout):
    """Create ENV_HELLO with a trivial setup script and wait (at most timeout s) until it is ready."""
    body = json.dumps({"name": ENV_HELLO, "setup_script": ENV_READY_SCRIPT}).encode()
    t0 = time.monotonic()
    status, env = stack.request("POST", "/environments", body)
    if status != 200 or env.get("status") != "building":
        raise RuntimeError(f"POST /environments {ENV_HELLO} answered {status}: {env}")
    deadline = t0 + timeout
    while True:
        env = env_get(stack, ENV_HELLO)
        if env is None:
            raise RuntimeError(f"environment {ENV_HELLO} disappeared while building")
        if env["status"] != "building":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"environment {ENV_HELLO} not ready within {timeout:g} s")
        time.sleep(0.05)
    waited = time.monotonic() - t0
    if env["status"] != "ready":
        _, logs = stack.request("GET", f"/environments/{ENV_HELLO}/logs")
        raise RuntimeError(f"environment {ENV_HELLO} {env['status']}: {env.get('error')}\nlog: {logs}")
    return {"name": ENV_HELLO, "python_version": env.get("python_version"), "ready_after_s": waited,
            "build_seconds": env.get("build_seconds"), "size_bytes": env.get("size_bytes")}


def env_delete(client, name):
    status, raw, ns = client.call("DELETE", f"/environments/{name}")
    if status != 200:
        raise RuntimeError(f"DELETE /environments/{name} answered {status}: {raw[:300]!r}")
    return ns


def builder_pids(stack):
    """(builder pids, build pids: the builders' children, one per running build)."""
    table = proc_table()
    masters = [p for p in children(table, stack.proc.pid) if table[p][1] == "pysandboxd"]
    builders = [p for m in masters for p in children(table, m) if table[p][1] == "pysandbox-build"]
    return builders, [c for b in builders for c in children(table, b)]


def wait_envs_gone(stack, timeout):
    """Wait until GET /environments lists none and no build runs any more; the seconds to each."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    listed_s = builds_s = None
    while True:
        now = time.monotonic()
        if listed_s is None:
            status, body = stack.request("GET", "/environments")
            if status == 200 and body.get("total") == 0 and not body.get("environments"):
                listed_s = now - t0
        if builds_s is None:
            if not builder_pids(stack)[1]:
                builds_s = now - t0
        if listed_s is not None and builds_s is not None:
            return listed_s, builds_s
        if time.monotonic() > deadline:
            raise RuntimeError(f"environments still listed or builds still running {timeout:g} s after the deletes "
                               f"(listed gone: {listed_s}, builds gone: {builds_s})")
        time.sleep(0.05)


def bench_env_create(stack, n, gap, cleanup_timeout):
    """n creates, gap s apart, alternately with a slow and a trivial setup script, each POST timed, so that
    later creates meet builds running; then delete them all (cancelling the running builds) and wait until
    none is listed and no build runs."""
    client = Client(stack.port)
    names, slow, trivial, bad, during_builds = [], [], [], [], 0
    try:
        for i in range(n):
            name = f"{ENV_CREATE_PREFIX}{i:02d}"
            script = ENV_SLOW_SCRIPT if i % 2 == 0 else ENV_TRIVIAL_SCRIPT
            during_builds += bool(builder_pids(stack)[1])
            status, raw, ns = client.call("POST", "/environments", json.dumps({"name": name,
                                                                              "setup_script": script}).encode())
            if status == 200:
                names.append(name)
            env = json.loads(raw) if status == 200 else {}
            if status != 200 or env.get("status") != "building":
                bad.append(f"{name}: {status} {raw[:200]!r}")
            (slow if i % 2 == 0 else trivial).append(ns)
            if i < n - 1:
                time.sleep(gap)
        # The deletes must cancel running builds, not only queued ones.
        deadline = time.monotonic() + 30
        while not builder_pids(stack)[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        # What the builder had done by the time the creates were over (max_builds at a time).
        states = {}
        status, body = stack.request("GET", "/environments")
        for env in body.get("environments", []):
            key = env["status"] + ("" if env["status"] != "building" or env.get("build_started_at") else " (queued)")
            states[key] = states.get(key, 0) + 1
        builds_running = len(builder_pids(stack)[1])
        deletes = [env_delete(client, name) for name in names]
        names = []
    finally:
        for name in names:   # an error half-way: do not leave them behind
            try:
                env_delete(client, name)
            except (OSError, RuntimeError, http.client.HTTPException):
                pass
        client.close()
    listed_s, builds_s = wait_envs_gone(stack, cleanup_timeout)
    # The builder removes deleted environments' directories (.trash-*, .build-*) on its next round.
    deadline = time.monotonic() + cleanup_timeout
    envs_dir = os.path.join(stack.state, "envs")
    while os.path.isdir(envs_dir) and os.listdir(envs_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftover = sorted(os.listdir(envs_dir)) if os.path.isdir(envs_dir) else []
    res = summary_ms(slow + trivial)
    res.update({"slow": summary_ms(slow), "trivial": summary_ms(trivial), "bad": bad, "gap_s": gap,
                "creates_while_building": during_builds,
                "slow_script": ENV_SLOW_SCRIPT, "trivial_script": ENV_TRIVIAL_SCRIPT,
                "states_after_creates": states, "builds_running_after_creates": builds_running,
                "delete": summary_ms(deletes), "none_listed_after_s": listed_s, "builds_stopped_after_s": builds_s,
                "leftover_env_dirs": leftover})
    return res


# ---- 4. throughput ------------------------------------------------------------
def parse_wrk(out):
    res = {"tool": "wrk", "requests": 0, "rps": 0.0, "non_2xx": 0, "bad_body": 0, "socket_errors": 0}
    for line in out.splitlines():
        s = line.strip()
        if " requests in " in s:
            res["requests"] = int(s.split()[0])
        elif s.startswith("Requests/sec:"):
            res["rps"] = float(s.split()[1])
        elif s.startswith("Non-2xx or 3xx responses:"):
            res["non_2xx"] = int(s.split(":")[1])
        elif s.startswith("Socket errors:"):
            res["socket_errors"] = sum(int(p.split()[-1]) for p in s.split(":", 1)[1].split(","))
        elif s.startswith("BENCH "):
            kv = dict(p.split("=") for p in s.split()[1:])
            res["not_200"] = int(kv["bad_status"])
            res["bad_body"] = int(kv["bad_body"])
            res["p50_ms"] = int(kv["p50_us"]) / 1000.0
            res["p90_ms"] = int(kv["p90_us"]) / 1000.0
    res["non_2xx"] = max(res["non_2xx"], res.get("not_200", 0))
    return res


def busy_cpu_ms():
    """CPU time the whole machine has spent busy (all but idle and iowait in /proc/stat), in ms."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) * 1000.0 / os.sysconf("SC_CLK_TCK")


def bench_wrk(wrk, stack, conns, duration, tmp):
    script = os.path.join(tmp, "bench.lua")
    with open(script, "w") as f:
        f.write(WRK_LUA % {"body": HELLO_BODY.decode().replace("\\", "\\\\").replace("'", "\\'")})
    threads = min(conns, os.cpu_count() or 1)
    cmd = [wrk, f"-t{threads}", f"-c{conns}", f"-d{max(1, round(duration))}s", "--timeout", "30s", "-s", script,
           f"http://127.0.0.1:{stack.port}/execute"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                       timeout=duration + 120)
    out = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0 or "Requests/sec:" not in out:
        raise RuntimeError(f"wrk failed ({r.returncode}):\n{out}")
    return parse_wrk(out)


def bench_threads(stack, conns, duration):
    """Fallback without wrk: conns threads, each with its own keep-alive connection."""
    lock = threading.Lock()
    totals = {"requests": 0, "non_2xx": 0, "bad_body": 0, "socket_errors": 0}
    samples = []
    stop_at = time.monotonic() + duration

    def client():
        local = {"requests": 0, "non_2xx": 0, "bad_body": 0, "socket_errors": 0}
        lat = []
        conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        while time.monotonic() < stop_at:
            t0 = time.perf_counter_ns()
            try:
                conn.request("POST", "/execute", body=HELLO_BODY, headers=headers)
                r = conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException):
                local["socket_errors"] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
                continue
            lat.append(time.perf_counter_ns() - t0)
            local["requests"] += 1
            if r.status // 100 != 2:
                local["non_2xx"] += 1
            else:
                try:
                    check_hello(r.status, raw)
                except (RuntimeError, ValueError):
                    local["bad_body"] += 1
            if r.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
        conn.close()
        with lock:
            for k, v in local.items():
                totals[k] += v
            samples.extend(lat)

    t0 = time.monotonic()
    ts = [threading.Thread(target=client) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - t0
    res = {"tool": "python-threads", "rps": totals["requests"] / elapsed, **totals}
    if samples:
        s = summary_ms(samples)
        res["p50_ms"], res["p90_ms"] = s["p50_ms"], s["p90_ms"]
    return res


def healthy_after_load(stack):
    """One more hello world and /health: the service must have come through the load intact. The runs of
    the load's last requests may still fill every sandbox and the queue (wrk stops with its connections'
    requests in flight, and the pool finishes them): a 503 of capacity is retried for up to 10 s, as a
    client would."""
    try:
        give_up = time.monotonic() + 10
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
            try:
                conn.request("POST", "/execute", body=HELLO_BODY, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                raw = r.read()
            finally:
                conn.close()
            if r.status == 503 and b'"reason":"capacity"' in raw and time.monotonic() < give_up:
                time.sleep(0.2)
                continue
            check_hello(r.status, raw)
            break
        status, body = stack.request("GET", "/health")
        return status == 200 and body.get("status") == "healthy"
    except (OSError, ValueError, RuntimeError, http.client.HTTPException) as e:
        log(f"bench: not healthy after the load: {e}")
        return False


# ---- 5. memory ------------------------------------------------------------------
def proc_table():
    """{pid: (ppid, comm)} for every process."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        table[int(d)] = (ppid, comm)
    return table


def children(table, pid):
    return [p for p, (pp, _) in table.items() if pp == pid]


def mem_of(pid):
    """(RSS, PSS) in bytes; PSS from smaps_rollup."""
    rss = pss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def descendants(table, pid):
    out, todo = [], [pid]
    while todo:
        kids = children(table, todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


def lib_rss(pid, needle="/libc.so"):
    """RSS of the mappings of one shared library in one process, in bytes."""
    total, inside = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):
                    inside = needle in line
                elif inside and first == "Rss:":
                    total += int(line.split()[1]) * 1024
    except OSError:
        pass
    return total


def measure_memory(stack):
    table = proc_table()
    tops = children(table, stack.proc.pid)
    pool = [p for p in tops if table[p][1] == "pysandboxd"]
    ngx = [p for p in tops if table[p][1] == "nginx"]
    if len(pool) != 1:
        raise RuntimeError(f"expected one pysandboxd under devserver.sh {stack.proc.pid}, found {tops}")

    def group(pids):
        rss = pss = 0
        for p in pids:
            r, s = mem_of(p)
            rss += r
            pss += s
        return {"processes": len(pids), "rss_mb": rss / MB, "pss_mb": pss / MB}

    master = pool[0]
    direct = children(table, master)
    workers = [p for p in direct if table[p][1] == "pysandboxd"]
    builders = [p for p in direct if table[p][1] == "pysandbox-build"]
    # Each idle worker's standby jail (spawned ahead of its next request), apart.
    standbys = [p for w in workers for p in children(table, w) if table[p][1] == "pysandbox-jail"]
    # A standby's own processes (its init, the program's process waiting to exec), and with warm_interpreters
    # the interpreter waiting for its run, apart.
    below = [p for j in standbys for p in descendants(table, j)]
    warm = [p for p in below if table[p][1].startswith("python")]
    inner = [p for p in below if p not in warm]
    # Anything else: a build still running under the builder, a self-test jail, an unknown child.
    known = set(workers) | set(builders) | set(standbys) | set(below)
    other = [p for p in descendants(table, master) if p not in known]
    g = {"master": group([master]), "workers": group(workers), "builder": group(builders),
         "standbys": group(standbys + inner), "warm": group(warm), "other": group(other)}
    n_pids = [d for root in ngx for d in [root] + children(table, root)]
    nginx = group(n_pids)
    res = {"master_pid": master, "workers": len(workers), "builder_pids": builders, "standby_jails": len(standbys),
           "warm_interpreters": len(warm),
           "other_processes": len(other), "other_comms": sorted(table[p][1] for p in other),
           "pool_processes": sum(x["processes"] for x in g.values()),
           "pool_rss_mb": sum(x["rss_mb"] for x in g.values()), "pool_pss_mb": sum(x["pss_mb"] for x in g.values()),
           "libc_rss_mb_per_process": lib_rss(master) / MB,
           "nginx_processes": nginx["processes"], "nginx_rss_mb": nginx["rss_mb"], "nginx_pss_mb": nginx["pss_mb"]}
    for k, x in g.items():
        res[f"{k}_rss_mb"], res[f"{k}_pss_mb"] = x["rss_mb"], x["pss_mb"]
    return res


# ---- 6. report ----------------------------------------------------------------------
def report(fig):
    bare, seq, thr, mem = fig["bare"], fig["stack"], fig["throughput"], fig["memory"]
    envh, cre = fig["env_hello"], fig["env_create"]
    ratio, env_ratio = fig["ratio_p50"], fig["ratio_env_plain_p50"]
    floor = fig["floor"]
    bare_rate = 1000.0 / bare["p50_ms"]
    rate_ratio = thr["rps"] / bare_rate

    def verdict(ok):
        return "met" if ok else "NOT MET"

    def mem_cell(kind):
        return f"RSS {mem[kind + '_rss_mb']:.2f} MB  PSS {mem[kind + '_pss_mb']:.2f} MB"

    create_ok = not cre["bad"] and cre["max_ms"] < TARGET_CREATE_MS
    create_bad = f", {len(cre['bad'])} bad" if cre["bad"] else ""
    rows = [
        ("bare python3 -I spawn", f"p50 {bare['p50_ms']:.2f} ms  p90 {bare['p90_ms']:.2f} ms", "-", ""),
        ("stack hello world", f"p50 {seq['p50_ms']:.2f} ms  p90 {seq['p90_ms']:.2f} ms", "-", ""),
        ("ratio stack/bare p50", f"{ratio:.2f}", f"<= {TARGET_RATIO}", verdict(ratio <= TARGET_RATIO)),
        ("  warm path's target (info)", f"{ratio:.2f}", f"<= {TARGET_WARM_RATIO}",
         verdict(ratio <= TARGET_WARM_RATIO)),
        ("floor: GET /health (info)", f"p50 {floor['p50_ms']:.2f} ms  p90 {floor['p90_ms']:.2f} ms  "
         f"({floor['p50_ms'] / bare['p50_ms']:.2f}x bare)", "-", ""),
        ("env hello world", f"p50 {envh['p50_ms']:.2f} ms  p90 {envh['p90_ms']:.2f} ms", "-", ""),
        ("ratio env/plain p50", f"{env_ratio:.2f}", f"<= {TARGET_ENV_RATIO}", verdict(env_ratio <= TARGET_ENV_RATIO)),
        ("env build 'echo ready' (info)", f"ready after {fig['env_ready']['ready_after_s']:.2f} s "
         f"(build {fig['env_ready']['build_seconds']} s)", "-", ""),
        (f"env create x{cre['n']} ({cre['creates_while_building']} during builds)",
         f"p50 {cre['p50_ms']:.2f} ms  p90 {cre['p90_ms']:.2f} ms  max {cre['max_ms']:.2f} ms{create_bad}",
         f"each < {TARGET_CREATE_MS:g} ms", verdict(create_ok)),
        (f"env delete x{cre['delete']['n']} (info)", f"p50 {cre['delete']['p50_ms']:.2f} ms  "
         f"max {cre['delete']['max_ms']:.2f} ms; none listed after {cre['none_listed_after_s']:.2f} s, "
         f"builds stopped after {cre['builds_stopped_after_s']:.2f} s", "-", ""),
        (f"throughput @{fig['connections']} conns", f"{thr['rps']:.1f} req/s ({thr['requests']} req, "
         f"{thr['non_2xx']} non-2xx, {thr['bad_body']} bad, {thr['socket_errors']} sock err)",
         f">= {TARGET_RPS:g}", verdict(thr["rps"] >= TARGET_RPS and thr["non_2xx"] == 0
                                       and thr["bad_body"] == 0 and fig["healthy_after_load"])),
        ("  / bare single-core rate", f"{rate_ratio:.2f}x (bare 1/p50 = {bare_rate:.1f}/s)",
         f">= {TARGET_WARM_RATE:g}x", verdict(rate_ratio >= TARGET_WARM_RATE)),
        ("  CPU per request (info)", f"{thr['cpu_ms_per_request']:.2f} ms, all processes (a bare start: "
         f"{bare['cpu_ms']:.2f} ms; {fig['cpus']} CPUs bound the rate at "
         f"{fig['cpus'] * 1000.0 / thr['cpu_ms_per_request']:.0f}/s)", "-", ""),
        (f"pool idle RSS ({mem['pool_processes']} procs)", f"{mem['pool_rss_mb']:.2f} MB",
         f"< {TARGET_MB:g} MB", verdict(mem["pool_rss_mb"] < TARGET_MB)),
        (f"pool idle PSS ({mem['pool_processes']} procs)", f"{mem['pool_pss_mb']:.2f} MB",
         f"< {TARGET_MB:g} MB", verdict(mem["pool_pss_mb"] < TARGET_MB)),
        ("  master (info)", mem_cell("master"), "-", ""),
        (f"  workers x{mem['workers']} (info)", mem_cell("workers"), "-", ""),
        (f"  builder x{len(mem['builder_pids'])} (info)", mem_cell("builder"), "-", ""),
    ]
    if mem["standby_jails"]:
        rows.append((f"  standby jails x{mem['standby_jails']} (info, their processes but an interpreter)",
                     mem_cell("standbys"), "-", ""))
    if mem["warm_interpreters"]:
        rows.append((f"  warm interpreters x{mem['warm_interpreters']} (info)", mem_cell("warm"), "-", ""))
    if mem["other_processes"]:
        rows.append((f"  other x{mem['other_processes']} (info)", mem_cell("other"), "-", ""))
    rows.append((f"nginx idle ({mem['nginx_processes']} procs, info)",
                 f"RSS {mem['nginx_rss_mb']:.2f} MB  PSS {mem['nginx_pss_mb']:.2f} MB", "-", ""))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    print(f"{fig['cpus']} CPUs; 1-min load average {fig['loadavg_start']:.2f} before the run "
          "(other work on the machine skews every figure)")
    print(f"{'figure':<{w0}}  {'value':<{w1}}  {'target':<{w2}}  result")
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}".rstrip())
    if "p50_ms" in thr:
        print(f"(under load: p50 {thr['p50_ms']:.1f} ms, p90 {thr['p90_ms']:.1f} ms, via {thr['tool']}; "
              f"healthy after load: {fig['healthy_after_load']})")
    print(f"(RSS sums count each shared page once per process: libc alone is {mem['libc_rss_mb_per_process']:.2f} MB "
          "of RSS in every process; PSS divides shared pages among their users and is the fair total)")
    print(f"(when the creates were over: {cre['builds_running_after_creates']} builds running; environments "
          + ", ".join(f"{v} {k}" for k, v in sorted(cre["states_after_creates"].items())) + ")")
    for b in cre["bad"]:
        print(f"(bad create: {b})")
    if cre["leftover_env_dirs"]:
        print(f"(left in the state directory after the deletes: {' '.join(cre['leftover_env_dirs'])})")
    sys.stdout.flush()


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--srcdir", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--builddir", default=None, help="build tree (default: SRCDIR/build)")
    ap.add_argument("--requests", type=int, default=300, help="sequential requests (and bare spawns) measured")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of the throughput run")
    ap.add_argument("--connections", type=int, default=8, help="concurrent connections of the throughput run")
    ap.add_argument("--env-creates", type=int, default=20,
                    help="environments created (half with a slow setup script) to time POST /environments")
    ap.add_argument("--env-create-gap", type=float, default=0.25,
                    help="seconds between two creates, so that later creates meet running builds")
    ap.add_argument("--env-timeout", type=float, default=300.0,
                    help="seconds the 'echo ready' environment may take to build, and the deletes to settle")
    ap.add_argument("--no-wrk", action="store_true", help="use Python threads even when wrk is installed")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    ap.add_argument("--conf", default="", metavar="TEXT",
                    help="configuration added to the stack's (PYSANDBOX_EXTRA_CONF), e.g. the warm path's "
                         "$'[service]\\nwarm_interpreters = true\\n'")
    args = ap.parse_args()
    srcdir = os.path.abspath(args.srcdir)
    builddir = os.path.abspath(args.builddir or os.path.join(srcdir, "build"))
    for p in (os.path.join(builddir, "src", "pysandboxd"), os.path.join(builddir, "src", "pysandbox-jail")):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench: {p} is missing; build first (make)")

    # A SIGTERM to the benchmark unwinds like Ctrl-C, so the finally below still stops the stack.
    signal.signal(signal.SIGTERM, on_sigterm)
    if args.requests < 1 or args.env_creates < 2:
        sys.exit("bench: --requests must be at least 1, and --env-creates at least 2 (one of each setup script)")
    fig = {"cpus": os.cpu_count(), "requests": args.requests, "duration_s": args.duration,
           "connections": args.connections, "env_creates": args.env_creates, "loadavg_start": os.getloadavg()[0]}
    log(f"bench: bare interpreter, {args.requests} spawns after {WARMUP} warm-up")
    fig["bare"] = bench_bare(args.requests)

    stack = None
    try:
        stack = Stack(srcdir, builddir, args.conf)
        stack.start()
        fig["health"] = stack.wait_healthy()
        log(f"bench: stack on port {stack.port} (devserver.sh pid {stack.proc.pid})")
        log(f"bench: environment {ENV_HELLO} ({ENV_READY_SCRIPT!r}), waiting until it is ready")
        fig["env_ready"] = env_create_ready(stack, args.env_timeout)
        log(f"bench: sequential hello world, plain and in {ENV_HELLO} interleaved, {args.requests} requests "
            f"each after {WARMUP} warm-up")
        fig["stack"], fig["env_hello"] = bench_sequential(stack, args.requests, ENV_HELLO)
        log(f"bench: GET /health, {args.requests} requests after {WARMUP} warm-up (the floor under a run)")
        fig["floor"] = bench_floor(stack, args.requests)
        fig["ratio_p50"] = fig["stack"]["p50_ms"] / fig["bare"]["p50_ms"]
        fig["ratio_env_plain_p50"] = fig["env_hello"]["p50_ms"] / fig["stack"]["p50_ms"]
        client = Client(stack.port)
        try:
            env_delete(client, ENV_HELLO)
        finally:
            client.close()

        log(f"bench: {args.env_creates} environment creates ({ENV_SLOW_SCRIPT!r} / {ENV_TRIVIAL_SCRIPT!r}), "
            "then delete them all and wait until none is listed and no build runs")
        fig["env_create"] = bench_env_create(stack, args.env_creates, args.env_create_gap, args.env_timeout)

        wrk = None if args.no_wrk else shutil.which("wrk")
        log(f"bench: throughput, {args.connections} connections for {args.duration:g} s "
            f"({'wrk' if wrk else 'Python threads'})")
        cpu_before = busy_cpu_ms()
        if wrk:
            fig["throughput"] = bench_wrk(wrk, stack, args.connections, args.duration, stack.tmp)
        else:
            fig["throughput"] = bench_threads(stack, args.connections, args.duration)
        # Everything the machine did, per answer: nginx, the pool, the jails, the interpreters and the client.
        fig["throughput"]["cpu_ms_per_request"] = ((busy_cpu_ms() - cpu_before)
                                                   / max(1, fig["throughput"]["requests"]))
        fig["healthy_after_load"] = healthy_after_load(stack)

        log("bench: idle memory after 2 s")
        time.sleep(2)
        fig["memory"] = measure_memory(stack)
    except Exception:
        if stack is not None:
            log("bench: service log (tail):\n" + stack.read_log())
        raise
    finally:
        if stack is not None:
            stack.stop()

    report(fig)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=2, sort_keys=True)
            f.write("\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("bench: interrupted; everything it started is stopped")
        sys.exit(130)
