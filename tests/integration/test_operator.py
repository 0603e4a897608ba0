"""test_operator.py: an operator's day one with the dev server: it starts from anywhere, stops clean on any signal or
failure, is quiet, names every request, logs as configured, and the small tools (pysandboxd's options, the admin
script's URL, /examples/, conf/deps.sh) behave."""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
from conftest import BUILD, SRC, free_port


def wait_for(predicate, timeout):
    """Poll predicate() for up to timeout seconds; whether it became true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


DEVSERVER = os.path.join(SRC, "conf", "devserver.sh")
PYSANDBOXD = os.path.join(BUILD, "src", "pysandboxd")
ADMIN = os.path.join(SRC, "src", "admin", "pysandbox-admin")
RUN_DIRS = "/tmp/pysandbox-run.*"


class Dev:
    """devserver.sh started here in a session of its own (a process group, as `make run` under a shell has).
    Every one started is ended (and its output file removed) after its test, whatever the test asserted."""
    started = []

    def __init__(self, state, env=None, build=BUILD):
        Dev.started.append(self)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        fd, self.out_path = tempfile.mkstemp(prefix="pysandbox-operator-test.", suffix=".log")
        os.close(fd)
        self.out = open(self.out_path, "ab")
        e = dict(os.environ, PORT=str(self.port), PYSANDBOX_USER="pysandbox")
        e.pop("STATE_DIR", None)
        if state is not None:
            e["STATE_DIR"] = state
        e.update(env or {})
        self.before = set(glob.glob(RUN_DIRS))
        # Ctrl-C's SIGINT at its default, as a terminal's shell starts `make run`: a suite started in the
        # background of a script (INT ignored, which bash can then not trap) must not make Ctrl-C a no-op.
        self.proc = subprocess.Popen(["bash", DEVSERVER, SRC, build], stdout=self.out, stderr=subprocess.STDOUT,
                                     env=e, start_new_session=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def text(self):
        if self.out.closed:
            return self.final
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self, timeout=30):
        assert wait_for(lambda: "devserver: SimplePySandbox on" in self.text() or self.proc.poll() is not None,
                        timeout), self.text()
        assert self.proc.poll() is None, self.text()

    def runtime_dirs(self):
        """The runtime directories this dev server made (other stacks of the session make theirs meanwhile)."""
        mine = set()
        for d in set(glob.glob(RUN_DIRS)) - self.before:
            try:
                with open(os.path.join(d, "devserver.pid")) as f:
                    if f.read().strip() == str(self.proc.pid):
                        mine.add(d)
            except OSError:
                pass
        return mine

    def runtime(self):
        mine = self.runtime_dirs()
        assert len(mine) == 1, mine
        return mine.pop()

    def group(self):
        """Every live process of the dev server's process group (its session)."""
        out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
        return [int(p) for p, g, st in (line.split() for line in out.splitlines())
                if int(g) == self.proc.pid and not st.startswith("Z")]

    def finish(self, timeout=30):
        """Wait for the dev server to end; on a hang, kill its group (the test then fails on what it asserts)."""
        if self.out.closed:
            return self.proc.returncode
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None
        finally:
            self.final = self.text()
            self.out.close()
            os.unlink(self.out_path)


def _end_dev_servers():
    while Dev.started:
        d = Dev.started.pop()
        if d.proc.poll() is None:
            os.killpg(d.proc.pid, signal.SIGTERM)
        d.finish()


@pytest.fixture(autouse=True)
def _dev_servers_end_after_each_test():
    yield
    _end_dev_servers()


def _gone(dev, runtime):
    assert wait_for(lambda: dev.group() == [], 10), dev.group()
    assert not os.path.exists(runtime), os.listdir(runtime)


@pytest.fixture
def state_dir():
    d = tempfile.mkdtemp(prefix="pysandbox-test-state.")
    yield d
    _end_dev_servers()	# before their state goes, whatever the test asserted
    shutil.rmtree(d, ignore_errors=True)


