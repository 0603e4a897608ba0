"""load.py: load-and-fault harness for SimplePySandbox (make load): mixed load, worker and builder kills, a full disk, nothing left behind."""
import argparse
import base64
import collections
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

MB = 1 << 20
REQUEST_TIMEOUT = 60.0      # s: socket timeout of every run request (a queued run may wait behind 32 others)
SHORT_TIMEOUT = 10.0        # s: /health, environment calls
HEALTH_INTERVAL = 0.1       # s between two /health samples
HEALTH_TIMEOUT = 30.0       # s a /health sample may take (it queues behind the runs for a worker)
HEALTH_IN_FLIGHT = 64       # /health samples at most in flight at once
HEALTH_P99_MS = 100.0
BUILD_WAIT = 120.0          # s an environment build may take after it was asked for (venv + pip under load)
STOP_TIMEOUT = 30.0         # s devserver.sh gets to stop on SIGTERM before its process group is SIGKILLed
KILL_PHASE_MAX = 20.0       # s: phase 2 runs min(duration, this)
WORKER_MIN_AGE = 1.5        # s: phase 2 kills only workers older than this (see kill_workers)
RECOVERY_LIMIT = 10.0       # s after phase 2 for the pool to be back at its worker count
BUILDER_KILL_LIMIT = 30.0   # s after the builder's SIGKILL for its build to be marked failed
DISK_MB = 64                # size of phase 4's file system
CGROUP_GRACE = 12.0         # s: longer than the pool's 10 s cgroup sweep (see phase_leftovers)
UID_POOL = range(60000, 60064)
DAEMON, BUILDER = "pysandboxd", "pysandbox-build"     # comm of the pool's processes (workers; builder)
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Phase 1's two builds and phase 3's: offline scripts (the host has no PyPI).
BUILD_SCRIPT = "echo building; sleep 3; echo done"
SLOW_BUILD_SCRIPT = "echo started; sleep 30; echo done"
AFTER_BUILD_SCRIPT = "echo after the builder was killed"
# Phase 4: dd fills the disk and fails; the script then holds the disk full for a few seconds (the space
# comes back when the build's directory is removed) so requests can be sent while nothing can be written.
FILL_SCRIPT = ("echo filling\n"
               "dd if=/dev/zero of=/env/fill bs=1M count=200 2>&1 || "
               "{ rc=$?; echo \"dd failed with status $rc\"; sleep 4; exit $rc; }\n"
               "echo the disk did not fill\n")


def log(msg):
    print(msg, flush=True)


def pct(values, p):
    """The p-th percentile (nearest rank) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def run_tool(cmd):
    """Runs a system tool (mkfs, mount, ...); "" if it worked, else why not."""
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{cmd[0]}: {e}"
    if r.returncode == 0:
        return ""
    return f"{cmd[0]}: " + (r.stderr.decode(errors="replace").strip() or f"exit {r.returncode}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- results ---------------------------------------------------------------------
class Checks:
    """One check = one pass or fail line; the closing line counts them."""

    def __init__(self):
        self.results = []

    def check(self, phase, name, ok, detail=""):
        self.results.append({"phase": phase, "name": name, "ok": bool(ok), "detail": detail})
        log(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f" ({detail})" if detail else ""))
        return bool(ok)

    def counts(self):
        passed = sum(r["ok"] for r in self.results)
        return passed, len(self.results) - passed


# ---- HTTP ----------------------------------------------------------------------------
def http_call(port, method, path, body=None, timeout=SHORT_TIMEOUT):
    """One request on a fresh loopback connection: (status, headers, raw body, seconds). Raises on a transport
    error; a fresh connection per request keeps a failed one from taking the next request with it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        r = conn.getresponse()
        raw = r.read()
        return r.status, r.headers, raw, time.perf_counter() - t0
    finally:
        conn.close()


def http_json(port, method, path, obj=None, timeout=SHORT_TIMEOUT):
    status, _, raw, _ = http_call(port, method, path, json.dumps(obj).encode() if obj is not None else None, timeout)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"raw": raw[:300].decode("utf-8", "replace")}


def is_capacity_503(status, headers, raw):
    """What the pool will send when every worker is busy: 503, Retry-After, and {"reason": "capacity"}."""
    if status != 503 or not headers.get("Retry-After"):
        return False
    try:
        body = json.loads(raw)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("reason") == "capacity"


def classify(status, headers, raw, verify):
    """(outcome, detail): ok, wrong (a 200 with the wrong result), cut (a 200 whose body stops short: its worker
    died while the answer streamed), throttled (429 with Retry-After), bad-429, capacity (a capacity 503),
    5xx (any other), other (any other answer)."""
    if status == 200:
        try:
            body = json.loads(raw)
        except ValueError as e:
            return "cut", f"a body of {len(raw)} bytes that is not JSON: {e!r}"
        try:
            why = verify(body)
        except (KeyError, TypeError, AttributeError) as e:
            why = f"unreadable body: {e!r}"
        return ("wrong", why) if why else ("ok", "")
    snippet = raw[:200].decode("utf-8", "replace")
    if status == 429:
        return ("throttled", "") if headers.get("Retry-After") else ("bad-429", snippet)
    if is_capacity_503(status, headers, raw):
        return "capacity", ""
    if status >= 500:
        return "5xx", f"{status} Retry-After={headers.get('Retry-After')} {snippet}"
    return "other", f"{status} {snippet}"


Record = collections.namedtuple("Record", "kind outcome status seconds detail")


# ---- the runs of the mixed load ----------------------------------------------------
class Kind:
    def __init__(self, name, request, verify):
        self.name = name
        self.body = json.dumps(request).encode()
        self.verify = verify    # parsed 200 body -> None if right, else why not


def expect_status(want, extra=None):
    def verify(body):
        if body.get("status") != want:
            return f"status {body.get('status')!r}, want {want!r}: {str(body.get('error'))[:120]}"
        return extra(body) if extra else None
    return verify


