"""hostinspect.py: host-side views for the hostile-code tests: processes by uid and ancestry, a stack's runtime dir."""
import os
import re
import time

UID_RANGE = range(60000, 60064)	# the default pool, uid_base 60000 .. +63
JAIL_NAME = "pysandbox-jail"	# the outer helper (and init and the program's process until they rename)
INIT_NAME = "pysandbox-init"	# init, pid 1 of a run's pid namespace, once it has its run
IDLE_INIT_NAME = "pysandbox-idle"	# init of a standby still waiting for its request
PROG_NAME = "pysandbox-prog"	# the program's process before it execs the interpreter
JAIL_NAMES = (JAIL_NAME, INIT_NAME, IDLE_INIT_NAME, PROG_NAME)
BUILDER_NAME = "pysandbox-build"
DAEMON_NAME = "pysandboxd"


def uid_range(service):
    """The uid pool the stack reports in /health (falls back to the default pool)."""
    try:
        _, body = service.request("GET", "/health")
        lo, hi = body["isolation"]["uid_range"].split("-")
        return range(int(lo), int(hi) + 1)
    except (OSError, KeyError, TypeError, ValueError):
        return UID_RANGE


def processes():
    """pid -> {"name", "state", "ppid", "uids" (real, effective, saved, fs), "cmdline" (list of str)} for every
    process, except zombies already handed to the host's init: they run nothing and wait only for pid 1 to
    reap them (this VM's pid 1 reaps late), e.g. a jail whose worker another session's test SIGKILLed."""
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8", errors="replace") as f:
                status = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue	# it ended while we looked
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        try:
            procs[int(entry)] = {
                "name": fields["Name"].strip(),
                "state": fields["State"].split()[0],
                "ppid": int(fields["PPid"]),
                "uids": tuple(int(u) for u in fields["Uid"].split()),
                "cmdline": cmdline,
            }
        except (KeyError, ValueError):
            continue
    return {pid: p for pid, p in procs.items() if not (p["state"] == "Z" and p["ppid"] == 1)}


def ancestors(pid, procs):
    """The chain of parent pids of pid (nearest first), as far as the snapshot knows it."""
    chain, seen = [], {pid}
    p = procs.get(pid, {}).get("ppid", 0)
    while p > 0 and p not in seen and p in procs:
        chain.append(p)
        seen.add(p)
        p = procs[p]["ppid"]
    return chain


def descends_from(pid, root, procs):
    return root in ancestors(pid, procs)


def jail_parent(pid, procs):
    """The pid of the process that started the jail pid runs under (the first above its outer helper), or None
    when pid runs under no jail or the snapshot ends above it."""
    chain = ancestors(pid, procs)
    names = [procs[a]["name"] for a in chain]
    if JAIL_NAME not in names:
        return None
    i = names.index(JAIL_NAME)
    while i < len(chain) and names[i] in JAIL_NAMES:	# the outer helper (init is below it)
        i += 1
    return chain[i] if i < len(chain) else None


def under_live_jail(pid, procs):
    """True if pid runs inside a jail that a live pysandboxd worker started (someone's in-flight run)."""
    parent = jail_parent(pid, procs)
    # A run's jail sits under a worker (pysandboxd); a build's under the builder (pysandbox-build).
    return parent is not None and procs[parent]["name"] in (DAEMON_NAME, BUILDER_NAME)


def under_direct_jail(pid, procs):
    """True if pid runs inside a jail that another live test session started itself, as root (a direct
    invocation, as test_jail_direct.py makes, in another xdist worker: the default uid pool is every stack's
    too). A jail whose starter is gone has pid 1 for its parent, which is no session."""
    parent = jail_parent(pid, procs)
    return (parent is not None and parent not in (1, os.getpid()) and procs[parent]["uids"][0] == 0
            and procs[parent]["name"].startswith("python"))


def describe(pid, procs):
    p = procs[pid]
    return f"pid {pid} ({p['name']}) uid {p['uids'][0]} ppid {p['ppid']}: {' '.join(p['cmdline'])[:200]}"


