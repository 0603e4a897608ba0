"""envtools.py: creating environments through the API and following their builds, for the tests that need them."""
import time

from hostinspect import wait_for

BUILD_WAIT = 90	# seconds a build may take before a poll gives up (a build here takes ~3-5 s)


def create(s, name, setup_script, **fields):
    """POST /environments; expect 200 with status building; return (env, seconds the request took)."""
    body = {"name": name, "setup_script": setup_script, **fields}
    t0 = time.monotonic()
    status, env = s.request("POST", "/environments", body)
    took = time.monotonic() - t0
    assert status == 200, (status, env)
    assert env["name"] == name and env["status"] == "building", env
    return env, took


def get_env(s, name):
    status, env = s.request("GET", f"/environments/{name}")
    assert status == 200, (status, env)
    return env


def wait_built(s, name, timeout=BUILD_WAIT):
    """Poll until the environment leaves "building"; return it."""
    return wait_for(f"the build of {name} to end",
                    lambda: (lambda e: e if e["status"] != "building" else None)(get_env(s, name)),
                    timeout=timeout, interval=0.1)


def wait_ready(s, name):
    env = wait_built(s, name)
    assert env["status"] == "ready", (env, log_text(s, name))
    return env


def read_log(s, name, offset=0, limit=1000):
    status, body = s.request("GET", f"/environments/{name}/logs?offset={offset}&limit={limit}")
    assert status == 200, (status, body)
    return body


def all_log_lines(s, name):
    lines, offset = [], 0
    while True:
        page = read_log(s, name, offset)
        lines += page["lines"]
        if page["complete"] or not page["lines"]:
            return lines
        offset = page["next_offset"]


def log_text(s, name):
    return "\n".join(f'{l["seq"]} {l["stream"]}: {l["line"]}' for l in all_log_lines(s, name))
