"""test_api.py: the HTTP API contract (API.md) end to end: real requests through nginx to the pool and the jail."""
import base64
import json
import os
import socket
import subprocess
import tempfile
from datetime import datetime

import pytest

from conftest import BUILD, SRC

# Every field API.md lists for a /execute response, and their JSON types.
RESULT_FIELDS = {
    "success": bool, "stdout": str, "stderr": str, "error": (str, type(None)),
    "execution_time": (int, float), "files": dict, "exit_code": (int, type(None)),
    "signal": (str, type(None)), "status": str, "truncated": dict, "resources": dict,
    "environment": (str, type(None)),
}
STATUSES = {"ok", "error", "timeout", "memory_limit", "output_limit", "killed"}


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


def assert_result_shape(r):
    """Every field of API.md's response is present, with its type (bool is not a number here)."""
    for name, typ in RESULT_FIELDS.items():
        assert name in r, f"missing field {name}: {r}"
        assert isinstance(r[name], typ), (name, r[name])
    assert not isinstance(r["execution_time"], bool) and r["execution_time"] >= 0
    assert r["status"] in STATUSES
    assert set(r["truncated"]) == {"stdout", "stderr", "files"}
    assert all(isinstance(v, bool) for v in r["truncated"].values())
    assert set(r["resources"]) == {"cpu_time", "max_rss_kb"}
    assert isinstance(r["resources"]["cpu_time"], (int, float)) and r["resources"]["cpu_time"] >= 0
    assert isinstance(r["resources"]["max_rss_kb"], int) and r["resources"]["max_rss_kb"] >= 0
    # Zero only for a run that failed before it started (its input refused), which neither exited nor was killed.
    assert r["resources"]["max_rss_kb"] > 0 or (r["exit_code"] is None and r["signal"] is None), r
    for name, data in r["files"].items():
        assert isinstance(name, str) and isinstance(data, str)
        unb64(data)
    assert r["success"] is (r["status"] == "ok")
    assert (r["error"] is None) is r["success"]


def validation_error(service, body=None, raw=None, path="/execute"):
    """POST body; expect 422 in FastAPI's shape and return its list of errors."""
    status, resp = service.request("POST", path, body=body, raw=raw)
    assert status == 422, (status, resp)
    assert isinstance(resp, dict) and set(resp) == {"detail"}, resp
    assert isinstance(resp["detail"], list) and resp["detail"], resp
    for item in resp["detail"]:
        assert isinstance(item["loc"], list) and item["loc"][0] == "body", item
        assert isinstance(item["msg"], str) and item["msg"], item
        assert isinstance(item["type"], str) and item["type"], item
        # pydantic 2's entry, as the original's FastAPI answered it: input always, url for pydantic's types.
        assert "input" in item, item
        assert item["type"] == "json_invalid" or item["url"] == "https://errors.pydantic.dev/2.6/v/" + item["type"]
    return resp["detail"]


def failed_run(service, body, path="/execute"):
    """POST body; expect what the original answered for input it could not run: 200, success false."""
    status, r = service.request("POST", path, body=body)
    assert status == 200, (status, r)
    assert r["success"] is False and r["status"] == "error" and r["exit_code"] is None, r
    assert (r["stdout"], r["stderr"], r["files"], r["execution_time"]) == ("", "", {}, 0), r
    assert isinstance(r["error"], str) and r["error"], r
    return r["error"]


def string_detail(service, expected_status, body=None, raw=None, path="/execute", method="POST"):
    status, resp = service.request(method, path, body=body, raw=raw)
    assert status == expected_status, (status, resp)
    assert isinstance(resp, dict) and set(resp) == {"detail"} and isinstance(resp["detail"], str), resp
    assert resp["detail"]
    return resp["detail"]


# ---- the original README, unchanged ----------------------------------------

# README "基础代码执行 / 简单计算": the body exactly as its curl command sends it.
README_HELLO = r'''{
    "code": "print(\"Hello, SimplePySandbox!\")\nresult = 2 + 3\nprint(f\"2 + 3 = {result}\")",
    "timeout": 10
  }'''

# README "数据处理示例".
README_DATA = r'''{
    "code": "import json\nimport csv\nfrom datetime import datetime\n\n# 创建数据\ndata = {\n  \"timestamp\": str(datetime.now()),\n  \"numbers\": [1, 2, 3, 4, 5],\n  \"sum\": sum([1, 2, 3, 4, 5])\n}\n\n# 保存为JSON\nwith open(\"result.json\", \"w\") as f:\n    json.dump(data, f, indent=2)\n\nprint(\"数据处理完成\")\nprint(f\"结果: {data}\")",
    "timeout": 15
  }'''


