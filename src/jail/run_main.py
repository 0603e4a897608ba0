# run_main.py: how a warm interpreter (warm_boot.py) and a fork server's child (fork_server.py) run the
# run's /work/main.py as the cold path's `python3 -E -s -u main.py ARG...` does; the jail builds each of
# their main.py from this file and theirs (Makefile.am). It holds nothing of any run and nothing secret.
import sys


def _pysandbox_run(message):
    """Run /work/main.py as `python3 -E -s -u main.py ARG...` would: message is the go message (G or N,
    then each argument NUL-terminated)."""
    import os	# (imported by the interpreter's start-up already: no module is added)

    if message[:1] not in (b"G", b"N"):
        os._exit(0)	# no run: init ended
    if message[:1] == b"N":
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    args = [os.fsdecode(a) for a in message[1:].split(b"\0")[:-1]]
    sys.argv[1:] = args
    sys.orig_argv.extend(args)
    path = __file__
    with open(path, "rb") as f:
        source = f.read()
    # A __main__ of its own, as the interpreter makes it for a script: nothing of this file's is in it.
    main = type(sys)("__main__")	# (its names in the interpreter's order)
    main.__loader__ = __loader__
    main.__annotations__ = {}
    main.__builtins__ = __builtins__
    main.__file__ = path
    main.__cached__ = None
    sys.modules["__main__"] = main
    try:
        exec(compile(source, path, "exec", dont_inherit=True), main.__dict__)
    except SystemExit:
        raise	# the interpreter words it and exits with its code, as for a script
    except BaseException as e:	# noqa: B036 -- the interpreter's own report of an uncaught exception
        _report(e)
        if isinstance(e, KeyboardInterrupt):
            _end_by_sigint()
        raise SystemExit(1) from None


def _report(e):
    """What the interpreter prints for an uncaught exception, with this file's frame left out."""
    tb = e.__traceback__
    if tb is not None and tb.tb_frame.f_code is _pysandbox_run.__code__:
        tb = tb.tb_next
    e.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(e), e, tb
    try:
        sys.excepthook(type(e), e, tb)
    except BaseException as hook_error:	# noqa: B036 -- as the interpreter does when its hook fails
        # (Raised from here, not from the interpreter: without this frame, and not as raised while e was.)
        hook_tb = hook_error.__traceback__
        if hook_tb is not None and hook_tb.tb_frame.f_code is _report.__code__:
            hook_tb = hook_tb.tb_next
        hook_error.__traceback__ = hook_tb
        hook_error.__suppress_context__ = True
        print("Error in sys.excepthook:", file=sys.stderr)
        sys.__excepthook__(type(hook_error), hook_error, hook_tb)
        print("\nOriginal exception was:", file=sys.stderr)
        sys.__excepthook__(type(e), e, tb)


def _end_by_sigint():
    """An uncaught KeyboardInterrupt ends the interpreter by SIGINT once it has shut down: the threads joined
    and the exit handlers run as at any exit, then the signal (the modules' own teardown is left out)."""
    import atexit
    import os
    import signal

    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:	# noqa: BLE001 -- a closed stream: nothing to flush
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)

