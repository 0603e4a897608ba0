"""test_metrics.py: GET /metrics (Prometheus text) counts what the stack really did, and /health carries a php-fpm-like
pool status."""
import re
import threading
import time

from envtools import create, wait_built

SAMPLE = re.compile(r'^(pysandbox_[a-z_]+)(\{(?:[^"}]|"[^"]*")*\})? (\S+)$')


def scrape(s):
    status, text = s.request("GET", "/metrics")
    assert status == 200, text
    assert s.last_headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    # Every sample's family is declared, with a type Prometheus knows.
    for key in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", key.split("{")[0])
        assert types.get(family) in ("counter", "gauge", "histogram") or types.get(key.split("{")[0]), key
    return samples


def get(samples, key):
    return samples.get(key, 0.0)


def test_counters_follow_what_happened(make_service):
    s = make_service(extra_conf="[service]\nworkers = 1\nqueue_size = 2\nqueue_timeout = 10\n")
    before = scrape(s)
    assert before["pysandbox_up"] == 1
    s.execute("print('hi')")
    s.execute("import time; time.sleep(5)", timeout=1)
    s.execute("raise SystemExit(3)")
    s.request("GET", "/no-such-route")
    s.request("POST", "/execute", {"code": 5})	# refused: 422, not a run
    # One run holds the only slot while another waits for it: a queue wait of about a second.
    t = threading.Thread(target=s.execute, args=("import time; time.sleep(1.5)",))
    t.start()
    time.sleep(0.3)
    s.execute("print('after waiting')")
    t.join()
    after = scrape(s)

    def delta(key):
        return get(after, key) - get(before, key)
    assert delta('pysandbox_runs_total{status="ok"}') == 3
    assert delta('pysandbox_runs_total{status="timeout"}') == 1
    assert delta('pysandbox_runs_total{status="error"}') == 1
    assert delta('pysandbox_requests_total{route="/execute",status="200"}') == 5
    assert delta('pysandbox_requests_total{route="/execute",status="422"}') == 1
    assert delta('pysandbox_requests_total{route="other",status="404"}') == 1
    assert delta('pysandbox_requests_total{route="/metrics",status="200"}') == 1	# the first scrape
    # Histograms: every run observed once, cumulative buckets, a sum that adds up.
    assert delta("pysandbox_run_duration_seconds_count") == 5
    assert delta('pysandbox_run_duration_seconds_bucket{le="+Inf"}') == 5
    assert delta('pysandbox_run_duration_seconds_bucket{le="0.5"}') <= 3	# the timeout and the sleeper are above
    assert delta("pysandbox_run_duration_seconds_sum") > 1 + 1.5
    buckets = [v for k, v in sorted(((k, v) for k, v in after.items()
                                     if k.startswith("pysandbox_run_duration_seconds_bucket")),
                                    key=lambda kv: float(kv[0].split('"')[1].replace("+Inf", "inf")))]
    assert buckets == sorted(buckets)
    assert delta("pysandbox_queue_wait_seconds_count") == 5
    assert delta('pysandbox_queue_wait_seconds_bucket{le="0.5"}') <= 4	# one waited about 1.2 s
    assert delta("pysandbox_queue_wait_seconds_sum") > 0.8
    # Gauges, once nothing runs (a worker records its run after the answer has gone).
    deadline = time.monotonic() + 5
    while after['pysandbox_workers{state="busy"}'] != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        after = scrape(s)
    assert after['pysandbox_workers{state="busy"}'] == 0
    assert after['pysandbox_workers{state="idle"}'] >= 1
    assert after["pysandbox_run_slots"] == 1 and after["pysandbox_queue_size"] == 2
    assert after["pysandbox_queue_length"] == 0 and after["pysandbox_runs_running"] == 0
    assert after["pysandbox_api_workers"] >= 1


def test_gauges_while_runs_wait(make_service):
    s = make_service(extra_conf="[service]\nworkers = 1\nqueue_size = 2\nqueue_timeout = 20\n")
    threads = [threading.Thread(target=s.execute, args=("import time; time.sleep(3)",)) for _ in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.2)
    time.sleep(0.5)
    now = scrape(s)
    _, health = s.request("GET", "/health")
    # Full (the slot and both queue places taken): one more is refused for capacity, and counted as php-fpm's
    # "max children reached".
    full_status, full_body = s.request("POST", "/execute", {"code": "pass"})
    _, later = s.request("GET", "/health")
    for t in threads:
        t.join()
    assert now["pysandbox_runs_running"] == 1
    assert now["pysandbox_queue_length"] == 2
    assert now['pysandbox_workers{state="busy"}'] == 3
    # The php-fpm-like status: the figures since the start.
    pool = health["pool"]
    assert pool["process manager"] == "static" and pool["pool"] == "pysandbox"
    assert pool["listen queue"] == 2 and pool["max listen queue"] == 2 and pool["listen queue len"] == 2
    assert pool["active processes"] >= 3 and pool["total processes"] == pool["workers"]
    assert pool["max active processes"] == 1 and pool["start since"] >= 0
    assert pool["accepted conn"] >= 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00",
                                                           pool["start time"])
    assert (full_status, full_body.get("reason")) == (503, "capacity")
    assert later["pool"]["max children reached"] >= 1
    assert health["pool"]["max children reached"] == 0


def test_builds_and_environments(make_service):
    s = make_service()
    before = scrape(s)
    create(s, "metrics-ok", "echo fine")
    create(s, "metrics-bad", "exit 4")
    assert wait_built(s, "metrics-ok")["status"] == "ready"
    assert wait_built(s, "metrics-bad")["status"] == "failed"
    after = scrape(s)
    assert get(after, 'pysandbox_builds_total{outcome="succeeded"}') - get(before, 'pysandbox_builds_total{outcome="succeeded"}') == 1
    assert get(after, 'pysandbox_builds_total{outcome="failed"}') - get(before, 'pysandbox_builds_total{outcome="failed"}') == 1
    assert after['pysandbox_environments{status="ready"}'] == 1
    assert after['pysandbox_environments{status="failed"}'] == 1
    assert after['pysandbox_environments{status="building"}'] == 0
