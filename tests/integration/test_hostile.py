"""test_hostile.py: hostile programs through the real stack; each asserts the exact outcome and a healthy service."""
import base64
import glob
import json
import os
import secrets
import socket
import textwrap
import threading
import time
import urllib.request

import pytest

import hostinspect

# Shared by the programs below: attempt(f, ...) names the outcome of one call ("ok" or "ExcType:ERRNO").
PRELUDE = '''
import errno, json, os, sys
def attempt(f, *a, **k):
    try:
        f(*a, **k)
        return "ok"
    except OSError as e:
        return f"{type(e).__name__}:{errno.errorcode.get(e.errno, e.errno)}"
    except Exception as e:
        return type(e).__name__
'''

# What the jail's environment may hold (jail.c, exec_program); nothing from the service's own environment.
ALLOWED_ENV = {
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "MPLBACKEND", "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
}


# ---- helpers -----------------------------------------------------------------

def run(service, code, timeout=5, **fields):
    """Run code (dedented, PRELUDE first) and return (response, wall seconds of the HTTP round trip)."""
    t0 = time.monotonic()
    r = service.execute(PRELUDE + textwrap.dedent(code), timeout=timeout, **fields)
    return r, time.monotonic() - t0


def last_json(r):
    """The JSON object the program printed on its last stdout line."""
    lines = r["stdout"].splitlines()
    assert lines, r
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def pool_uids(service):
    """The stack's uid pool plus the default 60000..60063."""
    return set(hostinspect.uid_range(service)) | set(hostinspect.UID_RANGE)


def assert_serving(service):
    """The service is healthy and still runs a plain program correctly."""
    assert service.healthy()
    r = service.execute("print('still serving')", timeout=5)
    assert (r["status"], r["stdout"]) == ("ok", "still serving\n"), r


def assert_no_run_processes(service, uids, token=None):
    """No process of the uid pool escaped a jail or outlived a run of this stack; nothing carries token."""
    assert hostinspect.wait_no_run_leftovers(uids, [service.proc.pid]) == []
    if token:
        carriers = [hostinspect.describe(pid, procs) for procs in [hostinspect.processes()]
                    for pid, p in procs.items() if any(token in a for a in p["cmdline"]) and pid != os.getpid()]
        assert carriers == []


def host_ipv4_addresses():
    """The host's own non-loopback IPv4 addresses (LOCAL entries of the FIB)."""
    addrs, last = set(), None
    with open("/proc/net/fib_trie") as f:
        for line in f:
            s = line.strip()
            if s.startswith("|--"):
                last = s.split()[1]
            elif s == "/32 host LOCAL" and last and not last.startswith("127."):
                addrs.add(last)
    return sorted(addrs)


# ---- secrets and the read-only tree --------------------------------------

@pytest.fixture
def canaries():
    """World-readable secret files on the host (/root, /var/tmp, /tmp); removed afterwards."""
    token = secrets.token_hex(16)
    paths = [f"/root/pysandbox-canary-{token}", f"/var/tmp/pysandbox-canary-{token}", f"/tmp/pysandbox-canary-{token}"]
    content = f"CANARY-{secrets.token_hex(24)}\n"
    try:
        for p in paths:
            with open(p, "w") as f:
                f.write(content)
            os.chmod(p, 0o644)
        yield paths, content
    finally:
        for p in paths:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