def test_readme_curl_hello_world(service):
    status, r = service.request("POST", "/execute", raw=README_HELLO.encode())
    assert status == 200, r
    assert_result_shape(r)
    assert r["stdout"] == "Hello, SimplePySandbox!\n2 + 3 = 5\n"
    assert r["stderr"] == "" and r["files"] == {}
    assert r["success"] is True and r["status"] == "ok" and r["exit_code"] == 0 and r["error"] is None


def test_readme_curl_data_processing(service):
    status, r = service.request("POST", "/execute", raw=README_DATA.encode())
    assert status == 200, r
    assert_result_shape(r)
    assert r["success"] is True, r
    assert list(r["files"]) == ["result.json"]
    text = unb64(r["files"]["result.json"]).decode("utf-8")
    data = json.loads(text)
    assert list(data) == ["timestamp", "numbers", "sum"]
    assert data["numbers"] == [1, 2, 3, 4, 5] and data["sum"] == 15
    datetime.fromisoformat(data["timestamp"])  # str(datetime.now()) of the run
    assert text == json.dumps(data, indent=2)
    assert r["stdout"] == f"数据处理完成\n结果: {data}\n"


# The README's client class, verbatim (section "Python客户端示例").
from readme_client import SimplePySandboxClient  # noqa: E402


def test_readme_python_client(service):
    client = SimplePySandboxClient(service.url)
    # The README's usage example, unchanged but for the URL.
    result = client.execute_code("""
import math
numbers = [1, 4, 9, 16, 25]
sqrt_numbers = [math.sqrt(x) for x in numbers]
print(f"原数字: {numbers}")
print(f"平方根: {sqrt_numbers}")
""")
    assert_result_shape(result)
    assert result["success"] is True
    assert result["stdout"] == "原数字: [1, 4, 9, 16, 25]\n平方根: [1.0, 2.0, 3.0, 4.0, 5.0]\n"
    # An environment that does not exist: a failed run naming it, as the original answered.
    result = client.execute_code("print(1)", environment="no-such-env")
    assert_result_shape(result)
    assert result["success"] is False and result["error"] == "Environment 'no-such-env' not found", result


# ---- programs that fail are 200 with success false -------------------------

def test_syntax_error(service):
    r = service.execute('print("never")\nif True\n    print(1)\n')
    assert_result_shape(r)
    assert r["success"] is False and r["status"] == "error"
    assert r["exit_code"] == 1 and r["signal"] is None
    assert r["error"] == "Process exited with status 1"
    assert r["stdout"] == ""
    assert "main.py" in r["stderr"] and "line 2" in r["stderr"]
    assert r["stderr"].splitlines()[-1].startswith("SyntaxError")


def test_runtime_exception(service):
    r = service.execute('print("before")\nx = 10\ny = 0\nresult = x / y\n')
    assert_result_shape(r)
    assert r["success"] is False and r["status"] == "error" and r["exit_code"] == 1
    assert r["error"] == "Process exited with status 1"
    assert r["stdout"] == "before\n"
    assert r["stderr"].startswith("Traceback (most recent call last):\n")
    assert "main.py" in r["stderr"]
    assert r["stderr"].endswith("ZeroDivisionError: division by zero\n")


def test_nonzero_exit(service):
    r = service.execute('import sys\nprint("out")\nsys.exit(3)')
    assert_result_shape(r)
    assert r["success"] is False and r["status"] == "error"
    assert r["exit_code"] == 3 and r["signal"] is None
    assert r["error"] == "Process exited with status 3"
    assert r["stdout"] == "out\n" and r["stderr"] == ""


def test_exit_zero_is_success(service):
    r = service.execute('import sys\nsys.exit(0)')
    assert r["success"] is True and r["status"] == "ok" and r["exit_code"] == 0 and r["error"] is None


def test_timeout_keeps_partial_output(service):
    # 3 s, not 1: Python must reach its first print first, also in the emulated cgroup v2 guest (tests/vm).
    r = service.execute('import sys, time\nprint("before sleep")\nsys.stderr.write("err side\\n")\ntime.sleep(30)\n'
                        'print("after sleep")', timeout=3)
    assert_result_shape(r)
    assert r["success"] is False and r["status"] == "timeout"
    assert r["error"] == "Execution timed out after 3 seconds"
    assert r["exit_code"] is None
    assert r["stdout"] == "before sleep\n" and r["stderr"] == "err side\n"
    assert 2.95 <= r["execution_time"] <= 4.0, r["execution_time"]