def test_unreachable_state_dir_fails_fast_naming_it():
    """The quickstart from a clone under /root: the service user cannot reach a state directory below a 0700
    directory. The dev server must not hang with nginx answering 503: it stops at once, naming the cause."""
    private = tempfile.mkdtemp(prefix="pysandbox-test-state.")	# 0700, root's, as /root is
    try:
        dev = Dev(os.path.join(private, "state"))
        t0 = time.monotonic()
        code = dev.finish(timeout=20)
        text = dev.text()
        assert code not in (0, None), text
        assert time.monotonic() - t0 < 15
        assert f"{private} is mode 0700" in text and "state_dir" in text, text
        assert dev.runtime_dirs() == set()
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_default_state_lives_where_the_service_user_reaches_it():
    """Without STATE_DIR, a dev server that drops to the service user keeps its state out of the clone, in
    /var/lib/pysandbox-dev/CLONE-HASH, and says so. (Through a path of the build directory of its own, so that
    the hash, and so the state directory, is not the one a developer's `make run` in this build tree uses.)"""
    link_dir = tempfile.mkdtemp(prefix="pysandbox-test-state.")
    build = os.path.join(link_dir, "build")
    os.symlink(os.path.abspath(BUILD), build)
    dev = Dev(None, build=build)
    state = None
    try:
        dev.wait_ready()
        m = re.search(r"state in (\S+);", dev.text())
        assert m, dev.text()
        state = m.group(1)
        assert state.startswith(f"/var/lib/pysandbox-dev/{os.path.basename(os.path.realpath(SRC))}-"), state
        assert os.path.isfile(os.path.join(state, "pysandbox.db"))
        with urllib.request.urlopen(dev.url + "/health", timeout=10) as r:
            assert json.load(r)["status"] == "healthy"
        runtime = dev.runtime()
        os.kill(dev.proc.pid, signal.SIGINT)
        rc = dev.finish()
        assert rc == 130, (rc, dev.final)
        _gone(dev, runtime)
    finally:
        _end_dev_servers()	# before its state goes
        shutil.rmtree(link_dir, ignore_errors=True)
        if state:
            shutil.rmtree(state, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(state))	# /var/lib/pysandbox-dev, unless other clones keep state there
            except OSError:
                pass


def test_term_to_the_process_group_twice_leaves_nothing(state_dir):
    """A TERM to the whole group (a supervisor, a CI runner), then make's own TERM again during the clean-up:
    no process and no runtime directory (with its privileged copy of the jail) survives."""
    dev = Dev(state_dir)
    dev.wait_ready()
    runtime = dev.runtime()
    assert os.path.isfile(os.path.join(runtime, "jail", "pysandbox-jail"))
    os.killpg(dev.proc.pid, signal.SIGTERM)
    time.sleep(0.05)
    if dev.proc.poll() is None:
        os.kill(dev.proc.pid, signal.SIGTERM)
    assert dev.finish() == 143
    _gone(dev, runtime)


@pytest.mark.parametrize("component", ["nginx", "pysandboxd"])
def test_a_component_that_exits_stops_everything(state_dir, component):
    dev = Dev(state_dir)
    dev.wait_ready()
    runtime = dev.runtime()
    if component == "nginx":
        victim = int(open(os.path.join(runtime, "nginx.pid")).read())
    else:
        victim = int(open(os.path.join(runtime, "pool.pid")).read())
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    code = dev.finish()
    assert code not in (0, None), dev.text()
    assert time.monotonic() - t0 < 10
    assert f"devserver: {component} (pid {victim}) exited" in dev.text(), dev.text()
    _gone(dev, runtime)


def test_runtime_dir_of_a_killed_dev_server_is_removed_at_next_start(state_dir):
    """SIGKILL cannot be trapped: the next dev server removes what one killed outright left (once nothing it
    started still runs from it)."""
    dev = Dev(state_dir)
    dev.wait_ready()
    runtime = dev.runtime()
    os.killpg(dev.proc.pid, signal.SIGKILL)
    dev.finish()
    assert wait_for(lambda: dev.group() == [], 10)
    # (Another test's dev server starting meanwhile may be the one that removes it: any next start does.)
    second = Dev(state_dir)
    second.wait_ready()
    assert not os.path.exists(runtime)


def test_start_is_quiet(state_dir):
    """nginx reads a variable called NGINX as inherited sockets: it must not reach nginx ("invalid socket number")."""
    dev = Dev(state_dir, env=dict(os.environ, NGINX=shutil.which("nginx") or "/usr/sbin/nginx"))
    dev.wait_ready()
    text = dev.text()
    assert "[emerg]" not in text and "invalid socket" not in text, text


# ---- request ids -------------------------------------------------------------------


