"""attack.py: what the hostile-program tests share: a prelude for the programs, running them, reading what they print."""
import json
import textwrap
import time

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
