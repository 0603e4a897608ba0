"""sabotage.py: make sabotage: in a test-only build whose jail can switch each isolation mechanism off, the hostile
tests that cover a mechanism must fail once it is off (while a plain run still works), or they prove nothing."""
import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import hostinspect  # noqa: E402

# Each switch (src/jail/fail.c, sabotaged()) and the tests that must notice it.
COVER = {
    "root": ["test_hostile_files.py::test_host_secrets_unreadable"],
    "pid": ["test_hostile_processes.py::test_daemonised_children_die_with_the_run",
            "test_hostile_processes.py::test_kill_attempts_stay_inside"],
    "ipc": ["test_hostile_files.py::test_tmp_shm_and_ipc_do_not_persist"],
    "uts": ["test_hostile_files.py::test_proc_sys_and_trigger_writes_fail"],
    "net": ["test_hostile_network.py::test_network_isolated_but_loopback_works",
            "test_network.py::test_a_run_without_network_reaches_only_its_own_loopback"],
    "uid": ["test_hostile_processes.py::test_concurrent_runs_isolated", "test_hostile_processes.py::test_kill_attempts_stay_inside"],
    "seccomp": ["test_hostile_processes.py::test_no_user_namespaces", "test_side_channels.py"],
    "memory": ["test_hostile_limits.py::test_huge_allocation_hits_memory_limit",
               "test_supervisor.py::test_the_runs_cgroups_carry_its_limits"],
    "pids": ["test_supervisor.py::test_the_runs_cgroups_carry_its_limits"],
    "cpu": ["test_supervisor.py::test_the_runs_cgroups_carry_its_limits"],
    # The fork path (run with PYSANDBOX_FORK=1): a fork server's child that skips its seccomp filter; the jail's
    # check of it before go (forkrun.c) must fail every plain run closed (forkseccomp: the plain run fails too),
    # and with the check off as well (forkcheck) the hostile tests must notice the missing filter.
    "forkseccomp": ["test_fork.py::test_a_plain_run_is_forked"],
    # ... and a child that keeps what the check looks for: a shared mapping, an open pipe, a socket of its own,
    # init's capabilities, or the child itself in the server's pid namespace (each fails every plain run closed).
    "forkshare": ["test_fork.py::test_a_plain_run_is_forked"],
    "forkfd": ["test_fork.py::test_a_plain_run_is_forked"],
    "forksock": ["test_fork.py::test_a_plain_run_is_forked"],
    "forkcaps": ["test_fork.py::test_a_plain_run_is_forked"],
    "forkstay": ["test_fork.py::test_a_plain_run_is_forked"],
    # A fork server without its own filter (the jail then runs every run cold).
    "forkserver": ["test_fork.py::test_the_fork_server_and_its_runs_hold_their_filters"],
    "forkcheck": ["test_hostile_processes.py::test_no_user_namespaces", "test_side_channels.py"],
    "buildnet": ["test_network.py::test_a_build_installs_from_an_index_on_the_internet_and_reaches_nothing_of_the_host",
                 "test_network.py::test_a_run_with_network_reaches_the_internet_and_nothing_of_the_host"],
}
CONTROL = "test_smoke.py::test_hello_world"
FAILS_CLOSED = {"forkseccomp", "forkshare", "forkfd", "forksock", "forkcaps", "forkstay"}	# switches whose sabotage every run must fail on: the plain run too
POOL_UIDS = range(60000, 61064)	# the default pool and the hostile-build module's (61000..)


def build(srcdir, builddir):
    """The sabotage build, in builddir/sabotage-build (configure --enable-sabotage)."""
    sab = os.path.join(builddir, "sabotage-build")
    os.makedirs(sab, exist_ok=True)
    if not os.path.exists(os.path.join(sab, "Makefile")):
        subprocess.run([os.path.join(srcdir, "configure"), "-q", "--enable-sabotage", "CFLAGS=-O2 -g"], cwd=sab,
                       check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["make", f"-j{os.cpu_count() or 2}", "src/pysandboxd", "src/pysandbox-jail"], cwd=sab, check=True,
                   stdout=subprocess.DEVNULL)
    return sab


def pytest(srcdir, sab, switch, nodes, junit):
    here = os.path.join(srcdir, "tests", "integration")
    env = dict(os.environ, top_srcdir=srcdir, top_builddir=sab, PYSANDBOX_SABOTAGE=switch)
    if switch.startswith("fork"):
        env["PYSANDBOX_FORK"] = "1"
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:tmpdir", "-q", f"--junitxml={junit}"]
                   + [os.path.join(here, n) for n in nodes], env=env, cwd=here,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.py::{case.get('name')}"
        failed = case.find("failure") is not None or case.find("error") is not None
        results[name] = "skipped" if case.find("skipped") is not None else ("failed" if failed else "passed")
    return results


def clean_up():
    """What a sabotaged run can leave on the host: processes of the pool's uids (no pid namespace), System V IPC
    objects (no ipc namespace). Ended or removed by id; the stacks themselves stopped with their tests."""
    import signal
    procs = hostinspect.processes()
    for pid, p in procs.items():
        # Escaped ones only: a run in flight under some stack's live jail is that stack's.
        if any(u in POOL_UIDS for u in p["uids"]) and not hostinspect.under_live_jail(pid, procs):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for kind, flag in (("shm", "-m"), ("msg", "-q"), ("sem", "-s")):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            # "key id perms ...": the owner's uid is column 7 (shm, msg) or 4 (sem); the pool's only
            uid_col = {"shm": 7, "sem": 4, "msg": 7}[kind]
            if len(cols) > uid_col and int(cols[uid_col]) in POOL_UIDS:
                subprocess.run(["ipcrm", flag, cols[1]], stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("switches", nargs="*", help=f"default: all of {' '.join(COVER)}")
    a = ap.parse_args()
    switches = a.switches or list(COVER)
    unknown = [s for s in switches if s not in COVER]
    if unknown:
        ap.error(f"unknown switch {unknown}; known: {' '.join(COVER)}")
    srcdir, builddir = os.path.abspath(a.srcdir), os.path.abspath(a.builddir)
    sab = build(srcdir, builddir)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="pysandbox-sabotage.") as tmp:
        for n, switch in enumerate(switches):
            try:
                res = pytest(srcdir, sab, switch, [CONTROL] + COVER[switch], os.path.join(tmp, f"{n}.xml"))
            finally:
                clean_up()
            control = res.pop(CONTROL, "missing")
            caught = sorted(k for k, v in res.items() if v == "failed")
            good = control == ("failed" if switch in FAILS_CLOSED else "passed") and bool(caught)
            passed, failed = passed + good, failed + (not good)
            print(f"{'ok' if good else 'not ok'} - sabotage {switch}: {len(caught)} of {len(res)} covering tests failed"
                  f"{': ' + ', '.join(caught) if caught else ''} (a plain run: {control})", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
