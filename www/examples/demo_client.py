#!/usr/bin/env python3
"""demo_client.py: walks through the original SimplePySandbox demos (runs, files, performance, errors, environments) against a running service."""
import argparse
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simplepysandbox_client import SimplePySandboxClient, SimplePySandboxError  # noqa: E402

# The original demo's environment: it needs PyPI. Give --env-script for a host without it.
DEFAULT_SETUP_SCRIPT = """
pip install requests beautifulsoup4
echo "environment set up"
"""

client = SimplePySandboxClient()


def section(title):
    print()
    print("=" * 60)
    print(title)
    print("=" * 60)


def demo_basic_usage():
    """Health check and a basic run."""
    section("1. Basic usage")
    health = client.health_check()
    print(f"Service status: {health['status']}")

    basic_code = """
print("Hello from SimplePySandbox!")
import sys
print(f"Python version: {sys.version}")

numbers = [1, 2, 3, 4, 5]
result = sum(x**2 for x in numbers)
print(f"Sum of squares: {result}")
"""
    result = client.execute_code(basic_code)
    client.print_result(result)
    return result.get("success") is True


def demo_file_operations():
    """The program writes files; they come back base64-encoded."""
    section("2. Files")
    file_code = """
import json
import csv
from datetime import datetime

data = {
    "timestamp": str(datetime.now()),
    "message": "SimplePySandbox测试",
    "numbers": list(range(1, 11)),
    "status": "success"
}

with open("test_data.json", "w", encoding="utf-8") as f:
    json.dump(data, f, indent=2, ensure_ascii=False)

csv_data = [
    ["姓名", "年龄", "城市"],
    ["张三", "25", "北京"],
    ["李四", "30", "上海"],
    ["王五", "28", "深圳"]
]

with open("test_data.csv", "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f)
    writer.writerows(csv_data)

print("✅ Files created!")
"""
    result = client.execute_code(file_code)
    client.print_result(result)
    for name, data in sorted((result.get("files") or {}).items()):
        text = base64.b64decode(data).decode("utf-8", "replace")
        print(f"--- {name} ---")
        print(text.rstrip("\n"))
    return result.get("success") is True and {"test_data.json", "test_data.csv"} <= set(result.get("files") or {})


def demo_performance_test():
    """A small computation with a longer timeout."""
    section("3. Performance")
    perf_code = """
import time
import math

print("🔥 Performance test starting...")

start = time.time()
result = sum(math.sqrt(i) for i in range(10000))
math_time = time.time() - start
print(f"Math: {result:.2f}, {math_time:.3f} s")

start = time.time()
text = "SimplePySandbox " * 1000
operations = [
    text.upper(),
    text.lower(),
    text.replace("Sandbox", "环境"),
    "".join(reversed(text))
]
string_time = time.time() - start
print(f"Strings: {len(operations)} operations, {string_time:.3f} s")

print("✅ Performance test done!")
"""
    result = client.execute_code(perf_code, timeout=20)
    client.print_result(result)
    return result.get("success") is True


def demo_error_handling():
    """A syntax error and a run-time error: HTTP 200 with success false."""
    section("4. Error handling")
    syntax_error_code = """
print("syntax error test")
if True  # missing colon
    print("this is a syntax error")
"""
    r1 = client.execute_code(syntax_error_code)
    client.print_result(r1)

    runtime_error_code = """
print("run-time error test")
x = 10
y = 0
result = x / y  # division by zero
"""
    r2 = client.execute_code(runtime_error_code)
    client.print_result(r2)

    r3 = client.execute_code("")
    print("Empty code:")
    client.print_result(r3)
    return (r1.get("success") is False and "SyntaxError" in r1.get("stderr", "")
            and r2.get("success") is False and "ZeroDivisionError" in r2.get("stderr", "")
            and "detail" in r3)


def demo_environment_management(name, setup_script, wait_seconds):
    """List, create, follow the build, run in it, delete."""
    section("5. Environment management")
    envs = client.list_environments()
    print(f"Found {envs['total']} environment(s)")

    if client.get_environment(name).get("name") == name:
        print(f"Deleting the old '{name}' first")
        client.delete_environment(name)
    result = client.create_environment(name=name, description="demo environment", setup_script=setup_script)
    if result.get("status") != "building":
        print(f"Environment creation failed: {result.get('detail', result)}")
        return False
    print(f"✅ Environment '{name}' created, building...")

    def show(line):
        print(f"   {line['ts']} {line['stream']:<6} {line['line']}")

    env = client.wait_for_environment(name, timeout=wait_seconds, on_line=show, interval=0.5)
    status = env.get("status")
    ok = status == "ready"
    if ok:
        print(f"✅ Environment ready ({env.get('build_seconds')} s)")
        result = client.execute_code("import sys\nprint(sys.prefix)", environment=name)
        client.print_result(result)
        ok = result.get("success") is True
    elif status == "failed":
        print(f"❌ Build failed: {env.get('error')}")
    else:
        print(f"⏳ Still {status} after {wait_seconds} s")

    deleted = client.delete_environment(name)
    print(deleted.get("message", deleted))
    return ok


def main():
    global client
    ap = argparse.ArgumentParser(description="SimplePySandbox demo client")
    ap.add_argument("--url", default="http://localhost:8000", help="the service (default http://localhost:8000)")
    ap.add_argument("--env-name", default="demo-env", help="the demo environment's name (default demo-env)")
    ap.add_argument("--env-script", help="a setup script file for the demo environment "
                    "(default: the original's 'pip install requests beautifulsoup4', which needs PyPI)")
    ap.add_argument("--env-wait", type=float, default=600, help="seconds to wait for its build (default 600)")
    ap.add_argument("--skip-env", action="store_true", help="skip the environment demo")
    args = ap.parse_args()

    client = SimplePySandboxClient(args.url)
    setup_script = DEFAULT_SETUP_SCRIPT
    if args.env_script:
        with open(args.env_script, encoding="utf-8") as f:
            setup_script = f.read()

    print(f"🚀 SimplePySandbox demo against {args.url}")
    results = {}
    try:
        results["basic"] = demo_basic_usage()
        results["files"] = demo_file_operations()
        results["performance"] = demo_performance_test()
        results["errors"] = demo_error_handling()
        if not args.skip_env:
            results["environments"] = demo_environment_management(args.env_name, setup_script, args.env_wait)
    except SimplePySandboxError as e:
        print(f"❌ {e}", file=sys.stderr)
        return 1

    section("Summary")
    for name, ok in results.items():
        print(f"{'✅' if ok else '❌'} {name}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