def test_host_secrets_unreadable(service, canaries):
    paths, content = canaries
    root_canary, vartmp_canary, tmp_canary = paths
    r, _ = run(service, f'''
        def read(p):
            with open(p) as f:
                print(f.read())
        st_root, st_slash = os.stat("/root"), os.stat("/")
        print(json.dumps({{
            "shadow": attempt(read, "/etc/shadow"),
            "gshadow": attempt(read, "/etc/gshadow"),
            "root_canary": attempt(read, {root_canary!r}),
            "vartmp_canary": attempt(read, {vartmp_canary!r}),
            "tmp_canary": attempt(read, {tmp_canary!r}),
            "via_proc1_root": attempt(read, "/proc/1/root" + {root_canary!r}),
            "via_self_root": attempt(read, "/proc/self/root" + {vartmp_canary!r}),
            "list_root": attempt(os.listdir, "/root"),
            # /root is the jail's own empty root-only directory on the root tmpfs, not the host's.
            "root_is_jail_dir": st_root.st_dev == st_slash.st_dev and st_root.st_uid == 0
                                and (st_root.st_mode & 0o777) == 0o700,
        }}))
    ''')
    assert r["status"] == "ok", r
    assert last_json(r) == {
        "shadow": "FileNotFoundError:ENOENT",
        "gshadow": "FileNotFoundError:ENOENT",
        "root_canary": "PermissionError:EACCES",
        "vartmp_canary": "FileNotFoundError:ENOENT",
        "tmp_canary": "FileNotFoundError:ENOENT",
        "via_proc1_root": "FileNotFoundError:ENOENT",
        "via_self_root": "FileNotFoundError:ENOENT",
        "list_root": "PermissionError:EACCES",
        "root_is_jail_dir": True,
    }
    assert content.strip() not in json.dumps(r)
    for p in paths:	# and nothing touched them
        with open(p) as f:
            assert f.read() == content
    assert_serving(service)


def test_system_tree_read_only(service):
    name = f"pysandbox-hostile-{secrets.token_hex(8)}"
    r, _ = run(service, f'''
        name = {name!r}
        def create(p):
            with open(p, "w") as f:
                f.write("pwned")
        def append(p):
            with open(p, "a") as f:
                f.write("pwned")
        print(json.dumps({{
            "usr_create": attempt(create, "/usr/" + name),
            "usr_bin_create": attempt(create, "/usr/bin/" + name),
            "usr_mkdir": attempt(os.mkdir, "/usr/lib/" + name),
            "python_append": attempt(append, "/usr/bin/python3"),
            "etc_create": attempt(create, "/etc/" + name),
            "etc_passwd_append": attempt(append, "/etc/passwd"),
            "etc_ssl_create": attempt(create, "/etc/ssl/" + name),
            "root_create": attempt(create, "/" + name),
            "root_mkdir": attempt(os.mkdir, "/" + name + ".d"),
            "dev_create": attempt(create, "/dev/" + name),
            "rename_passwd": attempt(os.rename, "/etc/passwd", "/etc/" + name),
            "chmod_passwd": attempt(os.chmod, "/etc/passwd", 0o666),
            "unlink_python": attempt(os.unlink, "/usr/bin/python3"),
        }}))
    ''')
    assert r["status"] == "ok", r
    # Creating, renaming or chmod-ing on a read-only mount: EROFS; opening a root-owned file for writing
    # fails its permission check (EACCES) before the mount's read-only flag is looked at.
    assert last_json(r) == {
        "usr_create": "OSError:EROFS",
        "usr_bin_create": "OSError:EROFS",
        "usr_mkdir": "OSError:EROFS",
        "python_append": "PermissionError:EACCES",
        "etc_create": "OSError:EROFS",
        "etc_passwd_append": "PermissionError:EACCES",
        "etc_ssl_create": "OSError:EROFS",
        "root_create": "OSError:EROFS",
        "root_mkdir": "OSError:EROFS",
        "dev_create": "OSError:EROFS",
        "rename_passwd": "OSError:EROFS",
        "chmod_passwd": "OSError:EROFS",
        "unlink_python": "OSError:EROFS",
    }
    for d in ("/usr", "/usr/bin", "/usr/lib", "/etc", "/etc/ssl", "/", "/dev"):
        assert glob.glob(os.path.join(d, name + "*")) == []
    assert_serving(service)


# ---- network -----------------------------------------------------------------

