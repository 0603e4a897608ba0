"""test_capacity.py: saturation never freezes the API: /health and reads are answered while every run slot is taken;
a run beyond capacity waits a short, bounded time and then gets 503 with Retry-After (429 for a client over its
share); nginx caps what one address holds and cuts slow clients, so others are not locked out."""
import concurrent.futures
import http.client
import json
import os
import signal
import socket
import time

import pytest

import hostinspect
from attack import assert_serving, brief
from hostinspect import wait_for

LONG = "import time\ntime.sleep(8)\nprint('done')"


def post(s, body, source="127.0.0.1", timeout=60):
    """POST /execute from a loopback source address of our choice (nginx keys its limits, and the pool its
    shares, on the client's address); returns (status, headers, body, seconds)."""
    host, port = s.url.split("//", 1)[1].split(":")
    t0 = time.monotonic()
    c = http.client.HTTPConnection(host, int(port), timeout=timeout, source_address=(source, 0))
    try:
        c.request("POST", "/execute", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return r.status, dict(r.getheaders()), json.loads(data), time.monotonic() - t0
    finally:
        c.close()


def get(s, path, source="127.0.0.1", timeout=10):
    host, port = s.url.split("//", 1)[1].split(":")
    t0 = time.monotonic()
    c = http.client.HTTPConnection(host, int(port), timeout=timeout, source_address=(source, 0))
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status, time.monotonic() - t0
    finally:
        c.close()


def wait_runs(s, running, queued):
    return wait_for(f"{running} runs and {queued} queued",
                    lambda: (lambda p: p["runs"] == running and p["queued"] == queued)(s.request("GET", "/health")[1]["pool"]),
                    timeout=15)


@pytest.fixture(scope="module")
def stack(make_module_service):
    return make_module_service(extra_conf="[service]\nworkers = 2\nqueue_size = 2\nqueue_timeout = 2\n")


def test_health_and_reads_answer_while_every_slot_is_taken(stack):
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        long_runs = [ex.submit(post, stack, {"code": LONG, "timeout": 20}, f"127.0.0.{10 + i}") for i in range(2)]
        wait_runs(stack, 2, 0)
        queued = [ex.submit(post, stack, {"code": "print('queued')"}, f"127.0.0.{20 + i}") for i in range(2)]
        wait_runs(stack, 2, 2)
        # Full: slots and queue. The API answers at once.
        latencies = []
        for path in ("/health", "/environments", "/", "/health", "/environments/none"):
            status, took = get(stack, path)
            assert status in (200, 404), (path, status)
            latencies.append(took)
        assert max(latencies) < 1.0, latencies
        # A run beyond the queue is refused at once, with a reason a client can act on.
        status, headers, body, took = post(stack, {"code": "print(1)"}, "127.0.0.30")
        assert status == 503 and body["reason"] == "capacity" and headers.get("Retry-After") == "1", (status, body)
        assert took < 1.0, took
        # The queued ones wait queue_timeout (2 s), no more, then get the same 503.
        for f in queued:
            status, headers, body, took = f.result(timeout=30)
            assert status == 503 and body["reason"] == "capacity" and headers.get("Retry-After") == "1", body
            assert 1.8 <= took < 4, took
        for f in long_runs:
            status, _, body, _ = f.result(timeout=30)
            assert status == 200 and body["stdout"] == "done\n", brief(body)
    assert_serving(stack)


def test_a_queued_run_takes_a_slot_as_soon_as_one_frees(stack):
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        short = "import time\ntime.sleep(1.2)\nprint('short')"
        first = [ex.submit(post, stack, {"code": short}, f"127.0.1.{i + 1}") for i in range(2)]
        wait_runs(stack, 2, 0)
        status, _, body, took = ex.submit(post, stack, {"code": "print('after the wait')"}, "127.0.1.9").result(30)
        assert status == 200 and body["stdout"] == "after the wait\n", body
        assert took < 2.0, took
        assert all(f.result(30)[0] == 200 for f in first)


def test_one_client_cannot_crowd_out_the_others(stack):
    """Client A takes both slots and one queue place; when B also waits, A's further runs get 429 while B's
    queued run is served as soon as A's first run ends."""
    a, b = "127.0.2.1", "127.0.2.2"
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        a_runs = [ex.submit(post, stack, {"code": "import time\ntime.sleep(3)\nprint('a')"}, a) for _ in range(2)]
        wait_runs(stack, 2, 0)
        a_queued = ex.submit(post, stack, {"code": "print('a queued')"}, a)
        wait_runs(stack, 2, 1)
        b_queued = ex.submit(post, stack, {"code": "print('b queued')"}, b)
        wait_runs(stack, 2, 2)
        status, headers, body, took = post(stack, {"code": "print('a again')"}, a)
        assert status == 429 and body["reason"] == "client_share" and headers.get("Retry-After") == "1", body
        assert took < 1.0
        status, _, body, _ = b_queued.result(30)
        assert status in (200, 503), body
        for f in a_runs:
            assert f.result(30)[0] == 200
        a_queued.result(30)


def test_a_fixed_cap_per_client(make_service):
    s = make_service(extra_conf="[service]\nworkers = 3\nmax_runs_per_client = 1\n")
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        held = ex.submit(post, s, {"code": "import time\ntime.sleep(3)"}, "127.0.3.1")
        wait_runs(s, 1, 0)
        status, _, body, _ = post(s, {"code": "print(1)"}, "127.0.3.1")
        assert status == 429 and body["reason"] == "client_share", body
        status, _, body, _ = post(s, {"code": "print(2)"}, "127.0.3.2")
        assert status == 200 and body["stdout"] == "2\n", body
        assert held.result(30)[0] == 200


def test_a_worker_killed_in_the_queue_leaves_its_place(stack):
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        runs = [ex.submit(post, stack, {"code": LONG, "timeout": 20}, f"127.0.4.{i + 1}") for i in range(2)]
        wait_runs(stack, 2, 0)
        waiting = [ex.submit(post, stack, {"code": "print(1)"}, f"127.0.4.{i + 10}") for i in range(2)]
        wait_runs(stack, 2, 2)
        # A queued worker cannot be told from an idle one from outside: kill every run worker but the two
        # running programs, and the master must give the queue's places back.
        def workers_now():
            procs = hostinspect.processes()

            def kids(pid, name=None):
                return [k for k, p in procs.items() if p["ppid"] == pid and (name is None or p["name"].startswith(name))]

            def runs_program(w):
                return any(kids(i, "python") for j in kids(w, hostinspect.JAIL_NAME) for i in kids(j, hostinspect.INIT_NAME))
            # (The run socket's workers keep a standby; the API socket's, which must go on answering, none.)
            run_workers = [w for w, standbys in hostinspect.standby_jails(stack, procs).items()
                           if standbys or runs_program(w)]
            victims = [w for w in run_workers if not runs_program(w)]
            # (Admitted is not yet exec'd: wait until both programs show as python under their init.)
            return (run_workers, victims) if len(victims) == len(run_workers) - 2 else None
        run_workers, victims = wait_for("both runs' programs running", workers_now)
        for w in victims:
            os.kill(w, signal.SIGKILL)
        wait_for("the queue to be freed", lambda: stack.request("GET", "/health")[1]["pool"]["queued"] == 0, timeout=15)
        for f in waiting:
            st = f.result(30)[0]
            assert st in (502, 503), st
        for f in runs:
            assert f.result(30)[0] == 200
    assert_serving(stack)


def test_idle_connections_from_one_address_do_not_lock_others_out(stack):
    """2000 connections from one address that never send a request: another address is still served, and nginx
    closes them after client_header_timeout."""
    host, port = stack.url.split("//", 1)[1].split(":")
    idle = []
    try:
        for _ in range(2000):
            c = socket.socket()
            c.bind(("127.0.5.1", 0))
            c.connect((host, int(port)))
            idle.append(c)
        status, took = get(stack, "/health", source="127.0.5.2")
        assert status == 200 and took < 1.0, (status, took)
    finally:
        for c in idle:
            c.close()


def test_requests_in_progress_per_address_are_capped_by_nginx(make_service):
    """nginx counts requests whose headers it has read: 40 that never send their announced body, from one
    address with a cap of 8, leave 32 refused with 429 and another address served."""
    s = make_service(env={"CONN": "8"})
    host, port = s.url.split("//", 1)[1].split(":")
    held = []
    statuses = []
    try:
        for _ in range(40):
            c = socket.socket()
            c.bind(("127.0.6.1", 0))
            c.connect((host, int(port)))
            c.sendall(b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
            held.append(c)
        time.sleep(0.5)
        for c in held:
            c.settimeout(0.2)
            try:
                statuses.append(c.recv(64).split(b" ")[1])
            except (socket.timeout, IndexError):
                statuses.append(b"held")
        assert statuses.count(b"429") == 32 and statuses.count(b"held") == 8, statuses
        status, _ = get(s, "/health", source="127.0.6.2")
        assert status == 200
    finally:
        for c in held:
            c.close()
