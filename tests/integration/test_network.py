"""test_network.py: builds and runs with network reach the internet (here: the tests' own host on 198.51.100.1, with a
package index and DNS) through slirp4netns, and never the host itself, its loopback, its unix sockets or its
private-range neighbours; without network a run reaches nothing but its own loopback."""
import json
import socket
import threading
import time

import pytest

import testnet
from attack import assert_serving, brief
from envtools import create, log_text, wait_built

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def net():
    n = testnet.TestNet()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def host():
    h = testnet.HostListeners()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def stack(make_module_service, net):
    """Network allowed for runs, the test's DNS server as the resolver."""
    return make_module_service(extra_conf=f"[jail]\nallow_network = true\n[network]\ndns = {testnet.INET_ADDR}\n")


def forbidden(s, net, host):
    """Every destination a sandbox must not reach, as PROBE takes them."""
    port = int(s.url.rsplit(":", 1)[1])
    t = [["tcp", "10.0.2.2", host.lo_port], ["tcp", "10.0.2.2", port], ["tcp", "10.0.2.3", host.any_port],
         ["tcp", "127.0.0.1", host.lo_port], ["tcp", "127.0.0.1", port],
         ["tcp", net.priv_addr, testnet.INDEX_PORT], ["udp", net.priv_addr, testnet.INDEX_PORT],
         ["tcp", "169.254.169.254", 80], ["udp", "169.254.169.254", 53], ["udp", "10.0.2.3", 54],
         ["unix", host.abstract, 0]]
    t += [["tcp", a, host.any_port] for a in testnet.host_addresses()]
    return t


def probe_results(stdout):
    """PROBE's report, from a run's stdout or a build's log ("N stdout: PROBE {...}")."""
    line = [l.split("PROBE ", 1)[1] for l in stdout.splitlines() if "PROBE {" in l]
    assert line, stdout[-2000:]
    return json.loads(line[-1])


def assert_nothing_reached(results, control_ok=True):
    reached = {k: v for k, v in results.items() if v.startswith("connected") or v == "sent"}
    control = f"tcp {testnet.INET_ADDR} {testnet.INDEX_PORT}"
    if control_ok:
        assert reached.pop(control, "").startswith("connected"), results
    assert reached == {}, results


def test_a_build_installs_from_an_index_on_the_internet_and_reaches_nothing_of_the_host(stack, net, host):
    targets = forbidden(stack, net, host) + [["tcp", testnet.INET_ADDR, testnet.INDEX_PORT]]
    script = "\n".join([
        "set -e",
        f"pip install --index-url {net.index_url} --trusted-host {testnet.PKG_HOST} {testnet.PKG_NAME}",
        "cat > /work/targets.json <<'JSON'", json.dumps(targets), "JSON",
        "cat > /work/probe.py <<'PY'", testnet.PROBE, "PY",
        "python /work/probe.py",
    ])
    create(stack, "from-the-index", script)
    env = wait_built(stack, "from-the-index")
    log = log_text(stack, "from-the-index")
    assert env["status"] == "ready", (env, log[-3000:])
    assert_nothing_reached(probe_results(log))
    status, r = stack.request("POST", "/execute-with-environment", {
        "code": f"import {testnet.PKG_NAME}; print({testnet.PKG_NAME}.VALUE)", "environment": "from-the-index"})
    assert status == 200 and r["stdout"] == f"{net.value}\n", (status, brief(r))
    assert_serving(stack)