def test_fractional_timeout(service):
    r = service.execute('import time\ntime.sleep(30)', timeout=0.5)
    assert r["status"] == "timeout" and r["error"] == "Execution timed out after 0.5 seconds"
    assert 0.45 <= r["execution_time"] <= 1.5, r["execution_time"]


def test_killed_by_signal(service):
    r = service.execute('import os\nprint("dying", flush=True)\nos.kill(os.getpid(), 9)\nprint("unreachable")')
    assert_result_shape(r)
    assert r["success"] is False and r["status"] == "killed"
    assert r["signal"] == "SIGKILL" and r["exit_code"] is None
    assert r["error"] == "Killed by signal SIGKILL"
    assert r["stdout"] == "dying\n"


def test_memory_limit(service):
    r = service.execute('print("allocating")\nx = bytearray(3 * 1024 ** 3)\nprint("allocated")')
    assert_result_shape(r)
    assert r["success"] is False and r["status"] == "memory_limit"
    assert r["error"] == "Memory limit of 512 MB exceeded"
    assert r["stdout"] == "allocating\n"
    assert "MemoryError" in r["stderr"]


def test_memory_limit_follows_memory_mb(service):
    code = 'x = bytearray(200 * 1024 ** 2)\nprint(len(x))'
    small = service.execute(code, memory_mb=128)
    assert small["status"] == "memory_limit" and small["error"] == "Memory limit of 128 MB exceeded"
    big = service.execute(code, memory_mb=1024)
    assert big["success"] is True and big["stdout"] == f"{200 * 1024 ** 2}\n"


def test_output_flood(service):
    r = service.execute('import sys\nwhile True:\n    sys.stdout.write("x" * 65536)\n')
    assert_result_shape(r)
    assert r["success"] is False and r["status"] == "output_limit"
    assert r["truncated"] == {"stdout": True, "stderr": False, "files": False}
    assert len(r["stdout"]) == 1048576 and r["stdout"] == "x" * 1048576
    assert r["error"] == "Output limit of 1048576 bytes reached; the program was stopped"


def test_stderr_flood(service):
    r = service.execute('import sys\nprint("ok")\nwhile True:\n    sys.stderr.write("e" * 65536)\n')
    assert r["status"] == "output_limit" and r["success"] is False
    assert r["truncated"] == {"stdout": False, "stderr": True, "files": False}
    assert r["stdout"] == "ok\n" and len(r["stderr"]) == 1048576


def test_output_just_under_the_cap_is_whole(service):
    r = service.execute('import sys\nsys.stdout.write("y" * 1048576)')
    assert r["success"] is True and r["status"] == "ok"
    assert r["truncated"]["stdout"] is False and len(r["stdout"]) == 1048576


# ---- input and output files, stdin, args, encodings --------------------------

def test_nested_input_file(service):
    r = service.execute('print(open("sub/dir/data.csv").read(), end="")\nimport os\nprint(sorted(os.listdir(".")))',
                        files={"sub/dir/data.csv": b64("a,b\n1,2\n")})
    assert r["success"] is True, r
    assert r["stdout"] == "a,b\n1,2\n['main.py', 'sub']\n"
    assert r["files"] == {}


def test_binary_files_round_trip(service):
    all_bytes = bytes(range(256))
    code = ('data = open("in.bin", "rb").read()\n'
            'print(len(data), data == bytes(range(256)))\n'
            'open("out.bin", "wb").write(data)\n'
            'open("rev.bin", "wb").write(data[::-1])\n')
    r = service.execute(code, files={"in.bin": b64(all_bytes)})
    assert r["success"] is True, r
    assert r["stdout"] == "256 True\n"
    assert set(r["files"]) == {"out.bin", "rev.bin"}
    assert unb64(r["files"]["out.bin"]) == all_bytes
    assert unb64(r["files"]["rev.bin"]) == all_bytes[::-1]


def test_only_changed_inputs_are_returned(service):
    code = ('open("changed.txt", "w").write("abd")\n'       # same length, other bytes
            'open("grown.txt", "a").write("!")\n'
            'open("rewritten.txt", "w").write("same")\n'    # rewritten with identical bytes
            'open("new.txt", "w").write("new")\n')
    files = {name: b64(content) for name, content in
             [("changed.txt", "abc"), ("grown.txt", "g"), ("rewritten.txt", "same"), ("untouched.txt", "u")]}
    r = service.execute(code, files=files)
    assert r["success"] is True, r
    assert {k: unb64(v) for k, v in r["files"].items()} == {
        "changed.txt": b"abd", "grown.txt": b"g!", "new.txt": b"new"}


