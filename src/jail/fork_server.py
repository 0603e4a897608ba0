# fork_server.py: the fork server's /work/main.py (after run_main.py): an interpreter up once, which forks a
# child per run; the child puts itself in a jail of its own (a user namespace with mount, pid, network, IPC and
# UTS namespaces, fresh /proc, /work, /tmp and /dev/shm, the run's uid and rlimits, no capability,
# no_new_privs, the jail's seccomp filter) and then, once the jail has checked it and written the run's files,
# runs the run's main.py as the cold path does (run_main.py).
#
# The jail starts it (forkserver.c) as `python3 -E -s -u main.py` in a root like a run's, as uid A with real uid
# B, no capability and a seccomp filter of its own (seccomp.c: the run's policy less unshare and mount, which
# the children need before they load the run's), with a listening socket on fd 3 that only the jail (root) can
# reach. Per connection it reads one request, "F" with four descriptors (the run's stdin, stdout and stderr,
# and a pipe whose EOF says the jail has stopped the run), and forks; it never reads a run's code, files,
# stdin or arguments. The child's side of the talk with the jail (src/jail/forkrun.c), one message each on the
# connection, which the jail reads with SO_PASSCRED (the kernel's word for who sent each):
#   child -> jail   "U"                       its user namespace is made (sent by the child, uid B)
#   jail -> child   "M <uid> <gid> <work_mb> <tmp_mb> <cpu_s> <as> <fsize> <nofile> <nproc>", then the
#                   seccomp filter's BPF, then the run's environment (NAME=VALUE, each NUL-terminated): its
#                   maps are written and it is in the run's cgroups
#   program -> jail "P" + the program's /work (SCM_RIGHTS): jailed, waiting (sent by the program, pid 2)
#   jail -> program "G"|"N" + each argument NUL-terminated: the run's files are written, go
#   init -> jail    "R <wait status> <utime_us> <stime_us> <maxrss_kb>": the run has ended (init, pid 1)
# The jail does not trust these steps: it reads the program's state from /proc before it writes a byte of the
# run's, and fails the run closed if any differs.
_pysandbox_cold_modules = frozenset(sys.modules)	# what a cold start has: its child's run starts with these