def test_network_isolated_but_loopback_works(service):
    sock_path = os.path.join(hostinspect.runtime_dir(service), "pysandbox.sock")
    assert os.path.exists(sock_path)	# the host's FastCGI socket really is there
    abstract = f"\0pysandbox-hostile-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_INET) as tcp, socket.socket(socket.AF_UNIX) as unix:
        tcp.bind(("0.0.0.0", 0))
        tcp.listen(8)
        tcp.setblocking(False)
        unix.bind(abstract)
        unix.listen(8)
        unix.setblocking(False)
        host_port = tcp.getsockname()[1]
        host_ips = host_ipv4_addresses()
        r, elapsed = run(service, f'''
            import socket, threading
            def connect(addr):
                socket.create_connection(addr, timeout=3).close()
            def connect_unix(path):
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(path)
            def own_server():
                srv = socket.socket()
                srv.bind(("127.0.0.1", 0))
                srv.listen(1)
                def echo():
                    c, _ = srv.accept()
                    c.sendall(c.recv(100).upper())
                    c.close()
                threading.Thread(target=echo).start()
                with socket.create_connection(srv.getsockname(), timeout=3) as c:
                    c.sendall(b"ping")
                    return c.recv(100).decode()
            print(json.dumps({{
                "service_port": attempt(connect, ("127.0.0.1", {service.port})),
                "host_listener_lo": attempt(connect, ("127.0.0.1", {host_port})),
                "host_listener_ip": sorted(set(attempt(connect, (ip, {host_port})) for ip in {host_ips!r})),
                "outside": attempt(connect, ("10.255.255.1", 80)),
                "public": attempt(connect, ("8.8.8.8", 53)),
                "fastcgi_socket": attempt(connect_unix, {sock_path!r}),
                "fastcgi_dir_visible": os.path.exists(os.path.dirname({sock_path!r})),
                "abstract_socket": attempt(connect_unix, {abstract!r}),
                "interfaces": socket.if_nameindex(),
                "own_server": own_server(),
            }}))
        ''')
        assert r["status"] == "ok", r
        assert last_json(r) == {
            "service_port": "ConnectionRefusedError:ECONNREFUSED",
            "host_listener_lo": "ConnectionRefusedError:ECONNREFUSED",
            "host_listener_ip": ["OSError:ENETUNREACH"] if host_ips else [],
            "outside": "OSError:ENETUNREACH",
            "public": "OSError:ENETUNREACH",
            "fastcgi_socket": "FileNotFoundError:ENOENT",
            "fastcgi_dir_visible": False,
            "abstract_socket": "ConnectionRefusedError:ECONNREFUSED",
            "interfaces": [[1, "lo"]],
            "own_server": "PING",
        }
        assert elapsed < 10
        for listener in (tcp, unix):	# nothing reached the host's listeners
            with pytest.raises(BlockingIOError):
                listener.accept()
    assert_serving(service)


# ---- processes that try to outlive the run ---------------------------------

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


def test_fork_bomb_ends(service, pool_uids):
    r, elapsed = run(service, '''
        print("start", flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                pass
    ''', timeout=2)
    assert (r["success"], r["status"]) == (False, "timeout"), r
    assert r["stdout"] == "start\n"
    assert elapsed < 10, elapsed
    assert_no_run_processes(service, pool_uids)
    assert_serving(service)


# ---- resource limits -------------------------------------------------------

def test_huge_allocation_hits_memory_limit(service):
    # Filled, not just reserved, so the limit bites whether it is RLIMIT_AS or a memory cgroup.
    r, elapsed = run(service, "x = b'\\1' * (3 * 1024 ** 3)\nprint('allocated')\n")
    assert (r["success"], r["status"]) == (False, "memory_limit"), r
    assert r["error"] == "Memory limit of 512 MB exceeded"	# the default memory_mb
    assert "allocated" not in r["stdout"]
    assert elapsed < 10
    assert_serving(service)


def test_memfd_cannot_bypass_memory_limit(service):
    # memfd pages are shmem: RLIMIT_AS does not see them. A run must not hold more memory than memory_mb
    # (here 256 MB); the program stops itself at 768 MB so a failure here does not hurt the host.
    r, elapsed = run(service, '''
        fds, total, chunk = [], 0, b"\\1" * (8 << 20)
        try:
            while total < (768 << 20):
                fd = os.memfd_create("hog")
                os.write(fd, chunk)
                fds.append(fd)
                total += len(chunk)
                print("held", total >> 20, flush=True)
        except OSError as e:
            print("stopped", e.errno, flush=True)
    ''', timeout=10, memory_mb=256)
    held = max([int(line.split()[1]) for line in r["stdout"].splitlines() if line.startswith("held ")] or [0])
    assert held <= 256, f"the run held {held} MB in memfds with memory_mb=256 (status {r['status']})"
    assert elapsed < 15
    assert_serving(service)


