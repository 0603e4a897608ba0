"""testnet.py: network hosts of the tests' own, in namespaces they make on this machine: an "internet" host on
198.51.100.1 (documentation range) serving a package index and DNS, and a neighbour on a private-range address."""
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import zipfile

INET_ADDR = "198.51.100.1"
INET_HOST_SIDE = "198.51.100.254"
INDEX_PORT = 8080
PKG_NAME = "nettestpkg"
PKG_HOST = "pkgs.test"	# the name the test DNS server answers with INET_ADDR

# Served in the "internet" namespace: a simple index (PEP 503) of a directory of wheels, and DNS for PKG_HOST.
SERVER = r'''
import http.server, os, socket, socketserver, struct, sys, threading
root, addr, port, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        q, peer = s.recvfrom(512)
        if len(q) < 12:
            continue
        i, labels = 12, []
        while i < len(q) and q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
            i += 1 + q[i]
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 0
        question = q[12:i + 5]
        found = ".".join(labels).lower() == name and qtype == 1
        flags = 0x8180 if found else 0x8183
        answer = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(addr)) if found else b""
        s.sendto(q[:2] + struct.pack("!HHHHH", flags, 1, 1 if found else 0, 0, 0) + question + answer, peer)
threading.Thread(target=dns, daemon=True).start()
os.chdir(root)
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
# Not HTTPServer: its server_bind looks up the host's name, through a resolver this namespace has not.
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer((addr, port), Quiet).serve_forever()
'''

LISTENER = r'''
import socket, sys, threading
addr, port = sys.argv[1], int(sys.argv[2])
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, port))
    while True:
        u.recvfrom(100)
threading.Thread(target=udp, daemon=True).start()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(b"SECRET-NEIGHBOUR\n")
    c.close()
'''


