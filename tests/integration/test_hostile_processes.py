"""test_hostile_processes.py: hostile programs against process isolation: daemons, signals, privileges, syscalls."""
import os
import secrets
import threading
import time

import pytest

import attack
import hostinspect
from attack import (RUN_ENV, assert_no_leftovers, assert_no_run_processes, assert_serving, brief, carriers,
                    concurrently, last_json, run, token)

pool_uids = attack.pool_uids	# the shared fixture

# What the jail's environment may hold (jail.c, exec_program); nothing from the service's own environment.
ALLOWED_ENV = set(RUN_ENV)


# ---- processes that try to outlive the run ------------------------------------------------------------------

def test_daemonised_children_die_with_the_run(service, pool_uids):
    token = f"{secrets.randbelow(10**6):06d}"
    marker = f"pysandbox-daemon-{token}"
    r, elapsed = run(service, f'''
        import subprocess, time
        DN = subprocess.DEVNULL
        subprocess.Popen(["sleep", "60.{token}"], start_new_session=True, stdin=DN, stdout=DN, stderr=DN)
        subprocess.Popen(["sh", "-c", "while :; do echo x >> /tmp/{marker}; sleep 0.1; done", "sh", "{token}"],
                         start_new_session=True, stdin=DN, stdout=DN, stderr=DN)
        pid = os.fork()
        if pid == 0:	# the classic double fork into a new session
            os.setsid()
            if os.fork() == 0:
                for fd in (0, 1, 2):
                    os.close(fd)
                while True:
                    with open("/dev/shm/{marker}", "a") as f:
                        f.write("y")
                    time.sleep(0.1)
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.6)
        print(json.dumps({{
            "tmp_marker": os.path.getsize("/tmp/{marker}") > 0,
            "shm_marker": os.path.getsize("/dev/shm/{marker}") > 0,
            "visible_pids": len([p for p in os.listdir("/proc") if p.isdigit()]),
        }}))
    ''')
    assert r["status"] == "ok" and r["success"] is True, r
    # The daemons were really running: the main program, sleep, sh (+ its sleep) and the python daemon.
    assert last_json(r)["tmp_marker"] is True and last_json(r)["shm_marker"] is True
    assert last_json(r)["visible_pids"] >= 4
    assert elapsed < 10
    assert_no_run_processes(service, pool_uids, token=f"60.{token}")
    assert_no_run_processes(service, pool_uids, token=marker)

    r2, _ = run(service, f'''
        import time
        time.sleep(0.3)
        print(json.dumps({{
            "tmp_marker": os.path.exists("/tmp/{marker}"),
            "shm_marker": os.path.exists("/dev/shm/{marker}"),
            "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        }}))
    ''')
    assert r2["status"] == "ok", r2
    assert last_json(r2) == {"tmp_marker": False, "shm_marker": False, "pids": ["2"]}
    assert_serving(service)


def test_child_holding_stdout_does_not_stall(service, pool_uids):
    token = f"{secrets.randbelow(10**6):06d}"
    r, elapsed = run(service, f'''
        import subprocess
        subprocess.Popen(["sleep", "60.{token}"])	# inherits stdout and stderr
        print("main done")
    ''', timeout=30)
    assert elapsed < 10, elapsed
    assert (r["success"], r["status"], r["stdout"], r["exit_code"]) == (True, "ok", "main done\n", 0), r
    assert_no_run_processes(service, pool_uids, token=f"60.{token}")
    assert_serving(service)


def test_fork_then_exit_answers_at_once(service, pool_uids):
    # dify-sandbox's TestSysFork (print(os.fork())), then a forked child that outlives the program while
    # holding stdout and stderr: the answer comes back as soon as the program exits.
    tok = token()
    r, elapsed = run(service, f'''
        import time
        pid = os.fork()
        os.write(1, f"{{pid}}\\n".encode())	# one write each, so the two processes' lines do not interleave
        os.write(1, b"123\\n")
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        if os.fork() == 0:
            os.setsid()
            os.execvp("sleep", ["sleep", "60.{tok}"])
        time.sleep(0.2)
        print("parent exits", flush=True)
    ''', timeout=30)
    assert (r["success"], r["status"], r["exit_code"]) == (True, "ok", 0), brief(r)
    lines = r["stdout"].splitlines()
    assert sorted(lines[:4]) == ["0", "123", "123", "3"] and lines[4:] == ["parent exits"], lines
    assert r["execution_time"] < 1.5 and elapsed < 3, (r["execution_time"], elapsed)
    assert_no_leftovers(service, pool_uids, token="60." + tok)
    assert_serving(service)


