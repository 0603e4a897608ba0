"""compare.py: hello-world latency of two builds of the stack in one run, requests interleaved, as a ratio.

Used to measure what a change costs (e.g. the hardening against the build before it):

    git worktree add /tmp/prev <commit> && (cd /tmp/prev && autoreconf -fi && mkdir b && cd b && ../configure && make)
    python3 tests/bench/compare.py --base /tmp/prev:/tmp/prev/b --new .:build

`--base-conf TEXT` / `--new-conf TEXT` add configuration to one side (PYSANDBOX_EXTRA_CONF), so one build
can be measured against itself in two settings, e.g. the warm path against the cold one:

    python3 tests/bench/compare.py --base .:build --new .:build --new-conf $'[service]\nwarm_interpreters = true\n'

Each side is started with its own conf/devserver.sh (configurations differ between versions) on a free
port; both take the same requests in alternation, so both see the same machine (`--gap S` idles before
each request, as a client that is not back-to-back). Prints p50/p90 of each
and new/base; stops both stacks by the PIDs it started.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, src, build, extra_env):
        self.port = free_port()
        self.state = tempfile.mkdtemp(prefix="pysandbox-compare-state.")
        env = dict(os.environ, PORT=str(self.port), STATE_DIR=self.state, RATE="100000", BURST="100000")
        env.update(extra_env)
        self.log = open(os.path.join(self.state, "stack.log"), "wb")
        self.proc = subprocess.Popen(["bash", os.path.join(src, "conf", "devserver.sh"), src, build],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise SystemExit(f"stack of {build} did not become healthy")
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def hello(self):
        body = json.dumps({"code": "print('hello')"})
        t = time.perf_counter()
        self.conn.request("POST", "/execute", body, {"Content-Type": "application/json"})
        r = json.loads(self.conn.getresponse().read())
        elapsed = time.perf_counter() - t
        if r.get("stdout") != "hello\n":
            raise SystemExit(f"unexpected response: {r}")
        return elapsed

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        subprocess.run(["rm", "-rf", self.state], check=False)


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, metavar="SRC:BUILD", help="the build to compare against")
    ap.add_argument("--new", required=True, metavar="SRC:BUILD", help="the build being measured")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--user", default="", help="PYSANDBOX_USER for both stacks (builds that know it)")
    ap.add_argument("--base-conf", default="", help="configuration added to the base stack")
    ap.add_argument("--new-conf", default="", help="configuration added to the new stack")
    ap.add_argument("--gap", type=float, default=0.0,
                    help="seconds of idle before each request (a client that is not back-to-back)")
    args = ap.parse_args()
    stacks = {}
    try:
        for name in ("base", "new"):
            src, build = (os.path.abspath(p) for p in getattr(args, name).split(":", 1))
            extra = {"PYSANDBOX_USER": args.user} if args.user else {}
            if getattr(args, f"{name}_conf"):
                extra["PYSANDBOX_EXTRA_CONF"] = getattr(args, f"{name}_conf")
            stacks[name] = Stack(src, build, extra)
        times = {"base": [], "new": []}
        for i in range(args.requests + 20):
            for name in ("base", "new") if i % 2 else ("new", "base"):
                if args.gap:
                    time.sleep(args.gap)
                t = stacks[name].hello()
                if i >= 20:	# warm-up
                    times[name].append(t)
        load = os.getloadavg()[0]
        for name in ("base", "new"):
            print(f"{name:4}  p50 {statistics.median(times[name]) * 1e3:6.2f} ms  p90 {pct(times[name], 0.9) * 1e3:6.2f} ms")
        ratio = statistics.median(times["new"]) / statistics.median(times["base"])
        print(f"new/base p50 {ratio:.3f}  (target for the hardening: <= 1.10; 1-min load {load:.2f})")
    finally:
        for s in stacks.values():
            s.stop()


if __name__ == "__main__":
    sys.exit(main())
