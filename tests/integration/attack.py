"""attack.py: what the test_hostile_*.py files share: the programs' prelude, running them, reading their output, leftovers."""
import base64
import concurrent.futures
import json
import os
import secrets
import textwrap
import time

import pytest

import hostinspect

MiB = 1 << 20

# A run forked from the fork server (PYSANDBOX_FORK=1) lives in a user namespace where only its own uid and gid
# are mapped: root's files show as the overflow uid (nobody), and a change to uid 0 is an unmapped id (EINVAL)
# rather than a refused one (EPERM). Nothing else of what the hostile suites check differs.
FORK = os.environ.get("PYSANDBOX_FORK") == "1"
ROOT_UID = 65534 if FORK else 0
TO_UID0 = "OSError:EINVAL" if FORK else "PermissionError:EPERM"

# The program's whole environment (jail.c, exec_program: run_envp), values included.
RUN_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/work", "USER": "sandbox", "LOGNAME": "sandbox",
    "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp", "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
}

# attempt(f, ...) names the outcome of one call ("ok" or "ExcType:ERRNO"); sc(nr, ...) makes a raw system call and
# returns its result or the errno name it failed with.
PRELUDE = '''
import ctypes, errno, json, os, socket, sys
def attempt(f, *a, **k):
    try:
        f(*a, **k)
        return "ok"
    except OSError as e:
        return f"{type(e).__name__}:{errno.errorcode.get(e.errno, e.errno)}"
    except Exception as e:
        return type(e).__name__
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()) if r == -1 else r
'''


def run(service, code, timeout=5, **fields):
    """Run code (dedented, PRELUDE first) and return (response, wall seconds of the HTTP round trip)."""
    t0 = time.monotonic()
    r = service.execute(PRELUDE + textwrap.dedent(code), timeout=timeout, **fields)
    return r, time.monotonic() - t0


def last_json(r):
    """The JSON object the program printed on its last stdout line."""
    lines = r["stdout"].splitlines()
    assert lines, brief(r)
    return json.loads(lines[-1])


def brief(r):
    """A response without its bulky parts, for assertion messages."""
    if not isinstance(r, dict):
        return r
    out = {k: v for k, v in r.items() if k not in ("stdout", "stderr", "files")}
    for k in ("stdout", "stderr"):
        if k in r:
            out[k] = r[k] if len(r[k]) < 600 else r[k][:300] + f"...<{len(r[k])} chars>"
    if "files" in r:
        out["files"] = {k: len(v) for k, v in list(r["files"].items())[:20]}
    return out


def assert_serving(service):
    """The service is healthy and still runs a plain program correctly."""
    status, h = service.request("GET", "/health")
    assert status == 200 and h["status"] == "healthy", h
    r = service.execute("print('still serving')", timeout=5)
    assert (r["status"], r["stdout"]) == ("ok", "still serving\n"), brief(r)


def decoded(r):
    """The response's returned files, decoded: name -> bytes."""
    return {k: base64.b64decode(v, validate=True) for k, v in r["files"].items()}


def token():
    """A fresh token to put on the command lines of what a program starts, to find them from the host."""
    return f"{secrets.randbelow(10**8):08d}"


def concurrently(*calls):
    """Run the calls (functions of no argument) at once; return their results in order."""
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as ex:
        futures = [ex.submit(c) for c in calls]
        return [f.result(timeout=90) for f in futures]


# A test module takes this fixture with `pool_uids = attack.pool_uids` (pytest finds fixtures by module attribute).
@pytest.fixture(scope="module")
def pool_uids(service):
    """The stack's uid pool plus the default 60000..60063."""
    return set(hostinspect.uid_range(service)) | set(hostinspect.UID_RANGE)


def carriers(token):
    """Every process (but this one) with token in an argument of its command line."""
    procs = hostinspect.processes()
    return [hostinspect.describe(pid, procs) for pid, p in procs.items()
            if pid != os.getpid() and any(token in a for a in p["cmdline"])]


# Two checks for leftover processes of a uid pool, kept apart because they judge a process under a jail that no
# pysandboxd started (a direct invocation, as test_jail_direct.py makes) differently:
#   assert_no_run_processes (hostinspect.run_leftovers): such a process counts as escaped unless a live test
#     session (another xdist worker's, as root) started that jail: every other process of the pool must run
#     under a jail that a live pysandboxd worker or builder started (one whose starter is gone is orphaned).
#   assert_no_leftovers (leftovers below): any pysandbox-jail ancestor will do; only processes under no jail at
#     all, or still under one of our stacks, count.

def assert_no_run_processes(service, uids, token=None):
    """No process of the uid pool escaped a pysandboxd's jail or outlived a run of this stack; nothing carries
    token."""
    left = hostinspect.wait_no_run_leftovers(uids, [service.proc.pid])
    assert left == [], left	# (this module is not rewritten by pytest: say what was left)
    if token:
        assert carriers(token) == [], carriers(token)


def leftovers(uids, owners):
    """Processes of the uid pool that either run under no jail at all (escaped) or still run under one of
    owners (stacks of ours with nothing in flight). Like hostinspect.run_leftovers, except that any jail will
    do, an orphaned one (its starter gone) too: the uid pool is shared by every stack on the host."""
    procs = hostinspect.processes()
    bad = []
    for pid, _ in hostinspect.pool_processes(uids, procs):
        jailed = hostinspect.JAIL_NAME in [procs[a]["name"] for a in hostinspect.ancestors(pid, procs)]
        if not jailed or any(hostinspect.descends_from(pid, o, procs) for o in owners):
            bad.append(hostinspect.describe(pid, procs))
    return bad


def wait_no_leftovers(uids, owners, timeout=2.0):
    """leftovers(), polled briefly; what is left at the end."""
    deadline = time.monotonic() + timeout
    while (bad := leftovers(uids, owners)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bad


def assert_no_leftovers(service, uids, token=None):
    """No process of the uid pool escaped every jail or outlived a run of this stack; nothing carries token."""
    left = wait_no_leftovers(uids, [service.proc.pid])
    assert left == [], left
    if token:
        assert carriers(token) == [], carriers(token)
