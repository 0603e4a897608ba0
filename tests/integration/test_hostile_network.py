"""test_hostile_network.py: hostile programs against the network isolation: host listeners, internet, vsock."""
import os
import secrets
import socket

import pytest

import hostinspect
from attack import assert_serving, brief, last_json, run


# ---- helpers ------------------------------------------------------------------------------------------------

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


# ---- a run without network reaches its own loopback only ----------------------------------------------------

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