def test_memory_limit_covers_all_processes(service):
    # RLIMIT_AS is per process: four children of 160 MB each would hold 640 MB with memory_mb=256 (and
    # max_processes x memory_mb in general). The limit must hold for the run as a whole.
    r, elapsed = run(service, '''
        import time
        r, w = os.pipe()
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    data = b"\\1" * (160 << 20)	# touched, so resident
                    os.write(w, b"k")
                except MemoryError:
                    os.write(w, b"m")
                time.sleep(30)
                os._exit(0)
            kids.append(pid)
        os.close(w)
        got = b""
        while len(got) < 4:
            c = os.read(r, 4)
            if not c:
                break
            got += c
        print("held", 160 * got.count(b"k"), flush=True)
        for k in kids:
            os.kill(k, 9)
    ''', timeout=10, memory_mb=256)
    held = max([int(line.split()[1]) for line in r["stdout"].splitlines() if line.startswith("held ")] or [0])
    assert held <= 256, f"the run's processes held {held} MB together with memory_mb=256 (status {r['status']})"
    assert elapsed < 15
    assert_serving(service)


def test_cpu_loop_times_out(service):
    r, elapsed = run(service, 'print("before", flush=True)\nwhile True:\n    pass\n', timeout=2)
    assert (r["success"], r["status"]) == (False, "timeout"), r
    assert r["stdout"] == "before\n"	# partial output is kept
    assert r["error"] and "2" in r["error"]
    assert 1.9 <= r["execution_time"] < 4, r["execution_time"]
    assert elapsed < 6, elapsed
    assert_serving(service)


def test_cpu_loop_in_four_threads_times_out(service):
    r, elapsed = run(service, '''
        import threading
        def spin():
            while True:
                pass
        for _ in range(4):
            threading.Thread(target=spin).start()
        print("spinning", flush=True)
    ''', timeout=2)
    assert (r["success"], r["status"]) == (False, "timeout"), r
    assert r["stdout"] == "spinning\n"
    assert elapsed < 6, elapsed
    assert_serving(service)


def test_ignoring_every_signal_does_not_survive_timeout(service, pool_uids):
    r, elapsed = run(service, '''
        import signal
        ignored = 0
        for s in range(1, signal.NSIG):
            try:
                signal.signal(s, signal.SIG_IGN)
                ignored += 1
            except (OSError, ValueError, RuntimeError):
                pass
        print(ignored, flush=True)
        while True:
            pass
    ''', timeout=2)
    assert (r["success"], r["status"]) == (False, "timeout"), r
    assert int(r["stdout"]) > 50	# everything but SIGKILL and SIGSTOP (and glibc's two) was ignored
    assert elapsed < 6, elapsed
    assert_no_run_processes(service, pool_uids)
    assert_serving(service)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_flood_is_capped(service, stream):
    r, elapsed = run(service, f'''
        chunk = "x" * (1 << 20)
        for _ in range(50):
            sys.{stream}.write(chunk)
    ''', timeout=20)
    brief = {k: v for k, v in r.items() if k not in ("stdout", "stderr")}
    assert (r["success"], r["status"]) == (False, "output_limit"), brief
    assert len(r[stream]) == 1048576 and r[stream] == "x" * 1048576
    assert r["truncated"][stream] is True
    assert elapsed < 10, elapsed
    assert_serving(service)


# ---- the working directory: links, special files, names -------------------