# ---- the process table, signals, concurrent runs ------------------------------------------------------------

def test_process_table_shows_only_the_run(service, pool_uids):
    # codejail-service's test_deny_list_proc and test_deny_exec_ps: a concurrent run with many processes
    # is running meanwhile; this run sees itself and its own children, never init or the neighbour.
    tok = token()
    neighbour = {}

    def busy():
        neighbour["r"] = run(service, f'''
            import subprocess, time
            kids = [subprocess.Popen(["sleep", "30.{tok}"]) for _ in range(10)]
            time.sleep(2)
            print(len([p for p in os.listdir("/proc") if p.isdigit()]))
            for k in kids:
                k.kill()
        ''')[0]

    t = threading.Thread(target=busy)
    t.start()
    deadline = time.monotonic() + 5
    while len(carriers("30." + tok)) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(carriers("30." + tok)) == 10
    r, _ = run(service, '''
        import subprocess
        kids = [subprocess.Popen(["sleep", "30"]) for _ in range(3)]
        ps = subprocess.run(["ps", "-e", "-o", "pid="], capture_output=True, text=True).stdout.split()
        print(json.dumps({
            "proc": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "kids": sorted(k.pid for k in kids), "ps": sorted(int(p) for p in ps),
            "init": {n: attempt(open, "/proc/1/" + n) for n in ("cmdline", "status", "environ", "stat")},
            "init_exists": os.path.exists("/proc/1"),
            "ppid": os.getppid(), "sid": os.getsid(0) == os.getpid(), "pgid": os.getpgid(0) == os.getpid(),
        }))
        for k in kids:
            k.kill()
    ''')
    t.join(timeout=30)
    assert r["status"] == "ok", brief(r)
    out = last_json(r)
    kids = out.pop("kids")
    assert kids == [3, 4, 5]
    ps = out.pop("ps")
    assert ps[:4] == [2, 3, 4, 5] and len(ps) == 5	# and ps itself
    assert out == {
        "proc": [2, 3, 4, 5],
        "init": {n: "FileNotFoundError:ENOENT" for n in ("cmdline", "status", "environ", "stat")},
        "init_exists": False, "ppid": 1, "sid": True, "pgid": True,
    }
    assert neighbour["r"]["status"] == "ok" and neighbour["r"]["stdout"] == "11\n", brief(neighbour["r"])
    assert_no_leftovers(service, pool_uids, token="30." + tok)
    assert_serving(service)


def stack_host_pids(service):
    return sorted(pid for pid in hostinspect.stack_pids(service) if pid > 100)


@pytest.mark.parametrize("case", ["parent", "everyone", "init", "host_pids"])
def test_kill_attempts_stay_inside(service, pool_uids, case):
    token = f"{secrets.randbelow(10**6):06d}"
    if case == "parent":
        code = 'print(json.dumps({"ppid": os.getppid(), "kill": attempt(os.kill, os.getppid(), 9)}))'
        expected = {"ppid": 1, "kill": "PermissionError:EPERM"}
    elif case == "everyone":
        code = f'''
            import subprocess
            child = subprocess.Popen(["sleep", "60.{token}"])
            result = attempt(os.kill, -1, 9)
            print(json.dumps({{"kill": result, "child": child.wait(), "me": "alive"}}))
        '''
        expected = {"kill": "ok", "child": -9, "me": "alive"}
    elif case == "init":
        code = '''
            print(json.dumps({"kill9": attempt(os.kill, 1, 9), "term": attempt(os.kill, 1, 15),
                              "stop": attempt(os.kill, 1, 19), "ppid_after": os.getppid()}))
        '''
        expected = {"kill9": "PermissionError:EPERM", "term": "PermissionError:EPERM",
                    "stop": "PermissionError:EPERM", "ppid_after": 1}
    else:
        pids = stack_host_pids(service)
        assert len(pids) >= 4	# devserver, pysandboxd master and workers, nginx
        code = f'print(json.dumps(sorted(set(attempt(os.kill, p, 9) for p in {pids!r}))))'
        expected = ["ProcessLookupError:ESRCH"]
    r, _ = run(service, code)
    assert r["status"] == "ok", r
    assert last_json(r) == expected
    assert_no_run_processes(service, pool_uids, token=f"60.{token}")
    assert_serving(service)