def test_main_py_never_returned(service):
    code = ('open("main.py", "a").write("# changed\\n")\n'
            'import os\nos.makedirs("sub", exist_ok=True)\n'
            'open("sub/main.py", "w").write("x = 1\\n")\n')
    r = service.execute(code)
    assert r["success"] is True, r
    assert r["files"] == {"sub/main.py": b64("x = 1\n")}


def test_main_py_reserved_as_input_name(service):
    error = failed_run(service, {"code": "print(1)", "files": {"main.py": b64("print(2)")}})
    assert "reserved for the code" in error, error


def test_nested_output_dirs(service):
    code = ('import os\nos.makedirs("out/a/b")\n'
            'open("out/a/b/c.txt", "w").write("deep")\n'
            'open("out/top.txt", "w").write("top")\n'
            'os.makedirs("empty/dir")\n')
    r = service.execute(code)
    assert r["success"] is True, r
    assert {k: unb64(v) for k, v in r["files"].items()} == {"out/a/b/c.txt": b"deep", "out/top.txt": b"top"}


def test_symlinks_not_followed(service):
    code = ('import os\nos.symlink("/etc/passwd", "link")\nos.symlink("real.txt", "link2")\n'
            'open("real.txt", "w").write("real")\n')
    r = service.execute(code)
    assert r["success"] is True, r
    assert r["files"] == {"real.txt": b64("real")}


def test_stdin_delivered(service):
    r = service.execute('import sys\ndata = sys.stdin.read()\nprint(repr(data))', stdin="line one\nzwei ü\n")
    assert r["success"] is True, r
    assert r["stdout"] == "'line one\\nzwei ü\\n'\n"


def test_no_stdin_reads_empty(service):
    r = service.execute('import sys\nprint(repr(sys.stdin.read()))')
    assert r["success"] is True and r["stdout"] == "''\n"


def test_args(service):
    args = ["plain", "with space", "--flag=1", "ünï", "", "$HOME", "'quoted'"]
    r = service.execute('import sys, json\nprint(json.dumps(sys.argv[1:]))\nprint(sys.argv[0])', args=args)
    assert r["success"] is True, r
    lines = r["stdout"].splitlines()
    assert json.loads(lines[0]) == args
    assert lines[1].endswith("main.py")


def test_non_utf8_output_replaced(service):
    code = "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe ok')\nsys.stderr.buffer.write(b'bad \\xc3\\x28')"
    r = service.execute(code)
    assert r["success"] is True, r
    assert r["stdout"] == "\ufffd\ufffd ok"
    assert r["stdout"] == b"\xff\xfe ok".decode("utf-8", "replace")
    assert r["stderr"] == b"bad \xc3\x28".decode("utf-8", "replace")
    assert "stdout_base64" not in r


def test_output_encoding_base64(service):
    code = "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe ok')\nsys.stderr.buffer.write(b'\\x00\\x80')"
    r = service.execute(code, output_encoding="base64")
    assert_result_shape(r)
    assert unb64(r["stdout_base64"]) == b"\xff\xfe ok"
    assert unb64(r["stderr_base64"]) == b"\x00\x80"
    assert r["stdout"] == "\ufffd\ufffd ok"


def test_unicode_output(service):
    r = service.execute('print("héllo 世界 🐍")')
    assert r["stdout"] == "héllo 世界 🐍\n"


def test_unknown_fields_ignored(service):
    r = service.execute('print("fine")', some_future_field={"x": 1}, another=[1, 2])
    assert r["success"] is True and r["stdout"] == "fine\n"


def test_defaults_and_environment_field(service):
    r = service.execute('print(1)')
    assert r["environment"] is None and r["signal"] is None
    assert r["truncated"] == {"stdout": False, "stderr": False, "files": False}


def test_failure_responses_have_every_field(service):
    for code in ['1/0', 'import os\nos.kill(os.getpid(), 9)', 'import time\ntime.sleep(5)']:
        r = service.execute(code, timeout=0.3)
        assert_result_shape(r)
        assert r["success"] is False


def test_program_runs_unprivileged_in_its_own_root(service):
    code = ('import os, socket\nprint(os.getuid() >= 1000, os.getpid())\n'
            'print(os.path.exists("/etc/shadow"), socket.gethostname(), os.getcwd())\n')
    r = service.execute(code)
    assert r["stdout"] == "True 2\nFalse sandbox /work\n", r


# ---- bad requests: 4xx with a detail -----------------------------------------

def test_non_json_body(service):
    errs = validation_error(service, raw=b'{not json')
    assert len(errs) == 1 and errs[0]["type"] == "json_invalid"
    assert errs[0]["loc"] == ["body", 1]


def test_empty_body(service):
    errs = validation_error(service, raw=b'')
    assert len(errs) == 1 and errs[0]["type"] == "json_invalid"


