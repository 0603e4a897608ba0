"""test_packages.py: real packages keep working inside the jail (numpy, pandas, matplotlib Agg, sqlite3,
multiprocessing, threading, subprocess) under the default limits: seccomp, cgroups and rlimits in force."""
import base64
import textwrap

import pytest


def run(service, code, **fields):
    r = service.execute(textwrap.dedent(code), **fields)
    assert r["status"] == "ok", (r["status"], r["error"], r["stderr"][-2000:])
    return r


def have(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


# Debian's python3-numpy, python3-pandas and python3-matplotlib (installed by conf/deps.sh --test) live
# under /usr, which every run sees read-only.
needs = pytest.mark.skipif(not (have("numpy") and have("pandas") and have("matplotlib")),
                           reason="Debian's python3-numpy/pandas/matplotlib are not installed")


@needs
def test_numpy(service):
    r = run(service, '''
        import numpy as np
        a = np.arange(12, dtype=float).reshape(3, 4)
        print(int((a @ a.T).trace()), np.linalg.matrix_rank(a))
    ''')
    assert r["stdout"] == "506 2\n"


@needs
def test_pandas_describe_and_csv(service):
    r = run(service, '''
        import pandas as pd
        df = pd.DataFrame({"A": [1, 2, 3, 4], "B": [10.0, 20.0, 30.0, 40.0]})
        print(df.describe().loc["mean"].tolist())
        df.to_csv("analysis.csv", index=False)
    ''')
    assert r["stdout"] == "[2.5, 25.0]\n"
    assert base64.b64decode(r["files"]["analysis.csv"]).decode().splitlines() == [
        "A,B", "1,10.0", "2,20.0", "3,30.0", "4,40.0"]


@needs
def test_matplotlib_agg_png(service):
    r = run(service, '''
        import matplotlib
        import matplotlib.pyplot as plt
        plt.plot([1, 2, 3], [1, 4, 9])
        plt.savefig("plot.png")
        print(matplotlib.get_backend())
    ''', timeout=60)
    assert r["stdout"].strip().lower() == "agg"
    assert base64.b64decode(r["files"]["plot.png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_sqlite3_file_and_memory(service):
    r = run(service, '''
        import sqlite3
        for target in (":memory:", "data.db"):
            db = sqlite3.connect(target)
            db.execute("create table t (x integer)")
            db.executemany("insert into t values (?)", [(i,) for i in range(100)])
            db.commit()
            print(db.execute("select sum(x) from t").fetchone()[0])
            db.close()
    ''')
    assert r["stdout"] == "4950\n4950\n"
    assert base64.b64decode(r["files"]["data.db"])[:16] == b"SQLite format 3\x00"


def test_multiprocessing_pool_and_queue(service):
    r = run(service, '''
        import multiprocessing as mp

        def square(x):
            return x * x

        if __name__ == "__main__":
            with mp.Pool(4) as pool:
                print(sum(pool.map(square, range(100))))
            q = mp.Queue()
            p = mp.Process(target=q.put, args=("from a child",))
            p.start(); p.join()
            print(q.get(), p.exitcode)
            with mp.Manager() as m:
                d = m.dict(a=1)
                print(d["a"])
    ''', timeout=60)
    assert r["stdout"] == "328350\nfrom a child 0\n1\n"


def test_threading_and_subprocess(service):
    r = run(service, '''
        import subprocess, sys, threading
        out = []
        threads = [threading.Thread(target=out.append, args=(i,)) for i in range(16)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(sorted(out) == list(range(16)))
        print(subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout.strip())
        print(subprocess.run(["sh", "-c", "echo $((2 + 3))"], capture_output=True, text=True).stdout.strip())
    ''')
    assert r["stdout"] == "True\n42\n5\n"


def test_local_tcp_server_on_the_runs_own_loopback(service):
    # Teaching exercises start a server and talk to it: that works inside, with no network out.
    r = run(service, '''
        import http.server, threading, urllib.request
        srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        open("index.html", "w").write("hello from inside")
        print(urllib.request.urlopen(f"http://127.0.0.1:{srv.server_port}/index.html").read().decode())
        srv.shutdown()
    ''')
    assert r["stdout"] == "hello from inside\n"
