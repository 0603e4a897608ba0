"""test_hostile_limits.py: hostile programs against the limits: memory, CPU and time, processes, output, disks."""
import base64
import os
import time

import pytest

import attack
from attack import (MiB, assert_no_leftovers, assert_no_run_processes, assert_serving, brief, concurrently, decoded,
                    last_json, run, token)

pool_uids = attack.pool_uids	# the shared fixture


# ---- memory -------------------------------------------------------------------------------------------------

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


# ---- CPU and time -------------------------------------------------------------------------------------------

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


# ---- processes, threads, open files -------------------------------------------------------------------------

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


# ---- output -------------------------------------------------------------------------------------------------

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


# ---- filling the disks --------------------------------------------------------------------------------------

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


# ---- all of them at once ------------------------------------------------------------------------------------

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