def test_trailing_garbage_after_json(service):
    errs = validation_error(service, raw=b'{"code": "print(1)"} x')
    assert errs[0]["type"] == "json_invalid"


def test_json_array_body(service):
    errs = validation_error(service, raw=b'[{"code": "print(1)"}]')
    assert errs == [{"type": "model_attributes_type", "loc": ["body"],
                     "msg": "Input should be a valid dictionary or object to extract fields from",
                     "input": [{"code": "print(1)"}], "url": "https://errors.pydantic.dev/2.6/v/model_attributes_type"}]


def test_missing_code(service):
    errs = validation_error(service, {"timeout": 5})
    assert errs == [{"type": "missing", "loc": ["body", "code"], "msg": "Field required", "input": {"timeout": 5},
                     "url": "https://errors.pydantic.dev/2.6/v/missing"}]


def test_null_code_is_missing(service):
    errs = validation_error(service, {"code": None})
    assert [e["loc"] for e in errs] == [["body", "code"]]


@pytest.mark.parametrize("field,value,etype", [
    ("code", 5, "string_type"),
    ("code", ["print(1)"], "string_type"),
    ("timeout", "ten", "float_parsing"),
    ("timeout", True, "float_type"),
    ("memory_mb", 256.5, "int_type"),
    ("memory_mb", "256.5", "int_parsing"),
    ("network", "maybe", "bool_parsing"),
    ("stdin", 5, "string_type"),
    ("args", "a b", "list_type"),
    ("files", ["a.txt"], "dict_type"),
    ("environment", 7, "string_type"),
    ("output_encoding", "latin-1", "literal_error"),
])
def test_wrong_types(service, field, value, etype):
    body = {"code": "print(1)", field: value}
    errs = validation_error(service, body)
    assert len(errs) == 1, errs
    assert errs[0]["loc"] == ["body", field] and errs[0]["type"] == etype
    assert errs[0]["input"] == value, errs


@pytest.mark.parametrize("field,value", [("timeout", "5"), ("timeout", " 2.5 "), ("memory_mb", "256"),
                                         ("cpus", "0.5"), ("network", "false"), ("network", "0")])
def test_lax_strings(service, field, value):
    # pydantic's lax mode, as the original took them: numeric and boolean strings.
    r = service.execute("print(1)", **{field: value})
    assert r["success"] is True and r["stdout"] == "1\n", r


def test_lax_timeout_is_the_number(service):
    r = service.execute("import time\ntime.sleep(5)", timeout="0.5")
    assert r["status"] == "timeout" and r["execution_time"] < 3, r


def test_wrong_type_in_args_item(service):
    # FastAPI puts list positions in loc as integers.
    errs = validation_error(service, {"code": "print(1)", "args": ["ok", 3]})
    assert [e["loc"] for e in errs] == [["body", "args", 1]]


def test_several_errors_reported_together(service):
    errs = validation_error(service, {"code": 1, "timeout": 0, "memory_mb": 10})
    assert sorted(tuple(e["loc"]) for e in errs) == [("body", "code"), ("body", "memory_mb"), ("body", "timeout")]


@pytest.mark.parametrize("timeout,etype", [(0, "greater_than"), (-1, "greater_than"), (-0.5, "greater_than"),
                                           (301, "less_than_equal"), (300.001, "less_than_equal")])
def test_timeout_out_of_range(service, timeout, etype):
    errs = validation_error(service, {"code": "print(1)", "timeout": timeout})
    assert len(errs) == 1 and errs[0]["loc"] == ["body", "timeout"] and errs[0]["type"] == etype


def test_timeout_at_the_maximum_is_accepted(service):
    r = service.execute('print("max")', timeout=300)
    assert r["success"] is True and r["stdout"] == "max\n"


@pytest.mark.parametrize("memory_mb,etype", [(10, "greater_than_equal"), (4096, "less_than_equal"),
                                             (2049, "less_than_equal")])
def test_memory_out_of_range(service, memory_mb, etype):
    errs = validation_error(service, {"code": "print(1)", "memory_mb": memory_mb})
    assert len(errs) == 1 and errs[0]["loc"] == ["body", "memory_mb"] and errs[0]["type"] == etype


def test_network_disabled_by_default(service):
    errs = validation_error(service, {"code": "print(1)", "network": True})
    assert len(errs) == 1 and errs[0]["loc"] == ["body", "network"]
    r = service.execute('print("offline")', network=False)
    assert r["success"] is True


def test_blank_code(service):
    for code in ["", "   ", "\n\t \r\n"]:
        assert string_detail(service, 400, {"code": code}) == "Code cannot be empty"


