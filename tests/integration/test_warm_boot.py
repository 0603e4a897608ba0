"""test_warm_boot.py: a warm interpreter's start (src/jail/warm_boot.py) runs a program as the cold path does.

Each program runs twice in the same directory with the host's interpreter: cold (`python3 -E -s -u main.py
ARG...`, as the jail execs a run) and warm (the interpreter started on warm_boot.py as main.py; once it has
closed its ready pipe (fd 5) and waits in its read of fd 4, main.py is replaced by the program and the go
message written, as the jail's init does). What each prints, its exit status and what it leaves in the directory must be the same, byte for byte.
"""
import fcntl
import os
import subprocess
import tempfile
import time

import pytest

SRC = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..", ".."))
# The warm start as the jail writes it: run_main.py, then warm_boot.py (Makefile.am's warm_boot.h).
BOOT = [os.path.join(SRC, "src", "jail", name) for name in ("run_main.py", "warm_boot.py")]
PYTHON = "/usr/bin/python3"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp"}
GO_FD = 4
READY_FD = 5


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _leftovers(d):
    out = {}
    for name in sorted(os.listdir(d)):
        if name != "main.py":
            with open(os.path.join(d, name), "rb") as f:
                out[name] = f.read()
            os.unlink(os.path.join(d, name))
    return out


