"""baseline.py: the baseline the benchmarks here print their figures against: one bare interpreter start."""
import resource
import subprocess
import time

PYTHON = "/usr/bin/python3"
BARE = [PYTHON, "-I", "-c", "print('hello')"]


def bare_start():
    """One `python3 -I -c "print('hello')"` spawned from here: (wall ns, the interpreter's CPU seconds, user +
    system). Raises if it did not print hello."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter_ns()
    r = subprocess.run(BARE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    t1 = time.perf_counter_ns()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0 or r.stdout != b"hello\n":
        raise RuntimeError(f"bare interpreter failed: {r.returncode} {r.stdout!r} {r.stderr!r}")
    return t1 - t0, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