def test_a_run_with_network_reaches_the_internet_and_nothing_of_the_host(stack, net, host):
    targets = forbidden(stack, net, host) + [["tcp", testnet.INET_ADDR, testnet.INDEX_PORT]]
    code = testnet.PROBE + f'''
import socket
print("RESOLVED " + socket.gethostbyname("{testnet.PKG_HOST}"))
print("RESOLV " + json.dumps(open("/etc/resolv.conf").read()))
print("IFS " + json.dumps(sorted(n for _, n in socket.if_nameindex())))
print("TCP " + json.dumps(open("/proc/net/tcp").read()))
'''
    status, r = stack.request("POST", "/execute", {"code": code, "network": True, "timeout": 30,
                                                   "args": [json.dumps(targets)]})
    assert status == 200 and r["status"] == "ok", (status, brief(r))
    assert_nothing_reached(probe_results(r["stdout"]))
    lines = dict(l.split(" ", 1) for l in r["stdout"].splitlines() if " " in l)
    assert lines["RESOLVED"] == testnet.INET_ADDR
    assert json.loads(lines["RESOLV"]) == f"nameserver {testnet.INET_ADDR}\n"
    assert json.loads(lines["IFS"]) == ["lo", "tap0"]
    # The host's listening sockets are not in its view.
    assert f":{host.lo_port:04X}" not in json.loads(lines["TCP"]) and f":{host.any_port:04X}" not in json.loads(lines["TCP"])
    assert_serving(stack)


def test_a_run_without_network_reaches_only_its_own_loopback(stack, net, host):
    targets = forbidden(stack, net, host) + [["tcp", testnet.INET_ADDR, testnet.INDEX_PORT]]
    status, r = stack.request("POST", "/execute", {"code": testnet.PROBE, "args": [json.dumps(targets)]})
    assert status == 200 and r["status"] == "ok", (status, brief(r))
    results = probe_results(r["stdout"])
    assert results[f"tcp {testnet.INET_ADDR} {testnet.INDEX_PORT}"] == "OSError:ENETUNREACH", results
    assert_nothing_reached(results, control_ok=False)


def test_a_listener_in_a_run_is_not_on_the_host(stack):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = {}
    t = threading.Thread(target=lambda: done.update(r=stack.request("POST", "/execute", {
        "code": f"import socket, time\ns = socket.socket()\ns.bind(('0.0.0.0', {port}))\ns.listen()\n"
                "print('listening', flush=True)\ntime.sleep(2)", "network": True, "timeout": 10})))
    t.start()
    try:
        time.sleep(1)
        for addr in ["127.0.0.1"] + [a for a in testnet.host_addresses() if ":" not in a]:
            with pytest.raises(OSError):
                socket.create_connection((addr, port), timeout=1).close()
    finally:
        t.join(timeout=20)
    assert done["r"][0] == 200 and done["r"][1]["stdout"] == "listening\n", done


def test_an_allowed_range_is_reachable_and_nothing_else_opens(make_service, net, host):
    """[network] allow opens an internal mirror's range, and only it: the host and slirp's own addresses stay shut."""
    s = make_service(extra_conf=f"[jail]\nallow_network = true\n[network]\nallow = {net.priv_net}\n")
    targets = forbidden(s, net, host)
    status, r = s.request("POST", "/execute", {"code": testnet.PROBE + "\nprint('RESOLV ' + json.dumps(open('/etc/resolv.conf').read()))",
                                               "network": True, "timeout": 30, "args": [json.dumps(targets)]})
    assert status == 200 and r["status"] == "ok", (status, brief(r))
    results = probe_results(r["stdout"])
    assert results.pop(f"tcp {net.priv_addr} {testnet.INDEX_PORT}") == "connected:SECRET-NEIGHBOUR", results
    assert results.pop(f"udp {net.priv_addr} {testnet.INDEX_PORT}") == "sent", results
    assert_nothing_reached(results, control_ok=False)
    # No resolver configured: the host's, through slirp4netns's forwarder.
    resolv = [l for l in r["stdout"].splitlines() if l.startswith("RESOLV ")][0]
    assert json.loads(resolv[len("RESOLV "):]) == "nameserver 10.0.2.3\n"


def test_network_configuration_is_checked(make_service):
    for bad, why in (("allow = 10.1.2.3/16", "bits set past its prefix"), ("allow = fd00::/8", "IPv4"),
                     ("dns = 10.0.2.3", "own virtual network"), ("dns = 8.8.8.8/32", "single IPv4 address")):
        with pytest.raises(RuntimeError) as e:
            make_service(extra_conf=f"[network]\n{bad}\n")
        assert why in str(e.value), (bad, str(e.value)[-500:])