def pool_processes(uids, procs):
    """(pid, process) of every process with a uid of the pool that is not a part of an idle standby (a warm
    standby's interpreter, waiting for its run, runs as its uid already)."""
    for pid, p in procs.items():
        if any(u in uids for u in p["uids"]) and not is_standby_part(pid, procs):
            yield pid, p


def run_leftovers(uids, owner_pids, procs=None):
    """Processes with a uid of the pool that either escaped every jail (no live pysandboxd->jail ancestry, nor a
    live session's own jail) or still run under one of owner_pids (a stack of ours with no request in flight).
    Other sessions' in-flight runs on the same host are left alone: they sit under their own pysandboxd, or
    under the jail such a session started itself."""
    procs = procs if procs is not None else processes()
    bad = []
    for pid, _ in pool_processes(uids, procs):
        if is_fork_server(pid, procs) and under_live_jail(pid, procs):
            continue	# (its stack's, while the stack lives)
        if any(descends_from(pid, o, procs) for o in owner_pids) or not (
                under_live_jail(pid, procs) or under_direct_jail(pid, procs)):
            bad.append(describe(pid, procs))
    return bad


def wait_no_run_leftovers(uids, owner_pids, timeout=2.0):
    """run_leftovers(), polled briefly: a run's processes are reaped before its response, so this is short."""
    deadline = time.monotonic() + timeout
    while True:
        bad = run_leftovers(uids, owner_pids)
        if not bad or time.monotonic() > deadline:
            return bad
        time.sleep(0.05)


def stack_pids(service, procs=None):
    """Every live pid of the stack (devserver.sh and its descendants)."""
    procs = procs if procs is not None else processes()
    root = service.proc.pid
    return {pid for pid in procs if pid == root or descends_from(pid, root, procs)}


def runtime_dir(service, procs=None):
    """The stack's /tmp/pysandbox-run.XXXX, read from its pysandboxd master's `-c DIR/pysandbox.conf`."""
    procs = procs if procs is not None else processes()
    for pid in sorted(stack_pids(service, procs)):
        p = procs[pid]
        if p["name"] == DAEMON_NAME and p["ppid"] == service.proc.pid:
            args = p["cmdline"]
            for i, a in enumerate(args[:-1]):
                if a == "-c" and re.fullmatch(r"/tmp/pysandbox-run\.[^/]+/pysandbox\.conf", args[i + 1]):
                    return os.path.dirname(args[i + 1])
    return None


def wait_for(what, predicate, timeout=15.0, interval=0.05):
    """Poll predicate() until it returns something true; fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def identity(pid):
    """(pid, start time): tells a process from a later one that reused its pid; None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return None
    return (pid, int(fields[19]))


def is_idle_standby(pid, procs):
    """A worker's jail spawned ahead of its next request, still waiting for it: `pysandbox-jail standby` (or a
    warm standby: `pysandbox-jail OPTIONS... warm`), a child of a pysandboxd worker, whose init (made ahead with
    the program's process, a warm one's interpreter already running) has no run yet."""
    p = procs.get(pid)
    if (p is not None and p["name"] == JAIL_NAME and p["cmdline"][:1] == [JAIL_NAME]
            and p["cmdline"][-1:] == ["forkstandby"]):	# (a fork standby: its child is the fork server's)
        return procs.get(p["ppid"], {}).get("name") == DAEMON_NAME
    standby = p is not None and (p["cmdline"] == [JAIL_NAME, "standby"] or
                                 (p["cmdline"][:1] == [JAIL_NAME] and p["cmdline"][-1:] == ["warm"]))
    return (standby and p["name"] == JAIL_NAME
            and procs.get(p["ppid"], {}).get("name") == DAEMON_NAME
            and any(q["ppid"] == pid and q["name"] == IDLE_INIT_NAME for q in procs.values()))


FORK_CHILD_NAME = "pysandbox-fork"	# a fork server's child (fork_server.py), which forks the run's init and leaves
FORK_READY_NAME = "pysandbox-ready"	# a fork standby's program, jailed, waiting for its run


