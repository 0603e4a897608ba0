"""test_smoke.py: the stack answers its basic routes (GET /, /health, a hello-world run)."""


def test_root(service):
    status, body = service.request("GET", "/")
    assert status == 200
    assert body["message"] == "SimplePySandbox API"
    assert body["docs"] == "/docs" and body["health"] == "/health"


def test_health_reports_isolation(service):
    status, body = service.request("GET", "/health")
    assert status == 200 and body["status"] == "healthy"
    assert set(body["isolation"]["namespaces"]) == {"mount", "pid", "ipc", "uts", "net"}
    assert body["pool"]["workers"] >= 2


def test_hello_world(service):
    r = service.execute('print("Hello, SimplePySandbox!")\nresult = 2 + 3\nprint(f"2 + 3 = {result}")', timeout=10)
    assert r["success"] is True
    assert r["stdout"] == "Hello, SimplePySandbox!\n2 + 3 = 5\n"
    assert r["status"] == "ok" and r["exit_code"] == 0 and r["error"] is None
