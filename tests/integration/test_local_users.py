"""test_local_users.py: other local accounts of the host (here: nobody) can neither drive the capability-holding jail
nor read the state directory, the database or the environments."""
import grp
import os
import pwd
import stat
import subprocess

import hostinspect
from envtools import create, wait_ready

OTHER = "nobody"


def as_other(*argv):
    return subprocess.run(list(argv), user=OTHER, group="nogroup", extra_groups=[], capture_output=True, timeout=30)


def test_only_the_service_user_may_execute_the_jail(service):
    runtime = hostinspect.runtime_dir(service)
    jail_dir = os.path.join(runtime, "jail")
    jail = os.path.join(jail_dir, "pysandbox-jail")
    group = grp.getgrgid(pwd.getpwnam("pysandbox").pw_gid).gr_name
    for path in (jail_dir, jail):
        st = os.stat(path)
        assert st.st_uid == 0 and grp.getgrgid(st.st_gid).gr_name == group, path
        assert stat.S_IMODE(st.st_mode) & 0o007 == 0, (path, oct(st.st_mode))
    caps = subprocess.run(["getcap", jail], capture_output=True, text=True).stdout
    assert "cap_sys_admin" in caps, caps
    p = as_other("/bin/sh", "-c", f'"{jail}" sweep; echo "exit $?"')
    assert b"Permission denied" in p.stderr and p.stdout.strip() == b"exit 126", p
    # The service user itself may (the pool runs as it).
    assert subprocess.run(["test", "-x", jail], user="pysandbox", group="pysandbox", extra_groups=[]).returncode == 0


def test_the_state_directory_is_the_service_users_alone(service):
    create(service, "private-env", "echo built > /env/marker")
    wait_ready(service, "private-env")
    state = service.state
    paths = [state, os.path.join(state, "envs"), os.path.join(state, "pysandbox.db")]
    paths += [p for p in (os.path.join(state, "pysandbox.db-wal"), os.path.join(state, "pysandbox.db-shm"))
              if os.path.exists(p)]
    for path in paths:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o007 == 0, (path, oct(mode))
    for argv in (["ls", state], ["cat", os.path.join(state, "pysandbox.db")],
                 ["cat", os.path.join(state, "envs", "private-env", "marker")]):
        p = as_other(*argv)
        assert p.returncode != 0 and b"Permission denied" in p.stderr, (argv, p)
    service.request("DELETE", "/environments/private-env")
