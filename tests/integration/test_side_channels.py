"""test_side_channels.py: what a run could learn of other runs and the host through shared kernel interfaces is closed
(inotify and fanotify on the shared /usr, netlink uevent and audit sockets, socketpair of refused families), and
what real programs need of sockets keeps working."""

from attack import assert_serving, brief, last_json, run

# x86-64 system call numbers (the jail refuses every other ABI).
NR = {"inotify_init": 253, "inotify_init1": 294, "inotify_add_watch": 254, "fanotify_init": 300, "socketpair": 53}
AF = {"AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17, "AF_TIPC": 30, "AF_BLUETOOTH": 31,
      "AF_ALG": 38, "AF_VSOCK": 40}
NETLINK = {"KOBJECT_UEVENT": 15, "AUDIT": 9, "SOCK_DIAG": 4, "GENERIC": 16, "NETFILTER": 12, "SELINUX": 7}


def test_inotify_and_fanotify_are_refused(service):
    r, _ = run(service, f"""
        out = {{
            "inotify_init": sc({NR["inotify_init"]}),
            "inotify_init1": sc({NR["inotify_init1"]}, 0),
            "inotify_add_watch": sc({NR["inotify_add_watch"]}, 0, 0, 0),
            "fanotify_init": sc({NR["fanotify_init"]}, 0, 0),
        }}
        print(json.dumps(out))
        """)
    assert last_json(r) == {"inotify_init": "ENOSYS", "inotify_init1": "ENOSYS", "inotify_add_watch": "ENOSYS",
                            "fanotify_init": "ENOSYS"}, brief(r)
    assert_serving(service)


def test_only_netlink_route_sockets_open(service):
    r, _ = run(service, f"""
        out = {{}}
        for name, proto in {NETLINK!r}.items():
            out[name] = attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto).bind((0, 1)))
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        s.bind((0, 0))
        out["ROUTE"] = "ok"
        print(json.dumps(out))
        """)
    got = last_json(r)
    assert got.pop("ROUTE") == "ok", brief(r)
    assert got == {name: "OSError:EPROTONOSUPPORT" for name in NETLINK}, got
    assert_serving(service)


def test_socketpair_is_for_unix_sockets_only(service):
    r, _ = run(service, f"""
        fds = (ctypes.c_int * 2)()
        out = {{}}
        for name, fam in {AF!r}.items():
            ctypes.set_errno(0)
            rc = libc.socketpair(fam, socket.SOCK_STREAM, 0, fds)
            out[name] = "ok" if rc == 0 else errno.errorcode.get(ctypes.get_errno())
        a, b = socket.socketpair(socket.AF_UNIX)
        a.send(b"x")
        out["AF_UNIX"] = b.recv(1).decode()
        print(json.dumps(out))
        """)
    got = last_json(r)
    assert got.pop("AF_UNIX") == "x", brief(r)
    assert got == {name: "EAFNOSUPPORT" for name in AF}, got
    assert_serving(service)


def test_what_real_programs_need_of_sockets_still_works(service):
    r, _ = run(service, """
        import multiprocessing
        out = {
            "getaddrinfo": sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, proto=socket.IPPROTO_TCP)}),
            "getaddrinfo_addrconfig": bool(socket.getaddrinfo("localhost", 80, flags=socket.AI_ADDRCONFIG)),
            "if_nameindex": [n for _, n in socket.if_nameindex()],
            "gethostname": socket.gethostname(),
        }
        with multiprocessing.Pool(2) as p:
            out["pool"] = p.map(abs, [-1, -2, -3])
        q = multiprocessing.Queue()
        pr = multiprocessing.Process(target=q.put, args=("queued",))
        pr.start()
        out["queue"] = q.get(timeout=10)
        pr.join()
        print(json.dumps(out))
        """, timeout=20)
    assert last_json(r) == {"getaddrinfo": ["127.0.0.1"], "getaddrinfo_addrconfig": True,
                            "if_nameindex": ["lo"], "gethostname": "sandbox", "pool": [1, 2, 3],
                            "queue": "queued"}, brief(r)
