"""leftovers.py: the session left no process, mount, cgroup or directory on the host.

conftest.py takes snapshot() when pytest starts (before any stack of the session) and, once every test and every
fixture's stack has stopped (with pytest-xdist: in the controller, after all its workers have exited), runs each
of CHECKS with a probe stack of its own started (`stack`), reporting each as a test of this file."""
import glob
import os
import socket
import time

import hostinspect

RUN_DIRS = "/tmp/pysandbox-run.*"
FORK_SOCKETS = "/run/pysandbox-jail/fork-*.sock"	# fork servers' (src/jail/forkserver.c), each its stack's
STATE_DIRS = "/tmp/pysandbox-test-state.*"
CANARIES = ["/root/pysandbox-canary-*", "/var/tmp/pysandbox-canary-*", "/tmp/pysandbox-canary-*"]


MOUNT_TABLES = ("/proc/mounts", "/proc/self/mountinfo", "/proc/1/mountinfo")


def _mount_lines(table):
    with open(table) as f:
        return {line for line in f if "pysandbox" in line}


def snapshot():
    """What the host holds before any stack of this session starts: what other sessions had already left is not
    ours to judge."""
    return {
        "run": set(glob.glob(RUN_DIRS)),
        "state": set(glob.glob(STATE_DIRS)),
        "canary": {p for pattern in CANARIES for p in glob.glob(pattern)},
        "fork_sockets": set(glob.glob(FORK_SOCKETS)),
        "fork_dir": os.path.exists(os.path.dirname(FORK_SOCKETS)),
        # Processes, cgroups and mounts of other instances on this host (another root's, a packaged
        # service, another session's): this suite judges only what it started.
        "procs": {hostinspect.identity(pid) for pid in hostinspect.processes()} - {None},
        "cgroups": hostinspect.cgroup_dirs(),
        "mounts": {t: _mount_lines(t) for t in MOUNT_TABLES},
    }


def _new(before, pid):
    """pid was started during this session (not the same process as one that ran before it)."""
    ident = hostinspect.identity(pid)
    return ident is not None and ident not in before["procs"]


def _session_pids(procs):
    """Every live descendant of this pytest process (the controller under pytest-xdist)."""
    me = os.getpid()
    return {pid for pid in procs if hostinspect.descends_from(pid, me, procs)}


def _live_runtime_dirs(procs):
    """Runtime dirs some live process names on its command line (stacks still running, ours or not)."""
    live = set()
    for p in procs.values():
        for arg in p["cmdline"]:
            for d in glob.glob(RUN_DIRS):
                if arg == d or arg.startswith(d + "/"):
                    live.add(d)
    return live


def _state_dir_of(runtime):
    try:
        with open(os.path.join(runtime, "pysandbox.conf")) as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() == "state_dir":
                    return value.strip()
    except OSError:
        pass
    return None


def _left(what, items):
    return f"{what}:\n  " + "\n  ".join(items)