def make_kinds():
    """hello world, timeouts, memory bombs, output floods and file-heavy runs, each with what a 200 must say."""
    rng = random.Random(9)      # the same input files every run; made once, shared by every request
    inputs = [rng.randbytes(2 * MB) for _ in range(3)]
    hashes = " ".join(hashlib.sha256(d).hexdigest() for d in inputs)
    # The program checks it got the inputs (their hashes) and writes 20 files of 128 KB cut from them.
    files_code = ("import hashlib, os\n"
                  "data = [open(f'in{i}.bin', 'rb').read() for i in range(3)]\n"
                  "print(' '.join(hashlib.sha256(d).hexdigest() for d in data))\n"
                  "os.makedirs('out', exist_ok=True)\n"
                  "for i in range(20):\n"
                  "    with open(f'out/{i:02d}.bin', 'wb') as f:\n"
                  "        f.write(data[i % 3][i * 50000:i * 50000 + 131072])\n")
    expected = {f"out/{i:02d}.bin": base64.b64encode(inputs[i % 3][i * 50000:i * 50000 + 131072]).decode()
                for i in range(20)}

    def files_ok(body):
        if body.get("stdout") != hashes + "\n":
            return f"wrong input hashes: {body.get('stdout', '')[:100]!r}"
        got = body.get("files") or {}
        outs = {k: v for k, v in got.items() if k.startswith("out/")}
        if outs != expected:
            return f"files back: {len(outs)} of 20 right names, {sum(outs.get(k) == v for k, v in expected.items())} right"
        return None

    def hello_ok(body):
        return None if body.get("stdout") == "hi\n" else f"stdout {body.get('stdout')!r}"

    return [
        Kind("hello", {"code": "print('hi')"}, expect_status("ok", hello_ok)),
        Kind("timeout", {"code": "while True: pass", "timeout": 1}, expect_status("timeout")),
        # 10 x memory_mb, touched (b'x' * n writes its pages), 1 MB at a time.
        Kind("memory", {"code": "chunks = []\nfor i in range(640):\n    chunks.append(b'x' * (1 << 20))\n",
                        "memory_mb": 64}, expect_status("memory_limit")),
        Kind("flood", {"code": "import sys\nsys.stdout.write('x' * (5 << 20))\n"}, expect_status("output_limit")),
        Kind("files", {"code": files_code,
                       "files": {f"in{i}.bin": base64.b64encode(d).decode() for i, d in enumerate(inputs)}},
             expect_status("ok", files_ok)),
    ]


def send_run(port, kind):
    try:
        status, headers, raw, secs = http_call(port, "POST", "/execute", kind.body, REQUEST_TIMEOUT)
    except (OSError, http.client.HTTPException) as e:
        return Record(kind.name, "conn-error", None, None, repr(e)[:200])
    outcome, detail = classify(status, headers, raw, kind.verify)
    return Record(kind.name, outcome, status, secs, detail)


def mixed_load(port, kinds, conns, duration, stop, seed):
    """conns client threads, each sending a randomly chosen kind, one at a time, until duration is over.
    Returns (records, seconds elapsed)."""
    records, lock = [], threading.Lock()
    end = time.monotonic() + duration

    def client(i):
        rng = random.Random(seed * 1000 + i)
        mine = []
        while not stop.is_set() and time.monotonic() < end:
            mine.append(send_run(port, rng.choice(kinds)))
        with lock:
            records.extend(mine)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(conns)]
    for t in threads:
        t.start()
    # Each thread ends after its request in flight at `end`, which its socket timeout bounds.
    for t in threads:
        t.join(max(0.0, end - time.monotonic()) + REQUEST_TIMEOUT + 10)
    if any(t.is_alive() for t in threads):
        raise RuntimeError("load client threads did not finish")
    return records, time.monotonic() - t0


