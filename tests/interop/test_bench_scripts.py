"""Each script in benches/ run once at a tiny size against this build, so none can rot unnoticed: it must
exit 0 and print the result lines it documents. (The criterion benches, benches/*.rs, run once each in
`cargo test --benches`, which scripts/test runs.)"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import BIN_DIR, PASSWD, ROOT, VENV_DIR, free_port

PY = str(VENV_DIR / "interop" / "bin" / "python")
BENCHES = ROOT / "benches"


def run(script, *args, timeout=600):
    r = subprocess.run([PY, str(BENCHES / script), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, f"{script} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
    return r.stdout


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_every_bench_script_has_a_run_here():
    scripts = sorted(p.name for p in BENCHES.glob("*.py"))
    covered = sorted(name[len("test_"):] + ".py" for name in globals() if name.startswith("test_")
                     and (BENCHES / (name[len("test_"):] + ".py")).exists())
    assert scripts == covered, f"benches/ scripts without a smoke run in {__file__}: {set(scripts) - set(covered)}"


def test_stack_latency(stack):
    out = run("stack_latency.py", stack.endpoint, "--reps", 3, "--s3", stack.s3_endpoint)
    kinds = {r["request"] for r in json_lines(out)}
    assert len(kinds) >= 4, out  # /about, the domain, the group, and the S3 hops
    assert all(r["p50_ms"] > 0 and r["reps"] == 3 for r in json_lines(out)), out


def test_peak_rss_stack(tmp_path):
    out = run("peak_rss_stack.py", "--hslambda", BIN_DIR / "hslambda", "--port", free_port(), "--s3-port",
              free_port(), "--shape", "8,10,10", "--chunks", "4,5,5")
    reads = json_lines(out)
    assert [r["run"] for r in reads] == ["cold", "warm", "warm"], out
    assert all(r["max_memory_used"] and r["bytes"] > 0 for r in reads), out


def test_client_floor():
    for mode in ([], ["--chunked"]):
        rows = json_lines(run("client_floor.py", "--reps", 1, *mode))
        assert [r["pattern"] for r in rows] == ["timeseries_point", "timeslice_plane", "block_1chunk",
                                                 "block_64chunks", "strided"], rows
        assert rows[3]["bytes"] == 40_000_000 and all(r["floor_median_ms"] > 0 for r in rows), rows


def test_hsds_lambda_flow(tmp_path):
    (tmp_path / "hsdstest").mkdir()
    (r,) = json_lines(run("hsds_lambda_flow.py", tmp_path, "/about", "--reps", 1))
    assert (r["status"], r["reps"]) == (200, 1) and r["median_ms"] > 0, r


def test_hsds_unix(tmp_path):
    (tmp_path / "hsdstest").mkdir()
    passwd = tmp_path / "passwd.txt"
    passwd.write_text(PASSWD)
    port = free_port()
    proc = subprocess.Popen([PY, str(BENCHES / "hsds_unix.py"), str(tmp_path), str(port), "--passwd", str(passwd)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                r = requests.get(f"http://127.0.0.1:{port}/about", auth=("test_user1", "test"), timeout=5)
                break
            except requests.RequestException:
                assert time.time() < deadline, "hsds_unix.py never answered /about"
                time.sleep(0.5)
        assert r.status_code == 200 and r.json()["state"] == "READY", r.text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_emulator_vs_cargo_lambda():
    cargo_lambda = VENV_DIR / "interop" / "bin" / "cargo-lambda"  # PyPI's cargo-lambda, pinned in setup-venv.sh
    base = free_port()
    out = run("emulator_vs_cargo_lambda.py", "--hslambda", BIN_DIR / "hslambda", "--bootstrap", BIN_DIR / "bootstrap",
              "--cargo-lambda", cargo_lambda, "-n", 4, "--block", 2, "--port-base", base)
    assert "hslambda" in out and "cargo lambda" in out, out