def test_kill_everyone_spares_a_concurrent_run(service, pool_uids):
    tok = token()

    def neighbour():
        return run(service, f'''
            import subprocess, time
            child = subprocess.Popen(["sleep", "30.{tok}"])
            time.sleep(2)
            print(json.dumps({{"child": child.poll(), "me": "alive"}}))
            child.kill()
        ''')[0]

    def killer():
        deadline = time.monotonic() + 5
        while not carriers("30." + tok) and time.monotonic() < deadline:
            time.sleep(0.05)
        return run(service, '''
            import signal
            print(json.dumps({s: attempt(os.kill, -1, getattr(signal, s)) for s in ("SIGKILL", "SIGTERM", "SIGSTOP")}
                             | {"pgrp": attempt(os.killpg, 1, 9), "me": "alive"}))
        ''')[0]

    a, b = concurrently(neighbour, killer)
    assert a["status"] == "ok" and last_json(a) == {"child": None, "me": "alive"}, brief(a)
    # Nothing in the killer's namespace but itself and init (never signalled by kill(-1)).
    assert b["status"] == "ok" and last_json(b) == {"SIGKILL": "ProcessLookupError:ESRCH",
                                                    "SIGTERM": "ProcessLookupError:ESRCH",
                                                    "SIGSTOP": "ProcessLookupError:ESRCH",
                                                    "pgrp": "ProcessLookupError:ESRCH", "me": "alive"}, brief(b)
    assert_no_leftovers(service, pool_uids, token="30." + tok)
    assert_serving(service)


def test_kill_of_another_runs_pids_fails(service, pool_uids):
    # The victim's host pids are found from the host (as a guessing attacker would hope to) and handed to a
    # concurrent run of another uid: its own pid namespace has no such pids.
    tok = token()
    result = {}

    def victim():
        result["a"] = run(service, f'''
            import subprocess, time
            child = subprocess.Popen(["sleep", "30.{tok}"])
            time.sleep(2.5)
            print(json.dumps({{"child": child.poll(), "uid": os.getuid()}}))
            child.kill()
        ''')[0]

    t = threading.Thread(target=victim)
    t.start()
    deadline = time.monotonic() + 5
    while not carriers("30." + tok) and time.monotonic() < deadline:
        time.sleep(0.05)
    procs = hostinspect.processes()
    sleeper = [pid for pid, p in procs.items() if any(("30." + tok) in a for a in p["cmdline"])]
    assert len(sleeper) == 1
    targets = [sleeper[0], procs[sleeper[0]]["ppid"]]	# the sleep and the victim program itself
    assert procs[targets[1]]["uids"][0] in pool_uids
    b, _ = run(service, f'''
        out = {{"host_pids": sorted(set(attempt(os.kill, p, sig) for p in {targets!r} for sig in (9, 15, 19, 0))),
               "guessed": sorted(set(attempt(os.kill, p, 9) for p in range(3, 4096))),
               "init": attempt(os.kill, 1, 9), "uid": os.getuid()}}
        print(json.dumps(out))
    ''')
    t.join(timeout=30)
    a = result["a"]
    assert a["status"] == "ok" and b["status"] == "ok", (brief(a), brief(b))
    out_a, out_b = last_json(a), last_json(b)
    assert out_a["child"] is None and out_a["uid"] != out_b["uid"]
    assert {k: v for k, v in out_b.items() if k != "uid"} == {
        "host_pids": ["ProcessLookupError:ESRCH"], "guessed": ["ProcessLookupError:ESRCH"],
        "init": "PermissionError:EPERM"}
    assert_no_leftovers(service, pool_uids, token="30." + tok)
    assert_serving(service)


