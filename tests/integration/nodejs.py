"""nodejs.py: the tests' JavaScript tools (tests/js/package.json, pinned by tests/js/package-lock.json: Redocly CLI
for tests/js/lint-openapi.sh, playwright-core for test_browser.py), installed once per build tree and shared."""
import fcntl
import hashlib
import os
import shutil
import subprocess

from conftest import BUILD, SRC

JS_DIR = os.path.join(SRC, "tests", "js")
# In the build tree, never in the source tree: build/ is git-ignored, and the whole tree goes with the build (CI's
# clean checkout, `rm -rf build`, `make clean`), so an install here is a cache of the build, not a leftover of a test.
MODULES_ROOT = os.path.join(BUILD, "tests", "js-modules")


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def node_modules():
    """The node_modules directory of tests/js, installed by `npm ci` into $top_builddir/tests/js-modules/<the lock
    file's sha256>/ on first use and reused after (a changed lock gets a new directory; older ones are removed).
    An exclusive flock on js-modules/.lock makes concurrent callers (pytest-xdist workers, two `make check` runs in
    one build tree) wait for one install rather than race. Needs node and npm (conf/deps.sh --test) and the npm
    registry or npm's cache on the first call."""
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed (conf/deps.sh --test)"
    lock_file = os.path.join(JS_DIR, "package-lock.json")
    key = _sha256(lock_file)
    manifest = _sha256(os.path.join(JS_DIR, "package.json"))
    target = os.path.join(MODULES_ROOT, key)
    modules = os.path.join(target, "node_modules")
    stamp = os.path.join(target, ".installed")
    os.makedirs(MODULES_ROOT, exist_ok=True)
    with open(os.path.join(MODULES_ROOT, ".lock"), "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            with open(stamp) as f:
                if f.read().strip() == manifest:
                    return modules
        except OSError:
            pass
        # Not installed, half installed (an interrupted npm ci leaves no stamp) or installed from another
        # package.json: start afresh, and drop the installs of older lock files with it.
        for name in os.listdir(MODULES_ROOT):
            if not name.startswith("."):
                shutil.rmtree(os.path.join(MODULES_ROOT, name), ignore_errors=True)
        os.makedirs(target)
        shutil.copy(os.path.join(JS_DIR, "package.json"), target)
        shutil.copy(lock_file, target)
        # The lock alone decides what is installed; no install scripts run (the tree needs none), nothing is
        # audited (as tests/js/lint-openapi.sh does in its own work directory when used alone).
        r = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=target, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        if r.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise RuntimeError(f"npm ci in {target} failed ({r.returncode}):\n"
                               + r.stdout.decode("utf-8", "replace")[-6000:])
        with open(stamp, "w") as f:
            f.write(manifest + "\n")
        return modules
