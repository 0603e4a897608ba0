"""test_zz_leftovers.py: runs last (by name): the session left no process, mount or directory on the host."""
import glob
import os
import time

import hostinspect

RUN_DIRS = "/tmp/pysandbox-run.*"
STATE_DIRS = "/tmp/pysandbox-test-state.*"
CANARIES = ["/root/pysandbox-canary-*", "/var/tmp/pysandbox-canary-*", "/tmp/pysandbox-canary-*"]


MOUNT_TABLES = ("/proc/mounts", "/proc/self/mountinfo", "/proc/1/mountinfo")


def _mount_lines(table):
    with open(table) as f:
        return {line for line in f if "pysandbox" in line}


def _snapshot():
    return {
        "run": set(glob.glob(RUN_DIRS)),
        "state": set(glob.glob(STATE_DIRS)),
        "canary": {p for pattern in CANARIES for p in glob.glob(pattern)},
        # Processes, cgroups and mounts of other instances on this host (another root's, a packaged
        # service, another session's): this suite judges only what it started.
        "procs": {hostinspect.identity(pid) for pid in hostinspect.processes()} - {None},
        "cgroups": hostinspect.cgroup_dirs(),
        "mounts": {t: _mount_lines(t) for t in MOUNT_TABLES},
    }


# Taken at collection, before any stack of this session starts: what other sessions had already left is
# not ours to judge.
BEFORE = _snapshot()


def _new(pid):
    """pid was started during this session (not the same process as one that ran before it)."""
    ident = hostinspect.identity(pid)
    return ident is not None and ident not in BEFORE["procs"]


def _session_pids(procs):
    """Every live descendant of this pytest process."""
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


def test_no_run_process_left(service):
    uids = set(hostinspect.uid_range(service)) | set(hostinspect.UID_RANGE)
    # Nothing of the pool's uids may have escaped a jail, and no run of this session may still be running.
    def leftovers():
        procs = hostinspect.processes()
        return [d for d in hostinspect.run_leftovers(uids, [os.getpid()], procs) if _new(int(d.split()[1]))]
    deadline = time.monotonic() + 2
    while (bad := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad == []


def _jail_leftovers():
    procs = hostinspect.processes()
    mine = _session_pids(procs)
    bad = []
    for pid, p in procs.items():
        if p["name"] not in hostinspect.JAIL_NAMES or not _new(pid):
            continue
        chain = [procs[a]["name"] for a in hostinspect.ancestors(pid, procs)]
        while chain and chain[0] in hostinspect.JAIL_NAMES:
            chain = chain[1:]
        orphan = not chain or chain[0] not in (hostinspect.DAEMON_NAME, hostinspect.BUILDER_NAME)
        # Ours (no request is in flight now, so only the workers' waiting standbys) or owned by no worker or builder.
        if (pid in mine and not hostinspect.is_standby_part(pid, procs)) or orphan:
            bad.append(hostinspect.describe(pid, procs))
    return bad


def test_no_jail_process_left(service):
    deadline = time.monotonic() + 2
    while (bad := _jail_leftovers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad == []


def test_no_cgroup_left(service):
    """Every cgroup the service makes is named pysandbox-*: once one more jail has started (it removes those of
    every jail gone, e.g. of stacks the tests SIGKILLed), what may exist is the cgroups of the live standby jails
    (made ahead of their run) and, with v2, the pool's leaf of a live stack."""
    assert service.execute("print('last')")["stdout"] == "last\n"
    def leftovers():
        procs = hostinspect.processes()
        mine = _session_pids(procs)
        standbys = {f"pysandbox-{pid}" for pid in procs if hostinspect.is_idle_standby(pid, procs)}
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
        return sorted(d for d in hostinspect.cgroup_dirs() - allowed - BEFORE["cgroups"]
                      if os.path.basename(d) not in standbys | others)
    deadline = time.monotonic() + 2
    while (bad := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad == []


def test_no_stray_stack_process(service):
    procs = hostinspect.processes()
    stack = hostinspect.stack_pids(service, procs)
    # Only the session's shared stack may still run under pytest: every make_service stack was stopped.
    assert sorted(hostinspect.describe(pid, procs) for pid in _session_pids(procs) - stack) == []
    # No daemon or nginx anywhere still points at a runtime dir that is gone (a stack half stopped).
    orphans = []
    for pid, p in procs.items():
        if p["name"] in (hostinspect.DAEMON_NAME, "nginx"):
            for arg in p["cmdline"]:
                if arg.startswith("/tmp/pysandbox-run.") and not os.path.exists(arg.split("/pysandbox.conf")[0]):
                    orphans.append(hostinspect.describe(pid, procs))
    assert orphans == []


def test_no_pysandbox_mount():
    for table in MOUNT_TABLES:
        assert sorted(_mount_lines(table) - BEFORE["mounts"][table]) == [], table


def test_no_runtime_or_state_dir_left(service):
    procs = hostinspect.processes()
    ours = hostinspect.runtime_dir(service, procs)
    assert ours and os.path.isdir(ours), "the session stack's runtime dir was not found"
    assert os.path.isdir(service.state)
    live = _live_runtime_dirs(procs)
    assert ours in live
    new_run = set(glob.glob(RUN_DIRS)) - BEFORE["run"] - live
    assert sorted(new_run) == []
    live_state = {_state_dir_of(d) for d in live} | {service.state}
    new_state = set(glob.glob(STATE_DIRS)) - BEFORE["state"] - live_state
    assert sorted(new_state) == []


def test_no_canary_left():
    now = {p for pattern in CANARIES for p in glob.glob(pattern)}
    assert sorted(now - BEFORE["canary"]) == []