def test_code_length_limit(service):
    limit = 50 * 1024
    ok = "#" * (limit - 10) + "\nprint(7)"
    assert len(ok.encode()) <= limit
    r = service.execute(ok)
    assert r["success"] is True and r["stdout"] == "7\n"
    too_long = "#" * limit + "\nprint(7)"
    detail = string_detail(service, 400, {"code": too_long})
    assert detail == f"Code too long: {limit + 9} bytes (maximum {limit})"


def test_code_length_counts_bytes(service):
    # 20000 three-byte characters: 60000 bytes, over 50 KB although only 20000 characters.
    detail = string_detail(service, 400, {"code": "#" + "世" * 20000})
    assert detail.startswith("Code too long: 60001 bytes")


@pytest.mark.parametrize("encoded", ["not base64!", "YQ", "YQ=", "YQ==\n", "Y Q==", "YR==", "****", "YQ==YQ=="])
def test_bad_base64(service, encoded):
    # The original decoded the files as it wrote them: a failed run, on both routes.
    error = failed_run(service, {"code": "print(1)", "files": {"data.bin": encoded}})
    assert error.startswith("File 'data.bin' is not valid base64"), error


def test_empty_file_is_valid(service):
    r = service.execute('import os\nprint(os.path.getsize("empty.txt"))', files={"empty.txt": ""})
    assert r["success"] is True and r["stdout"] == "0\n"


@pytest.mark.parametrize("name", ["/etc/passwd", "/abs.txt", "..", "../escape.txt", "a/../../b", "a/..",
                                  "a//b", "./a", "a/./b", "a/", ".", "", "a\x01b", "tab\tname", "new\nline",
                                  "del\x7f", "back\\slash", "c1\u0085ctl"])
def test_unsafe_file_names(service, name):
    error = failed_run(service, {"code": "print(1)", "files": {name: b64("x")}})
    assert error.startswith("Unsafe file name '"), error
    # Shown, but never with a control character of the client's in it.
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in error), error


def test_unsafe_file_fails_after_validation(service):
    # As in the original: a type error elsewhere is still a 422, and a blank code still a 400.
    errs = validation_error(service, {"code": "print(1)", "timeout": "x", "files": {"../a": b64("x")}})
    assert [e["loc"] for e in errs] == [["body", "timeout"]], errs
    string_detail(service, 400, {"code": " ", "files": {"../a": b64("x")}})


def test_nul_in_file_name(service):
    # json-c keeps keys as C strings; the service must refuse rather than write "nul".
    errs = validation_error(service, {"code": "print(1)", "files": {"nul\x00byte": b64("x")}})
    assert [e["loc"] for e in errs] == [["body"]], errs
    assert "NUL" in errs[0]["msg"]


def test_file_and_its_parent_as_files(service):
    error = failed_run(service, {"code": "print(1)", "files": {"a": b64("x"), "a/b": b64("y")}})
    assert "its parent 'a' is also given" in error, error


def test_file_too_large(service):
    limit = 10 * 1024 * 1024
    detail = string_detail(service, 413, {"code": "print(1)", "files": {"big.bin": b64(b"\0" * (limit + 1))}})
    assert detail == f"File 'big.bin' is larger than the limit of {limit} bytes"


def test_file_size_limit_boundary(make_service):
    s = make_service(env={"MAX_FILE_SIZE": "1000"})
    r = s.execute('import os\nprint(os.path.getsize("f.bin"))', files={"f.bin": b64(b"a" * 1000)})
    assert r["success"] is True and r["stdout"] == "1000\n"
    detail = string_detail(s, 413, {"code": "print(1)", "files": {"f.bin": b64(b"a" * 1001)}})
    assert detail == "File 'f.bin' is larger than the limit of 1000 bytes"


