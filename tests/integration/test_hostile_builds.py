"""test_hostile_builds.py: hostile setup scripts (builds), and a run on their stack with secrets in its environment."""
import json
import os
import re
import secrets
import textwrap
import time

import pytest

import hostinspect
from attack import MiB, PRELUDE, RUN_ENV, assert_serving, brief, carriers, last_json, run, token, wait_no_leftovers


# A setup script's environment: build_envp, the venv's two, and what bash itself exports.
BUILD_ENV_NAMES = {
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_INPUT",
    "PYTHONUNBUFFERED", "MAKEFLAGS", "VIRTUAL_ENV", "PWD", "SHLVL", "_",
}


# ---- hostile environments: built in the background from the start of the module ------------------------
#
# One stack of its own (its own uid pool, 61000.., so its builds never share a uid with the session stack's
# runs) with a short build_timeout, small build disks and a secret in its environment. The hostile setup
# scripts (all but the fork bomb) are submitted when the module starts and build while the run test on this
# stack (the environment's secrets) goes on; the fork bomb is set off when the first build test begins. Each
# build test waits for its own build (bounded) and checks it.

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


# ---- a run on the build stack: its environment holds secrets ------------------------------------------------

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


# ---- hostile environments (the builds started with the module) ----------------------------------------------

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