def cold(d, code, args=(), stdin=None):
    _write(os.path.join(d, "main.py"), code)
    p = subprocess.run([PYTHON, "-E", "-s", "-u", "main.py", *args], cwd=d, env=dict(ENV, HOME=d),
                       input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr, _leftovers(d)


def _waiting_on_go(pid):
    """The interpreter is blocked in read(4, ...): up, and nothing of the run seen yet."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] == "0" and int(fields[1], 16) == GO_FD


def start_warm(d, stdin):
    """The interpreter on warm_boot.py, as the jail starts it: (process, go pipe's write end) once it is ready
    (EOF on its ready pipe) and waits on fd 4."""
    boot = b""
    for path in BOOT:
        with open(path, "rb") as f:
            boot += f.read()
    _write(os.path.join(d, "main.py"), boot)
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()

    def child_fds():	# (by way of fds above both, so that neither end is overwritten before it is moved)
        go, ready = fcntl.fcntl(go_r, fcntl.F_DUPFD, 10), fcntl.fcntl(ready_w, fcntl.F_DUPFD, 10)
        os.dup2(go, GO_FD)
        os.dup2(ready, READY_FD)
    p = subprocess.Popen([PYTHON, "-E", "-s", "-u", "main.py"], cwd=d, env=dict(ENV, HOME=d), stdin=stdin,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(GO_FD, READY_FD),
                         preexec_fn=child_fds)
    os.close(go_r)
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as ready:
        assert ready.read() == b"", "the warm interpreter wrote on its ready pipe"
    deadline = time.monotonic() + 20
    while not _waiting_on_go(p.pid):
        assert p.poll() is None and time.monotonic() < deadline, (p.poll(), "the warm interpreter never waited")
        time.sleep(0.005)
    return p, go_w


def warm(d, code, args=(), stdin=None):
    stdin_fd = os.memfd_create("stdin")
    p, go_w = start_warm(d, stdin_fd)
    # The run arrives: its files (main.py over the start), its stdin, then the go message and EOF.
    _write(os.path.join(d, "main.py"), code)
    if stdin is not None:
        os.pwrite(stdin_fd, stdin, 0)
    os.close(stdin_fd)
    os.write(go_w, (b"G" if stdin is not None else b"N") + b"".join(os.fsencode(a) + b"\0" for a in args))
    os.close(go_w)
    out, err = p.communicate(timeout=30)
    return p.returncode, out, err, _leftovers(d)


PROGRAMS = {
    "hello": b"print('hello')\n",
    "argv, path, name, file": b"import sys\nprint(sys.argv, sys.orig_argv[1:], sys.path[0], __name__, __file__)\n",
    "the main module's names": (b"import sys\nm = sys.modules['__main__']\n"
                                b"print(list(globals()), __doc__, __package__,"
                                b" __spec__, __cached__, type(__loader__).__name__, __loader__.name,"
                                b" __loader__.path, m is __import__('__main__'), m.__dict__ is globals())\n"),
    "the modules loaded": b"import sys\nprint(sorted(sys.modules))\n",
    "flags and stdio": (b"import sys\nprint(sys.flags, sys.stdout.line_buffering, sys.stdout.write_through,"
                        b" sys.stdin.isatty(), type(sys.stdout.buffer).__name__)\n"),
    "a traceback": b"def f():\n    return 1 / 0\n\ndef g():\n    f()\n\ng()\n",
    "a chained traceback": b"try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('v') from e\n",
    "a syntax error": b"print('a'\n",
    "an indentation error": b"if True:\nprint(1)\n",
    "exit 3": b"import sys\nprint('before')\nsys.exit(3)\n",
    "exit with a message": b"import sys\nsys.exit('bad things')\n",
    "exit None": b"raise SystemExit\n",
    "exit 300": b"raise SystemExit(300)\n",
    "a keyboard interrupt": b"print('x')\nraise KeyboardInterrupt\n",
    "killed by a signal": b"import os, signal\nprint('x', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n",
    "an exception hook": (b"import sys\nsys.excepthook = lambda t, v, tb: print('hook', t.__name__, v,"
                          b" tb.tb_frame.f_code.co_filename, tb.tb_next is None)\nraise ValueError('v')\n"),
    "a failing exception hook": b"import sys\ndef h(*a):\n    raise RuntimeError('h')\nsys.excepthook = h\n1/0\n",
    "sys.last_value": (b"import atexit, sys\natexit.register(lambda: print(repr(getattr(sys, 'last_value', None))))\n"
                       b"raise ValueError('kept')\n"),
    "exit handlers, threads, files left open": (
        b"import atexit, threading, time\n"
        b"atexit.register(print, 'atexit ran')\n"
        b"def later():\n    time.sleep(0.2)\n    print('thread done')\n"
        b"threading.Thread(target=later).start()\n"
        b"f = open('unclosed.txt', 'w')\nf.write('flushed at exit')\n"
        b"print('main done')\n"),
    "a source encoding": b"# -*- coding: latin-1 -*-\nprint('caf\xe9')\n",
    "a warning": b"import warnings\nwarnings.warn('careful')\n",
    "pickling a function of main": (b"import pickle\ndef f():\n    pass\n"
                                    b"print(pickle.loads(pickle.dumps(f)) is f)\n"),
    "no stdin": b"import os, stat, sys\nprint(repr(sys.stdin.read()), stat.S_ISCHR(os.fstat(0).st_mode))\n",
    "the environment and directory": b"import os\nprint(sorted(os.environ.items()), os.getcwd() == os.environ['HOME'])\n",
}
ARGS = {"argv, path, name, file": ["a", "b c", "\u00fc", ""]}
STDIN = {"hello": None}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_warm_run_is_the_cold_run(name):
    with tempfile.TemporaryDirectory(prefix="pysandbox-warm-") as d:
        args = ARGS.get(name, ())
        c = cold(d, PROGRAMS[name], args)
        w = warm(d, PROGRAMS[name], args)
    assert w == c, f"warm {w!r}\ncold {c!r}"


def test_stdin_reaches_a_warm_run_as_a_cold_one():
    code = b"import sys\ndata = sys.stdin.buffer.read()\nprint(len(data), data[:20])\n"
    with tempfile.TemporaryDirectory(prefix="pysandbox-warm-") as d:
        c = cold(d, code, stdin=b"line one\nline two\n" * 1000)
        w = warm(d, code, stdin=b"line one\nline two\n" * 1000)
    assert w == c and c[1].startswith(b"18000 "), (w, c)


def test_a_printed_stack_shows_one_frame_more_the_warm_start():
    # The one difference a program can see: its module's frame is called from the warm start's frames (both
    # in /work/main.py); a traceback of an uncaught exception leaves them out (above), a stack printed by the
    # program itself does not.
    code = b"import inspect\nprint([(f.function, f.lineno) for f in inspect.stack()])\n"
    with tempfile.TemporaryDirectory(prefix="pysandbox-warm-") as d:
        c = cold(d, code)
        w = warm(d, code)
    cold_frames, warm_frames = eval(c[1]), eval(w[1])
    assert cold_frames == [("<module>", 2)] and warm_frames[0] == ("<module>", 2), (c, w)
    assert [f[0] for f in warm_frames[1:]] == ["_pysandbox_run", "_pysandbox_warm_run", "<module>"], w


def test_no_run_ends_a_warm_interpreter_quietly():
    with tempfile.TemporaryDirectory(prefix="pysandbox-warm-") as d:
        p, go_w = start_warm(d, subprocess.DEVNULL)
        os.close(go_w)
        out, err = p.communicate(timeout=30)
    assert (p.returncode, out, err) == (0, b"", b"")