class HealthSampler:
    """GET /health every HEALTH_INTERVAL s, started on schedule by one thread whether or not the previous
    answer came: a sampler that waited for each answer would take fewer samples exactly while /health is
    slow and so understate its tail. At most HEALTH_IN_FLIGHT at once (bounded by HEALTH_TIMEOUT); a sample
    due beyond that is counted as skipped. Each sample: (seconds, status or None, healthy, transport error,
    capacity 503)."""

    def __init__(self, port):
        self.port = port
        self.samples = []
        self.skipped = 0
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(HEALTH_IN_FLIGHT)
        self.workers = []
        self.stop_evt = threading.Event()
        self.thread = threading.Thread(target=self._schedule, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        """Stops sampling and waits for the samples in flight; the samples."""
        self.stop_evt.set()
        self.thread.join(HEALTH_TIMEOUT + 5)
        for t in self.workers:
            t.join(max(0.0, HEALTH_TIMEOUT + 5))
        return self.samples

    def _schedule(self):
        due = time.monotonic()
        while not self.stop_evt.wait(max(0.0, due - time.monotonic())):
            due += HEALTH_INTERVAL
            if not self.slots.acquire(blocking=False):
                self.skipped += 1
                continue
            t = threading.Thread(target=self._sample, daemon=True)
            t.start()
            self.workers = [w for w in self.workers if w.is_alive()] + [t]

    def _sample(self):
        t0 = time.perf_counter()
        try:
            status, headers, raw, secs = http_call(self.port, "GET", "/health", timeout=HEALTH_TIMEOUT)
            try:
                healthy = status == 200 and json.loads(raw).get("status") == "healthy"
            except ValueError:
                healthy = False
            sample = (secs, status, healthy, None, is_capacity_503(status, headers, raw))
        except (OSError, http.client.HTTPException) as e:
            sample = (time.perf_counter() - t0, None, False, repr(e)[:200], False)
        finally:
            self.slots.release()
        with self.lock:
            self.samples.append(sample)


def _sample_health(port, results, stop):
    sampler = HealthSampler(port).start()
    stop.wait()
    samples = sampler.stop()
    results.send((samples, sampler.skipped))
    results.close()


class HealthProbe:
    """A HealthSampler in a process of its own: in this one, 32 client threads parse answers of megabytes (the
    output floods) and would hold the sampler's thread behind the GIL, which /health's figures must not
    count. Same start() and stop(); skipped is known after stop()."""

    def __init__(self, port):
        ctx = multiprocessing.get_context("spawn")	# not a fork of a process with threads
        self._recv, send = ctx.Pipe(duplex=False)
        self._stop = ctx.Event()
        self._proc = ctx.Process(target=_sample_health, args=(port, send, self._stop), daemon=True)
        self.skipped = 0

    def start(self):
        self._proc.start()
        return self

    def stop(self):
        self._stop.set()
        samples = []
        if self._recv.poll(HEALTH_TIMEOUT + 30):
            samples, self.skipped = self._recv.recv()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        return samples


# ---- processes -------------------------------------------------------------------------
def proc_table():
    """{pid: (ppid, comm, start time in clock ticks since boot)} for every process."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue        # ended while we looked
        rest = stat[stat.rindex(")") + 2:].split()
        if rest[0] in ("Z", "X"):
            continue
        table[int(d)] = (int(rest[1]), stat[stat.index("(") + 1:stat.rindex(")")], int(rest[19]))
    return table


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def start_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if rest[0] in ("Z", "X") else int(rest[19])


def kill_exactly(pid, ticks):
    """SIGKILL pid only if it is still the process that started at ticks: a pidfd pins it, then its start
    time is compared, so a pid reused meanwhile is never hit. True if the signal went out."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        if start_ticks(pid) != ticks:
            return False
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


# ---- a stack ---------------------------------------------------------------------------
class Stack:
    """nginx + pysandboxd started through conf/devserver.sh, as production runs it (PYSANDBOX_USER=pysandbox);
    stop() ends it by the PID started here."""

    def __init__(self, label, srcdir, builddir, workdir, state):
        self.label = label
        self.port = free_port()
        self.state = state
        self.log_path = os.path.join(workdir, f"service-{label}.log")
        env = dict(os.environ)
        env.update({"PORT": str(self.port), "STATE_DIR": state, "RATE": "100000", "BURST": "100000",
                    "PYSANDBOX_USER": "pysandbox"})
        env.pop("PYSANDBOX_EXTRA_CONF", None)
        self.env = env
        self.cmd = ["bash", os.path.join(srcdir, "conf", "devserver.sh"), srcdir, builddir]
        self.proc = None
        self.log = None
        self.runtime = None          # devserver.sh's /tmp/pysandbox-run.XXXX, read from the master's -c
        self.normal_workers = None
        self.stopped_cleanly = None

    def start(self, timeout=30.0):
        self.log = open(self.log_path, "wb")
        # Its own session: if SIGTERM does not stop it, its process group is everything it started.
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stack {self.label} exited at start:\n" + self.read_log())
            try:
                status, body = http_json(self.port, "GET", "/health", timeout=2)
                if status == 200 and body.get("status") == "healthy":
                    break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"stack {self.label}: no healthy /health within {timeout:g} s:\n" + self.read_log())
        master = self.master()
        with open(f"/proc/{master}/cmdline", "rb") as f:
            args = f.read().decode().split("\0")
        self.runtime = os.path.dirname(args[args.index("-c") + 1])
        # The workers are all up once /health counts them (it reads the pool's scoreboard).
        want = body["pool"]["workers"]
        while len(self.workers()) != want and time.monotonic() < deadline:
            time.sleep(0.05)
        self.normal_workers = len(self.workers())

    def master(self, table=None):
        """The pysandboxd whose parent is our devserver.sh."""
        table = table or proc_table()
        found = [p for p, (pp, comm, _) in table.items() if pp == self.proc.pid and comm == DAEMON]
        if len(found) != 1:
            raise RuntimeError(f"stack {self.label}: expected one pysandboxd under {self.proc.pid}, found {found}")
        return found[0]

    def children(self, comm, table=None):
        """{pid: start ticks} of the master's children named comm (workers: pysandboxd; builder: pysandbox-build)."""
        table = table or proc_table()
        master = self.master(table)
        return {p: t for p, (pp, c, t) in table.items() if pp == master and c == comm}

    def workers(self, table=None):
        return self.children(DAEMON, table)

    def read_log(self, tail=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-tail:]
        except OSError:
            return ""

    def stop(self):
        # A second Ctrl-C must not leave the stack half-stopped.
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                    self.stopped_cleanly = True
                except subprocess.TimeoutExpired:
                    self.stopped_cleanly = False
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            # Killed outright, devserver.sh cannot remove its runtime dir (nor, on cgroup v2, its cgroup).
            if self.runtime and os.path.isdir(self.runtime) and self.stopped_cleanly is False:
                shutil.rmtree(self.runtime, ignore_errors=True)
                for d in (f"/sys/fs/cgroup/pysandbox-dev.{self.runtime.rsplit('.', 1)[1]}/pysandbox-pool",
                          f"/sys/fs/cgroup/pysandbox-dev.{self.runtime.rsplit('.', 1)[1]}"):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
        finally:
            if self.log is not None:
                self.log.close()
                self.log = None
            for s, h in old.items():
                signal.signal(s, h)


def env_create(port, name, script):
    status, body = http_json(port, "POST", "/environments", {"name": name, "setup_script": script})
    if status != 200 or body.get("status") != "building":
        raise RuntimeError(f"POST /environments {name}: {status} {body}")
    return body


