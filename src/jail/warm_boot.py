# warm_boot.py: a warm interpreter's first /work/main.py: up ahead of its run, it waits for the run, then runs
# the main.py that replaced it as `python3 -E -s -u main.py ARG...` would have.
#
# The jail writes this file as /work/main.py and starts the interpreter on it exactly as a cold run starts
# (so sys.argv[0], sys.orig_argv, sys.path[0], __file__ and the interpreter's start-up are the cold path's).
# Once up, it closes fd 5 (init waits for that EOF: it must not write over this file while the interpreter
# reads it). At the run, init writes the run's files over /work (main.py among them), then the go message on fd 4:
# one byte (G: stdin holds the run's input; N: no input, read /dev/null), then each argument NUL-terminated,
# then EOF. EOF alone: there is no run. This file holds nothing of any run and nothing secret; it runs as the
# run's uid, under all of the run's limits, and serves exactly one run.
# (run_main.py comes first in the file the jail writes: _pysandbox_run is its.)


def _pysandbox_warm_run():
    import os	# (imported by the interpreter's start-up already: no module is added)

    # Ready: this file is read and compiled (the interpreter has closed it), so init may write the run's
    # main.py over it; EOF on fd 5 tells init so.
    os.close(5)
    chunks = []
    while True:
        try:
            chunk = os.read(4, 1 << 16)
        except InterruptedError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
    os.close(4)
    _pysandbox_run(b"".join(chunks))


_pysandbox_warm_run()
