"""forkserver_probe.py: what a fork server's child would cost, measured beside a bare interpreter start in one run.

The warm path's next step (a fork server per environment, issue 13) forks a child per run from an
interpreter that has imported its modules once; the child enters namespaces of its own before any
user byte reaches it. This probe measures that child's cost on this machine before the service has it,
with the design's steps and nothing of the service:

- the server: a python3 in a user namespace of its own (uid 0 inside is an unprivileged uid outside;
  the probe, as root, writes the map), with its own pid, network, IPC and UTS namespaces, its modules
  imported once (--preload);
- per run: fork; the child unshares mount, pid, network, IPC and UTS namespaces and forks the run's
  init (pid 1 of the new pid namespace), which forks the program (pid 2: a program as pid 1 would
  ignore its own default-action signals); the program mounts /proc, a tmpfs on /tmp, drops to the
  run's uid (no capability left), runs `print('hello')` through exec(compile(...)) with its output on
  a pipe and exits; the init reaps it and exits with its status; the server reaps the child.

It prints p50/p90 latency (fork to the child reaped, the output read) and CPU per run (the server's
children, user + system) against `python3 -I -c "print('hello')"` spawned from here, interleaved.
Nothing of the service is started; every process it makes is reaped and its mounts go with their
namespaces. Run as root: `python3 tests/bench/forkserver_probe.py [--runs 300] [--preload json,decimal]`.
"""
import argparse
import ctypes
import json
import os
import statistics
import sys

from baseline import PYTHON, bare_start

NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET = 0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
WARMUP = 20
NOBODY = 65534

# The server's part: runs as the probe's child in its namespaces; reads commands on fd 0, answers on fd 1.
SERVER = r'''
import ctypes, importlib, json, os, resource, sys, time
libc = ctypes.CDLL(None, use_errno=True)
NEWNS, NEWUTS, NEWIPC, NEWPID, NEWNET = %(ns)s
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = %(ms)s
RUN_UID = %(run_uid)d

def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, what + ": " + os.strerror(e))

def mount(src, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if s is not None else None
    check(libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), "mount " + target)

for name in %(preload)r:
    importlib.import_module(name)

def program(out):
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777")
    os.setgroups([])
    os.setresgid(RUN_UID, RUN_UID, RUN_UID)
    os.setresuid(RUN_UID, RUN_UID, RUN_UID)
    os.dup2(out, 1)
    os.close(out)
    main = type(sys)("__main__")
    exec(compile("print('hello')", "/work/main.py", "exec"), main.__dict__)
    sys.stdout.flush()
    os._exit(0)

def child(out):
    check(libc.unshare(NEWNS | NEWPID | NEWNET | NEWIPC | NEWUTS), "unshare")
    init = os.fork()
    if init == 0:
        prog = os.fork()
        if prog == 0:
            program(out)
        _, status = os.waitpid(prog, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    _, status = os.waitpid(init, 0)
    os._exit(os.waitstatus_to_exitcode(status))

import gc
gc.freeze()	# what a pre-fork server does: the collector's writes would copy every page a child shares
for line in sys.stdin:
    if line.strip() != "run":
        break
    r, w = os.pipe()
    t0 = time.perf_counter_ns()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            child(w)
        finally:
            os._exit(99)
    os.close(w)
    got = b""
    while chunk := os.read(r, 4096):
        got += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"ns": t1 - t0, "out": got.decode(), "status": status,
                      "cpu_s": ru.ru_utime + ru.ru_stime}), flush=True)
'''


LIBC = ctypes.CDLL(None, use_errno=True)


def libc_call(name, *args):
    if getattr(LIBC, name)(*args) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{name}: {os.strerror(e)}")


def start_server(preload, run_uid):
    """The fork server in user, pid, network, IPC and UTS namespaces of its own; uid 0 inside is nobody."""
    code = SERVER % {"ns": (NEWNS, NEWUTS, NEWIPC, NEWPID, NEWNET),
                     "ms": (MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE),
                     "run_uid": 1, "preload": preload}
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(to_w)
            os.close(from_r)
            os.close(ready_r)
            os.close(go_w)
            libc_call("unshare", NEWNS)
            libc_call("mount", None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None)
            libc_call("unshare", NEWUSER | NEWNET | NEWIPC | NEWUTS)
            os.write(ready_w, b"u")
            os.read(go_r, 1)		# the maps are written
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            libc_call("unshare", NEWPID)
            server = os.fork()	# pid 1 of its pid namespace
            if server == 0:
                os.dup2(to_r, 0)
                os.dup2(from_w, 1)
                os.execv(PYTHON, [PYTHON, "-I", "-c", code])
            _, status = os.waitpid(server, 0)
            os._exit(os.waitstatus_to_exitcode(status))
        finally:
            os._exit(98)
    for fd in (to_r, from_w, ready_w, go_r):
        os.close(fd)
    if os.read(ready_r, 1) != b"u":
        raise RuntimeError("the server did not make its user namespace")
    os.close(ready_r)
    for kind, inside in (("uid", NOBODY), ("gid", NOBODY)):
        with open(f"/proc/{pid}/{kind}_map", "w") as f:
            f.write(f"0 {inside} 1\n1 {run_uid} 1\n")
    os.write(go_w, b"g")
    os.close(go_w)
    return pid, os.fdopen(to_w, "w", buffering=1), os.fdopen(from_r, "r")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--preload", default="", help="modules the server imports once, comma-separated")
    ap.add_argument("--run-uid", type=int, default=60999, help="the host uid a run drops to (unused elsewhere)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("forkserver_probe: run as root (it writes a user namespace's uid map)")
    preload = [m for m in args.preload.split(",") if m]
    pid, to_server, from_server = start_server(preload, args.run_uid)
    bare_ms, bare_cpu, fork_ms, fork_cpu = [], [], [], []
    last_cpu = 0.0
    try:
        for i in range(WARMUP + args.runs):
            ns, cpu = bare_start()
            to_server.write("run\n")
            answer = json.loads(from_server.readline())
            if answer["out"] != "hello\n" or answer["status"] != 0:
                raise RuntimeError(f"fork server child failed: {answer}")
            if i >= WARMUP:
                bare_ms.append(ns / 1e6)
                bare_cpu.append(cpu * 1000)
                fork_ms.append(answer["ns"] / 1e6)
                fork_cpu.append((answer["cpu_s"] - last_cpu) * 1000)
            last_cpu = answer["cpu_s"]
    finally:
        to_server.close()
        os.waitpid(pid, 0)
        from_server.close()

    def row(label, ms, cpu, base_ms, base_cpu):
        p50 = statistics.median(ms)
        p90 = statistics.quantiles(ms, n=10)[8]
        c = statistics.mean(cpu)
        print(f"{label:<34} p50 {p50:6.2f} ms  p90 {p90:6.2f} ms  ({p50 / base_ms:.2f}x)   "
              f"CPU {c:5.2f} ms/run ({c / base_cpu:.2f}x)")
    base_ms, base_cpu = statistics.median(bare_ms), statistics.mean(bare_cpu)
    print(f"{os.cpu_count()} CPUs; 1-min load average {os.getloadavg()[0]:.2f}; {args.runs} runs each, interleaved; "
          f"preload: {', '.join(preload) or 'none'}")
    row("bare python3 -I -c (baseline)", bare_ms, bare_cpu, base_ms, base_cpu)
    row("fork server child (ns, init, prog)", fork_ms, fork_cpu, base_ms, base_cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