def is_fork_server(pid, procs):
    """pid is a stack's fork server (fork_server): its jail (`pysandbox-jail [--config F] forkserver`, the
    master's child) or the interpreter that jail started, which live as long as their stack, or a part of a
    fork standby's tree below it still waiting for its run: the server's child (until it leaves), the run's
    init (the server's child then), the program (named pysandbox-ready until its run comes)."""
    def outer(q):
        p = procs.get(q)
        return (p is not None and p["name"] == JAIL_NAME and p["cmdline"][:1] == [JAIL_NAME]
                and p["cmdline"][-1:] == ["forkserver"] and procs.get(p["ppid"], {}).get("name") == DAEMON_NAME)
    def server(q):
        p = procs.get(q)
        return p is not None and p["name"].startswith("python") and outer(p["ppid"])
    idle_names = (FORK_CHILD_NAME, INIT_NAME, FORK_READY_NAME)

    def idle_below(q, depth=0):	# q and everything below it is a standby's part, no run's program yet
        kids = [k for k, v in procs.items() if v["ppid"] == q]
        return procs[q]["name"] in idle_names and depth < 3 and all(idle_below(k, depth + 1) for k in kids)
    p = procs.get(pid)
    if p is None:
        return False
    if outer(pid) or server(pid):
        return True
    chain = [pid] + ancestors(pid, procs)
    for i, q in enumerate(chain[:3]):	# the top of the tree below the server: pid or one of its two parents
        if i + 1 < len(chain) and server(chain[i + 1]) and procs[q]["name"] in (FORK_CHILD_NAME, INIT_NAME):
            return idle_below(q)
    return False


def is_standby_part(pid, procs):
    """pid is an idle standby, or its init or its program's waiting process, or a fork server."""
    p = procs.get(pid)
    if p is None:
        return False
    if is_fork_server(pid, procs):
        return True
    if p["name"] == IDLE_INIT_NAME:
        return is_idle_standby(p["ppid"], procs)
    if ((p["name"] == PROG_NAME or p["name"].startswith("python")) and
            procs.get(p["ppid"], {}).get("name") == IDLE_INIT_NAME):	# (a warm standby's: its interpreter)
        return is_idle_standby(procs[p["ppid"]]["ppid"], procs)
    return is_idle_standby(pid, procs)


def standby_program(pid, procs):
    """The waiting program process of the idle standby pid, or None."""
    inits = [q for q, v in procs.items() if v["ppid"] == pid and v["name"] == IDLE_INIT_NAME]
    progs = [q for q, v in procs.items() if inits and v["ppid"] == inits[0] and v["name"] == PROG_NAME]
    return progs[0] if progs else None


def standby_jails(service, procs=None):
    """worker pid -> [its idle standby jails' pids], for every worker of the stack."""
    procs = procs if procs is not None else processes()
    stack = stack_pids(service, procs)
    master = [pid for pid in stack if procs[pid]["name"] == DAEMON_NAME and procs[pid]["ppid"] == service.proc.pid]
    workers = [pid for pid in stack if procs[pid]["name"] == DAEMON_NAME and master and procs[pid]["ppid"] == master[0]
               and procs[pid]["cmdline"][:1] == procs[master[0]]["cmdline"][:1]]
    return {w: sorted(pid for pid in stack if procs[pid]["ppid"] == w and is_idle_standby(pid, procs)) for w in workers}


def cgroup_dirs(prefix="pysandbox-"):
    """Every cgroup directory named prefix* on the host, in every hierarchy, v1 or v2."""
    found = set()
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        found.update(os.path.join(dirpath, d) for d in dirnames if d.startswith(prefix))
    return found


def cgroups_named(name):
    """Every cgroup directory called exactly name (one per v1 hierarchy, or one in v2)."""
    return {d for d in cgroup_dirs(name) if os.path.basename(d) == name}


def own_cgroup_dirs(pid):
    """The cgroup directories pid is in, one per hierarchy (as /proc/PID/cgroup and the mounts say)."""
    dirs = set()
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers == "":
                mount = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "/sys/fs/cgroup/unified"
            else:
                mount = "/sys/fs/cgroup/" + controllers.split(",")[0].replace("name=", "")
            dirs.add(os.path.normpath(mount + path))
    return dirs
