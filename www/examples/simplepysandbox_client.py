"""simplepysandbox_client.py: a SimplePySandbox HTTP client using only the standard library (the original README's client class)."""
import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["SimplePySandboxClient", "SimplePySandboxError"]


class SimplePySandboxError(Exception):
    """The service could not be reached, or answered something that is not JSON."""


class SimplePySandboxClient:
    """Client of the SimplePySandbox API.

    The methods of the original README's client keep their names, signatures and
    behaviour: each returns the decoded JSON answer, also for an HTTP error (whose
    answer is {"detail": ...}), as the original did with requests. Only a service
    that cannot be reached raises SimplePySandboxError.
    """

    def __init__(self, base_url="http://localhost:8000", request_timeout=330):
        self.base_url = base_url.rstrip("/")
        # Seconds to wait for an answer: a run may take up to the service's max_timeout (300 s).
        self.request_timeout = request_timeout
        self.last_status = None

    # ---- transport ------------------------------------------------------

    def _request(self, method, path, payload=None):
        data = None
        headers = {"Accept": "application/json"}
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise SimplePySandboxError(f"cannot reach {self.base_url}: {reason}") from None
        self.last_status = status
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError:
            raise SimplePySandboxError(f"{method} {path}: HTTP {status}, answer is not JSON") from None

    # ---- the original client's methods ------------------------------------

    def execute_code(self, code, timeout=10, environment=None):
        """Run code (in a named environment if given); the run's result, success or not."""
        payload = {"code": code, "timeout": timeout}
        if environment:
            payload["environment"] = environment
        return self._request("POST", "/execute", payload)

    def create_environment(self, name, setup_script, description="", python_version="3.11"):
        """Create an environment; the service answers at once with status "building"."""
        payload = {
            "name": name,
            "description": description,
            "setup_script": setup_script,
            "python_version": python_version,
        }
        return self._request("POST", "/environments", payload)

    def list_environments(self):
        """{"environments": [...], "total": N}."""
        return self._request("GET", "/environments")

    def delete_environment(self, name):
        """{"message": ...}, or {"detail": ...} for an unknown name."""
        return self._request("DELETE", "/environments/" + urllib.parse.quote(name, safe=""))

    def health_check(self):
        """{"status": "healthy", ...} (or "unhealthy" with the reason)."""
        return self._request("GET", "/health")

    # ---- additions ------------------------------------------------------------

    def execute(self, code, **fields):
        """Run code with any other request fields (files, stdin, args, memory_mb, ...)."""
        fields["code"] = code
        return self._request("POST", "/execute", fields)

    def execute_with_environment(self, code, environment, timeout=10):
        return self._request("POST", "/execute-with-environment",
                             {"code": code, "environment": environment, "timeout": timeout})

    def get_environment(self, name):
        return self._request("GET", "/environments/" + urllib.parse.quote(name, safe=""))

    def get_environment_logs(self, name, offset=0, limit=1000):
        """Build log lines from position offset; next_offset continues, complete is true at the end."""
        q = urllib.parse.urlencode({"offset": offset, "limit": limit})
        return self._request("GET", f"/environments/{urllib.parse.quote(name, safe='')}/logs?{q}")

    def wait_for_environment(self, name, timeout=600, on_line=None, interval=1.0):
        """Poll until the build ends (or timeout seconds pass); the environment object.

        on_line(line) is called with each new log line ({"seq", "ts", "stream", "line"}).
        """
        deadline = time.monotonic() + timeout
        offset = 0
        while True:
            page = self.get_environment_logs(name, offset)
            if "lines" not in page:
                return page  # {"detail": ...}: the environment is gone
            for line in page["lines"]:
                if on_line:
                    on_line(line)
            offset = page["next_offset"]
            if page["complete"]:
                return self.get_environment(name)
            if time.monotonic() >= deadline:
                return self.get_environment(name)
            if len(page["lines"]) < 1000:
                time.sleep(interval)

    @staticmethod
    def print_result(result):
        """Print a run's result (or an error answer) for a person."""
        if "success" not in result:
            print(f"❌ request refused: {result.get('detail', result)}")
            return
        mark = "✅" if result["success"] else "❌"
        line = f"{mark} {result.get('status', 'ok' if result['success'] else 'error')}" \
               f" in {result.get('execution_time', 0):.3f} s"
        if result.get("error"):
            line += f": {result['error']}"
        print(line)
        if result.get("stdout"):
            print("--- stdout ---")
            print(result["stdout"].rstrip("\n"))
        if result.get("stderr"):
            print("--- stderr ---")
            print(result["stderr"].rstrip("\n"))
        files = result.get("files") or {}
        if files:
            print("📁 files:")
            for name, data in sorted(files.items()):
                raw = base64.b64decode(data)
                print(f"   {name} ({len(raw)} bytes)")
