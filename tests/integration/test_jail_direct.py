"""test_jail_direct.py: pysandbox-jail started directly by the unprivileged pool user, as a compromised pool could:
it runs what its root-owned configuration allows and refuses every argument outside it, in both invocations
(arguments on the command line, and a standby's arguments on fd 5)."""
import os
import pwd
import subprocess
import tempfile
import threading

import pytest

import hostinspect

POOL_USER = "pysandbox"
EXIT_SETUP = 125	# JAIL_EXIT_SETUP


def _high(fd):
    """fd moved to 10 or above, so the shell's redirections onto 3-5 never overwrite a source."""
    new = os.dup2(fd, max(fd, 10) + 10) if fd < 10 else fd
    if new != fd:
        os.close(fd)
    return new


def run_jail(service, args, code=b"print('hello')", standby_blob=None, user=POOL_USER):
    """Start the stack's capability copy of the jail as user, with fds 0-4 (and 5 for a standby) laid out as a
    worker does; returns (exit status, stdout, stderr, status stream)."""
    runtime = hostinspect.runtime_dir(service)
    jail = os.path.join(runtime, "jail", "pysandbox-jail")
    record = b"%d %d\n" % (len(b"main.py"), len(code)) + b"main.py" + code
    in_fd = _high(os.memfd_create("input"))
    os.write(in_fd, record)
    os.lseek(in_fd, 0, os.SEEK_SET)
    st_r, st_w = os.pipe()
    st_w = _high(st_w)
    fds = [st_w, in_fd]
    redirs = '3>&"$1" 4<&"$2"'
    a_w = None
    if standby_blob is not None:
        a_r, a_w = os.pipe()
        fds.append(_high(a_r))
        redirs += ' 5<&"$3"'
    script = f'exec "${{@:{len(fds) + 1}}}" {redirs}'
    p = subprocess.Popen(["bash", "-c", script, "bash"] + [str(f) for f in fds] + [jail] + args,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         pass_fds=fds, user=user, group=user, extra_groups=[])
    for fd in fds:
        os.close(fd)
    if a_w is not None:
        try:
            os.write(a_w, standby_blob)
        except BrokenPipeError:
            pass
        os.close(a_w)
    out, err = p.communicate(timeout=60)
    with os.fdopen(st_r, "rb") as f:
        status = f.read()
    return p.returncode, out, err, status


def base_args(service, **over):
    """A run the configuration allows, as a worker would ask for it, with options replaced by over."""
    runtime = hostinspect.runtime_dir(service)
    opts = {"--config": os.path.join(runtime, "pysandbox.conf"), "--slot": "3", "--timeout-ms": "10000",
            "--memory-mb": "256", "--max-files": "10", "--max-return-bytes": "1048576"}
    opts.update(over)
    args = []
    for k, v in opts.items():
        if v is None:
            continue
        args += [k] if v is True else [k, v]
    return args


def blob(argv):
    return b"".join(a.encode() + b"\0" for a in argv)


def test_the_pool_user_can_run_what_the_configuration_allows(service):
    rc, out, _, status = run_jail(service, base_args(service) + ["run"])
    assert (rc, out) == (0, b"hello\n"), status
    assert status.startswith(b"R exited 0 0 ") and status.endswith(b"D\n"), status


def test_a_standby_runs_what_the_configuration_allows(service):
    rc, out, _, status = run_jail(service, ["standby"], standby_blob=blob(["pysandbox-jail"] + base_args(service) + ["run"]))
    assert (rc, out) == (0, b"hello\n"), status
    assert status.startswith(b"R exited 0 0 ") and status.endswith(b"D\n"), status