def test_concurrent_runs_isolated(service):
    names = [f"pysandbox-conc-{secrets.token_hex(6)}" for _ in range(2)]
    results = [None, None]

    def one(i):
        me, other = names[i], names[1 - i]
        results[i] = run(service, f'''
            import time
            start = time.time()
            for d in ("/work", "/tmp", "/dev/shm"):
                with open(f"{{d}}/{me}", "w") as f:
                    f.write("{me}")
            time.sleep(1.5)
            print(json.dumps({{
                "uid": os.getuid(), "start": start, "end": time.time(),
                "other": [attempt(open, f"{{d}}/{other}") for d in ("/work", "/tmp", "/dev/shm")],
                "listing": sorted(os.listdir("/work") + os.listdir("/tmp") + os.listdir("/dev/shm")),
                "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
            }}))
        ''')[0]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(r is not None and r["status"] == "ok" for r in results), results
    a, b = (last_json(r) for r in results)
    assert max(a["start"], b["start"]) < min(a["end"], b["end"]), "the two runs did not overlap"
    assert a["uid"] != b["uid"]
    for out, me in ((a, names[0]), (b, names[1])):
        assert out["other"] == ["FileNotFoundError:ENOENT"] * 3
        assert out["listing"] == sorted(["main.py", me, me, me])
        assert out["pids"] == ["2"]
    assert_serving(service)


# ---- privileges and escape primitives -----------------------------------------------------------------------

def test_escape_primitives_fail(service):
    host_env_values = [os.environ.get(k, "") for k in ("top_srcdir", "top_builddir", "PATH")]
    r, _ = run(service, '''
        import ctypes, stat
        libc = ctypes.CDLL(None, use_errno=True)
        def c_call(name, *args):
            def f():
                if getattr(libc, name)(*args) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, os.strerror(e))
            return attempt(f)
        def read(p):
            with open(p, "rb") as f:
                f.read()
        status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)
        print(json.dumps({
            "link_python": attempt(os.link, "/usr/bin/python3", "x"),
            "link_passwd": attempt(os.link, "/etc/passwd", "y"),
            "mknod_char": attempt(os.mknod, "mem", 0o600 | stat.S_IFCHR, os.makedev(1, 1)),
            "mknod_block": attempt(os.mknod, "disk", 0o600 | stat.S_IFBLK, os.makedev(8, 0)),
            "mount": c_call("mount", b"tmpfs", b"/tmp", b"tmpfs", 0, None),
            "bind_mount": c_call("mount", b"/", b"/work", None, 4096, None),
            "umount_usr": c_call("umount2", b"/usr", 2),
            "chroot": attempt(os.chroot, "/tmp"),
            "setuid0": attempt(os.setuid, 0),
            "setgid0": attempt(os.setgid, 0),
            "proc1_root": attempt(os.listdir, "/proc/1/root"),
            "proc1_environ": attempt(read, "/proc/1/environ"),
            "proc1_via_self": attempt(os.listdir, "/proc/self/../1"),
            "proc1_cwd": attempt(os.listdir, "/proc/1/cwd"),
            "status_fd": attempt(os.fstat, 3),
            "input_fd": attempt(os.fstat, 4),
            "no_new_privs": status["NoNewPrivs"].strip(),
            "cap_eff": status["CapEff"].strip(),
            "cap_prm": status["CapPrm"].strip(),
            "cap_bnd": status["CapBnd"].strip(),
            "env": dict(os.environ),
        }))
    ''')
    assert r["status"] == "ok", r
    out = last_json(r)
    env = out.pop("env")
    assert out == {
        "link_python": "OSError:EXDEV",
        "link_passwd": "OSError:EXDEV",
        "mknod_char": "PermissionError:EPERM",
        "mknod_block": "PermissionError:EPERM",
        "mount": "PermissionError:EPERM",
        "bind_mount": "PermissionError:EPERM",
        "umount_usr": "PermissionError:EPERM",
        "chroot": "PermissionError:EPERM",
        "setuid0": attack.TO_UID0,
        "setgid0": attack.TO_UID0,
        "proc1_root": "FileNotFoundError:ENOENT",
        "proc1_environ": "FileNotFoundError:ENOENT",
        "proc1_via_self": "FileNotFoundError:ENOENT",
        "proc1_cwd": "FileNotFoundError:ENOENT",
        "status_fd": "OSError:EBADF",
        "input_fd": "OSError:EBADF",
        "no_new_privs": "1",
        "cap_eff": "0000000000000000",
        "cap_prm": "0000000000000000",
        "cap_bnd": "0000000000000000",
    }
    assert set(env) <= ALLOWED_ENV, set(env) - ALLOWED_ENV
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin" and env["HOME"] == "/work"
    for k in ("top_srcdir", "top_builddir", "NGINX", "STATE_DIR", "PORT", "PYSANDBOX_EXTRA_CONF", "TAP_FILE",
              "MAX_EXECUTION_TIME", "LOG_LEVEL", "PYTHONPATH"):
        assert k not in env
    for v in host_env_values:
        if v:
            assert v not in env.values()
    assert not any(service.state in v or "pysandbox-run" in v for v in env.values())
    assert_serving(service)


