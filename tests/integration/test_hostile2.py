"""test_hostile2.py: more hostile programs and setup scripts (ported from codejail, dify-sandbox, piston, isolate, nsjail)."""
import base64
import concurrent.futures
import json
import os
import re
import secrets
import socket
import textwrap
import threading
import time

import pytest

import hostinspect
from attack import PRELUDE, assert_serving, brief, last_json, run

# The program's whole environment (jail.c, exec_program: run_envp), values included.
RUN_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/work", "USER": "sandbox", "LOGNAME": "sandbox",
    "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp", "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
}
# A setup script's environment: build_envp, the venv's two, and what bash itself exports.
BUILD_ENV_NAMES = {
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_INPUT",
    "PYTHONUNBUFFERED", "MAKEFLAGS", "VIRTUAL_ENV", "PWD", "SHLVL", "_",
}
MiB = 1 << 20


# ---- helpers -----------------------------------------------------------------







def decoded(r):
    return {k: base64.b64decode(v, validate=True) for k, v in r["files"].items()}




@pytest.fixture(scope="module")
def pool_uids(service):
    return set(hostinspect.uid_range(service)) | set(hostinspect.UID_RANGE)


def leftovers(uids, owners):
    """Processes of the uid pool that either run under no jail at all (escaped) or still run under one of
    owners (stacks of ours with nothing in flight). Like hostinspect.run_leftovers, except that a jail some
    other session started outside a pysandboxd (a direct invocation) is not taken for an escape: the uid pool
    is shared by every stack on the host."""
    procs = hostinspect.processes()
    bad = []
    for pid, p in procs.items():
        if not any(u in uids for u in p["uids"]):
            continue
        jailed = hostinspect.JAIL_NAME in [procs[a]["name"] for a in hostinspect.ancestors(pid, procs)]
        if not jailed or any(hostinspect.descends_from(pid, o, procs) for o in owners):
            bad.append(hostinspect.describe(pid, procs))
    return bad