def _pysandbox_fork_server():
    import ctypes
    import gc
    import resource
    import select
    import signal
    import _socket
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET = 0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
    MS_BIND, MS_REC, MS_PRIVATE = 4096, 0x4000, 1 << 18
    PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECCOMP = 1, 4, 24, 22
    PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 38, 47
    LISTEN_FD = 3

    def check(rc, what):
        if rc != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"{what}: {os.strerror(e)}")

    def mount(src, target, fstype, flags, data=None):
        enc = (lambda s: s.encode() if s is not None else None)
        check(libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), "mount " + target)

    def prctl(option, arg):
        check(libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")

    def set_name(name):
        check(libc.prctl(15, ctypes.c_char_p(name), 0, 0, 0), "prctl PR_SET_NAME")

    class CapHeader(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    def drop_capabilities(keep=0):
        """Every capability (but keep's, a mask) from every set (a uid change inside the namespace keeps them by
        itself)."""
        cap = 0
        while libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) == 0:
            cap += 1
        if ctypes.get_errno() != 22:	# EINVAL: past the last capability
            check(-1, "drop the bounding set")
        prctl(PR_CAP_AMBIENT, 4)	# PR_CAP_AMBIENT_CLEAR_ALL
        data = (ctypes.c_uint32 * 6)(keep, keep, 0)	# effective, permitted, inheritable (the low 32)
        check(libc.capset(ctypes.byref(CapHeader(0x20080522, 0)), data), "capset")
        prctl(PR_SET_NO_NEW_PRIVS, 1)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    def load_seccomp(bpf):
        if len(bpf) == 8:
            return	# a test-only sabotaged jail's "none": its own check must then fail the run
        prog = ctypes.create_string_buffer(bpf, len(bpf))
        fprog = SockFprog(len(bpf) // 8, ctypes.cast(prog, ctypes.c_void_p))
        check(libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(2), ctypes.byref(fprog), 0, 0), "seccomp")

    def loopback_up():
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        ifr = ctypes.create_string_buffer(b"lo", 40)
        check(libc.ioctl(s.fileno(), ctypes.c_ulong(0x8913), ifr), "get lo flags")	# SIOCGIFFLAGS
        flags = int.from_bytes(ifr.raw[16:18], sys.byteorder) | 0x1 | 0x40	# IFF_UP | IFF_RUNNING
        ifr[16:18] = flags.to_bytes(2, sys.byteorder)
        check(libc.ioctl(s.fileno(), ctypes.c_ulong(0x8914), ifr), "bring lo up")	# SIOCSIFFLAGS
        s.close()

    def recv_exact(conn, what):
        msg, _, flags, _ = conn.recvmsg(1 << 21)	# (the run's arguments: jailproto.h's JAIL_ARGS_MAX)
        if not msg:
            raise OSError(f"the jail closed the connection before {what}")
        if flags & _socket.MSG_TRUNC:
            raise OSError(f"{what}: the message was cut short")
        return msg

    def program(conn, p, init_ready):
        """pid 2 of the run's pid namespace: jail itself, tell the jail, wait for go, run."""
        os.setsid()
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={p['tmp_mb']}m,nr_inodes=16384,mode=1777")
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={p['tmp_mb']}m,nr_inodes=4096,mode=1777")
        for name in ("passwd", "group"):	# the run's uid as sandbox (the server's /work has each slot's)
            target = "/etc/" + name
            mount(f"/work/users/{p['uid']}/{name}", target, None, MS_BIND)
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        mount("tmpfs", "/work", "tmpfs", MS_NOSUID | MS_NODEV,
              f"size={p['work_mb']}m,nr_inodes=16384,mode=0700,uid={p['uid']},gid={p['gid']}")
        loopback_up()
        os.chdir("/work")
        work = os.open("/work", os.O_RDONLY | os.O_DIRECTORY)
        os.setresgid(p["gid"], p["gid"], p["gid"])
        os.setresuid(p["uid"], p["uid"], p["uid"])
        drop_capabilities()
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # As an exec would leave it (the uid change made it undumpable: its /proc root's, hidden from itself).
        prctl(PR_SET_DUMPABLE, 1)
        os.umask(0o022)
        load_seccomp(p["bpf"])
        for limit, value in ((resource.RLIMIT_CPU, (p["cpu"], p["cpu"] + 1)), (resource.RLIMIT_AS, (p["as"],) * 2),
                             (resource.RLIMIT_FSIZE, (p["fsize"],) * 2), (resource.RLIMIT_NOFILE, (p["nofile"],) * 2),
                             (resource.RLIMIT_NPROC, (p["nproc"],) * 2), (resource.RLIMIT_CORE, (0, 0)),
                             (resource.RLIMIT_STACK, (8 << 20,) * 2), (resource.RLIMIT_MEMLOCK, (0, 0)),
                             (resource.RLIMIT_MSGQUEUE, (0, 0))):
            resource.setrlimit(limit, value)
        # Named while it waits (ps tells a fork standby's program from a run's), then as a cold start names it.
        set_name(b"pysandbox-ready")
        os.read(init_ready, 1)	# (EOF once init has given up its own: the jail checks both at once)
        os.close(init_ready)
        conn.sendmsg([b"P"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, work.to_bytes(4, sys.byteorder))])
        os.close(work)
        go = recv_exact(conn, "go")
        set_name(p["comm"])
        # Nothing of the server's is left open, and nothing of its modules that a cold start does not have.
        conn.close()
        os.closerange(3, 1 << 20)
        for name in [m for m in sys.modules if m not in _pysandbox_cold_modules]:
            del sys.modules[name]
        # The run's environment as a cold start has it, in its order (the server's start, real and effective
        # uids apart, was a secure-mode one: the loader dropped some, TMPDIR among them).
        os.environ.clear()
        for entry in p["env"].split(b"\0")[:-1]:
            name, _, value = entry.partition(b"=")
            os.environb[name] = value
        gc.enable()
        return go	# (run from the module's top level, as a script's code is: see the end of this file)

    def init(conn, alive, p):
        """pid 1 of the run's pid namespace: fork the program, wait for it (or for the jail to stop the run), end
        every process of the run, report."""
        init_ready, ready_w = os.pipe()
        prog = os.fork()
        if prog == 0:
            os.close(alive)
            os.close(ready_w)
            return program(conn, p, init_ready)
        os.close(init_ready)
        set_name(b"pysandbox-init")
        # CAP_KILL, in the run's user namespace: it ends the run's processes (or all, for a sabotaged jail)
        drop_capabilities(keep=(1 << 5) if p["misbehave"] != b"forkcaps" else 0xffffffff)
        # (No parent-death signal: its parent, the child, leaves at once; the server's end takes its pid
        # namespace, and this one with it.)
        load_seccomp(p["bpf"])
        pidfd = os.pidfd_open(prog)
        os.close(ready_w)
        status = -1
        while True:
            ready, _, _ = select.select([pidfd, alive], [], [])
            if pidfd in ready:
                _, status = os.waitpid(prog, 0)
                break
            if alive in ready:	# EOF: the jail stopped the run (its deadline) or is gone
                break
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass	# (none left)
        while True:
            try:
                pid, st = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == prog:
                status = st
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        conn.send(f"R {status} {int(ru.ru_utime * 1e6)} {int(ru.ru_stime * 1e6)} {ru.ru_maxrss}".encode())
        os._exit(0)

    def child(conn, fds):
        """The server's child: its user namespace and the rest, then the run's init; then it leaves, so that
        nothing of the run stays in the server's pid namespace, where it could reach the server (init goes to
        the server, pid 1 there, which reaps it)."""
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        with open("/proc/self/comm", "rb") as f:
            comm = f.read().rstrip(b"\n")	# (the server's: the interpreter's, as a cold start has it)
        set_name(b"pysandbox-fork")
        alive = fds[3]
        for i in range(3):
            os.dup2(fds[i], i)
            os.close(fds[i])
        real = os.getresuid()[0], os.getresgid()[0]
        os.setresgid(real[1], real[1], real[1])
        os.setresuid(real[0], real[0], real[0])
        check(libc.unshare(NEWUSER | NEWNS | NEWPID | NEWNET | NEWIPC | NEWUTS), "unshare")
        conn.send(b"U")
        conn.settimeout(10.0)	# (the jail answers at once; a stopped one must not hold a child in the server's cgroup)
        fields = recv_exact(conn, "its maps").split()
        if fields[:1] != [b"M"] or len(fields) not in (10, 11):
            raise OSError("malformed message from the jail")
        p = dict(zip(("uid", "gid", "work_mb", "tmp_mb", "cpu", "as", "fsize", "nofile", "nproc"),
                     (int(f) for f in fields[1:10])))
        # Test-only (a sabotaged jail's 11th field): keep what the jail's check must find, and fail the run.
        misbehave = fields[10] if len(fields) == 11 else b""
        if misbehave == b"forkshare":
            import mmap
            p["kept"] = mmap.mmap(-1, 4096, flags=mmap.MAP_SHARED)
        elif misbehave == b"forkfd":
            p["kept"] = os.pipe()
        elif misbehave == b"forksock":
            p["kept"] = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        p["misbehave"] = misbehave
        p["bpf"] = recv_exact(conn, "the seccomp filter")
        p["env"] = recv_exact(conn, "the environment")
        conn.settimeout(None)	# (a standby's program waits for its run as long as it takes)
        p["comm"] = comm
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        pid = os.fork()
        if pid == 0:
            return init(conn, alive, p)
        if p["misbehave"] == b"forkstay":
            os.waitpid(pid, 0)
        os._exit(0)

    def request(conn):
        """One request's descriptors, or None when it is not one."""
        msg, ancdata, _, _ = conn.recvmsg(16, _socket.CMSG_SPACE(4 * 4))
        fds = []
        for level, kind, data in ancdata:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += [int.from_bytes(data[i:i + 4], sys.byteorder) for i in range(0, len(data) - 3, 4)]
        if msg == b"F" and len(fds) == 4:
            return fds
        for fd in fds:
            os.close(fd)
        return None

    listener = _socket.socket(fileno=LISTEN_FD)
    # Children inherit the server's pages; the collector's writes would copy them (reference counts still do).
    gc.disable()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)	# the kernel reaps the children
    while True:
        fd, _ = listener._accept()
        conn = _socket.socket(fileno=fd)
        try:
            conn.settimeout(2.0)	# (the jail sends its request at once: one that does not must not stall the rest)
            fds = request(conn)
            conn.settimeout(None)
            pid = os.fork() if fds else -1
        except OSError as e:
            os.write(2, f"pysandbox fork server: a request failed: {e}\n".encode())
            fds, pid = None, -1
        if pid == 0:
            try:
                listener.close()
                return child(conn, fds)	# only in the run's program, with its go message
            except BaseException as e:	# noqa: B036 -- a child never returns into the server's loop
                try:
                    os.write(2, f"pysandbox fork server: a child failed: {e}\n".encode())
                finally:
                    os._exit(1)
        for fd in fds or ():
            os.close(fd)
        conn.close()


# Only the run's program comes back here; its code runs from the top level, as a script's does (an exception
# or SystemExit leaves the interpreter as the cold path's would).
_pysandbox_run(_pysandbox_fork_server())