def build_wheel(directory, value):
    """A wheel of PKG_NAME whose module holds VALUE = value, made here (no PyPI)."""
    di = f"{PKG_NAME}-1.0.dist-info"
    files = {
        f"{PKG_NAME}/__init__.py": f"VALUE = {value!r}\n",
        di + "/METADATA": f"Metadata-Version: 2.1\nName: {PKG_NAME}\nVersion: 1.0\n",
        di + "/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[di + "/RECORD"] = "".join(p + ",,\n" for p in files) + di + "/RECORD,,\n"
    path = os.path.join(directory, f"{PKG_NAME}-1.0-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as z:
        for p, text in files.items():
            z.writestr(p, text)
    return os.path.basename(path)


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def host_addresses():
    """The host's own addresses (every interface's but loopback), IPv4 and IPv6."""
    out = ip("-o", "addr", "show").stdout
    addrs = []
    for line in out.splitlines():
        f = line.split()
        if f[1] == "lo":
            continue
        a = f[3].split("/")[0]
        if not a.startswith("fe80"):
            addrs.append(a)
    return addrs


class TestNet:
    """The namespaces, their links and servers; stop() removes all of it (also after a failed start)."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.inet_ns, self.priv_ns = f"sbxt-inet-{tag}", f"sbxt-priv-{tag}"
        self.links = [f"sbxi{tag}", f"sbxp{tag}"]
        self.priv_net = ipaddress.ip_network(f"10.99.{secrets.randbelow(250) + 1}.0/24")
        self.priv_addr = str(self.priv_net.network_address + 1)
        self.priv_host_side = str(self.priv_net.network_address + 254)
        self.value = secrets.token_hex(8)
        self.dir = tempfile.mkdtemp(prefix="pysandbox-testnet.")
        self.procs = []
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        pkgs = os.path.join(self.dir, "packages")
        os.makedirs(pkgs)
        wheel = build_wheel(pkgs, self.value)
        simple = os.path.join(self.dir, "simple", PKG_NAME)
        os.makedirs(simple)
        with open(os.path.join(simple, "index.html"), "w") as f:
            f.write(f'<!DOCTYPE html><html><body><a href="../../packages/{wheel}">{wheel}</a></body></html>\n')
        with open(os.path.join(self.dir, "simple", "index.html"), "w") as f:
            f.write(f'<!DOCTYPE html><html><body><a href="{PKG_NAME}/">{PKG_NAME}</a></body></html>\n')
        for ns, link, here, there in ((self.inet_ns, self.links[0], INET_HOST_SIDE, INET_ADDR),
                                      (self.priv_ns, self.links[1], self.priv_host_side, self.priv_addr)):
            ip("netns", "add", ns)
            ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("addr", "add", f"{here}/24", "dev", link)
            ip("link", "set", link, "up")
            ip("-n", ns, "addr", "add", f"{there}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "route", "add", "default", "via", here)
        py = "/usr/bin/python3"
        self.procs.append(subprocess.Popen(["ip", "netns", "exec", self.inet_ns, py, "-c", SERVER, self.dir,
                                            INET_ADDR, str(INDEX_PORT), PKG_HOST]))
        self.procs.append(subprocess.Popen(["ip", "netns", "exec", self.priv_ns, py, "-c", LISTENER,
                                            self.priv_addr, str(INDEX_PORT)]))
        deadline = time.monotonic() + 10
        for addr in (INET_ADDR, self.priv_addr):
            while True:
                try:
                    socket.create_connection((addr, INDEX_PORT), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                        raise RuntimeError(f"the test server on {addr} did not start")
                    time.sleep(0.05)

    @property
    def index_url(self):
        return f"http://{PKG_HOST}:{INDEX_PORT}/simple/"

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        for link in self.links:
            ip("link", "del", link, check=False)
        for ns in (self.inet_ns, self.priv_ns):
            ip("netns", "del", ns, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class HostListeners:
    """What a sandbox must never reach on the host itself: a TCP listener on 127.0.0.1, one on every address
    (0.0.0.0, so the host's own addresses answer), and an abstract unix socket; each answers a secret."""

    SECRET = b"SECRET-HOST\n"

    def __init__(self):
        self.abstract = f"pysandbox-test-{secrets.token_hex(6)}"
        self.socks = []
        lo = socket.socket()
        lo.bind(("127.0.0.1", 0))
        anyaddr = socket.socket()
        anyaddr.bind(("0.0.0.0", 0))
        unix = socket.socket(socket.AF_UNIX)
        unix.bind("\0" + self.abstract)
        self.lo_port, self.any_port = lo.getsockname()[1], anyaddr.getsockname()[1]
        for s in (lo, anyaddr, unix):
            s.listen(16)
            self.socks.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            try:
                c.sendall(self.SECRET)
            finally:
                c.close()

    def stop(self):
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


# The program that tries every forbidden destination and reports what each attempt gave (a run's code, or a
# build's python): {target: "connected" | "ExcName:ERRNO"}.
PROBE = textwrap.dedent(r'''
    import errno, json, socket, sys
    targets = json.loads(sys.argv[1]) if len(sys.argv) > 1 else json.loads(open("/work/targets.json").read())
    out = {}
    def name(e):
        return f"{type(e).__name__}:{errno.errorcode.get(e.errno, e.errno)}"
    for t in targets:
        kind, host, port = t
        try:
            if kind == "tcp":
                fam = socket.AF_INET6 if ":" in host else socket.AF_INET
                s = socket.socket(fam)
                s.settimeout(3)
                s.connect((host, port))
                s.settimeout(0.5)
                try:
                    banner = s.recv(64).decode("ascii", "replace").strip()
                except socket.timeout:
                    banner = ""	# a server that waits for its client to speak first
                out[f"tcp {host} {port}"] = "connected:" + banner
            elif kind == "udp":
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.sendto(b"x", (host, port))
                out[f"udp {host} {port}"] = "sent"
            elif kind == "unix":
                s = socket.socket(socket.AF_UNIX)
                s.connect("\0" + host)
                out[f"unix {host}"] = "connected:" + s.recv(64).decode("ascii", "replace").strip()
        except OSError as e:
            out[f"{kind} {host} {port}" if kind != "unix" else f"unix {host}"] = name(e)
    print("PROBE " + json.dumps(out, sort_keys=True))
''')