def test_symlinks_never_followed(service):
    with open("/etc/passwd") as f:
        host_lines = set(f.read().splitlines())
    r, _ = run(service, '''
        os.symlink("/etc/passwd", "link")
        os.symlink("/proc/1/root", "root1")
        os.symlink("/proc/self/root/etc", "etclink")
        os.symlink("/usr/bin/python3", "pylink")
        os.symlink("main.py", "mainlink")
        os.makedirs("sub")
        os.symlink("..", "sub/up")
        with open("real.txt", "w") as f:
            f.write("real")
        with open("link") as f:
            passwd = f.read()
        print(json.dumps({"passwd": passwd, "root1": attempt(os.listdir, "root1")}))
    ''')
    assert r["status"] == "ok", r
    out = last_json(r)
    assert r["files"] == {"real.txt": base64.b64encode(b"real").decode()}
    assert out["root1"] == "FileNotFoundError:ENOENT"
    jail_lines = set(out["passwd"].splitlines())
    assert "root:x:0:0:root:/root:/bin/bash" not in jail_lines
    assert jail_lines & (host_lines - jail_lines) == set()
    assert [line for line in jail_lines if line.startswith("sandbox:x:")], jail_lines
    assert_serving(service)


def test_fifo_and_socket_in_workdir(service, pool_uids):
    r, elapsed = run(service, '''
        import socket, subprocess
        os.mkfifo("f")
        os.makedirs("sub")
        os.mkfifo("sub/f2")
        s = socket.socket(socket.AF_UNIX)
        s.bind("sock")
        # a writer blocked opening the FIFO, left behind
        subprocess.Popen(["sh", "-c", "echo hi > f"])
        with open("ok.txt", "w") as f:
            f.write("ok")
        print("done")
    ''', timeout=5)
    assert elapsed < 10, elapsed
    assert (r["status"], r["stdout"]) == ("ok", "done\n"), r
    assert r["files"] == {"ok.txt": base64.b64encode(b"ok").decode()}
    assert_no_run_processes(service, pool_uids)
    assert_serving(service)