# Each case: the options changed, the record (L: beyond the configuration's limits, which a pool
# that has not reloaded an edited file asks for too; E: malformed), and the reason given.
REFUSED = {
    "slot outside the pool": ({"--slot": str(len(hostinspect.UID_RANGE))}, b"L", b"outside the uid pool of"),
    "memory above the maximum": ({"--memory-mb": "4096"}, b"L", b"memory above the configured maximum"),
    "timeout above the maximum": ({"--timeout-ms": "301000"}, b"L", b"timeout above the configured maximum"),
    "network not allowed": ({"--net": True}, b"L", b"network is not allowed by the configuration"),
    "return caps above the maxima": ({"--max-files": "101"}, b"L", b"return caps above the configured maxima"),
    "environment name with a path": ({"--env": "../../etc"}, b"E", b"bad environment name"),
    "an interpreter that is not one": ({"--env": ".build-1", "--build": True, "--python": "/bin/sh"},
                                       b"E", b"/bin/sh is not one of the host's interpreters"),
    "a build interpreter for a run": ({"--python": "/usr/bin/python3"}, b"E", b"--python is for builds only"),
    "memory under the floor": ({"--memory-mb": "1"}, b"E", b"argument memory-mb=1 outside [32, 65536]"),
    "a slot that is no number": ({"--slot": "1e3"}, b"E", b"argument slot=1e3 outside"),
}