def test_privileges_and_limits_cannot_be_raised(service):
    # codejail: os.setuid(0), os.nice, resource.setrlimit raising limits.
    r, _ = run(service, '''
        import resource
        def write(p, data):
            fd = os.open(p, os.O_WRONLY)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        names = ["RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE",
                 "RLIMIT_STACK", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO"]
        before = {n: resource.getrlimit(getattr(resource, n)) for n in names}
        raise_hard = {n: attempt(resource.setrlimit, getattr(resource, n), (h + 1, h + 1)) for n, (s, h) in before.items()}
        raise_inf = {n: attempt(resource.setrlimit, getattr(resource, n), (-1, -1)) for n in names}
        after = {n: resource.getrlimit(getattr(resource, n)) for n in names}
        print(json.dumps({
            "setuid0": attempt(os.setuid, 0), "seteuid0": attempt(os.seteuid, 0),
            "setresuid0": attempt(os.setresuid, 0, 0, 0), "setreuid0": attempt(os.setreuid, 0, 0),
            "setgroups0": attempt(os.setgroups, [0]),
            "nice_up": attempt(os.nice, -1), "nice_down": os.nice(3),
            "renice_init": attempt(os.setpriority, os.PRIO_PROCESS, 1, 19),
            "fifo_sched": attempt(os.sched_setscheduler, 0, os.SCHED_FIFO, os.sched_param(10)),
            "prlimit_init": attempt(resource.prlimit, 1, resource.RLIMIT_NOFILE),
            "oom_protect": attempt(write, "/proc/self/oom_score_adj", b"-1000"),
            "oom_sacrifice": attempt(write, "/proc/self/oom_score_adj", b"500"),
            "raise_hard": raise_hard, "raise_inf": raise_inf, "unchanged": after == before,
            "lower": attempt(resource.setrlimit, resource.RLIMIT_NOFILE, (100, 100)),
            "lowered": resource.getrlimit(resource.RLIMIT_NOFILE),
            "raise_back": attempt(resource.setrlimit, resource.RLIMIT_NOFILE, (256, 256)),
            "uids": os.getresuid(), "caps": [l for l in open("/proc/self/status") if l.startswith("CapEff")],
        }))
    ''')
    assert r["status"] == "ok", brief(r)
    out = last_json(r)
    uid = out.pop("uids")
    assert uid == [uid[0]] * 3 and uid[0] in hostinspect.uid_range(service)
    names = ["RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE",
             "RLIMIT_STACK", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO"]
    assert out == {
        "setuid0": attack.TO_UID0, "seteuid0": attack.TO_UID0,
        "setresuid0": attack.TO_UID0, "setreuid0": attack.TO_UID0,
        "setgroups0": "PermissionError:EPERM",
        "nice_up": "PermissionError:EPERM", "nice_down": 3,
        "renice_init": "PermissionError:EPERM",
        "fifo_sched": "PermissionError:EPERM",
        "prlimit_init": "PermissionError:EPERM",
        "oom_protect": "PermissionError:EACCES",
        "oom_sacrifice": "ok",
        # Python turns setrlimit's EPERM into ValueError("not allowed to raise maximum limit").
        "raise_hard": {n: "ValueError" for n in names}, "raise_inf": {n: "ValueError" for n in names},
        "unchanged": True,
        "lower": "ok", "lowered": [100, 100], "raise_back": "ValueError",
        "caps": ["CapEff:\t0000000000000000\n"],
    }
    assert_serving(service)


def test_no_user_namespaces(service):
    # With a user namespace the program holds every capability over its own namespaces (mount, netns,
    # ...): the kernel surface the jail otherwise keeps shut. The jail must refuse it (seccomp).
    r, _ = run(service, '''
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        def c_call(name, *args):
            def f():
                if getattr(libc, name)(*args) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, os.strerror(e))
            return attempt(f)
        CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET = 0x10000000, 0x00020000, 0x40000000
        out = {"unshare_net": c_call("unshare", CLONE_NEWNET),
               "unshare_user": c_call("unshare", CLONE_NEWUSER | CLONE_NEWNS)}
        out["mount_after"] = c_call("mount", b"tmpfs", b"/tmp", b"tmpfs", 0, None)
        print(json.dumps(out))
    ''')
    assert r["status"] == "ok", r
    out = last_json(r)
    assert out["unshare_net"] == "PermissionError:EPERM"	# no CAP_SYS_ADMIN: refused today
    # Refused outright: EPERM from a seccomp filter, or ENOSPC from max_user_namespaces = 0.
    assert out["unshare_user"] in ("PermissionError:EPERM", "OSError:ENOSPC"), out
    assert out["mount_after"] == "PermissionError:EPERM", out
    assert_serving(service)


# ---- system calls: mounts, namespaces, debugging, kernel interfaces, personality ----------------------------

def test_mount_calls_denied(service):
    r, _ = run(service, '''
        def mount(src, dst, fstype, flags, data=None):
            if libc.mount(src, dst, fstype, ctypes.c_ulong(flags), data) != 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
        MS_REMOUNT, MS_BIND = 32, 4096
        s_proc, s_work, s_tmpfs, s_root, s_usr = (ctypes.create_string_buffer(x) for x in
                                                 (b"/proc", b"/work", b"tmpfs", b"/", b"/usr"))
        a = ctypes.addressof
        print(json.dumps({
            "proc": attempt(mount, b"proc", b"/tmp", b"proc", 0),
            "tmpfs_work": attempt(mount, b"tmpfs", b"/work", b"tmpfs", 0, b"size=1g"),
            "remount_root_rw": attempt(mount, None, b"/", None, MS_REMOUNT | MS_BIND),
            "remount_usr_rw": attempt(mount, None, b"/usr", None, MS_REMOUNT | MS_BIND),
            "sysfs": attempt(mount, b"sysfs", b"/tmp", b"sysfs", 0),
            "cgroup": attempt(mount, b"cgroup", b"/tmp", b"cgroup", 0, b"memory"),
            "umount_proc": sc(166, a(s_proc), 2),
            "umount_work": sc(166, a(s_work), 0),
            "pivot_root": sc(155, a(s_work), a(s_work)),
            "fsopen": sc(430, a(s_tmpfs), 0),
            "fspick": sc(433, -100, a(s_root), 0),
            "fsconfig": sc(431, 0, 0, 0, 0, 0), "fsmount": sc(432, 0, 0, 0),
            "open_tree": sc(428, -100, a(s_usr), 1),
            "move_mount": sc(429, 0, 0, 0, 0, 0), "mount_setattr": sc(442, 0, 0, 0, 0, 0),
            "mounts": open("/proc/self/mountinfo").read().count("\\n"),
        }))
    ''')
    assert r["status"] == "ok", brief(r)
    out = last_json(r)
    before = out.pop("mounts")
    denied = {k: "PermissionError:EPERM" for k in ("proc", "tmpfs_work", "remount_root_rw", "remount_usr_rw", "sysfs",
                                                   "cgroup")}
    denied |= {k: "EPERM" for k in ("umount_proc", "umount_work", "pivot_root", "fsopen", "fspick", "fsconfig",
                                    "fsmount", "open_tree", "move_mount", "mount_setattr")}
    assert out == denied
    assert before >= 10
    assert_serving(service)


def test_namespace_calls_denied(service):
    r, _ = run(service, '''
        flags = {"NEWNS": 0x20000, "NEWPID": 0x20000000, "NEWNET": 0x40000000, "NEWUTS": 0x4000000,
                 "NEWIPC": 0x8000000, "NEWUSER": 0x10000000, "NEWCGROUP": 0x2000000, "NEWTIME": 0x80}
        out = {"unshare": {n: sc(272, f) for n, f in flags.items()}}
        out["clone"] = {}
        for n, f in flags.items():
            if n == "NEWTIME":
                continue	# clone(2) has no CLONE_NEWTIME (its bit is in the exit-signal byte)
            r = sc(56, f | 17, 0, 0, 0, 0)	# raw clone(flags | SIGCHLD): on success the child leaves at once
            if r == 0:
                os._exit(0)
            if isinstance(r, int):
                os.waitpid(r, 0)
            out["clone"][n] = r
        out["clone3"] = sc(435, 0, 0)
        out["setns"] = {}
        for ns in ("net", "mnt", "pid", "uts", "ipc", "cgroup", "time", "user"):
            fd = os.open("/proc/self/ns/" + ns, os.O_RDONLY)
            out["setns"][ns] = sc(308, fd, 0)
            os.close(fd)
        pid = os.fork()	# plain fork still works
        if pid == 0:
            os._exit(7)
        out["fork"] = os.waitpid(pid, 0)[1] >> 8
        print(json.dumps(out))
    ''')
    assert r["status"] == "ok", brief(r)
    assert last_json(r) == {
        "unshare": {n: "EPERM" for n in ("NEWNS", "NEWPID", "NEWNET", "NEWUTS", "NEWIPC", "NEWUSER", "NEWCGROUP",
                                         "NEWTIME")},
        "clone": {n: "EPERM" for n in ("NEWNS", "NEWPID", "NEWNET", "NEWUTS", "NEWIPC", "NEWUSER", "NEWCGROUP")},
        "clone3": "ENOSYS",	# so that glibc falls back to clone, which the filter can inspect
        "setns": {n: "EPERM" for n in ("net", "mnt", "pid", "uts", "ipc", "cgroup", "time", "user")},
        "fork": 7,
    }
    assert_serving(service)


def test_ptrace_and_process_memory_calls_denied(service, pool_uids):
    r, _ = run(service, '''
        import time
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        buf = ctypes.create_string_buffer(64)
        iov = (ctypes.c_long * 2)(ctypes.addressof(buf), 64)
        pidfd = sc(434, 1, 0)
        out = {
            "traceme": sc(101, 0, 0, 0, 0),
            "attach_init": sc(101, 16, 1, 0, 0),
            "attach_child": sc(101, 16, child, 0, 0),
            "seize_child": sc(101, 0x4206, child, 0, 0),
            "peek_child": sc(101, 1, child, 0, 0),
            "vm_readv_child": sc(310, child, ctypes.addressof(iov), 1, ctypes.addressof(iov), 1, 0),
            "vm_writev_child": sc(311, child, ctypes.addressof(iov), 1, ctypes.addressof(iov), 1, 0),
            "pidfd_init": isinstance(pidfd, int),
            "pidfd_getfd_init": sc(438, pidfd, 0, 0),
            "pidfd_kill_init": sc(424, pidfd, 9, 0, 0),
            "kcmp_init": sc(312, 1, os.getpid(), 0, 0, 0),
            "tracer": [l for l in open("/proc/self/status") if l.startswith("TracerPid")],
        }
        os.kill(child, 9)
        os.waitpid(child, 0)
        print(json.dumps(out))
    ''')
    assert r["status"] == "ok", brief(r)
    assert last_json(r) == {
        "traceme": "EPERM", "attach_init": "EPERM", "attach_child": "EPERM", "seize_child": "EPERM",
        "peek_child": "EPERM", "vm_readv_child": "EPERM", "vm_writev_child": "EPERM",
        "pidfd_init": True, "pidfd_getfd_init": "EPERM", "pidfd_kill_init": "EPERM", "kcmp_init": "EPERM",
        "tracer": ["TracerPid:\t0\n"],
    }
    assert_no_leftovers(service, pool_uids)
    assert_serving(service)


def test_personality_cannot_change(service):
    r, _ = run(service, '''
        import subprocess
        p = subprocess.run(["setarch", "x86_64", "-R", "true"], capture_output=True, text=True)
        print(json.dumps({
            "query": sc(135, 0xffffffff),
            "addr_no_randomize": sc(135, 0x0040000),
            "read_implies_exec": sc(135, 0x0400000),
            "addr_compat_layout": sc(135, 0x0200000),
            "linux32": sc(135, 0x0008),
            "mmap_page_zero": sc(135, 0x0100000),
            "query_after": sc(135, 0xffffffff),
            "setarch": [p.returncode, p.stderr],
        }))
    ''')
    assert r["status"] == "ok", brief(r)
    assert last_json(r) == {
        "query": 0, "addr_no_randomize": "EPERM", "read_implies_exec": "EPERM", "addr_compat_layout": "EPERM",
        "linux32": "EPERM", "mmap_page_zero": "EPERM", "query_after": 0,
        "setarch": [1, "setarch: failed to set personality to x86_64: Operation not permitted\n"],
    }
    assert_serving(service)


@pytest.mark.parametrize("group", ["kernel_interfaces", "machine_state"])
def test_dangerous_syscalls_denied(service, group):
    if group == "kernel_interfaces":	# keyrings, bpf, perf, io_uring, userfaultfd, file handles
        calls = {"keyctl": (250, 0, -3, 0), "add_key": (248, 0, 0, 0, 0, 0), "request_key": (249, 0, 0, 0, 0),
                 "bpf_prog_load": (321, 5, 0, 0), "bpf_map_create": (321, 0, 0, 0),
                 "perf_event_open": (298, 0, 0, -1, -1, 0), "userfaultfd": (323, 0),
                 "io_uring_setup": (425, 1, 0), "io_uring_enter": (426, 0, 0, 0, 0, 0, 0),
                 "io_uring_register": (427, 0, 0, 0, 0), "open_by_handle_at": (304, 0, 0, 0),
                 "name_to_handle_at": (303, 0, 0, 0, 0, 0), "lookup_dcookie": (212, 0, 0, 0)}
        expected = {k: ("ENOSYS" if k.startswith("io_uring") else "EPERM") for k in calls}
    else:	# the machine: reboot, swap, modules, kexec, clocks, accounting, quotas
        calls = {"reboot": (169, 0xfee1dead, 672274793, 0x4321fedc, 0), "swapon": (167, 0, 0), "swapoff": (168, 0),
                 "init_module": (175, 0, 0, 0), "finit_module": (313, 0, 0, 0), "delete_module": (176, 0, 0),
                 "kexec_load": (246, 0, 0, 0, 0), "kexec_file_load": (320, 0, 0, 0, 0, 0),
                 "settimeofday": (164, 0, 0), "clock_settime": (227, 0, 0), "adjtimex": (159, 0),
                 "clock_adjtime": (305, 0, 0), "acct": (163, 0), "quotactl": (179, 0, 0, 0, 0), "vhangup": (153,),
                 "uselib": (134, 0), "nfsservctl": (180, 0, 0, 0), "sethostname": (170, 0, 0),
                 "setdomainname": (171, 0, 0)}
        expected = {k: "EPERM" for k in calls}
    r, _ = run(service, f'''
        import time
        before = time.time()
        out = {{name: sc(*args) for name, args in {calls!r}.items()}}
        out["clock_sane"] = abs(time.time() - before) < 5
        print(json.dumps(out))
    ''')
    assert r["status"] == "ok", brief(r)
    assert last_json(r) == expected | {"clock_sane": True}
    assert_serving(service)


# ---- programs killed by a signal: other ABIs, a crash -------------------------------------------------------

def test_int80_32bit_syscall_kills_the_program(service):
    # The i386 ABI (int 0x80) has other syscall numbers: a deny-list must kill it (libseccomp's arch check).
    r, _ = run(service, '''
        import mmap
        m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        m.write(b"\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3")	# mov eax, 20 (i386 getpid); int 0x80; ret
        fn = ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
        print("calling", flush=True)
        print("returned", fn(), flush=True)
    ''')
    assert (r["success"], r["status"], r["signal"], r["exit_code"]) == (False, "killed", "SIGSYS", None), brief(r)
    assert r["error"] == "Killed by signal SIGSYS"
    assert r["stdout"] == "calling\n"
    assert_serving(service)


def test_x32_syscall_kills_the_program(service):
    # x32 syscall numbers (bit 30 set) share the x86-64 audit arch: a deny-list must not let them through.
    r, _ = run(service, '''
        print("calling", flush=True)
        print("returned", sc(0x40000000 | 272, 0x20000), flush=True)	# x32 unshare(CLONE_NEWNS)
    ''')
    assert (r["success"], r["status"], r["signal"]) == (False, "killed", "SIGSYS"), brief(r)
    assert r["stdout"] == "calling\n"
    assert_serving(service)


def test_crashing_cpython_is_reported(service):
    # codejail's test_crash_cpython: the interpreter dies by a signal; the output before it is kept.
    r, _ = run(service, '''
        print("Here we go...", flush=True)
        ctypes.string_at(0)
        print("The afterlife!")
    ''')
    assert (r["success"], r["status"], r["signal"], r["exit_code"]) == (False, "killed", "SIGSEGV", None), brief(r)
    assert r["error"] == "Killed by signal SIGSEGV"
    assert r["stdout"] == "Here we go...\n"
    assert_serving(service)