def no_run_process_left(before, stack):
    uids = set(hostinspect.uid_range(stack)) | set(hostinspect.UID_RANGE)
    # Nothing of the pool's uids may have escaped a jail, and no run of this session may still be running.
    def leftovers():
        procs = hostinspect.processes()
        return [d for d in hostinspect.run_leftovers(uids, [os.getpid()], procs) if _new(before, int(d.split()[1]))]
    deadline = time.monotonic() + 2
    while (bad := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad == [], _left("processes of the pool's uids left (escaped a jail, or a run still running)", bad)


def _jail_leftovers(before):
    procs = hostinspect.processes()
    mine = _session_pids(procs)
    bad = []
    for pid, p in procs.items():
        if p["name"] not in hostinspect.JAIL_NAMES or not _new(before, pid):
            continue
        if hostinspect.is_fork_server(pid, procs):
            continue	# (a live stack's fork server, or a fork standby's idle tree below it)
        chain = [procs[a]["name"] for a in hostinspect.ancestors(pid, procs)]
        while chain and chain[0] in hostinspect.JAIL_NAMES:
            chain = chain[1:]
        orphan = not chain or chain[0] not in (hostinspect.DAEMON_NAME, hostinspect.BUILDER_NAME)
        # Ours (no request is in flight now, so only the workers' waiting standbys) or owned by no worker or builder.
        if (pid in mine and not hostinspect.is_standby_part(pid, procs)) or orphan:
            bad.append(hostinspect.describe(pid, procs))
    return bad


def no_jail_process_left(before, stack):
    deadline = time.monotonic() + 2
    while (bad := _jail_leftovers(before)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad == [], _left("jail processes left (not a waiting standby, or owned by no worker or builder)", bad)


def no_cgroup_left(before, stack):
    """Every cgroup the service makes is named pysandbox-*: once one more jail has started (it removes those of
    every jail gone, e.g. of stacks the tests SIGKILLed), what may exist is the cgroups of the live standby jails
    (made ahead of their run), a live stack's fork server's and, with v2, the pool's leaf of a live stack."""
    assert stack.execute("print('last')")["stdout"] == "last\n"
    def leftovers():
        procs = hostinspect.processes()
        mine = _session_pids(procs)
        standbys = {f"pysandbox-{pid}" for pid in procs if hostinspect.is_idle_standby(pid, procs)
                    or (procs[pid]["name"] == hostinspect.JAIL_NAME and hostinspect.is_fork_server(pid, procs))}
        # The live jails of other instances (their runs in flight) are theirs.
        others = {f"pysandbox-{pid}" for pid, p in procs.items()
                  if p["name"] == hostinspect.JAIL_NAME and pid not in mine and p["ppid"] in procs
                  and procs[p["ppid"]]["name"] in (hostinspect.DAEMON_NAME, hostinspect.BUILDER_NAME)}
        allowed = set()
        for pid in procs:
            if procs[pid]["name"] == hostinspect.DAEMON_NAME:
                try:
                    allowed |= hostinspect.own_cgroup_dirs(pid)
                except OSError:
                    pass
        # v2: the pool's leaf and what holds it (devserver.sh's).
        allowed |= {os.path.dirname(d) for d in allowed}
        return sorted(d for d in hostinspect.cgroup_dirs() - allowed - before["cgroups"]
                      if os.path.basename(d) not in standbys | others)
    deadline = time.monotonic() + 2
    while (bad := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad == [], _left("cgroups left (of no live standby or stack)", bad)


def no_stray_stack_process(before, stack):
    procs = hostinspect.processes()
    probe = hostinspect.stack_pids(stack, procs)
    # Only the probe stack may still run under pytest: every stack of the tests and their fixtures was stopped.
    stray = sorted(hostinspect.describe(pid, procs) for pid in _session_pids(procs) - probe)
    assert stray == [], _left("processes still running under pytest (a stack or a child not stopped)", stray)
    # No daemon or nginx anywhere still points at a runtime dir that is gone (a stack half stopped).
    orphans = []
    for pid, p in procs.items():
        if p["name"] in (hostinspect.DAEMON_NAME, "nginx"):
            for arg in p["cmdline"]:
                if arg.startswith("/tmp/pysandbox-run.") and not os.path.exists(arg.split("/pysandbox.conf")[0]):
                    orphans.append(hostinspect.describe(pid, procs))
    assert orphans == [], _left("pysandboxd or nginx processes of a runtime dir that is gone", orphans)


def no_pysandbox_mount(before, stack):
    for table in MOUNT_TABLES:
        new = sorted(_mount_lines(table) - before["mounts"][table])
        assert new == [], _left(f"pysandbox mounts left in {table}", [m.rstrip("\n") for m in new])


def no_runtime_or_state_dir_left(before, stack):
    procs = hostinspect.processes()
    ours = hostinspect.runtime_dir(stack, procs)
    assert ours and os.path.isdir(ours), "the probe stack's runtime dir was not found"
    assert os.path.isdir(stack.state)
    live = _live_runtime_dirs(procs)
    assert ours in live
    new_run = sorted(set(glob.glob(RUN_DIRS)) - before["run"] - live)
    assert new_run == [], _left("runtime dirs left (named by no live process)", new_run)
    live_state = {_state_dir_of(d) for d in live} | {stack.state}
    new_state = sorted(set(glob.glob(STATE_DIRS)) - before["state"] - live_state)
    assert new_state == [], _left("test state dirs left (of no live stack)", new_state)


def no_canary_left(before, stack):
    now = {p for pattern in CANARIES for p in glob.glob(pattern)}
    new = sorted(now - before["canary"])
    assert new == [], _left("canary files left", new)


def no_fork_server_socket_left(before, stack):
    """A fork server's jail removes its socket when it ends; one that no server listens on is left behind."""
    def dead(path):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            try:
                s.connect(path)
                return False	# (a live server of a stack still running: the connection is dropped at once)
            except OSError:
                return os.path.exists(path)
    deadline = time.monotonic() + 2
    while (bad := sorted(p for p in set(glob.glob(FORK_SOCKETS)) - before["fork_sockets"] if dead(p))) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad == [], _left("fork server sockets left (no server listens)", bad)
    # The directory goes with the last server's jail (one that did not exist before the session).
    left = os.path.dirname(FORK_SOCKETS)
    if not before["fork_dir"] and os.path.isdir(left) and not os.listdir(left):
        deadline = time.monotonic() + 2
        while os.path.isdir(left) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.isdir(left), f"{left} left behind, empty"


# In this order, each reported as its own test (tests/integration/leftovers.py::NAME).
CHECKS = (no_run_process_left, no_jail_process_left, no_cgroup_left, no_stray_stack_process, no_pysandbox_mount,
          no_runtime_or_state_dir_left, no_canary_left, no_fork_server_socket_left)
# The checks that do not use the probe stack (they still run when it could not start).
STACKLESS = (no_pysandbox_mount, no_canary_left, no_fork_server_socket_left)