def env_wait(port, name, timeout, stop=None):
    """Poll GET /environments/NAME until it is no longer building; the environment, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        try:
            status, body = http_json(port, "GET", f"/environments/{name}")
            if status == 200 and body.get("status") != "building":
                return body
        except (OSError, http.client.HTTPException):
            pass        # phase 2-like faults are not expected here; a poll that fails is retried
        time.sleep(0.25)
    return None


def env_log_lines(port, name):
    status, body = http_json(port, "GET", f"/environments/{name}/logs?offset=0&limit=1000")
    return [entry.get("line", "") for entry in body.get("lines", [])] if status == 200 else []


def latency_table(records, elapsed):
    """Counts per kind and outcome, status codes, and run latency per kind."""
    kinds = sorted({r.kind for r in records})
    out = {"requests": len(records), "seconds": elapsed, "requests_per_s": len(records) / elapsed if elapsed else 0,
           "status_codes": dict(collections.Counter(str(r.status) if r.status else "conn-error" for r in records)),
           "kinds": {}}
    for k in kinds:
        mine = [r for r in records if r.kind == k]
        lat = [r.seconds * 1000 for r in mine if r.seconds is not None]
        out["kinds"][k] = {"n": len(mine), "outcomes": dict(collections.Counter(r.outcome for r in mine)),
                           "codes": dict(collections.Counter(str(r.status) if r.status else "conn-error" for r in mine))}
        if lat:
            out["kinds"][k].update({"p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99)})
    return out


def print_table(fig):
    log(f"  {'kind':<8} {'n':>5}  {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  outcomes / status codes")
    for k, v in fig["kinds"].items():
        outs = ", ".join(f"{o} {n}" for o, n in sorted(v["outcomes"].items()))
        codes = ", ".join(f"{c} x{n}" for c, n in sorted(v["codes"].items()))
        lat = (f"{v['p50_ms']:>8.0f} {v['p95_ms']:>8.0f} {v['p99_ms']:>8.0f}" if "p50_ms" in v else f"{'-':>26}")
        log(f"  {k:<8} {v['n']:>5}  {lat}  {outs} / {codes}")
    codes = ", ".join(f"{c} x{n}" for c, n in sorted(fig["status_codes"].items()))
    log(f"  all      {fig['requests']:>5} in {fig['seconds']:.1f} s = {fig['requests_per_s']:.1f} requests/s; "
        f"status codes: {codes}")


def health_figures(samples, skipped):
    lat = [s[0] * 1000 for s in samples]
    fig = {"n": len(samples), "skipped": skipped, "not_healthy": sum(not s[2] for s in samples),
           "errors": sum(s[3] is not None for s in samples),
           "statuses": dict(collections.Counter(str(s[1]) if s[1] else "conn-error" for s in samples))}
    if lat:
        fig.update({"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat)})
    return fig


def print_health(fig):
    if fig["n"]:
        log(f"  /health: {fig['n']} samples, p50 {fig['p50_ms']:.1f} ms, p99 {fig['p99_ms']:.1f} ms, "
            f"max {fig['max_ms']:.1f} ms; not 200 healthy: {fig['not_healthy']} "
            f"({', '.join(f'{c} x{n}' for c, n in sorted(fig['statuses'].items()))}); "
            f"skipped (over {HEALTH_IN_FLIGHT} in flight): {fig['skipped']}")


def first_details(records, outcomes):
    """The details of the first few records with one of outcomes, for a failed check's line."""
    return "; ".join(f"{r.kind}: {r.detail}" for r in records if r.outcome in outcomes)[:400]