@pytest.mark.parametrize("how", ["argv", "standby"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_arguments_outside_the_configuration_are_refused(service, case, how):
    over, record, reason = REFUSED[case]
    argv = base_args(service, **over) + ["run"]
    if how == "argv":
        rc, out, _, status = run_jail(service, argv)
    else:
        rc, out, _, status = run_jail(service, ["standby"], standby_blob=blob(["pysandbox-jail"] + argv))
    assert rc == EXIT_SETUP and out == b"", status
    assert status.startswith(record + b" ") and reason in status, status
    assert b"\nR " not in status and not status.startswith(b"R ")


@pytest.mark.parametrize("how", ["argv", "standby"])
def test_a_configuration_the_pool_user_wrote_is_refused(service, how):
    # The directory is root's; the file in it the pool user's: root alone could not have meant it. A standby's
    # init is root by the time it reads its arguments: it must still judge the file by its caller.
    with tempfile.TemporaryDirectory(prefix="pysandbox-test-conf.") as d:
        evil = os.path.join(d, "evil.conf")
        with open(evil, "w") as f:
            f.write("[limits]\nmax_memory_mb = 65536\n")
        os.chown(evil, pwd.getpwnam(POOL_USER).pw_uid, 0)
        argv = base_args(service, **{"--config": evil}) + ["run"]
        if how == "argv":
            rc, _, _, status = run_jail(service, argv)
        else:
            rc, _, _, status = run_jail(service, ["standby"], standby_blob=blob(["pysandbox-jail"] + argv))
    assert rc == EXIT_SETUP and b"only root or a file root alone can change is accepted" in status, status


@pytest.mark.parametrize("how", ["argv", "standby"])
@pytest.mark.parametrize("kind", ["empty", "the kernel's"])
def test_a_root_file_that_is_no_configuration_is_refused(service, kind, how):
    # Root's files that root did not write as a configuration: an empty one (it would parse as the built-in
    # defaults, undoing every limit the operator set) and the kernel's (procfs: root's, and reads as empty).
    with tempfile.TemporaryDirectory(prefix="pysandbox-test-conf.") as d:
        path = "/proc/1/cmdline"
        if kind == "empty":
            path = os.path.join(d, "empty.conf")
            open(path, "w").close()
        os.chmod(d, 0o755)
        argv = base_args(service, **{"--config": path}) + ["run"]
        if how == "argv":
            rc, out, _, status = run_jail(service, argv)
        else:
            rc, out, _, status = run_jail(service, ["standby"], standby_blob=blob(["pysandbox-jail"] + argv))
    assert rc == EXIT_SETUP and out == b"", status
    assert b"an empty file or one the kernel makes is no configuration" in status, status


def test_a_run_without_a_cpu_share_gets_the_configured_default(service):
    # No --cpus-milli: the configuration's default_cpus (1: a quota of 100 ms each 100 ms), never no quota.
    if "cpu" not in service.request("GET", "/health")[1]["isolation"]["cgroup"]:
        pytest.skip("no cpu controller here")
    done = {}
    t = threading.Thread(target=lambda: done.update(r=run_jail(
        service, base_args(service) + ["run"], code=b"import time; time.sleep(3); print('hello')")))
    t.start()
    try:
        def quota():
            procs = hostinspect.processes()
            jails = [p for p in procs if procs[p]["name"] == hostinspect.JAIL_NAME and procs[p]["ppid"] == os.getpid()]
            for d in (hostinspect.cgroups_named(f"pysandbox-{jails[0]}") if jails else ()):
                for name in ("cpu.max", "cpu.cfs_quota_us"):
                    try:
                        with open(os.path.join(d, name)) as f:
                            return f.read().split()[0]
                    except OSError:
                        pass
            return None
        found = hostinspect.wait_for("the run's CPU quota", quota, timeout=10)
    finally:
        t.join(timeout=30)
    assert done["r"][:2] == (0, b"hello\n"), done["r"]
    assert found == "100000", found


def test_remove_takes_only_build_and_trash_directories(service):
    rc, _, _, status = run_jail(service, ["--config", base_args(service)[1], "remove", "../../etc"])
    assert rc == EXIT_SETUP and b"remove: only .build-N and .trash-N directories" in status, status
    rc, _, _, status = run_jail(service, ["--config", base_args(service)[1], "remove", "ready-env"])
    assert rc == EXIT_SETUP and b"remove: only .build-N and .trash-N directories" in status, status


def test_a_standby_takes_only_a_run(service):
    # The housekeeping verbs exist for the pool's own calls on the command line, never through a standby.
    conf = base_args(service)[1]
    for verb in (["sweep"], ["remove", ".trash-1"]):
        rc, _, _, status = run_jail(service, ["standby"], standby_blob=blob(["pysandbox-jail", "--config", conf] + verb))
        assert rc == EXIT_SETUP and status.startswith(b"E usage: pysandbox-jail"), (verb, status)


def test_a_standby_refuses_malformed_arguments(service):
    rc, _, _, status = run_jail(service, ["standby"], standby_blob=b"pysandbox-jail\0--slot\0" + b"3")
    assert rc == EXIT_SETUP and status.startswith(b"E unterminated argument"), status
    rc, _, _, status = run_jail(service, ["standby"], standby_blob=b"\0" * ((2 << 20) + 1))
    assert rc == EXIT_SETUP and status.startswith(b"E read the run's arguments"), status


def test_a_standby_closed_unused_leaves_no_cgroup(service):
    before = hostinspect.cgroup_dirs()
    rc, out, _, status = run_jail(service, ["standby"], standby_blob=b"")
    assert (rc, out, status) == (0, b"", b"")
    # It removes its own (its program's waiting process, the only one in them, is gone with its init).
    hostinspect.wait_for("the unused standby's cgroups to be removed",
                         lambda: not (hostinspect.cgroup_dirs() - before - _live_standby_dirs()), timeout=5)


def _live_standby_dirs():
    procs = hostinspect.processes()
    names = {f"pysandbox-{pid}" for pid in procs if hostinspect.is_idle_standby(pid, procs)}
    return {d for d in hostinspect.cgroup_dirs() if os.path.basename(d) in names}


def test_fewer_fds_than_a_worker_hands_over_is_refused(service):
    runtime = hostinspect.runtime_dir(service)
    p = subprocess.run([os.path.join(runtime, "jail", "pysandbox-jail")] + base_args(service) + ["run"],
                       stdin=subprocess.DEVNULL, capture_output=True, user=POOL_USER, group=POOL_USER,
                       extra_groups=[], timeout=30)
    assert p.returncode == EXIT_SETUP and p.stdout == b""
