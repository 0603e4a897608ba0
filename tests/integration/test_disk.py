"""test_disk.py: a build cannot take the host's disk: its environment is measured with privilege (what it hides from
its own uid counts), in bytes, inodes and depth; set-id bits never survive, a built tree is root's, and trees of any
depth are removed without the builder spinning."""
import os
import stat
import subprocess
import time

import pytest

import hostinspect
from envtools import create, log_text, wait_built, wait_ready
from hostinspect import wait_for

MAX_ENV_MB = 48
MAX_INODES = 20000
CONF = (f"[environments]\nmax_env_size = {MAX_ENV_MB}M\nmax_env_inodes = {MAX_INODES}\nbuild_timeout = 90\n"
        "max_builds = 2\n")


@pytest.fixture(scope="module")
def stack(make_module_service):
    return make_module_service(extra_conf=CONF)


def build_dirs(s):
    envs = os.path.join(s.state, "envs")
    return sorted(d for d in os.listdir(envs) if d.startswith((".build-", ".trash-"))) if os.path.isdir(envs) else []


def builder_pid(s):
    """The stack's builder: the pysandbox-build process whose parent is the pool's master (its builds are its own
    children, of the same name)."""
    procs = hostinspect.processes()
    for pid in hostinspect.stack_pids(s, procs):
        p = procs[pid]
        if p["name"] == hostinspect.BUILDER_NAME and procs.get(p["ppid"], {}).get("name") == hostinspect.DAEMON_NAME:
            return pid
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fails_with(s, name, script, reason, within=None):
    t0 = time.monotonic()
    create(s, name, script)
    env = wait_built(s, name)
    took = time.monotonic() - t0
    assert env["status"] == "failed" and reason in (env["error"] or ""), (env, log_text(s, name)[-2000:])
    if within is not None:
        assert took < within, (took, env)
    wait_for("the failed build's directory to be removed", lambda: not build_dirs(s), timeout=30)
    s.request("DELETE", f"/environments/{name}")
    return env


def test_what_a_build_hides_from_its_own_uid_counts(stack):
    # 3 x 20 MB in a directory no one but root may enter: past 48 MB, stopped within seconds, not at the timeout.
    fails_with(stack, "hidden-fill", """set -e
mkdir /env/hidden
for i in 1 2 3; do head -c 20M /dev/zero > /env/hidden/f$i; done
chmod 000 /env/hidden
sleep 60
""", "grew past max_env_size", within=30)


def test_inodes_are_counted(stack):
    fails_with(stack, "many-files", """set -e
python - <<'PY'
import os
os.mkdir("/env/many")
for i in range(30000):
    open(f"/env/many/f{i}", "w").close()
PY
sleep 60
""", f"more than max_env_inodes ({MAX_INODES})", within=40)


def test_a_deep_tree_is_refused_and_removed(stack):
    before = builder_pid(stack)
    fails_with(stack, "deep-tree", """set -e
python - <<'PY'
import os
os.chdir("/env")
for i in range(3000):
    os.mkdir("d")
    os.chdir("d")
open("bottom", "w").write("x" * 100000)
PY
sleep 60
""", "deeper than 256 levels", within=40)
    assert builder_pid(stack) == before


def test_set_id_bits_never_survive_and_the_tree_is_roots(stack):
    create(stack, "setid", """set -e
cp /bin/true /env/suid && chmod 4755 /env/suid
cp /bin/true /env/sgid && chmod 2755 /env/sgid
mkdir /env/sgid-dir && chmod 2777 /env/sgid-dir
echo x > /env/world-writable && chmod 0666 /env/world-writable
""")
    wait_ready(stack, "setid")
    root = os.path.join(stack.state, "envs", "setid")
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames + ([""] if dirpath == root else []):
            p = os.path.join(dirpath, n) if n else dirpath
            st = os.lstat(p)
            assert st.st_uid == 0 and st.st_gid == 0, (p, st.st_uid, st.st_gid)
            if not stat.S_ISLNK(st.st_mode):
                assert st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWGRP | stat.S_IWOTH) == 0, (p, oct(st.st_mode))
    assert stat.S_IMODE(os.stat(os.path.join(root, "suid")).st_mode) == 0o755
    # Runs mount it read-only, nosuid, nodev; the program still runs.
    status, r = stack.request("POST", "/execute-with-environment", {"environment": "setid", "code":
        "import subprocess\nprint(subprocess.run(['/env/suid']).returncode)\n"
        "print([l.split()[5] + ' ' + l.split(' - ')[1].split()[-1] for l in open('/proc/self/mountinfo') if l.split()[4] == '/env'])"})
    assert status == 200 and r["stdout"].splitlines()[:1] == ["0"], r
    opts = r["stdout"].splitlines()[1]
    assert "ro" in opts and "nosuid" in opts and "nodev" in opts, opts
    stack.request("DELETE", "/environments/setid")


def test_a_leftover_that_will_not_go_is_retried_with_a_growing_gap(stack):
    """The builder once spun a core when a removal failed (a log line every few ms). A trash directory holding an
    immutable file cannot be removed even by root: the builder tries again less and less often, then removes it
    once it can."""
    trash = os.path.join(stack.state, "envs", ".trash-999999")
    os.makedirs(trash)
    stuck = os.path.join(trash, "stuck")
    open(stuck, "w").close()
    if subprocess.run(["chattr", "+i", stuck], capture_output=True).returncode != 0:
        subprocess.run(["rm", "-rf", trash])
        pytest.skip("no immutable files on this file system")
    try:
        pid = builder_pid(stack)
        log0, cpu0 = len(stack.read_log()), cpu_seconds(pid)
        os.kill(pid, 10)	# SIGUSR1: look for work (and garbage) now
        time.sleep(6)
        tries = stack.read_log()[log0:].count("could not remove")
        assert 1 <= tries <= 4, stack.read_log()[log0:]
        assert cpu_seconds(pid) - cpu0 < 1.0
    finally:
        subprocess.run(["chattr", "-i", stuck])
    wait_for("the leftover to be removed once it can be", lambda: not os.path.exists(trash), timeout=30)