def _get(url, method="GET", data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def _declared_too_large(port):
    """A POST that declares a body above nginx's limit: nginx answers 413 before reading it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n")
        raw = b""
        try:
            while chunk := c.recv(65536):
                raw += chunk
        except ConnectionResetError:
            pass	# nginx resets a connection whose body it refused to read, once it has answered
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), headers, raw


def test_every_answer_carries_a_request_id_that_the_logs_name(service):
    sane = "client-" + os.urandom(6).hex()
    status, h, _ = _get(service.url + "/health", headers={"X-Request-ID": sane})
    assert status == 200 and h["X-Request-ID"] == sane
    # Not sane: too long, spaces, quotes, a CR: replaced by nginx's own (32 hex digits).
    for bad in ["x" * 129, "two words", 'q"uote', "a\tb"]:
        status, h, _ = _get(service.url + "/health", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", h["X-Request-ID"]), (bad, h["X-Request-ID"])
    # On every kind of answer: the pool's (a run, a 404), nginx's own (413, static files), errors included.
    answers = {
        "run": _get(service.url + "/execute", "POST", json.dumps({"code": "print(1)"}).encode(),
                    {"Content-Type": "application/json"}),
        "not found": _get(service.url + "/no-such-route"),
        "too large": _declared_too_large(service.port),
        "static": _get(service.url + "/openapi.json"),
        "examples": _get(service.url + "/examples/"),
    }
    seen = {}
    for what, (status, h, _) in answers.items():
        assert h.get("X-Request-ID"), (what, status, dict(h))
        seen[what] = h["X-Request-ID"]
    assert answers["too large"][0] == 413
    assert len(set(seen.values())) == len(seen)
    runtime = glob.glob(RUN_DIRS)
    # The pool's log (this stack's output) and nginx's access log name them.
    assert wait_for(lambda: f"req={sane}" in service.read_log() and f"req={seen['run']}" in service.read_log(), 5)
    # In text, the id comes first, before anything of the client's.
    line = next(l for l in service.read_log().splitlines() if f"req={sane}" in l)
    assert re.search(rf" info: req={sane} method=GET path=/health status=200 ", line), line
    access = [p for p in runtime if os.path.exists(os.path.join(p, "pysandbox.conf")) and
              f"state_dir = {service.state}" in open(os.path.join(p, "pysandbox.conf")).read()]
    assert len(access) == 1
    # nginx writes an access line once its answer has gone: the last may still be on its way.
    path = os.path.join(access[0], "access.log")
    assert wait_for(lambda: all(f"request_id={rid} " in open(path).read() for rid in [sane, *seen.values()]), 5), \
        ([sane, *seen.values()], open(path).read())


def test_json_log_format(make_service):
    s = make_service(extra_conf="[service]\nlog_format = json\n")
    rid = "json-" + os.urandom(4).hex()
    _get(s.url + "/execute", "POST", json.dumps({"code": "print('\\x1b[31m')"}).encode(),
         {"Content-Type": "application/json", "X-Request-ID": rid})
    assert wait_for(lambda: rid in s.read_log(), 5)
    pool_lines = [line for line in s.read_log().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in pool_lines]
    assert records and all({"time", "level", "prog", "pid", "msg"} <= set(r) for r in records)
    mine = [r for r in records if r.get("request_id") == rid]
    assert mine and "path=/execute" in mine[0]["msg"] and "status=200" in mine[0]["msg"]
    # A client's path cannot forge fields nor reach a terminal: spaces and control bytes stay encoded.
    _get(s.url + "/x%1b%5b31m%20req=victim%20status=200", headers={"X-Request-ID": rid + "-path"})
    assert wait_for(lambda: rid + "-path" in s.read_log(), 5)
    forged = [json.loads(line) for line in s.read_log().splitlines()
              if line.startswith("{") and json.loads(line).get("request_id") == rid + "-path"]
    assert forged and "path=/x%1B[31m%20req=victim%20status=200 status=404" in forged[0]["msg"], forged
    assert "\x1b" not in s.read_log()
    # Every line the pool wrote is JSON (nginx's and the dev server's own lines are not the pool's).
    others = [line for line in s.read_log().splitlines()
              if " pysandboxd" in line and not line.startswith("{")]
    assert others == []


# ---- pysandboxd's options, the admin script's URL, /examples/, deps.sh -------------------------


def test_pysandboxd_help_version_and_check():
    for opt in ("--help", "-h"):
        p = subprocess.run([PYSANDBOXD, opt], capture_output=True, text=True)
        assert p.returncode == 0 and "usage: pysandboxd" in p.stdout and "--version" in p.stdout
    p = subprocess.run([PYSANDBOXD, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and re.fullmatch(r"pysandboxd \(pysandbox\) \d+\.\d+\.\d+\n", p.stdout)
    p = subprocess.run([PYSANDBOXD, "--no-such-option"], capture_output=True, text=True)
    assert p.returncode == 2 and "usage:" in p.stderr
    private = tempfile.mkdtemp(prefix="pysandbox-test-state.")
    try:
        conf = os.path.join(private, "c.conf")
        with open(conf, "w") as f:
            f.write(f"[service]\nuser = pysandbox\nstate_dir = {private}/state\n")
        p = subprocess.run([PYSANDBOXD, "--test", "--config", conf], capture_output=True, text=True)
        assert p.returncode == 1 and f"{private} is mode 0700" in p.stderr, p.stderr
        os.chmod(private, 0o711)
        p = subprocess.run([PYSANDBOXD, "-t", "-c", conf], capture_output=True, text=True)
        assert p.returncode == 0 and "is valid" in p.stdout, p.stderr
        with open(conf, "a") as f:
            f.write("url = ftp://x\n")
        p = subprocess.run([PYSANDBOXD, "-t", "-c", conf], capture_output=True, text=True)
        assert p.returncode == 1 and "url must be an http:// or https:// URL" in p.stderr
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_admin_url_from_env_then_config(service):
    d = tempfile.mkdtemp(prefix="pysandbox-admin-test.")
    try:
        conf = os.path.join(d, "c.conf")
        dead = f"http://127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if k != "PYSANDBOX_URL"}

        def run(*args, extra=None):
            return subprocess.run([ADMIN, *args, "list", "--json"], capture_output=True, text=True, timeout=30,
                                  env=dict(env, **(extra or {})))
        with open(conf, "w") as f:
            f.write(f"[service]\nurl = {service.url}/\n")
        p = run("--config", conf)
        assert p.returncode == 0 and "environments" in json.loads(p.stdout), p.stderr
        # The environment wins over the file, --url over both.
        p = run("--config", conf, extra={"PYSANDBOX_URL": dead})
        assert p.returncode == 1 and f"cannot reach the service at {dead}" in p.stderr, p.stderr
        p = run("--config", conf, "--url", service.url, extra={"PYSANDBOX_URL": dead})
        assert p.returncode == 0, p.stderr
        p = run(extra={"PYSANDBOX_URL": service.url})
        assert p.returncode == 0, p.stderr
        p = run(extra={"PYSANDBOX_URL": "javascript:alert(1)"})
        assert p.returncode == 2 and "invalid service URL" in p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_examples_index(service):
    status, h, body = _get(service.url + "/examples/")
    assert status == 200 and h["Content-Type"].startswith("text/html")
    page = body.decode()
    shipped = sorted(f for f in os.listdir(os.path.join(SRC, "www", "examples")) if f != "index.html")
    assert shipped and all(f'href="{f}"' in page for f in shipped)
    for f in shipped:
        assert _get(service.url + "/examples/" + f)[0] == 200


def test_deps_leaves_a_running_system_nginx_alone():
    """conf/deps.sh once stopped a system nginx it found running (and never started it again)."""
    if os.path.exists("/run/nginx.pid"):
        pytest.skip("a system nginx runs here; this test starts its own in that place")
    d = tempfile.mkdtemp(prefix="pysandbox-admin-test.")
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"daemon off; pid /run/nginx.pid; error_log stderr;\nevents {{}}\n"
                f"http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; "
                f"fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n"
                f"server {{ listen 127.0.0.1:{port}; return 204; }} }}\n")
    nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p", d, "-c", conf])
    try:
        assert wait_for(lambda: os.path.exists("/run/nginx.pid"), 10)
        p = subprocess.run(["bash", os.path.join(SRC, "conf", "deps.sh")], capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == 0, p.stderr
        assert nginx.poll() is None
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_prune_follows_retention_days(service):
    """The daily timer runs `pysandbox-admin prune` with no duration: the configuration's retention_days."""
    service.execute("print('a run to keep')")
    d = tempfile.mkdtemp(prefix="pysandbox-admin-test.")
    try:
        conf = os.path.join(d, "c.conf")

        def prune(days, *extra):
            with open(conf, "w") as f:
                f.write(f"[service]\nstate_dir = {service.state}\n" + (f"retention_days = {days}\n" if days else ""))
            return subprocess.run([ADMIN, "--config", conf, "prune", "--json", *extra], capture_output=True,
                                  text=True, timeout=60)
        p = prune("0")
        assert p.returncode == 0 and json.loads(p.stdout) == {"retention_days": 0, "pruned": False}, p.stderr
        p = prune("2", "--dry-run")
        out = json.loads(p.stdout)
        cutoff = time.mktime(time.strptime(out["cutoff"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert abs(time.time() - 2 * 86400 - cutoff) < 120, out
        assert out["dry_run"] and out["runs_deleted"] == 0
        p = prune(None, "--dry-run")	# unset: 30 days
        cutoff = time.mktime(time.strptime(json.loads(p.stdout)["cutoff"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert abs(time.time() - 30 * 86400 - cutoff) < 120
        p = prune("soon")
        assert p.returncode == 1 and "retention_days" in p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)