def raw_http(service, head, body=b"", read_limit=1 << 20):
    """Send a hand-made request; return (status, headers dict, body bytes)."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as s:
        s.sendall(head + body)
        data = b""
        while len(data) < read_limit:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head_text, _, rest = data.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, rest


def test_body_over_nginx_limit(service):
    declared = 64 * 1024 * 1024 + 1
    head = (f"POST /execute HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\nConnection: close\r\n\r\n").encode()
    status, headers, body = raw_http(service, head, b'{"code": "' + b"#" * 65536)
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body[:int(headers["content-length"])]) == {"detail": "Request body too large"}


def test_unknown_path(service):
    for method, path in [("GET", "/nope"), ("POST", "/nope"), ("GET", "/execute/x"), ("DELETE", "/health/x"),
                         ("GET", "/nope/")]:
        assert string_detail(service, 404, path=path, method=method) == "Not Found"


def test_method_not_allowed(service):
    for method, path, allow in [("GET", "/execute", "POST"), ("PUT", "/execute", "POST"),
                                ("GET", "/execute-with-environment", "POST"), ("POST", "/health", "GET, HEAD"),
                                ("DELETE", "/", "GET, HEAD")]:
        assert string_detail(service, 405, path=path, method=method) == "Method Not Allowed"
        assert service.last_headers["Allow"] == allow, (method, path)


def test_execute_with_environment_requires_it(service):
    errs = validation_error(service, {"code": "print(1)"}, path="/execute-with-environment")
    assert errs == [{"type": "missing", "loc": ["body", "environment"], "msg": "Field required", "input": {"code": "print(1)"},
                     "url": "https://errors.pydantic.dev/2.6/v/missing"}]


def test_execute_with_unknown_environment(service):
    detail = string_detail(service, 404, {"code": "print(1)", "environment": "ghost-env"},
                           path="/execute-with-environment")
    assert "ghost-env" in detail
    assert detail == "Environment 'ghost-env' not found"


def test_execute_with_environment_field(service):
    # /execute with an environment that does not exist: the original's failed run (200), naming it.
    error = failed_run(service, {"code": "print(1)", "environment": "data-science"})
    assert error == "Environment 'data-science' not found"


def test_environment_name_pattern(service):
    errs = validation_error(service, {"code": "print(1)", "environment": "bad/name"},
                            path="/execute-with-environment")
    assert [e["loc"] for e in errs] == [["body", "environment"]]


def test_error_bodies_are_json(service):
    status, body = service.request("POST", "/execute", raw=b'nope')
    assert status == 422
    assert service.last_headers["Content-Type"] == "application/json; charset=utf-8"


# ---- health and docs -----------------------------------------------------------

def expected_cgroups():
    """What /health must say of the runs' cgroups, read off this host: v2 when the unified hierarchy is
    /sys/fs/cgroup and its root hands memory and pids down (devserver.sh then gives the pool a cgroup of its
    own below it), else v1 when the memory and pids hierarchies are mounted, else none."""
    def read(path):
        try:
            with open(path) as f:
                return f.read().split()
        except OSError:
            return None
    root = read("/sys/fs/cgroup/cgroup.subtree_control")
    if root is not None and {"memory", "pids"} <= set(root):
        return "v2: " + ", ".join(c for c in ("cpu", "memory", "pids") if c in root)
    mounted = [c for c in ("cpu", "memory", "pids") if os.path.exists(f"/sys/fs/cgroup/{c}/cgroup.procs")]
    if {"memory", "pids"} <= set(mounted):
        return "v1: " + ", ".join(mounted)
    return "none (rlimits only)"


def test_health(service):
    status, h = service.request("GET", "/health")
    assert status == 200
    assert service.last_headers["Content-Type"] == "application/json; charset=utf-8"
    assert h["status"] == "healthy"
    # The original's format (datetime.now(timezone.utc).isoformat()), which fromisoformat reads on every Python.
    assert h["timestamp"].endswith("+00:00")
    assert datetime.fromisoformat(h["timestamp"]).utcoffset().total_seconds() == 0
    assert isinstance(h["version"], str) and h["version"].count(".") == 2
    status, root = service.request("GET", "/")
    assert root["version"] == h["version"]
    iso = h["isolation"]
    assert set(iso["namespaces"]) == {"mount", "pid", "ipc", "uts", "net"}
    assert "seccomp" in iso and "cgroup" in iso and "uid_range" in iso
    assert iso["cgroup"] == expected_cgroups(), iso["cgroup"]
    pool = h["pool"]
    assert {"workers", "busy", "idle"} <= set(pool)
    assert pool["workers"] >= 2 and pool["busy"] + pool["idle"] == pool["workers"]
    assert 0 <= pool["busy"] <= pool["workers"]
    assert isinstance(h["interpreters"], list) and h["interpreters"]
    assert all(i["version"].startswith("3.") for i in h["interpreters"])
    lim = h["limits"]
    assert lim["max_timeout"] == 300 and lim["default_timeout"] == 30
    assert lim["default_memory_mb"] == 512 and lim["max_memory_mb"] == 2048
    assert lim["max_file_size"] == 10 * 1024 * 1024 and lim["max_code_length"] == 50 * 1024


@pytest.mark.parametrize("path,ctype", [("/docs", "text/html"), ("/redoc", "text/html"),
                                        ("/openapi.json", "application/json")])
def test_docs_served_by_nginx(service, path, ctype):
    status, body = service.request("GET", path)
    assert status == 200
    assert service.last_headers["Content-Type"].split(";")[0] == ctype
    # Static files come from nginx, not from the FastCGI pool (which marks its answers no-store).
    assert service.last_headers.get("Cache-Control") != "no-store"
    if path == "/openapi.json":
        assert isinstance(body, dict) and body["openapi"].startswith("3.1")
        assert "paths" in body and "info" in body
    else:
        assert "<html" in body.lower()


# ---- rate limiting and configuration -----------------------------------------

def test_rate_limit(make_service):
    # burst=1, not 0: nginx refuses "burst=0" and devserver.sh writes the value as given.
    s = make_service(rate=1, burst=1)
    results = []
    for _ in range(6):
        status, body = s.request("POST", "/execute", {"code": "print(1)"})
        results.append((status, body, s.last_headers))
    statuses = [st for st, _, _ in results]
    assert statuses[:2] == [200, 200]
    assert 429 in statuses, statuses
    assert set(statuses) <= {200, 429}
    for status, body, headers in results:
        if status == 429:
            assert isinstance(body, dict) and isinstance(body["detail"], str) and body["detail"]
            assert headers["Content-Type"].startswith("application/json")
            assert int(headers["Retry-After"]) >= 1
        else:
            assert body["success"] is True


def test_config_max_timeout(make_service):
    s = make_service(extra_conf="[limits]\nmax_timeout = 5\n")
    errs = validation_error(s, {"code": "print(1)", "timeout": 6})
    assert len(errs) == 1 and errs[0]["loc"] == ["body", "timeout"]
    assert errs[0]["type"] == "less_than_equal" and "5" in errs[0]["msg"]
    r = s.execute('print("five")', timeout=5)
    assert r["success"] is True and r["stdout"] == "five\n"
    status, h = s.request("GET", "/health")
    assert h["limits"]["max_timeout"] == 5
    assert h["limits"]["default_timeout"] <= 5


def test_env_max_code_length(make_service):
    s = make_service(env={"MAX_CODE_LENGTH": "100"})
    code100 = "print(1)#" + "x" * 91
    assert len(code100) == 100
    r = s.execute(code100)
    assert r["success"] is True and r["stdout"] == "1\n"
    assert string_detail(s, 400, {"code": code100 + "x"}) == "Code too long: 101 bytes (maximum 100)"


def test_env_max_execution_time(make_service):
    s = make_service(env={"MAX_EXECUTION_TIME": "2"})
    errs = validation_error(s, {"code": "print(1)", "timeout": 3})
    assert errs[0]["loc"] == ["body", "timeout"]
    # The default (30) follows the maximum down, as in the original: no timeout given still runs.
    r = s.execute('print("default")')
    assert r["success"] is True


def run_config_test(text):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAX_EXECUTION_TIME", "MAX_CODE_LENGTH", "MAX_FILE_SIZE", "LOG_LEVEL")}
    with tempfile.TemporaryDirectory(prefix="pysandbox-conftest.") as d:
        path = os.path.join(d, "test.conf")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([os.path.join(BUILD, "src", "pysandboxd"), "-t", "-c", path],
                           capture_output=True, text=True, env=env, timeout=30)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("text,must_name", [
    ("[service]\nworkers = 2\n[limits]\nbogus_key = 1\n", ["line 4", "bogus_key"]),
    ("[limits]\n\nmax_timeout = 301\n", ["line 3", "max_timeout"]),
    ("[limits]\nmax_memory_mb = 4096\n", ["line 2", "max_memory_mb"]),
    ("[limits]\nmax_code_length = lots\n", ["line 2", "max_code_length"]),
    ("[nosuchsection]\n", ["line 1", "nosuchsection"]),
    ("[service]\nworkers\n", ["line 2"]),
])
def test_config_check_rejects_bad_lines(text, must_name):
    rc, out = run_config_test(text)
    assert rc != 0, out
    for word in must_name:
        assert word in out, (word, out)


@pytest.mark.parametrize("text,keys", [
    ("[limits]\ndefault_memory_mb = 1024\nmax_memory_mb = 512\n", ["default_memory_mb", "max_memory_mb"]),
    ("[limits]\ndefault_timeout = 60\nmax_timeout = 50\n", ["default_timeout", "max_timeout"]),
])
def test_config_check_rejects_default_above_max(text, keys):
    rc, out = run_config_test(text)
    assert rc != 0, out
    for key in keys:
        assert key in out, (key, out)


def test_config_check_accepts_shipped_config():
    with open(os.path.join(SRC, "conf", "pysandbox.conf")) as f:
        rc, out = run_config_test(f.read())
    assert rc == 0, out
    assert "is valid" in out