def wait_no_leftovers(uids, owners, timeout=2.0):
    deadline = time.monotonic() + timeout
    while (bad := leftovers(uids, owners)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bad


def assert_no_leftovers(service, uids, token=None):
    """No process of the uid pool escaped a jail or outlived a run of this stack; nothing carries token."""
    assert wait_no_leftovers(uids, [service.proc.pid]) == []
    if token:
        assert carriers(token) == []


def carriers(token):
    procs = hostinspect.processes()
    return [hostinspect.describe(pid, procs) for pid, p in procs.items()
            if pid != os.getpid() and any(token in a for a in p["cmdline"])]


def token():
    return f"{secrets.randbelow(10**8):08d}"


def concurrently(*calls):
    """Run the calls (functions of no argument) at once; return their results in order."""
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as ex:
        futures = [ex.submit(c) for c in calls]
        return [f.result(timeout=90) for f in futures]


# ---- hostile environments: built in the background from the start of the module ------------------------
#
# One stack of its own (its own uid pool, 61000.., so its builds never share a uid with the session stack's
# runs) with a short build_timeout, small build disks and a secret in its environment. The hostile setup
# scripts are submitted when the module starts and build while the run tests below go on (the fork bomb
# waits for the environment tests); those tests, at the end of the file, wait for their own build (bounded)
# and check it.

MAX_ENV_MB = 48
BUILD_TIMEOUT = 60	# six venvs made at once on two cores take 20 s and more, 40 s beside the browser tests
# (max_cpus 1: each build a core at most, so that the fork bomb does not starve the other five.)
BUILD_CONF = (f"[limits]\nmax_cpus = 1\n[environments]\nbuild_timeout = {BUILD_TIMEOUT}\nmax_builds = 6\nbuild_workdir_mb = 32\n"
              f"max_env_size = {MAX_ENV_MB}M\nbuild_processes = 64\n[jail]\nuid_base = 61000\n")
BUILD_WAIT = 150	# seconds: six builds on two CPUs; the fork bomb alone takes BUILD_TIMEOUT


def build_scripts(t, state):
    """The hostile setup scripts by kind; t is a token carried on the command lines of whatever they start."""
    return {
        # Reads what is not its own and reports: exits 0, so the build is ready.
        "reader": textwrap.dedent(f'''\
            python - <<'PY'
            import errno, json, os
            def attempt(f, *a):
                try:
                    f(*a)
                    return "ok"
                except OSError as e:
                    return f"{{type(e).__name__}}:{{errno.errorcode.get(e.errno, e.errno)}}"
            def read(p):
                with open(p, "rb") as f:
                    f.read()
            print("RESULT " + json.dumps({{
                "shadow": attempt(read, "/etc/shadow"),
                "gshadow": attempt(read, "/etc/gshadow"),
                "proc1_environ": attempt(read, "/proc/1/environ"),
                "state_db": attempt(read, {state + "/pysandbox.db"!r}),
                "state_dir": attempt(os.listdir, {state!r}),
                "host_var": attempt(os.listdir, "/var"),
                "root": sorted(os.listdir("/")),
                "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
                "uid": os.getuid(),
                "env": dict(os.environ),
                "passwd": open("/etc/passwd").read(),
            }}))
            PY
            echo "environ: $(tr '\\0' ' ' < /proc/self/environ)"
            '''),
        # Writes to the system tree; the last write fails, so the script exits 1 and the build fails.
        "writer": textwrap.dedent(f'''\
            for p in /usr/pwned-{t} /usr/bin/pwned-{t} /etc/pwned-{t} /pwned-{t} /dev/pwned-{t} /env/../pwned-{t}; do
                if touch "$p" 2>/dev/null; then echo "WROTE $p"; else echo "REFUSED $p"; fi
            done
            if echo pwned >> /etc/passwd 2>/dev/null; then echo "WROTE /etc/passwd"; else echo "REFUSED /etc/passwd"; fi
            if chmod 4755 /usr/bin/python3 2>/dev/null; then echo "WROTE chmod"; else echo "REFUSED chmod"; fi
            set -e
            touch /usr/lib/pwned-{t}
            echo "NOT REACHED"
            '''),
        # Starts daemons three ways, all writing into the environment, then exits 0: ready, and nothing lives on.
        "daemons": textwrap.dedent(f'''\
            setsid sleep 1000.{t} </dev/null >/dev/null 2>&1 &
            nohup bash -c 'while :; do echo tick >> /env/daemon-a.log; sleep 0.05; done' daemon-{t} \\
                </dev/null >/dev/null 2>&1 &
            python - {t} <<'PY'
            import os, sys, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    for fd in (0, 1, 2):
                        os.close(fd)
                    while True:
                        with open("/env/daemon-b.log", "a") as f:
                            f.write("tick\\n")
                        time.sleep(0.05)
                os._exit(0)
            PY
            sleep 0.5
            echo "DAEMONS STARTED $(ls /env | grep -c daemon)"
            '''),
        # Fills /work, /tmp, /dev/shm and then the environment itself (bounded by the script: 36 x 4 MB).
        "filler": textwrap.dedent(f'''\
            for d in /work /tmp /dev/shm /env; do
                i=0
                while [ $i -lt 36 ]; do head -c 4M /dev/zero > $d/fill$i 2>/dev/null || break; i=$((i+1)); done
                echo "FILLED $d $i"
            done
            head -c 1G /dev/zero > /env/huge-{t} 2>/dev/null
            echo "HUGE $? $(stat -c %s /env/huge-{t})"
            exit 0
            '''),
        # 16 MB of build log (4096 lines of 4000 bytes) from a script that otherwise succeeds.
        "logflood": textwrap.dedent('''\
            python -c 'import sys
            for i in range(4096):
                sys.stdout.write("F" * 4000 + "\\n")'
            echo "FLOOD DONE"
            '''),
        # The bash fork bomb, set off again whenever it burns out: only the build timeout ends it.
        "bomb": textwrap.dedent(f'''\
            echo "BOMB {t}"
            b() {{ b | b & }}
            while :; do b; wait; done
            '''),
    }


class HostileBuilds:
    def __init__(self, stack, names, scripts, tok, secret):
        self.stack, self.names, self.scripts, self.token, self.secret = stack, names, scripts, tok, secret
        self.submitted = set()

    def submit(self, kind):
        """POST the kind's setup script (once)."""
        if kind in self.submitted:
            return
        status, env = self.stack.request("POST", "/environments", {"name": self.names[kind],
                                                                   "setup_script": self.scripts[kind],
                                                                   "python_version": "3.11"})
        assert status == 200 and env["status"] == "building", (status, env)
        self.submitted.add(kind)

    def alive(self):
        """Fail with the end of the stack's log if the stack itself has stopped."""
        if self.stack.proc.poll() is not None:
            pytest.fail(f"the build stack exited ({self.stack.proc.returncode}):\n{self.stack.read_log()[-6000:]}")

    def get(self, kind):
        self.alive()
        status, env = self.stack.request("GET", f"/environments/{self.names[kind]}")
        assert status == 200, (status, env)
        return env

    def wait(self, kind):
        """The environment once its build has ended (bounded wait)."""
        deadline = time.monotonic() + BUILD_WAIT
        while True:
            env = self.get(kind)
            if env["status"] != "building":
                return env
            assert time.monotonic() < deadline, f"the {kind} build did not end within {BUILD_WAIT} s"
            time.sleep(0.2)

    def log(self, kind):
        """Every stored log line of the build, as (stream, line)."""
        lines, offset = [], 0
        while True:
            status, page = self.stack.request("GET", f"/environments/{self.names[kind]}/logs?offset={offset}"
                                                     f"&limit=10000")
            assert status == 200, (status, page)
            lines += [(entry["stream"], entry["line"]) for entry in page["lines"]]
            if page["complete"] or not page["lines"]:
                return lines
            offset = page["next_offset"]

    def uids(self):
        return set(hostinspect.uid_range(self.stack))


@pytest.fixture(scope="module", autouse=True)
def hostile_builds():
    from conftest import Service	# the class make_service starts; module-scoped here so builds overlap the runs
    secret = f"pysandbox-secret-{secrets.token_hex(12)}"
    stack = Service(extra_conf=BUILD_CONF, env={
        "PYSANDBOX_TEST_SECRET": secret, "DJANGO_SETTINGS_MODULE": secret, "CJS_TEST_ENV_LEAKAGE": secret,
        "DEBIAN_FRONTEND": "noninteractive", "AWS_SECRET_ACCESS_KEY": secret,
    })
    try:
        tok = token()
        scripts = build_scripts(tok, stack.state)
        names = {kind: f"hostile-{kind}-{tok}" for kind in scripts}
        builds = HostileBuilds(stack, names, scripts, tok, secret)
        for kind in scripts:
            if kind != "bomb":
                builds.submit(kind)
        yield builds
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def builds(hostile_builds):
    """The hostile builds, the fork bomb included: it is set off only when the environment tests begin, so that
    its twenty seconds of forking overlap their waiting rather than the timing of the run tests."""
    hostile_builds.submit("bomb")
    return hostile_builds


# ---- codejail / codejail-service: files, network, processes, limits, environment ---------------------------

def test_file_access_sees_only_the_jail(service):
    # codejail's test_read_etc_passwd and test_find_other_sandboxes, codejail-service's test_deny_list_os_dirs.
    top = {n for n in ("bin", "sbin", "lib", "lib32", "lib64", "libx32") if os.path.lexists("/" + n)}
    etc = {"passwd", "group", "hosts", "hostname", "nsswitch.conf"}
    etc |= {p.split("/")[2] for p in ("/etc/ld.so.cache", "/etc/localtime", "/etc/mime.types", "/etc/matplotlibrc",
                                      "/etc/alternatives", "/etc/ssl/certs", "/etc/ssl/openssl.cnf",
                                      "/etc/ca-certificates", "/etc/ca-certificates.conf") if os.path.exists(p)}
    etc |= {n for n in os.listdir("/etc") if n.startswith("python3") and len(n) < 32}
    r, _ = run(service, '''
        print(json.dumps({
            "passwd": open("/etc/passwd").read(), "group": open("/etc/group").read(),
            "hosts": open("/etc/hosts").read(), "uid": os.getuid(), "gid": os.getgid(),
            "root": sorted(os.listdir("/")), "parent": sorted(os.listdir("..")), "etc": sorted(os.listdir("/etc")),
            "cwd": os.getcwd(),
            "elsewhere": {p: attempt(os.listdir, p) for p in ("/home", "/var", "/sys", "/run", "/mnt", "/opt", "/srv",
                                                               "/boot", "/var/tmp", "/run/lock", "/root")},
        }))
    ''')
    assert r["status"] == "ok", brief(r)
    out = last_json(r)
    uid = out["uid"]
    assert uid in hostinspect.uid_range(service) and out["gid"] == uid
    assert out["passwd"] == ("root:x:0:0:root:/root:/usr/sbin/nologin\n"
                             f"sandbox:x:{uid}:{uid}:sandbox:/work:/usr/sbin/nologin\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    assert out["group"] == f"root:x:0:\nsandbox:x:{uid}:\nnogroup:x:65534:\n"
    assert out["hosts"] == "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    assert out["root"] == sorted({"usr", "etc", "dev", "proc", "tmp", "work", "root"} | top)
    assert out["parent"] == out["root"] and out["cwd"] == "/work"
    assert out["etc"] == sorted(etc)
    assert out["elsewhere"] == {p: "FileNotFoundError:ENOENT" for p in ("/home", "/var", "/sys", "/run", "/mnt", "/opt",
                                                                          "/srv", "/boot", "/var/tmp", "/run/lock")} | {
        "/root": "PermissionError:EACCES"}
    assert_serving(service)


def test_writes_in_cwd_work_but_not_above(service):
    # codejail-service's test_allow_write_in_own_sandbox / test_deny_write_outside_sandbox and its unix sockets.
    r, _ = run(service, '''
        import socket
        def write(p, data="mine"):
            with open(p, "w") as f:
                f.write(data)
        def bind(p):
            with socket.socket(socket.AF_UNIX) as s:
                s.bind(p)
        write("mine.txt")
        os.mkdir("sub")
        write("sub/deep.txt", "deep")
        print(json.dumps({
            "read_back": open("mine.txt").read(),
            "parent_file": attempt(write, "../escape.txt"),
            "dotdot_path": attempt(write, "/work/../escape.txt"),
            "parent_mkdir": attempt(os.mkdir, "../escape.d"),
            "parent_symlink": attempt(os.symlink, "/work", "../escape.lnk"),
            "rename_up": attempt(os.rename, "sub/deep.txt", "../deep.txt"),
            "sock_here": attempt(bind, "here.sock"),
            "sock_root": attempt(bind, "/escape.sock"),
            "chmod_parent": attempt(os.chmod, "..", 0o777),
            "chmod_work": attempt(os.chmod, ".", 0o755),
            "work_mode": oct(os.stat(".").st_mode & 0o7777),
        }))
    ''')
    assert r["status"] == "ok", brief(r)
    assert last_json(r) == {
        "read_back": "mine",
        "parent_file": "OSError:EROFS",
        "dotdot_path": "OSError:EROFS",
        "parent_mkdir": "OSError:EROFS",
        "parent_symlink": "OSError:EROFS",
        "rename_up": "OSError:EXDEV",
        "sock_here": "ok",
        "sock_root": "OSError:EROFS",
        "chmod_parent": "OSError:EROFS",
        "chmod_work": "ok",
        "work_mode": "0o755",
    }
    assert decoded(r) == {"mine.txt": b"mine", "sub/deep.txt": b"deep"}	# the socket is no regular file
    assert_serving(service)


def test_network_calls_fail_fast(service):
    # codejail's test_cant_use_network, piston's network.py, codejail-service's test_deny_make_http_call,
    # test_deny_resolve_dns and its raw socket cases; plus the host's IPv6 and UDP listeners.
    with socket.socket(socket.AF_INET6) as tcp6, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
            socket.socket(socket.AF_INET) as tcp4:
        for lst, addr in ((tcp6, "::1"), (tcp4, "127.0.0.1")):
            lst.bind((addr, 0))
            lst.listen(4)
            lst.setblocking(False)
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        r, elapsed = run(service, f'''
            import socket, time, urllib.request
            def timed(f, *a):
                t = time.monotonic()
                result = attempt(f, *a)
                return [result, time.monotonic() - t < 0.5]
            def url(u):
                try:
                    urllib.request.urlopen(u, timeout=10).read()
                    return "ok"
                except Exception as e:
                    reason = getattr(e, "reason", e)
                    return f"{{type(e).__name__}}:{{type(reason).__name__}}:{{reason.args[0]}}"
            def tcp6():
                socket.create_connection(("::1", {tcp6.getsockname()[1]}), timeout=3).close()
            def tcp4():
                with socket.socket(socket.AF_INET) as s:
                    s.settimeout(3)
                    s.connect(("127.0.0.1", {tcp4.getsockname()[1]}))
            def udp():
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(b"leak", ("127.0.0.1", {udp.getsockname()[1]}))
            def udp_out():
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(b"leak", ("8.8.8.8", 53))
            def sock(*a):
                socket.socket(*a).close()
            t = time.monotonic()
            out = {{
                "urllib_ip": url("http://93.184.215.14/"),
                "urllib_https": url("https://1.1.1.1/"),
                "urllib_name": url("http://www.example.org/"),
                "dns": timed(socket.gethostbyname, "example.com"),
                "localhost": socket.gethostbyname("localhost"),
                "host_tcp6": timed(tcp6),
                "host_tcp4": timed(tcp4),
                "host_udp": attempt(udp),
                "udp_out": attempt(udp_out),
                "packet": attempt(sock, socket.AF_PACKET, socket.SOCK_RAW),
                "raw_icmp": attempt(sock, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                "ping": attempt(sock, socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP),
            }}
            out["fast"] = time.monotonic() - t < 2
            print(json.dumps(out))
        ''')
        assert r["status"] == "ok", brief(r)
        assert last_json(r) == {
            "urllib_ip": "URLError:OSError:101",	# ENETUNREACH: no route at all, nothing waits for a timeout
            "urllib_https": "URLError:OSError:101",
            "urllib_name": "URLError:gaierror:-3",	# EAI_AGAIN: no resolver reachable
            "dns": ["gaierror:-3", True],
            "localhost": "127.0.0.1",
            "host_tcp6": ["ConnectionRefusedError:ECONNREFUSED", True],
            "host_tcp4": ["ConnectionRefusedError:ECONNREFUSED", True],
            "host_udp": "ok",	# sent into the jail's own loopback...
            "udp_out": "OSError:ENETUNREACH",
            "packet": "OSError:EAFNOSUPPORT",	# seccomp: only unix, inet, inet6, netlink
            "raw_icmp": "PermissionError:EPERM",
            "ping": "PermissionError:EACCES",
            "fast": True,
        }
        assert elapsed < 5
        with pytest.raises(BlockingIOError):	# ...and nothing reached the host's listeners
            udp.recvfrom(100)
        for lst in (tcp6, tcp4):
            with pytest.raises(BlockingIOError):
                lst.accept()
    assert_serving(service)


def test_subprocesses_run_within_limits(service, pool_uids):
    # dify-sandbox's TestExec/TestRunCommand and codejail-service's TestExecProcess/test_deny_exec_ps: here
    # exec is allowed (the jail, not a syscall list, is the boundary), within the process limit.
    r, elapsed = run(service, '''
        import subprocess, time
        def out(*cmd):
            p = subprocess.run(cmd, capture_output=True, text=True)
            return [p.returncode, p.stdout]
        res = {
            "ls": out("/bin/ls", "-a", "/work"),
            "true": out("/usr/bin/true"),
            "python": out(sys.executable, "-c", "print(6 * 7)"),
            "ps": out("ps", "-e", "-o", "pid=,user=,comm="),
        }
        kids = []
        try:
            while len(kids) < 1000:	# codejail-service's test_deny_fork_excessively
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                kids.append(pid)
            res["fork"] = "no limit"
        except OSError as e:
            res["fork"] = [type(e).__name__, len(kids)]
        res["exec_at_limit"] = attempt(subprocess.run, ["/usr/bin/true"])
        for k in kids:
            os.kill(k, 9)
            os.waitpid(k, 0)
        res["exec_after"] = out("/usr/bin/true")
        print(json.dumps(res))
    ''')
    assert r["status"] == "ok", brief(r)
    out = last_json(r)
    # max_processes 64, the program included. RLIMIT_NPROC counts the uid's processes host-wide, and the uid
    # pool is shared with any other stack on the host: at most 63, fewer if one of those ran meanwhile.
    kind, forks = out.pop("fork")
    assert kind == "BlockingIOError" and 48 <= forks <= 63, (kind, forks)
    # ps pads the pid column to the width of the host's pid_max: compare the fields.
    out["ps"] = [out["ps"][0], [line.split() for line in out["ps"][1].splitlines()]]
    assert out == {
        "ls": [0, ".\n..\nmain.py\n"],
        "true": [0, ""],
        "python": [0, "42\n"],
        "ps": [0, [["2", "sandbox", "python3"], ["6", "sandbox", "ps"]]],	# ls, true and python were 3 to 5
        "exec_at_limit": "BlockingIOError:EAGAIN",
        "exec_after": [0, ""],
    }
    assert elapsed < 10
    assert_no_leftovers(service, pool_uids)
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
        "setuid0": "PermissionError:EPERM", "seteuid0": "PermissionError:EPERM",
        "setresuid0": "PermissionError:EPERM", "setreuid0": "PermissionError:EPERM",
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


def test_memory_in_small_objects_hits_memory_limit(service):
    # codejail's test_cant_use_too_much_memory (50 MB fits, more does not) and codejail-service's
    # test_deny_large_allocate (1 GiB in 32 KiB pieces).
    r, elapsed = run(service, '''
        print(len(bytearray(50000000)), flush=True)
        arr = [bytearray(1024 * 32) for _ in range(32 * 1024)]
        print("allocated", len(arr))
    ''', memory_mb=128)
    assert (r["success"], r["status"], r["error"]) == (False, "memory_limit", "Memory limit of 128 MB exceeded"), brief(r)
    assert r["stdout"] == "50000000\n"
    assert elapsed < 10
    assert_serving(service)


def test_reading_dev_random_to_the_end_is_stopped(service):
    # codejail's test_reading_dev_random: 10 bytes are fine, reading it all is ended by a limit.
    r, elapsed = run(service, '''
        with open("/dev/random", "rb") as f:
            print(len(f.read(10)), flush=True)
        with open("/dev/urandom", "rb") as f:
            f.read()
        print("read it all")
    ''', timeout=5, memory_mb=64)
    assert (r["status"], r["error"], r["stdout"]) == ("memory_limit", "Memory limit of 64 MB exceeded", "10\n"), brief(r)
    assert elapsed < 8
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


def test_sleep_past_the_timeout_is_killed(service, pool_uids):
    # codejail's test_cant_use_too_much_time, codejail-service's test_deny_long_running_task and
    # test_deny_prevent_kill: handlers for SIGTERM and SIGINT do not help; SIGKILL ends it at the deadline.
    r, elapsed = run(service, '''
        import signal, time
        signal.signal(signal.SIGTERM, lambda *a: print("got TERM", flush=True))
        signal.signal(signal.SIGINT, lambda *a: print("got INT", flush=True))
        print("sleeping", flush=True)
        time.sleep(30)
        print("Done!")
    ''', timeout=1.5)
    assert (r["success"], r["status"], r["signal"], r["exit_code"]) == (False, "timeout", "SIGKILL", None), brief(r)
    assert r["error"] == "Execution timed out after 1.5 seconds"
    assert r["stdout"] == "sleeping\n"
    assert 1.5 <= r["execution_time"] < 1.8, r["execution_time"]
    assert r["resources"]["cpu_time"] < 0.5
    assert elapsed < 4
    assert_no_leftovers(service, pool_uids)
    assert_serving(service)


def test_environment_is_the_fixed_set_with_no_secrets(hostile_builds):
    # codejail's test_cant_see_environment_variables, codejail-service's test_deny_environment_leakage: the
    # stack runs with secrets in its environment; the program sees exactly run_envp, and the secret nowhere.
    stack, secret = hostile_builds.stack, hostile_builds.secret
    r, _ = run(stack, f'''
        found = []
        def scan(path):
            try:
                with open(path, "rb") as f:
                    if {secret[::-1].encode()!r}[::-1] in f.read(1 << 20):
                        found.append(path)
            except OSError:
                pass
        for top in ("/etc", "/tmp", "/work", "/dev/shm", "/root"):
            for d, dirs, files in os.walk(top):
                for name in files:
                    scan(os.path.join(d, name))
        for name in ("environ", "cmdline", "status", "mountinfo", "limits"):
            scan("/proc/self/" + name)
        print(json.dumps({{"env": dict(os.environ), "proc_environ": open("/proc/self/environ").read(),
                          "found": found, "argv": sys.argv,
                          "flags": [sys.flags.ignore_environment, sys.flags.no_user_site, sys.path[0]]}}))
    ''')
    assert r["status"] == "ok", brief(r)
    out = last_json(r)
    assert out["env"] == RUN_ENV
    assert out["proc_environ"] == "".join(f"{k}={v}\0" for k, v in RUN_ENV.items())
    # -E -s: no PYTHON* variable and no user site count; the script's directory leads sys.path (as the original).
    assert (out["found"], out["argv"], out["flags"]) == ([], ["main.py"], [1, 1, "/work"])
    assert secret not in json.dumps(r)
    assert_serving(stack)


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


# ---- dify-sandbox and piston --------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["print_loop_stdout", "grandchild_stderr"])
def test_runaway_output_is_cut(service, pool_uids, how):
    # piston's runaway_output.py (a print loop that never ends) and the same from a grandchild on stderr
    # while the program itself sleeps.
    if how == "print_loop_stdout":
        code, stream, unit = 'while True:\n    print("Piston is secure")\n', "stdout", "Piston is secure\n"
    else:
        code = '''
            import subprocess, time
            print("started", flush=True)
            subprocess.Popen(["sh", "-c", "yes 'Piston is secure'"], stdout=sys.stderr)
            time.sleep(30)
        '''
        stream, unit = "stderr", "Piston is secure\n"
    r, elapsed = run(service, code, timeout=20)
    other = "stderr" if stream == "stdout" else "stdout"
    assert (r["success"], r["status"]) == (False, "output_limit"), brief(r)
    assert r["error"] == "Output limit of 1048576 bytes reached; the program was stopped"
    assert r[stream] == (unit * (MiB // len(unit) + 1))[:MiB]
    assert r["truncated"] == {stream: True, other: False, "files": False}
    assert r[other] == ("" if how == "print_loop_stdout" else "started\n")
    assert elapsed < 8, elapsed
    assert_no_leftovers(service, pool_uids)
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


def test_fallocate_and_huge_writes_fail_cleanly(service):
    # piston's fallocate.py ("I love beans" * 2**24 = 218 MB) and fallocate(2) itself, in /work, /tmp, /dev/shm.
    r, elapsed = run(service, '''
        def falloc(path, size):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        out = {}
        for d in ("/work", "/tmp", "/dev/shm"):
            out[d] = {"huge": attempt(falloc, d + "/huge", 1 << 30), "huge_size": os.path.getsize(d + "/huge")}
            os.unlink(d + "/huge")
            n = 0
            try:
                while n < 100:
                    falloc(f"{d}/f{n}", 9 << 20)
                    n += 1
                out[d]["many"] = "no error"
            except OSError as e:
                out[d]["many"] = errno.errorcode[e.errno]
            out[d]["n"] = n
            for i in range(n + 1):
                if os.path.exists(f"{d}/f{i}"):
                    os.unlink(f"{d}/f{i}")
        try:
            with open("beans", "w") as f:
                f.write("I love beans\\n" * 2 ** 24)
            out["beans"] = "no error"
        except OSError as e:
            out["beans"] = errno.errorcode[e.errno]
        out["beans_size"] = os.path.getsize("beans")
        os.unlink("beans")
        with open("after.txt", "w") as f:
            f.write("still writing")
        print(json.dumps(out))
    ''', timeout=15, memory_mb=1024)	# the 218 MB string and its encoding must fit: the file size is the limit
    assert r["status"] == "ok", brief(r)
    per_dir = {"huge": "OSError:EFBIG", "huge_size": 0, "many": "ENOSPC", "n": 7}	# 10M max file, 64M tmpfs
    assert last_json(r) == {"/work": per_dir, "/tmp": per_dir, "/dev/shm": per_dir, "beans": "EFBIG",
                            "beans_size": 10 * MiB}
    assert decoded(r) == {"after.txt": b"still writing"}
    assert elapsed < 10
    assert_serving(service)


def run_slots(service):
    """Runs at once, each with a uid of its own."""
    _, health = service.request("GET", "/health")
    return health["pool"]["run_slots"]


def test_files_do_not_persist_across_runs_on_any_worker(service):
    # piston's file_persistance.py: run A on every worker (and so every run uid) leaves files in every
    # writable place; runs B on the same workers find nothing.
    n = min(run_slots(service), 8)
    tok = token()
    places = ("/work", "/tmp", "/dev/shm", "/var/tmp", "/run/lock", "/env", "/root")
    leave = f'''
        import time
        out = {{"uid": os.getuid()}}
        for d in {places!r}:
            def leave(d=d):
                with open(f"{{d}}/bean-{tok}", "w") as f:
                    f.write("beannn")
            out[d] = attempt(leave)
        os.makedirs("/tmp/shared-{tok}/sub")
        os.chmod("/tmp/shared-{tok}", 0o1777)
        time.sleep(0.8)
        print(json.dumps(out))
    '''
    look = f'''
        import time
        time.sleep(0.8)
        found = []
        for top in ("/work", "/tmp", "/dev/shm"):
            for d, _, names in os.walk(top):
                for n in names:
                    with open(os.path.join(d, n), "rb") as f:
                        if b"bea" + b"nnn" in f.read():
                            found.append(os.path.join(d, n))
        print(json.dumps({{"uid": os.getuid(), "work": sorted(os.listdir("/work")), "tmp": os.listdir("/tmp"),
                          "shm": os.listdir("/dev/shm"), "found": found,
                          "bean": [attempt(open, d + "/bean-{tok}") for d in ("/work", "/tmp", "/dev/shm")]}}))
    '''
    first = concurrently(*[lambda: run(service, leave)[0]] * n)
    second = concurrently(*[lambda: run(service, look)[0]] * n)
    assert all(r["status"] == "ok" for r in first + second), [brief(r) for r in first + second]
    a = [last_json(r) for r in first]
    b = [last_json(r) for r in second]
    assert len({x["uid"] for x in a}) == n and {x["uid"] for x in a} == {x["uid"] for x in b}
    for x in a:
        assert {k: v for k, v in x.items() if k != "uid"} == {
            "/work": "ok", "/tmp": "ok", "/dev/shm": "ok", "/var/tmp": "FileNotFoundError:ENOENT",
            "/run/lock": "FileNotFoundError:ENOENT", "/env": "FileNotFoundError:ENOENT",
            "/root": "PermissionError:EACCES"}
    for x in b:
        assert {k: v for k, v in x.items() if k != "uid"} == {
            "work": ["main.py"], "tmp": [], "shm": [], "found": [], "bean": ["FileNotFoundError:ENOENT"] * 3}
    for r in first:
        assert decoded(r) == {f"bean-{tok}": b"beannn"}
    assert_serving(service)


HOSTILE_MIX = {
    # kind: (code, fields, expected status, check of the response)
    "hello": ("print('hi')", {}, "ok", lambda r: r["stdout"] == "hi\n"),
    "fork_bomb": ("while True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                  {"timeout": 2}, "timeout", lambda r: r["error"] == "Execution timed out after 2 seconds"),
    "memory": ("x = bytearray(1 << 30)\nx[::4096] = b'\\1' * len(x[::4096])\n", {"memory_mb": 128}, "memory_limit",
               lambda r: r["error"] == "Memory limit of 128 MB exceeded"),
    "cpu": ("while True:\n    pass\n", {"timeout": 1.5}, "timeout", lambda r: 1.5 <= r["execution_time"] < 2.5),
    "output": ("while True:\n    sys.stdout.write('x' * 65536)\n", {}, "output_limit",
               lambda r: len(r["stdout"]) == MiB),
    "sleep": ("import time\ntime.sleep(30)\n", {"timeout": 1.5}, "timeout", lambda r: r["signal"] == "SIGKILL"),
    "disk": ("try:\n    open('big', 'wb').write(b'x' * (200 << 20))\nexcept OSError as e:\n    print(e.errno)\n",
             {}, "ok", lambda r: r["stdout"] == "27\n"),
    "fds": ("fds = []\ntry:\n    while True:\n        fds.append(os.open('/dev/null', 0))\nexcept OSError as e:\n"
            "    print(errno.errorcode[e.errno])\n", {}, "ok", lambda r: r["stdout"] == "EMFILE\n"),
    "kill_all": ("print(attempt(os.kill, -1, 9))\n", {}, "ok", lambda r: r["stdout"] == "ProcessLookupError:ESRCH\n"),
    "segv": ("ctypes.string_at(0)\n", {}, "killed", lambda r: r["signal"] == "SIGSEGV"),
}


def test_twenty_concurrent_hostile_runs(service, pool_uids):
    # piston's multi_request.py (20 parallel requests), with hostile programs of mixed kinds.
    kinds = list(HOSTILE_MIX) * 2
    t0 = time.monotonic()

    def one(kind):
        code, fields, _, _ = HOSTILE_MIX[kind]
        return run(service, code, **({"timeout": 5} | fields))[0]

    results = concurrently(*[lambda k=k: one(k) for k in kinds])
    took = time.monotonic() - t0
    for kind, r in zip(kinds, results):
        _, _, status, check = HOSTILE_MIX[kind]
        assert r["status"] == status and check(r), (kind, brief(r))
    assert took < 90, took	# 20 runs through 4 slots and a queue, retried on capacity
    assert_no_leftovers(service, pool_uids)
    assert_serving(service)


# ---- /proc tricks -----------------------------------------------------------------------------------------

def test_proc_fds_of_init_and_the_worker_are_unreachable(service):
    stack = sorted(pid for pid in hostinspect.stack_pids(service) if pid > 100)
    assert len(stack) >= 4
    r, _ = run(service, f'''
        def reopen(p):
            os.close(os.open(p, os.O_RDONLY))
        print(json.dumps({{
            "own": {{fd: os.readlink("/proc/self/fd/" + fd)[:5] for fd in sorted(os.listdir("/proc/self/fd"))
                    if os.path.exists("/proc/self/fd/" + fd)}},
            "thread_self": sorted(os.listdir("/proc/thread-self/fd")) == sorted(os.listdir("/proc/self/fd")),
            "fd3": attempt(reopen, "/proc/self/fd/3"), "fd4": attempt(reopen, "/proc/self/fd/4"),
            "dev_fd3": attempt(reopen, "/dev/fd/3"),
            "init": {{p: attempt(os.listdir, "/proc/1/" + p) for p in ("fd", "fdinfo", "task", "map_files", "ns")}},
            "init_fd": {{n: attempt(reopen, f"/proc/1/fd/{{n}}") for n in range(6)}},
            "init_via_task": attempt(os.listdir, "/proc/2/task/1/fd"),
            "workers": sorted(set(attempt(os.listdir, f"/proc/{{p}}/fd") for p in {stack!r})),
            "worker_fd": sorted(set(attempt(reopen, f"/proc/{{p}}/fd/0") for p in {stack!r})),
        }}))
    ''')
    assert r["status"] == "ok", brief(r)
    assert last_json(r) == {
        "own": {"0": "/dev/", "1": "pipe:", "2": "pipe:"},	# stdin is /dev/null; the listing's own fd is gone
        "thread_self": True,
        "fd3": "FileNotFoundError:ENOENT", "fd4": "FileNotFoundError:ENOENT", "dev_fd3": "FileNotFoundError:ENOENT",
        "init": {p: "FileNotFoundError:ENOENT" for p in ("fd", "fdinfo", "task", "map_files", "ns")},
        "init_fd": {str(n): "FileNotFoundError:ENOENT" for n in range(6)},
        "init_via_task": "FileNotFoundError:ENOENT",
        "workers": ["FileNotFoundError:ENOENT"],
        "worker_fd": ["FileNotFoundError:ENOENT"],
    }
    assert_serving(service)


def test_proc_sys_and_trigger_writes_fail(service):
    host_has = {p: os.path.exists(p) for p in ("/proc/sysrq-trigger", "/proc/sys/kernel/sysrq",
                                              "/proc/sys/kernel/modprobe", "/proc/kcore")}
    with open("/proc/sys/kernel/hostname") as f:
        host_hostname = f.read()
    r, _ = run(service, '''
        def write(p, data=b"1"):
            fd = os.open(p, os.O_WRONLY)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        def read(p):
            fd = os.open(p, os.O_RDONLY)
            try:
                os.read(fd, 4096)
            finally:
                os.close(fd)
        paths = ["/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches",
                 "/proc/sys/net/ipv4/ip_forward", "/proc/sys/fs/pipe-max-size", "/proc/sys/kernel/sysrq",
                 "/proc/sys/kernel/modprobe", "/proc/sysrq-trigger", "/proc/self/uid_map", "/proc/self/setgroups"]
        print(json.dumps({
            "write": {p: attempt(write, p) for p in paths},
            "sysrq_b": attempt(write, "/proc/sysrq-trigger", b"b"),
            "kcore": attempt(read, "/proc/kcore"),
            "hostname": open("/proc/sys/kernel/hostname").read(),
        }))
    ''')
    assert r["status"] == "ok", brief(r)
    absent, denied = "FileNotFoundError:ENOENT", "PermissionError:EACCES"
    assert last_json(r) == {
        "write": {
            "/proc/sys/kernel/hostname": denied, "/proc/sys/kernel/core_pattern": denied,
            "/proc/sys/vm/drop_caches": denied, "/proc/sys/net/ipv4/ip_forward": denied,
            "/proc/sys/fs/pipe-max-size": denied,
            "/proc/sys/kernel/sysrq": denied if host_has["/proc/sys/kernel/sysrq"] else absent,
            "/proc/sys/kernel/modprobe": denied if host_has["/proc/sys/kernel/modprobe"] else absent,
            "/proc/sysrq-trigger": denied if host_has["/proc/sysrq-trigger"] else absent,
            "/proc/self/uid_map": "PermissionError:EPERM",
            "/proc/self/setgroups": denied,
        },
        "sysrq_b": denied if host_has["/proc/sysrq-trigger"] else absent,
        "kcore": denied if host_has["/proc/kcore"] else absent,
        "hostname": "sandbox\n",
    }
    with open("/proc/sys/kernel/hostname") as f:
        assert f.read() == host_hostname
    assert_serving(service)


def test_proc_kernel_information_is_masked(service):
    r, _ = run(service, '''
        import subprocess
        def read(p):
            with open(p, "rb") as f:
                f.read(4096)
        nonzero = [l for l in open("/proc/kallsyms") if not l.startswith("0000000000000000 ")]
        p = subprocess.run(["dmesg"], capture_output=True, text=True)
        print(json.dumps({
            "kallsyms_addresses": len(nonzero),
            "read": {n: attempt(read, "/proc/" + n) for n in ("kmsg", "timer_list", "slabinfo", "vmallocinfo",
                                                             "kpageflags", "kpagecount", "kpagecgroup")},
            "syslog_read_all": sc(103, 3, 0, 0),
            "dmesg": [p.returncode, p.stderr],
        }))
    ''')
    assert r["status"] == "ok", brief(r)
    denied = "PermissionError:EACCES"
    assert last_json(r) == {
        "kallsyms_addresses": 0,
        "read": {n: denied for n in ("kmsg", "timer_list", "slabinfo", "vmallocinfo", "kpageflags", "kpagecount",
                                     "kpagecgroup")},
        "syslog_read_all": "EPERM",
        "dmesg": [1, "dmesg: read kernel buffer failed: Operation not permitted\n"],
    }
    assert_serving(service)


def test_proc_self_mem_reaches_only_the_program_itself(service):
    r, _ = run(service, '''
        buf = ctypes.create_string_buffer(b"hello world")
        with open("/proc/self/mem", "r+b", buffering=0) as f:
            f.seek(ctypes.addressof(buf))
            f.write(b"HELLO")
        def poke(p):
            with open(p, "r+b", buffering=0) as f:
                f.seek(ctypes.addressof(buf))
                f.write(b"x")
        print(json.dumps({
            "own": buf.value.decode(),
            "init": attempt(poke, "/proc/1/mem"),
            "init_via_task": attempt(poke, "/proc/2/task/1/mem"),
            "init_via_parent": attempt(poke, f"/proc/{os.getppid()}/mem"),
            "ppid": os.getppid(),
        }))
    ''')
    assert r["status"] == "ok", brief(r)
    assert last_json(r) == {"own": "HELLO world", "init": "FileNotFoundError:ENOENT",
                            "init_via_task": "FileNotFoundError:ENOENT", "init_via_parent": "FileNotFoundError:ENOENT",
                            "ppid": 1}
    assert_serving(service)


# ---- device nodes, mounts, namespaces, debugging, kernel interfaces --------------------------------------

def test_dev_holds_only_harmless_nodes(service):
    r, _ = run(service, '''
        import stat
        def write(p, data=b"x"):
            with open(p, "wb", buffering=0) as f:
                f.write(data)
        def read(p, n=10):
            with open(p, "rb") as f:
                return len(f.read(n))
        absent = ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/tty",
                  "/dev/console", "/dev/kmsg", "/dev/net/tun", "/dev/fuse", "/dev/loop0", "/dev/loop-control",
                  "/dev/ptmx", "/dev/vsock", "/dev/kvm", "/dev/hwrng", "/dev/cpu/0/msr", "/dev/disk"]
        print(json.dumps({
            "listing": sorted(os.listdir("/dev")),
            "absent": sorted(set(attempt(os.stat, p) for p in absent)),
            "mknod_tmp": attempt(os.mknod, "/tmp/mem", 0o666 | stat.S_IFCHR, os.makedev(1, 1)),
            "mknod_shm": attempt(os.mknod, "/dev/shm/sda", 0o666 | stat.S_IFBLK, os.makedev(8, 0)),
            "mknod_dev": attempt(os.mknod, "/dev/kmsg", 0o666 | stat.S_IFCHR, os.makedev(1, 11)),
            "mkfifo": attempt(os.mkfifo, "/tmp/fifo"),
            "null": attempt(write, "/dev/null"), "full": attempt(write, "/dev/full"),
            "zero": read("/dev/zero"), "random": read("/dev/random"), "urandom": read("/dev/urandom"),
            "chmod_null": attempt(os.chmod, "/dev/null", 0o600),
            "stdin": os.path.realpath("/dev/stdin"),
        }))
    ''')
    assert r["status"] == "ok", brief(r)
    assert last_json(r) == {
        "listing": ["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "urandom", "zero"],
        "absent": ["FileNotFoundError:ENOENT"],
        "mknod_tmp": "PermissionError:EPERM",
        "mknod_shm": "PermissionError:EPERM",
        "mknod_dev": "OSError:EROFS",
        "mkfifo": "ok",
        "null": "ok", "full": "OSError:ENOSPC",
        "zero": 10, "random": 10, "urandom": 10,
        "chmod_null": "OSError:EROFS",
        "stdin": "/dev/null",
    }
    assert_serving(service)


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


def test_vsock_is_refused(service):
    # AF_VSOCK is not network-namespaced: on a VM it reaches the hypervisor's services (CID 2) whatever the
    # jail's empty network namespace says. Only socket creation is tried; nothing is connected to.
    r, _ = run(service, '''
        import socket
        def vsock(kind):
            socket.socket(socket.AF_VSOCK, kind).close()
        print(json.dumps({"stream": attempt(vsock, socket.SOCK_STREAM), "dgram": attempt(vsock, socket.SOCK_DGRAM),
                          "seqpacket": attempt(vsock, socket.SOCK_SEQPACKET)}))
    ''')
    assert r["status"] == "ok", brief(r)
    assert_serving(service)
    out = last_json(r)
    refused = {"OSError:EAFNOSUPPORT", "PermissionError:EPERM", "PermissionError:EACCES"}
    assert out["dgram"] in refused | {"OSError:ESOCKTNOSUPPORT", "OSError:ENODEV"}, out	# no dgram transport here
    assert out["stream"] in refused and out["seqpacket"] in refused, \
        f"AF_VSOCK sockets can be created inside the jail: {out}"


# ---- signals to other processes ------------------------------------------------------------------------

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


def test_sigstop_to_itself_still_times_out(service, pool_uids):
    tok = token()
    r, elapsed = run(service, f'''
        import signal, subprocess
        subprocess.Popen(["sh", "-c", "kill -STOP $$; sleep 60.{tok}"])	# a stopped child too
        print("stopping", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
        print("resumed")
    ''', timeout=1.5)
    assert (r["success"], r["status"], r["signal"]) == (False, "timeout", "SIGKILL"), brief(r)
    assert r["stdout"] == "stopping\n" and r["error"] == "Execution timed out after 1.5 seconds"
    assert 1.5 <= r["execution_time"] < 1.8 and elapsed < 4, (r["execution_time"], elapsed)
    assert_no_leftovers(service, pool_uids, token="60." + tok)
    assert_serving(service)


# ---- resource exhaustion --------------------------------------------------------------------------------

def test_threads_until_refused(service, pool_uids):
    r, _ = run(service, '''
        import threading
        ev, ts = threading.Event(), []
        try:
            while len(ts) < 1000:
                t = threading.Thread(target=ev.wait)
                t.start()
                ts.append(t)
            err = "no limit"
        except RuntimeError as e:
            err = str(e)
        fork_at_limit = attempt(os.fork)
        ev.set()
        for t in ts:
            t.join()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        print(json.dumps({"threads": len(ts), "error": err, "fork_at_limit": fork_at_limit, "fork_after": "ok"}))
    ''')
    assert r["status"] == "ok", brief(r)
    out = last_json(r)
    # RLIMIT_NPROC (max_processes 64) counts threads: the main thread and 63 more (fewer if another stack on
    # the host ran something under the same uid meanwhile).
    assert 48 <= out.pop("threads") <= 63, out
    assert out == {"error": "can't start new thread", "fork_at_limit": "BlockingIOError:EAGAIN", "fork_after": "ok"}
    assert_no_leftovers(service, pool_uids)
    assert_serving(service)


def test_open_files_until_emfile(service):
    r, _ = run(service, '''
        import socket
        def exhaust(make):
            got = []
            try:
                while len(got) < 100000:
                    got.append(make())
                result = "no limit"
            except OSError as e:
                result = errno.errorcode[e.errno]
            n = len(got)
            for x in got:
                x.close() if hasattr(x, "close") else os.close(x)
            return [result, n]
        out = {
            "files": exhaust(lambda: os.open("/dev/null", os.O_RDONLY)),
            "sockets": exhaust(lambda: socket.socket()),
            "eventfds": exhaust(lambda: os.eventfd(0)),
            "after": attempt(lambda: os.close(os.open("/dev/null", os.O_RDONLY))),
        }
        print(json.dumps(out))
    ''')
    assert r["status"] == "ok", brief(r)
    out = last_json(r)
    assert out["after"] == "ok"
    for k in ("files", "sockets", "eventfds"):	# RLIMIT_NOFILE 256: 0-2 and a few of Python's own are open
        assert out[k][0] == "EMFILE" and 245 <= out[k][1] <= 253, (k, out[k])
    assert_serving(service)


def test_pipe_without_reader_blocks_until_timeout(service, pool_uids):
    r, elapsed = run(service, '''
        import fcntl
        r, w = os.pipe()
        os.set_blocking(w, False)
        n = 0
        try:
            while True:
                n += os.write(w, b"x" * 4096)
        except BlockingIOError:
            pass
        print(json.dumps({"capacity": n, "grow_1m": fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20),
                          "grow_2m": attempt(fcntl.fcntl, w, fcntl.F_SETPIPE_SZ, 2 << 20)}), flush=True)
        os.set_blocking(w, True)
        os.write(w, b"y" * (2 << 20))	# nobody ever reads
        print("never")
    ''', timeout=1.5)
    assert (r["status"], r["signal"]) == ("timeout", "SIGKILL"), brief(r)
    assert last_json(r) == {"capacity": 65536, "grow_1m": MiB, "grow_2m": "PermissionError:EPERM"}
    assert elapsed < 4
    assert_no_leftovers(service, pool_uids)
    assert_serving(service)


def test_cpu_spin_in_many_processes_times_out(service, pool_uids):
    r, elapsed = run(service, '''
        import multiprocessing
        def spin(_):
            os.write(1, b"spinning\\n")
            while True:
                pass
        if __name__ == "__main__":
            print("start", flush=True)
            with multiprocessing.Pool(8) as p:
                p.map(spin, range(8))
    ''', timeout=2)
    assert (r["success"], r["status"], r["signal"]) == (False, "timeout", "SIGKILL"), brief(r)
    assert r["stdout"] == "start\n" + "spinning\n" * 8 and r["error"] == "Execution timed out after 2 seconds"
    assert 2 <= r["execution_time"] < 2.5 and elapsed < 5, (r["execution_time"], elapsed)
    # Eight spinners get no more than the machine (and the run's CPU quota) gives in those two seconds.
    assert r["resources"]["cpu_time"] <= 2.5 * os.cpu_count(), r["resources"]
    assert_no_leftovers(service, pool_uids)
    assert_serving(service)


def test_memory_across_many_processes_hits_memory_limit(service, pool_uids):
    r, elapsed = run(service, '''
        import time
        kids = []
        for i in range(6):
            pid = os.fork()
            if pid == 0:
                data = bytearray(80 << 20)
                data[::4096] = b"\\1" * len(data[::4096])	# resident
                time.sleep(30)
                os._exit(0)
            kids.append(pid)
        time.sleep(1.5)
        dead = [os.waitpid(k, os.WNOHANG)[1] for k in kids]
        print(json.dumps({"killed": sorted(set(d & 0x7f for d in dead if d))}), flush=True)
        for k, d in zip(kids, dead):
            if not d:
                os.kill(k, 9)
        sys.exit(1 if any(dead) else 0)
    ''', timeout=10, memory_mb=256)
    assert (r["success"], r["status"], r["error"]) == (False, "memory_limit", "Memory limit of 256 MB exceeded"), brief(r)
    assert last_json(r) == {"killed": [9]}	# six times 80 MB in 256 MB: the OOM killer took some children
    assert elapsed < 8
    assert_no_leftovers(service, pool_uids)
    assert_serving(service)


def test_inode_exhaustion_with_directories_and_symlinks(service):
    r, elapsed = run(service, '''
        def exhaust(make, limit=100000):
            n = 0
            try:
                while n < limit:
                    make(n)
                    n += 1
                return ["no error", n]
            except OSError as e:
                return [errno.errorcode[e.errno], n]
        os.mkdir("d")
        out = {"work_dirs": exhaust(lambda i: os.mkdir(f"d/{i}"))}
        out["work_file_when_full"] = attempt(open, "full.txt", "w")
        for i in range(100):
            os.rmdir(f"d/{i}")
        out["work_links"] = exhaust(lambda i: os.symlink("/etc/passwd", f"d/l{i}"))
        out["shm_fifos"] = exhaust(lambda i: os.mkfifo(f"/dev/shm/p{i}"))
        for i in range(out["work_links"][1]):
            os.unlink(f"d/l{i}")
        with open("after.txt", "w") as f:
            f.write("after")
        print(json.dumps(out))
    ''', timeout=20)
    assert r["status"] == "ok", brief(r)
    out = last_json(r)
    assert out["work_dirs"][0] == "ENOSPC" and 16000 <= out["work_dirs"][1] <= 16384, out	# nr_inodes 16384
    assert out["work_file_when_full"] == "OSError:ENOSPC"
    assert out["work_links"] == ["ENOSPC", 100], out	# exactly the inodes freed
    assert out["shm_fifos"][0] == "ENOSPC" and 4000 <= out["shm_fifos"][1] <= 4096, out	# /dev/shm: 4096
    # 16000 empty directories are walked, nothing but the one file is returned.
    assert decoded(r) == {"after.txt": b"after"} and r["truncated"]["files"] is False
    assert elapsed < 15
    assert_serving(service)


# ---- time-of-check races on the returned files ------------------------------------------------------

def test_returned_file_swapped_for_symlinks_until_the_end(service, pool_uids):
    real = b"real data\n"
    r, elapsed = run(service, f'''
        import threading, time
        REAL = {real!r}
        swaps = [0]
        def swap_file():	# out.txt: a regular file, then a symlink to /etc/passwd, and again, until the end
            while True:
                try:
                    os.symlink("/etc/passwd", "l.tmp")
                    os.replace("l.tmp", "out.txt")
                    with open("f.tmp", "wb") as f:
                        f.write(REAL)
                    os.replace("f.tmp", "out.txt")
                    swaps[0] += 1
                except OSError:
                    pass
        os.makedirs("sub.d")
        with open("sub.d/file.txt", "wb") as f:
            f.write(REAL)
        os.rename("sub.d", "sub")
        threading.Thread(target=swap_file, daemon=True).start()
        if os.fork() == 0:	# sub: a directory, then a symlink to /etc, until it is killed
            while True:
                try:
                    os.rename("sub", "sub.d")
                    os.symlink("/etc", "sub")
                    os.unlink("sub")
                    os.rename("sub.d", "sub")
                except OSError:
                    pass
        time.sleep(1)
        print(json.dumps({{"swaps": swaps[0] > 100}}), flush=True)
    ''')
    assert r["status"] == "ok" and last_json(r) == {"swaps": True}, brief(r)
    files = decoded(r)
    assert set(files) <= {"out.txt", "f.tmp", "sub/file.txt", "sub.d/file.txt"}, set(files)
    for name, data in files.items():
        assert real.startswith(data), (name, data[:200])	# only the program's own bytes, never a passwd
    assert len([n for n in files if n.endswith("file.txt")]) == 1	# the directory was walked once, by one name
    assert elapsed < 5
    assert_no_leftovers(service, pool_uids)
    assert_serving(service)


def test_returned_file_replaced_by_fifo_at_exit(service, pool_uids):
    r, elapsed = run(service, '''
        import time
        with open("result.txt", "w") as f:
            f.write("result")
        with open("kept.txt", "w") as f:
            f.write("kept")
        if os.fork() == 0:	# late.txt keeps turning into a FIFO and back until the run is killed
            while True:
                try:
                    os.mkfifo("late.fifo")
                    os.replace("late.fifo", "late.txt")
                    with open("late.tmp", "w") as f:
                        f.write("late")
                    os.replace("late.tmp", "late.txt")
                except OSError:
                    pass
        time.sleep(0.5)
        os.mkfifo("swap.fifo")
        os.replace("swap.fifo", "result.txt")	# the last thing the program does
        print("replaced", flush=True)
    ''', timeout=10)
    assert (r["status"], r["stdout"]) == ("ok", "replaced\n"), brief(r)
    files = decoded(r)
    assert files.get("kept.txt") == b"kept" and "result.txt" not in files, set(files)
    assert set(files) <= {"kept.txt", "late.txt", "late.tmp"}, set(files)
    for name in ("late.txt", "late.tmp"):
        assert b"late".startswith(files.get(name, b"")), files
    assert elapsed < 4, elapsed
    assert_no_leftovers(service, pool_uids)
    assert_serving(service)


def test_huge_sparse_files_are_capped(service):
    r, elapsed = run(service, '''
        def sparse(p, n):
            with open(p, "wb") as f:
                f.truncate(n)
        out = {"one_gb": attempt(sparse, "big", 1 << 30), "big_size": os.path.getsize("big")}
        for i in range(5):
            sparse(f"s{i}", (10 << 20) - 1)	# just under max_file_size, no blocks used
        out["blocks"] = sum(os.stat(f"s{i}").st_blocks for i in range(5))
        print(json.dumps(out))
    ''', timeout=10)
    assert r["status"] == "ok", brief(r)
    assert last_json(r) == {"one_gb": "OSError:EFBIG", "big_size": 0, "blocks": 0}
    files = decoded(r)
    sparse = sorted(n for n in files if n.startswith("s"))
    # max_return_bytes 32M: three of the five fit; the rest is left out and said so.
    assert len(sparse) == 3 and set(files) == set(sparse) | {"big"}, sorted(files)
    assert all(files[n] == b"\0" * (10 * MiB - 1) for n in sparse) and files["big"] == b""
    assert r["truncated"]["files"] is True
    assert sum(map(len, files.values())) <= 32 * MiB
    assert elapsed < 10
    assert_serving(service)


# ---- hostile environments (the builds started with the module) ----------------------------------------

def assert_build_leaves_nothing(builds, token=None):
    """No process of the stack's uid pool escaped a jail, and (when given) nothing carries token."""
    uids = builds.uids() | set(hostinspect.UID_RANGE)
    assert wait_no_leftovers(uids, []) == []
    if token:
        assert carriers(token) == []


def log_results(builds, kind, prefix):
    return [line for stream, line in builds.log(kind) if stream == "stdout" and line.startswith(prefix)]


def test_hostile_build_reading_secrets_sees_only_its_jail(builds):
    b = builds
    env = b.wait("reader")
    assert (env["status"], env["error"]) == ("ready", None), env
    results = log_results(b, "reader", "RESULT ")
    assert len(results) == 1, b.log("reader")
    out = json.loads(results[0][len("RESULT "):])
    uid = out.pop("uid")
    assert uid in b.uids()
    pids = sorted(map(int, out.pop("pids")))
    assert len(pids) == 2 and pids[0] == 2, pids	# bash (the script) and this python: nothing else
    env_vars = out.pop("env")
    assert set(env_vars) == BUILD_ENV_NAMES and env_vars["VIRTUAL_ENV"] == "/env", env_vars
    top = {n for n in ("bin", "sbin", "lib", "lib32", "lib64", "libx32") if os.path.lexists("/" + n)}
    assert out == {
        "shadow": "FileNotFoundError:ENOENT", "gshadow": "FileNotFoundError:ENOENT",
        "proc1_environ": "FileNotFoundError:ENOENT",
        "state_db": "FileNotFoundError:ENOENT", "state_dir": "FileNotFoundError:ENOENT",
        "host_var": "FileNotFoundError:ENOENT",
        "root": sorted({"usr", "etc", "dev", "proc", "tmp", "work", "root", "env"} | top),
        "passwd": ("root:x:0:0:root:/root:/usr/sbin/nologin\n"
                   f"sandbox:x:{uid}:{uid}:sandbox:/work:/usr/sbin/nologin\n"
                   "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
    }
    log_text = json.dumps(b.log("reader"))
    assert b.secret not in log_text and "DJANGO_SETTINGS_MODULE" not in log_text
    assert_build_leaves_nothing(b)
    assert_serving(b.stack)


def test_hostile_build_writing_the_system_tree_fails(builds):
    b = builds
    env = b.wait("writer")
    assert (env["status"], env["error"]) == ("failed", "the setup script exited with status 1"), env
    t = b.token
    assert log_results(b, "writer", "WROTE") == []
    assert sorted(log_results(b, "writer", "REFUSED")) == sorted(
        [f"REFUSED {p}" for p in (f"/usr/pwned-{t}", f"/usr/bin/pwned-{t}", f"/etc/pwned-{t}", f"/pwned-{t}",
                                  f"/dev/pwned-{t}", f"/env/../pwned-{t}", "/etc/passwd", "chmod")])
    assert log_results(b, "writer", "NOT REACHED") == []
    assert [p for p in (f"/usr/pwned-{t}", f"/usr/bin/pwned-{t}", f"/usr/lib/pwned-{t}", f"/etc/pwned-{t}",
                        f"/pwned-{t}", f"/dev/pwned-{t}") if os.path.lexists(p)] == []
    assert os.stat("/usr/bin/python3").st_mode & 0o7000 == 0
    assert not os.path.exists(os.path.join(b.stack.state, "envs", b.names["writer"]))
    assert_build_leaves_nothing(b)
    assert_serving(b.stack)


def test_hostile_build_daemons_do_not_survive(builds):
    b = builds
    env = b.wait("daemons")
    assert (env["status"], env["error"]) == ("ready", None), env
    assert log_results(b, "daemons", "DAEMONS STARTED") == ["DAEMONS STARTED 2"], b.log("daemons")
    assert_build_leaves_nothing(b, token=b.token)
    envdir = os.path.join(b.stack.state, "envs", b.names["daemons"])
    logs = [os.path.join(envdir, n) for n in ("daemon-a.log", "daemon-b.log")]
    sizes = [os.path.getsize(p) for p in logs]
    assert all(s > 0 for s in sizes)	# they did run during the build
    time.sleep(0.5)
    assert [os.path.getsize(p) for p in logs] == sizes	# and nobody writes there any more
    assert_serving(b.stack)


def test_hostile_build_filling_the_disk_fails_and_is_bounded(builds):
    b = builds
    env = b.wait("filler")
    filled = {line.split()[1]: int(line.split()[2]) for line in log_results(b, "filler", "FILLED")}
    # The jail measures /env every second, with privilege: it may stop the script before /env is reported.
    assert {"/work", "/tmp", "/dev/shm"} <= set(filled) <= {"/work", "/tmp", "/dev/shm", "/env"}, b.log("filler")
    for d in ("/work", "/tmp", "/dev/shm"):	# build_workdir_mb 32
        assert 6 <= filled[d] <= 8, filled
    # SIGXFSZ at max_env_size, unless the jail's measure stopped the script before it got there.
    assert log_results(b, "filler", "HUGE") in ([f"HUGE 153 {MAX_ENV_MB * MiB}"], []), b.log("filler")
    assert env["status"] == "failed", env
    # Stopped while it ran, or refused by the last measure after it: the same reason, and nothing of it stays.
    assert env["error"] == (f"the environment grew past max_env_size ({MAX_ENV_MB * MiB} bytes); "
                            "the build was stopped"), env
    assert not os.path.exists(os.path.join(b.stack.state, "envs", b.names["filler"]))
    assert_build_leaves_nothing(b)
    assert_serving(b.stack)


def test_hostile_build_growing_slowly_is_stopped_while_it_runs(make_service):
    """A build that keeps writing to /env is stopped once it passes max_env_size, not left to fill the disk."""
    s = make_service(extra_conf="[environments]\nmax_env_size = 64M\nbuild_timeout = 60\n")
    script = ("for i in $(seq 1 200); do head -c 4194304 /dev/zero > /env/blob.$i; sleep 0.1; done; "
              "echo WROTE-ALL")
    status, body = s.request("POST", "/environments", {"name": "grower", "setup_script": script})
    assert status == 200, body
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status, env = s.request("GET", "/environments/grower")
        if env["status"] != "building":
            break
        time.sleep(0.25)
    assert env["status"] == "failed", env
    assert env["error"] == ("the environment grew past max_env_size (67108864 bytes); "
                            "the build was stopped"), env
    # Stopped while it ran (the same reason would come from the last measure, after the script): it never got
    # to its end. (Not a bound on build_seconds: under load the venv alone may take most of one.)
    status, log = s.request("GET", "/environments/grower/logs")
    assert "WROTE-ALL" not in [l["line"] for l in log["lines"]]
    assert not [d for d in os.listdir(os.path.join(s.state, "envs")) if d.startswith(".build-")]


def test_hostile_build_log_flood_is_bounded(builds):
    b = builds
    env = b.wait("logflood")
    assert (env["status"], env["error"]) == ("ready", None), env
    lines = b.log("logflood")
    assert ("stdout", "FLOOD DONE") in lines
    stored = sum(len(line) for _, line in lines)
    assert_build_leaves_nothing(b)
    assert_serving(b.stack)
    # The log lives in the host's SQLite database: 16 MB of output must not all be stored.
    assert stored <= 4 * MiB, f"the build log stored {stored} bytes of the script's 16 MB output"


def test_hostile_build_fork_bomb_times_out(builds):
    b = builds
    env = b.wait("bomb")
    # The build timeout ends it, or bash itself gives up when it can no longer fork (pids cgroup, RLIMIT_NPROC).
    assert env["status"] == "failed", env
    assert (env["error"] == f"the setup script timed out after {BUILD_TIMEOUT} seconds"
            or re.fullmatch(r"the setup script exited with status \d+", env["error"])), env
    assert env["build_seconds"] < BUILD_TIMEOUT + 10, env
    assert log_results(b, "bomb", "BOMB") == [f"BOMB {b.token}"]
    assert not os.path.exists(os.path.join(b.stack.state, "envs", b.names["bomb"]))
    assert_build_leaves_nothing(b)
    assert_serving(b.stack)


def test_run_in_a_hostile_environment_cannot_change_it(builds):
    b = builds
    name = b.names["reader"]
    assert b.wait("reader")["status"] == "ready"
    envdir = os.path.join(b.stack.state, "envs", name)
    before = sorted(os.path.relpath(os.path.join(d, f), envdir) for d, _, fs in os.walk(envdir) for f in fs)
    code = PRELUDE + textwrap.dedent('''
        import site, sysconfig
        purelib = sysconfig.get_paths()["purelib"]
        def write(p):
            with open(p, "w") as f:
                f.write("import os; os.system('touch /tmp/pwned')")
        print(json.dumps({
            "prefix": sys.prefix,
            "sitecustomize": attempt(write, purelib + "/sitecustomize.py"),
            "pth": attempt(write, purelib + "/zzz-pwned.pth"),
            "python": attempt(write, "/env/bin/python"),
            "cfg": attempt(os.unlink, "/env/pyvenv.cfg"),
            "chmod": attempt(os.chmod, "/env", 0o777),
        }))
    ''')
    status, r = b.stack.request("POST", "/execute-with-environment", {"code": code, "environment": name, "timeout": 10})
    assert status == 200 and r["status"] == "ok", (status, r)
    assert last_json(r) == {"prefix": "/env", "sitecustomize": "OSError:EROFS", "pth": "OSError:EROFS",
                            "python": "OSError:EROFS", "cfg": "OSError:EROFS", "chmod": "OSError:EROFS"}
    after = sorted(os.path.relpath(os.path.join(d, f), envdir) for d, _, fs in os.walk(envdir) for f in fs)
    assert after == before
    assert_serving(b.stack)


def test_hostile_builds_leave_nothing_behind(builds):
    b = builds
    for kind in b.names:
        b.wait(kind)
    uids = b.uids() | set(hostinspect.UID_RANGE)
    # With no build or run in flight, no process of the pool runs under the stack, nor anywhere unjailed.
    assert wait_no_leftovers(uids, [b.stack.proc.pid]) == []
    assert carriers(b.token) == []
    envs = os.listdir(os.path.join(b.stack.state, "envs"))
    assert [n for n in envs if n.startswith((".build-", ".trash-"))] == []
    assert sorted(envs) == sorted(b.names[k] for k in ("reader", "daemons", "logflood"))
    _, listing = b.stack.request("GET", "/environments")
    assert {e["name"]: e["status"] for e in listing["environments"]} == {
        b.names[k]: ("ready" if k in ("reader", "daemons", "logflood") else "failed") for k in b.names}
    assert_serving(b.stack)
