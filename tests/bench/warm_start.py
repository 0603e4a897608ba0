"""warm_start.py: what a warm interpreter (src/jail/warm_boot.py) saves, outside the jail: hello world from the
hand-over to the exit, against a bare `python3 -I -c` spawn and a cold `python3 -E -s -u main.py`, in one run.

    python3 tests/bench/warm_start.py [--srcdir .] [--runs 200]

The warm figure is what the jail's warm path can reach at best (no namespaces, no nginx): the interpreter is
up and blocked on its go pipe before the clock starts, as a standby's would be. Prints p50/p90 of each and
each one's ratio to the bare spawn. Stdlib only; leaves nothing behind.
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

from baseline import PYTHON, bare_start

HELLO = b"print('hello')\n"
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def bare():
    return bare_start()[0] / 1e9


def cold(d):
    with open(os.path.join(d, "main.py"), "wb") as f:
        f.write(HELLO)
    t = time.perf_counter()
    subprocess.run([PYTHON, "-E", "-s", "-u", "main.py"], cwd=d, env=ENV, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def _waiting(pid):
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] == "0" and int(fields[1], 16) == 4


def warm(d, boot):
    with open(os.path.join(d, "main.py"), "wb") as f:
        f.write(boot)
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()	# fd 5: closed by the warm start once compiled, as the jail's init waits for
    p = subprocess.Popen([PYTHON, "-E", "-s", "-u", "main.py"], cwd=d, env=ENV, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, pass_fds=(4, 5),
                         preexec_fn=lambda: (os.dup2(go_r, 4), os.dup2(ready_w, 5)))
    os.close(go_r)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b""
    os.close(ready_r)
    while not _waiting(p.pid):
        time.sleep(0.001)
    t = time.perf_counter()
    with open(os.path.join(d, "main.py"), "wb") as f:
        f.write(HELLO)
    os.write(go_w, b"N")
    os.close(go_w)
    out = p.stdout.read()
    p.wait()
    took = time.perf_counter() - t
    p.stdout.close()
    assert out == b"hello\n" and p.returncode == 0, (out, p.returncode)
    return took


def summary(name, xs, base):
    p50, p90 = statistics.median(xs), statistics.quantiles(xs, n=10)[-1]
    print(f"{name:<34} p50 {p50 * 1000:6.2f} ms  p90 {p90 * 1000:6.2f} ms  x{p50 / base:.2f} of the bare spawn")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--srcdir", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args()
    with open(os.path.join(a.srcdir, "src", "jail", "warm_boot.py"), "rb") as f:
        boot = f.read()
    times = {"bare": [], "cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="pysandbox-warm-bench-") as d:
        for _ in range(10):	# warm-up: page cache, the interpreter's own files
            bare(), cold(d), warm(d, boot)
        for _ in range(a.runs):	# interleaved: all three see the same machine
            times["bare"].append(bare())
            times["cold"].append(cold(d))
            times["warm"].append(warm(d, boot))
    base = statistics.median(times["bare"])
    print(f"load average {os.getloadavg()[0]:.2f}, {a.runs} runs each, interleaved")
    summary("bare python3 -I -c (the baseline)", times["bare"], base)
    summary("cold python3 -E -s -u main.py", times["cold"], base)
    summary("warm: hand-over to exit", times["warm"], base)


if __name__ == "__main__":
    main()