# ---- the harness ---------------------------------------------------------------------------
class Harness:
    def __init__(self, args):
        self.args = args
        self.srcdir = os.path.abspath(args.srcdir)
        self.builddir = os.path.abspath(args.builddir or os.path.join(self.srcdir, "build"))
        self.checks = Checks()
        self.fig = {"duration_s": args.duration, "connections": args.connections, "seed": args.seed,
                    "cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0]}
        self.stop = threading.Event()
        self.stacks = []
        self.runtimes = []          # every stack's runtime dir, for the leftover check
        self.tmp = None
        self.mounted = None         # phase 4's mount point while mounted
        self.image = None
        self.umount_note = ""       # why a plain umount failed, if it did
        self.kinds = None
        # What was on the host before we started: other stacks may be running here concurrently.
        self.t_start = start_ticks(os.getpid())
        self.mounts_before = set(self.pysandbox_mounts())
        sys.path.insert(0, os.path.join(self.srcdir, "tests", "integration"))
        import hostinspect          # process views shared with the integration tests
        self.hi = hostinspect
        self.cgroups_before = hostinspect.cgroup_dirs()

    # -- set-up and tear-down --
    def setup(self):
        for p in ("pysandboxd", "pysandbox-jail"):
            if not os.access(os.path.join(self.builddir, "src", p), os.X_OK):
                raise SystemExit(f"load: {self.builddir}/src/{p} is missing; build first (make)")
        self.tmp = tempfile.mkdtemp(prefix="pysandbox-load.")
        os.chmod(self.tmp, 0o755)   # the pool runs as pysandbox and must reach its state dir below
        self.kinds = make_kinds()

    def start_stack(self, label, state):
        s = Stack(label, self.srcdir, self.builddir, self.tmp, state)
        self.stacks.append(s)
        s.start()
        self.runtimes.append(s.runtime)
        log(f"  stack {label}: port {s.port}, devserver.sh pid {s.proc.pid}, master {s.master()}, "
            f"{s.normal_workers} workers, runtime {s.runtime}")
        return s

    def stop_stack(self, s, phase):
        s.stop()
        self.checks.check(phase, f"stack {s.label} stopped on SIGTERM within {STOP_TIMEOUT:g} s",
                          s.stopped_cleanly is not False)

    def teardown(self):
        """Stops every stack, unmounts, removes the temp dir; safe to call twice and after any failure."""
        self.stop.set()
        for s in self.stacks:
            s.stop()
        self.unmount()
        if self.tmp and os.path.isdir(self.tmp) and not self.is_mounted_below(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- mounts --
    def pysandbox_mounts(self):
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        return [p for p in points if "pysandbox" in p or (self.tmp and p.startswith(self.tmp))]

    def is_mounted_below(self, path):
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path or line.split()[4].startswith(path + "/") for line in f)

    def loop_devices_of(self, path):
        found = []
        for dev in os.listdir("/sys/block"):
            try:
                with open(f"/sys/block/{dev}/loop/backing_file") as f:
                    if f.read().strip().startswith(path):
                        found.append(dev)
            except OSError:
                pass
        return found

    def mount_small_fs(self):
        """A ~64 MB ext4 image on a loop device, else a tmpfs of that size; which one, as a string."""
        mnt = os.path.join(self.tmp, "disk")
        os.mkdir(mnt)
        self.image = os.path.join(self.tmp, "disk.img")
        with open(self.image, "wb") as f:
            f.truncate(DISK_MB * MB)
        # -m 0: no blocks reserved for root, so "full" is full for everyone, the pool's own writes included.
        why = run_tool(["mkfs.ext4", "-q", "-F", "-m", "0", self.image]) or \
            run_tool(["mount", "-o", "loop", self.image, mnt])
        if not why:
            self.mounted = mnt
            return mnt, f"ext4 on a loop device ({DISK_MB} MB image)"
        failed = run_tool(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0755", "pysandbox-load", mnt])
        if failed:
            raise RuntimeError(f"cannot mount a small file system: loop: {why}; tmpfs: {failed}")
        self.mounted = mnt
        return mnt, f"tmpfs of {DISK_MB} MB (no loop-mounted ext4: {why})"

    def unmount(self):
        if self.mounted is None:
            return
        if self.is_mounted_below(self.mounted):
            self.umount_note = run_tool(["umount", self.mounted])
            if self.umount_note:
                run_tool(["umount", "-l", self.mounted])
        # mount -o loop sets autoclear, but the kernel lets the device go a moment after the umount;
        # detach by hand only one that stays.
        deadline = time.monotonic() + 5
        while self.loop_devices_of(self.tmp) and time.monotonic() < deadline:
            time.sleep(0.1)
        for dev in self.loop_devices_of(self.tmp):
            run_tool(["losetup", "-d", f"/dev/{dev}"])
        if not self.is_mounted_below(self.mounted):
            self.mounted = None

    # -- phase 1 --
    def phase_mixed(self, stack):
        ph, d, c = "mixed", self.args.duration, self.args.connections
        log(f"\n== phase 1: mixed load, {c} connections for {d:g} s, two environment builds during it")
        builds = {}

        def build_thread():
            # Started during the load (at 15% and 40% of it) and waited for until ready or failed.
            for name, at in (("load-a", 0.15), ("load-b", 0.40)):
                if self.stop.wait(max(0.0, t0 + at * d - time.monotonic())):
                    return
                try:
                    t = time.monotonic()
                    env_create(stack.port, name, BUILD_SCRIPT)
                    builds[name] = {"asked_at_s": t - t0, "create_ms": (time.monotonic() - t) * 1000}
                except (OSError, http.client.HTTPException, RuntimeError) as e:
                    builds[name] = {"error": repr(e)[:300]}
            for name, b in builds.items():
                if "error" not in b:
                    env = env_wait(stack.port, name, max(1.0, t0 + b["asked_at_s"] + BUILD_WAIT - time.monotonic()),
                                   self.stop)
                    b["status"] = env.get("status") if env else "still building"
                    b["error"] = env.get("error") if env else None
                    b["ready_after_s"] = time.monotonic() - t0 - b["asked_at_s"]

        sampler = HealthProbe(stack.port).start()
        t0 = time.monotonic()
        bt = threading.Thread(target=build_thread, daemon=True)
        bt.start()
        try:
            records, elapsed = mixed_load(stack.port, self.kinds, c, d, self.stop, self.args.seed)
        finally:
            samples = sampler.stop()
        bt.join(BUILD_WAIT + d + 2 * SHORT_TIMEOUT)

        fig = latency_table(records, elapsed)
        fig["health"] = health_figures(samples, sampler.skipped)
        fig["builds"] = builds
        self.fig["phase1_mixed"] = fig
        print_table(fig)
        print_health(fig["health"])
        for name, b in sorted(builds.items()):
            log(f"  build {name}: {b.get('status')} {b.get('ready_after_s', 0):.1f} s after it was asked for "
                f"(POST answered in {b.get('create_ms', 0):.1f} ms){'; ' + str(b['error']) if b.get('error') else ''}")

        by = collections.Counter(r.outcome for r in records)
        k = self.checks.check
        k(ph, "no 5xx except capacity 503s (503 + Retry-After + reason capacity)", by["5xx"] == 0,
          f"{by['5xx']} other 5xx, {by['capacity']} capacity 503s" +
          (f"; e.g. {first_details(records, ('5xx',))}" if by["5xx"] else ""))
        k(ph, "every 429 carries Retry-After", by["bad-429"] == 0, f"{by['throttled']} with, {by['bad-429']} without")
        k(ph, "every 200 run has the right result for its kind", by["wrong"] == 0 and by["ok"] > 0,
          f"{by['ok']} right, {by['wrong']} wrong" + (f"; e.g. {first_details(records, ('wrong',))}" if by["wrong"] else ""))
        k(ph, "every run answered (no connection errors, timeouts, cut answers or other codes)",
          by["conn-error"] == 0 and by["other"] == 0 and by["cut"] == 0,
          f"{by['conn-error']} connection errors, {by['cut']} cut, {by['other']} other answers" +
          (f"; e.g. {first_details(records, ('conn-error', 'cut', 'other'))}" if by["conn-error"] + by["cut"] +
           by["other"] else ""))
        k(ph, "every kind ran", set(fig["kinds"]) == {x.name for x in self.kinds}, ", ".join(fig["kinds"]))
        k(ph, "both environment builds ended ready", all(b.get("status") == "ready" for b in builds.values())
          and len(builds) == 2, ", ".join(f"{n} {b.get('status')}" for n, b in sorted(builds.items())))
        h = fig["health"]
        k(ph, f"/health p99 < {HEALTH_P99_MS:g} ms", h["n"] > 0 and h["p99_ms"] < HEALTH_P99_MS,
          f"p99 {h.get('p99_ms', 0):.1f} ms over {h['n']} samples")
        k(ph, "every /health answer 200 healthy", h["n"] > 0 and h["not_healthy"] == 0,
          f"{h['not_healthy']} of {h['n']} not")

    # -- phase 2 --
    def kill_workers(self, stack, until, kills):
        """Once a second, SIGKILL a random worker of the stack. Only workers older than WORKER_MIN_AGE: the
        pool counts a worker dying within 1 s of its start towards its crash-loop guard (5 such deaths pause
        restarts), and a replacement killed at once would test that guard, not recovery from a crash."""
        rng = random.Random(self.args.seed)
        while not self.stop.is_set() and time.monotonic() < until:
            tick = time.monotonic()
            table = proc_table()
            now_ticks = uptime() * CLK_TCK
            try:
                workers = stack.workers(table)
            except RuntimeError:
                workers = {}        # the master gone: the checks after the phase say so
            old = [(p, t) for p, t in workers.items() if now_ticks - t >= WORKER_MIN_AGE * CLK_TCK]
            if old:
                pid, ticks = rng.choice(sorted(old))
                if kill_exactly(pid, ticks):
                    kills.append((time.monotonic(), pid))
            self.stop.wait(max(0.0, tick + 1.0 - time.monotonic()))

    def phase_worker_kills(self, stack):
        ph, d = "worker-kills", min(self.args.duration, KILL_PHASE_MAX)
        log(f"\n== phase 2: mixed load for {d:g} s, SIGKILL a random worker once a second")
        kills = []
        sampler = HealthProbe(stack.port).start()
        killer = threading.Thread(target=self.kill_workers, args=(stack, time.monotonic() + d, kills), daemon=True)
        killer.start()
        try:
            records, elapsed = mixed_load(stack.port, self.kinds, self.args.connections, d, self.stop,
                                          self.args.seed + 1)
        finally:
            samples = sampler.stop()
            killer.join(5)
        # The pool replaces what died; wait for its worker count to be what it was at start.
        t_end = time.monotonic()
        count = len(stack.workers())
        while count != stack.normal_workers and time.monotonic() - t_end < RECOVERY_LIMIT:
            time.sleep(0.1)
            count = len(stack.workers())
        recovered_s = time.monotonic() - t_end
        try:
            status, body = http_json(stack.port, "GET", "/health")
            healthy_after = status == 200 and body.get("status") == "healthy"
            health_note = f"{status} {body.get('status')}, pool {body.get('pool')}"
        except (OSError, http.client.HTTPException) as e:
            healthy_after, health_note = False, repr(e)

        fig = latency_table(records, elapsed)
        fig["health"] = health_figures(samples, sampler.skipped)
        fig["kills"] = len(kills)
        lost_runs = sum(r.outcome in ("5xx", "conn-error", "cut") for r in records)
        lost_health = sum((s[1] is None or s[1] >= 500) and not s[4] for s in samples)
        fig.update({"lost_runs": lost_runs, "lost_health": lost_health, "workers_after": count,
                    "recovered_after_s": recovered_s})
        self.fig["phase2_worker_kills"] = fig
        print_table(fig)
        print_health(fig["health"])
        log(f"  {len(kills)} workers SIGKILLed; failed requests: {lost_runs} runs + {lost_health} /health; "
            f"workers {count} of {stack.normal_workers} {recovered_s:.1f} s after the phase")

        by = collections.Counter(r.outcome for r in records)
        k = self.checks.check
        k(ph, "workers were killed about once a second", len(kills) >= max(1, int(d * 0.5)), f"{len(kills)} in {d:g} s")
        k(ph, "failed requests (5xx but capacity 503s, connection errors, cut answers) <= kills",
          lost_runs + lost_health <= len(kills), f"{lost_runs + lost_health} failed, {len(kills)} kills" +
          (f"; e.g. {first_details(records, ('5xx', 'conn-error', 'cut'))}" if lost_runs else ""))
        k(ph, "every 200 run has the right result for its kind", by["wrong"] == 0 and by["ok"] > 0,
          f"{by['ok']} right, {by['wrong']} wrong" + (f"; e.g. {first_details(records, ('wrong',))}" if by["wrong"] else ""))
        k(ph, f"the pool is back at {stack.normal_workers} workers within {RECOVERY_LIMIT:g} s",
          count == stack.normal_workers, f"{count} after {recovered_s:.1f} s")
        k(ph, "/health 200 healthy after the kills", healthy_after, health_note[:200])

    # -- phase 3 --
    def phase_builder_kill(self, stack):
        ph, name = "builder-kill", "load-builder-kill"
        log(f"\n== phase 3: SIGKILL the builder during a build ({SLOW_BUILD_SCRIPT!r})")
        k = self.checks.check
        fig = {}
        self.fig["phase3_builder_kill"] = fig
        env_create(stack.port, name, SLOW_BUILD_SCRIPT)
        # Its script has started: status building and "started" in its log (the venv comes first).
        deadline = time.monotonic() + BUILD_WAIT
        started, env = False, {}
        while not started and time.monotonic() < deadline and not self.stop.is_set():
            _, env = http_json(stack.port, "GET", f"/environments/{name}")
            started = env.get("status") == "building" and "started" in env_log_lines(stack.port, name)
            if not started:
                time.sleep(0.2)
        if not k(ph, "the build is running its script", started, f"status {env.get('status')}"):
            return
        table = proc_table()
        builders = stack.children(BUILDER, table)
        if not k(ph, "one builder, with a build child", len(builders) == 1 and
                 any(pp in builders for pp, _, _ in table.values()), f"builders {sorted(builders)}"):
            return
        (bpid, bticks), = builders.items()
        killed = kill_exactly(bpid, bticks)
        t_kill = time.monotonic()
        fig["builder_pid"] = bpid
        env = env_wait(stack.port, name, BUILDER_KILL_LIMIT, self.stop)
        failed_s = time.monotonic() - t_kill
        error = (env or {}).get("error") or ""
        fig.update({"status": (env or {}).get("status"), "error": error, "failed_after_s": failed_s})
        log(f"  builder pid {bpid} SIGKILLed ({killed}); environment {fig['status']} after {failed_s:.1f} s: {error}")
        k(ph, f"the build ends failed within {BUILDER_KILL_LIMIT:g} s, its error mentioning the interruption",
          killed and env is not None and env.get("status") == "failed" and "interrupt" in error.lower(),
          f"{fig['status']} after {failed_s:.1f} s: {error[:150]}")
        # The orphaned build child (its parent, a subreaper, now the master) shares the builder's name:
        # a new builder is one pysandbox-build of the master and the only one.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = stack.children(BUILDER)
            if len(now) == 1 and bpid not in now:
                break
            time.sleep(0.1)
        fig["new_builder"] = sorted(now)
        k(ph, "a new builder runs", len(now) == 1 and bpid not in now, f"builders now {sorted(now)}")
        t = time.monotonic()
        env_create(stack.port, "load-after-builder", AFTER_BUILD_SCRIPT)
        env = env_wait(stack.port, "load-after-builder", BUILD_WAIT, self.stop)
        fig["later_build"] = {"status": (env or {}).get("status"), "seconds": time.monotonic() - t}
        k(ph, "a later build succeeds", env is not None and env.get("status") == "ready",
          f"{(env or {}).get('status')} after {time.monotonic() - t:.1f} s {(env or {}).get('error') or ''}")

    # -- phase 4 --
    def phase_full_disk(self):
        ph, name = "full-disk", "load-fill"
        k = self.checks.check
        mnt, kind = self.mount_small_fs()
        log(f"\n== phase 4: a stack whose state dir is on a full disk: {kind} at {mnt}")
        fig = {"filesystem": kind}
        self.fig["phase4_full_disk"] = fig
        state = os.path.join(mnt, "state")
        stack = self.start_stack("full-disk", state)
        try:
            env_create(stack.port, name, FILL_SCRIPT)
            deadline = time.monotonic() + BUILD_WAIT
            full = False
            while time.monotonic() < deadline and not self.stop.is_set():
                st = os.statvfs(mnt)
                if st.f_bavail * st.f_frsize < 2 * MB:
                    full = True
                    break
                _, env = http_json(stack.port, "GET", f"/environments/{name}")
                if env.get("status") != "building":
                    break
                time.sleep(0.1)
            fig["disk_filled"] = full
            k(ph, "the build filled the disk", full, f"{os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize} bytes free")
            # With nothing left to write on: runs, /health and the environment list must still answer.
            answers = []
            for kind_ in self.kinds[:1] * 3:
                r = send_run(stack.port, kind_)
                answers.append(f"run {r.outcome}" + (f" {r.detail[:100]}" if r.detail else ""))
            for path in ("/health", "/environments"):
                try:
                    status, body = http_json(stack.port, "GET", path)
                    answers.append(f"{path} {status}")
                except (OSError, http.client.HTTPException) as e:
                    answers.append(f"{path} {e!r}")
            st = os.statvfs(mnt)
            still_full = st.f_bavail * st.f_frsize < 2 * MB
            fig["answers_while_full"] = answers
            k(ph, "requests still work on the full disk",
              answers == ["run ok"] * 3 + ["/health 200", "/environments 200"],
              "; ".join(answers) + ("" if still_full else " (the disk had space again by the end)"))
            env = env_wait(stack.port, name, BUILD_WAIT, self.stop)
            error = (env or {}).get("error") or ""
            fig.update({"status": (env or {}).get("status"), "error": error,
                        "log_tail": env_log_lines(stack.port, name)[-4:]})
            log(f"  build {name}: {fig['status']}: {error}; log tail {fig['log_tail']}")
            k(ph, "the disk-filling build ends failed with a reason in error",
              env is not None and env.get("status") == "failed" and error.strip() != "",
              f"{fig['status']}: {error[:150]}")
            r = send_run(stack.port, self.kinds[0])
            k(ph, "a run works after the failed build", r.outcome == "ok", f"{r.outcome} {r.detail[:100]}")
            # Nothing half-built stays (the builder removes it on its next round, once a second).
            envs = os.path.join(state, "envs")
            deadline = time.monotonic() + 10
            while os.listdir(envs) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = os.listdir(envs)
            st = os.statvfs(mnt)
            fig["free_mb_after"] = st.f_bavail * st.f_frsize / MB
            k(ph, "the failed build left nothing in envs/ and the space came back",
              not left and fig["free_mb_after"] > DISK_MB / 2,
              f"envs/ {left}, {fig['free_mb_after']:.1f} MB free")
        finally:
            self.stop_stack(stack, ph)
        db = os.path.join(state, "pysandbox.db")
        try:
            conn = sqlite3.connect(db, timeout=5)
            try:
                result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            finally:
                conn.close()
        except sqlite3.Error as e:
            result = [repr(e)]
        fig["integrity_check"] = result
        k(ph, "PRAGMA integrity_check of pysandbox.db returns ok", result == ["ok"], "; ".join(result)[:200])
        self.unmount()
        k(ph, "the small file system is unmounted and its loop device gone",
          self.mounted is None and not self.loop_devices_of(self.tmp),
          kind + (f"; umount first failed: {self.umount_note}" if self.umount_note else ""))

    # -- phase 5 --
    def leftover_processes(self):
        """Processes our stacks left: any naming one of our runtime or temp dirs (their pysandboxd, nginx and
        jail copies do), and uid-pool processes started since we began that run under no live jail (another
        session's in-flight runs sit under its own live pysandboxd and are not ours)."""
        procs = self.hi.processes()
        ours = [d for d in self.runtimes + [self.tmp] if d]
        bad = []
        for pid, p in procs.items():
            if pid == os.getpid():
                continue
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                exe = ""
            text = " ".join(p["cmdline"]) + " " + exe
            named = any(d in text for d in ours)
            pool = any(u in UID_POOL for u in p["uids"]) and (start_ticks(pid) or 0) >= self.t_start \
                and not self.hi.under_live_jail(pid, procs)
            if named or pool:
                bad.append(self.hi.describe(pid, procs))
        return bad

    def stale_cgroups(self):
        """pysandbox-PID dirs that were not there before us and whose PID is no live process, and the
        pysandbox-dev.* dirs of our own runtime dirs."""
        suffixes = {f"pysandbox-dev.{r.rsplit('.', 1)[1]}" for r in self.runtimes if r}
        found = set()
        for d in self.hi.cgroup_dirs():
            base = os.path.basename(d)
            if base in suffixes or any(part in suffixes for part in d.split("/")):
                found.add(d)
            elif base[len("pysandbox-"):].isdigit() and d not in self.cgroups_before \
                    and not os.path.exists(f"/proc/{base[len('pysandbox-'):]}"):
                found.add(d)
        return found

    def phase_leftovers(self):
        ph = "leftovers"
        k = self.checks.check
        log("\n== phase 5: nothing left behind (every stack stopped, the disk unmounted, the temp dir removed)")
        # A jail's last processes are reaped by then; poll briefly for ones still exiting.
        deadline = time.monotonic() + 5
        while (bad := self.leftover_processes()) and time.monotonic() < deadline:
            time.sleep(0.2)
        k(ph, "no process of our stacks and no uid-pool process outside a live jail", not bad, "; ".join(bad)[:600])
        mounts = [m for m in self.pysandbox_mounts() if m not in self.mounts_before]
        k(ph, "no mount containing pysandbox or our temp dir", not mounts, " ".join(mounts))
        # On cgroup v1 a jail exits inside its cgroups and the next one, or a pool's sweep within 10 s, removes
        # them, so another session's stack may show a stale one for a moment: only what stays is left over.
        stale = self.stale_cgroups()
        if stale:
            time.sleep(CGROUP_GRACE)
            stale &= self.stale_cgroups()
        k(ph, "no stale pysandbox-* cgroup left", not stale, " ".join(sorted(stale)))
        dirs = [d for d in self.runtimes + [self.tmp] if d and os.path.exists(d)]
        k(ph, "no temp dir left (ours and every stack's runtime dir)", not dirs, " ".join(dirs))
        loops = self.loop_devices_of(self.tmp) if self.tmp else []
        k(ph, "no loop device on our image", not loops, " ".join(loops))
        self.fig["leftovers"] = {"processes": bad, "mounts": mounts, "cgroups": sorted(stale), "dirs": dirs,
                                 "loop_devices": loops}

    # -- all of it --
    def run_phase(self, name, fn, *a):
        """A phase that raises fails one check and lets the others run; fn's value, or None if it raised."""
        try:
            return fn(*a)
        except KeyboardInterrupt:
            raise
        except Exception as e:      # noqa: BLE001 - reported as a failed check, with the service's log
            self.checks.check(name, f"{name} phase ran to its end", False, f"{type(e).__name__}: {e}"[:600])
            for s in self.stacks:
                if s.proc is not None and s.proc.poll() is None:
                    log(f"  service log of stack {s.label} (tail):\n{s.read_log(2000)}")
            return None

    def main(self):
        log(f"load: {self.fig['cpus']} CPUs, 1-min load average {self.fig['loadavg_start']:.2f}, seed {self.args.seed}")
        try:
            self.setup()
            log("\n== starting the stack")
            stack = self.run_phase("start", self.start_stack, "main", os.path.join(self.tmp, "state-main"))
            if stack is not None:
                self.fig["workers"] = stack.normal_workers
                self.run_phase("mixed", self.phase_mixed, stack)
                self.run_phase("worker-kills", self.phase_worker_kills, stack)
                self.run_phase("builder-kill", self.phase_builder_kill, stack)
                self.stop_stack(stack, "builder-kill")
            self.run_phase("full-disk", self.phase_full_disk)
        finally:
            self.teardown()


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--srcdir", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--builddir", default=None, help="build tree (default: SRCDIR/build)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of the mixed load (phase 2: at most 20)")
    ap.add_argument("--connections", type=int, default=32, help="concurrent client threads")
    ap.add_argument("--seed", type=int, default=None, help="random seed of the request mix (default: random)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures and checks to FILE")
    args = ap.parse_args()
    if args.duration <= 0 or args.connections < 1:
        sys.exit("load: --duration must be > 0 and --connections >= 1")
    if os.geteuid() != 0:
        sys.exit("load: must run as root (the jail, the pool's user, the loop mount)")
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    # A SIGTERM unwinds like Ctrl-C, so the finally blocks stop the stacks and unmount.
    signal.signal(signal.SIGTERM, on_sigterm)
    h = Harness(args)
    interrupted = False
    try:
        h.main()
    except KeyboardInterrupt:
        interrupted = True
        log("load: interrupted; everything it started is stopped")
        h.teardown()
    # Also after an interrupt or an error: what a stopped harness leaves is the point of the check.
    h.phase_leftovers()
    passed, failed = h.checks.counts()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"figures": h.fig, "checks": h.checks.results, "passed": passed, "failed": failed}, f,
                      indent=2, sort_keys=True, default=str)
            f.write("\n")
    print(f"{passed} passed, {failed} failed", flush=True)
    return 130 if interrupted else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