def raw_execute(service, code, **fields):
    """POST /execute and parse the body strictly: valid UTF-8, valid JSON."""
    body = json.dumps(dict(fields, code=code)).encode()
    req = urllib.request.Request(service.url + "/execute", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200
        raw = resp.read()
    return json.loads(raw.decode("utf-8"))


def test_hostile_file_names(service):
    long_name = "a" * 255
    deep = "/".join(["d"] * 16) + "/x.txt"
    code = PRELUDE + textwrap.dedent(f'''
        def put(name, data):
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            os.close(fd)
        put({long_name!r}, b"long")
        put("new\\nline.txt", b"newline")
        put(b"\\xff\\xfe.txt", b"\\x00\\xffbinary")
        put("quote\\"back\\\\slash\\ttab", b"quoted")
        put("\\x1b[31mred", b"escape")
        put("日本語.txt", "テキスト".encode())
        os.makedirs(os.path.dirname({deep!r}))
        put({deep!r}, b"deep")
        os.makedirs(b"dir\\xc0")
        put(b"dir\\xc0/in.txt", b"inside")
        sys.stdout.buffer.write(b"bad \\xff utf8\\n")
    ''')
    r = raw_execute(service, code, timeout=5)
    assert r["status"] == "ok", r
    expected = {
        long_name: b"long",
        "new\nline.txt": b"newline",
        "\ufffd\ufffd.txt": b"\x00\xffbinary",
        'quote"back\\slash\ttab': b"quoted",
        "\x1b[31mred": b"escape",
        "日本語.txt": "テキスト".encode(),
        deep: b"deep",
        "dir\ufffd/in.txt": b"inside",
    }
    assert {k: base64.b64decode(v, validate=True) for k, v in r["files"].items()} == expected
    assert r["stdout"] == "bad \ufffd utf8\n"
    assert_serving(service)


# ---- signals ---------------------------------------------------------------

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


# ---- runs cannot see each other ----------------------------------------------

def test_tmp_shm_and_ipc_do_not_persist(service):
    marker = f"pysandbox-persist-{secrets.token_hex(8)}"
    key = secrets.randbelow(1 << 30) + 1
    r1, _ = run(service, f'''
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        for d in ("/tmp", "/dev/shm", "/work"):
            with open(d + "/{marker}", "w") as f:
                f.write("left behind")
        os.makedirs("/tmp/{marker}.d/sub")
        print(json.dumps({{"shm_id": libc.shmget({key}, 4096, 0o1666) >= 0}}))
    ''')
    assert r1["status"] == "ok" and last_json(r1) == {"shm_id": True}, r1
    r2, _ = run(service, f'''
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.shmget({key}, 4096, 0o666)
        print(json.dumps({{
            "tmp": os.listdir("/tmp"), "shm": os.listdir("/dev/shm"), "work": sorted(os.listdir("/work")),
            "read_tmp": attempt(open, "/tmp/{marker}"),
            "sysv_shm": "ok" if rc >= 0 else errno.errorcode[ctypes.get_errno()],
        }}))
    ''')
    assert r2["status"] == "ok", r2
    assert last_json(r2) == {"tmp": [], "shm": [], "work": ["main.py"], "read_tmp": "FileNotFoundError:ENOENT",
                             "sysv_shm": "ENOENT"}
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


# ---- escape primitives -----------------------------------------------------

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
        "setuid0": "PermissionError:EPERM",
        "setgid0": "PermissionError:EPERM",
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


# ---- filling the disks -----------------------------------------------------

def test_disk_filling_fails_cleanly(service):
    r, elapsed = run(service, '''
        def one_big(path):
            try:
                with open(path, "wb") as f:
                    for _ in range(20):
                        f.write(b"\\0" * (1 << 20))
                        f.flush()
                return "no error"
            except OSError as e:
                return errno.errorcode[e.errno]
            finally:
                if os.path.exists(path):
                    os.unlink(path)
        def many(d):
            os.makedirs(d)
            written, i = 0, 0
            try:
                while written < (200 << 20):
                    with open(f"{d}/f{i}", "wb") as f:
                        for _ in range(4):
                            f.write(b"\\1" * (1 << 20))
                            f.flush()
                            written += 1 << 20
                    i += 1
                result = "no error"
            except OSError as e:
                result = errno.errorcode[e.errno]
            for name in os.listdir(d):
                os.unlink(f"{d}/{name}")
            os.rmdir(d)
            return result, written >> 20
        def inodes(d):
            os.makedirs(d)
            n = 0
            try:
                while n < 100000:
                    open(f"{d}/i{n}", "w").close()
                    n += 1
                result = "no error"
            except OSError as e:
                result = errno.errorcode[e.errno]
            for i in range(n):
                os.unlink(f"{d}/i{i}")
            return result, n
        out = {
            "big_work": one_big("/work/big"), "big_tmp": one_big("/tmp/big"), "big_shm": one_big("/dev/shm/big"),
            "many_work": many("/work/many"), "many_tmp": many("/tmp/many"), "many_shm": many("/dev/shm/many"),
            "inodes_tmp": inodes("/tmp/inodes"),
        }
        with open("after.txt", "w") as f:
            f.write("still writing")
        print(json.dumps(out))
    ''', timeout=20)
    assert r["status"] == "ok", r
    out = last_json(r)
    assert (out["big_work"], out["big_tmp"], out["big_shm"]) == ("EFBIG", "EFBIG", "EFBIG")	# max_file_size 10M
    for k in ("many_work", "many_tmp", "many_shm"):	# workdir_mb / tmp_mb 64
        assert out[k][0] == "ENOSPC" and 56 <= out[k][1] <= 64, (k, out[k])
    assert out["inodes_tmp"][0] == "ENOSPC" and 16000 <= out["inodes_tmp"][1] <= 16384, out["inodes_tmp"]
    assert r["files"] == {"after.txt": base64.b64encode(b"still writing").decode()}
    assert elapsed < 20
    assert_serving(service)


def test_inode_flood_in_workdir_caps_returned_files(service):
    r, elapsed = run(service, '''
        os.makedirs("flood")
        n = 0
        try:
            while n < 100000:
                open(f"flood/{n}", "w").close()
                n += 1
        except OSError as e:
            print(errno.errorcode[e.errno], n > 16000)
    ''', timeout=20)
    assert r["status"] == "ok", {k: v for k, v in r.items() if k != "files"}
    assert r["stdout"] == "ENOSPC True\n"
    assert len(r["files"]) == 100 and r["truncated"]["files"] is True
    assert all(k.startswith("flood/") and v == "" for k, v in r["files"].items())
    assert elapsed < 20
    assert_serving(service)
