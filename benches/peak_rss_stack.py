#!/usr/bin/env python3
"""Peak memory of a real `bootstrap` serving the largest binary selection of a gzip float32 dataset.

Starts `hslambda up --memory MB` on a fresh data directory, writes a chunked gzip float32 dataset through the
REST API (binary PUTs of whole time slabs, random-walk values like selbench.py), finds the largest
`[0:N, :, :]` selection that fits in one response (binary through the front door), then stops the stack,
starts it again on the same data and reads that selection on a cold instance (then twice more, warm).
Prints one JSON line per read with the emulator's REPORT figures: Max Memory Used is the function process's
measured peak RSS, as Lambda reports it.

Usage: benches/peak_rss_stack.py [--hslambda target/release/hslambda] [--memory 128] [--port 5231]
       [--s3-port 5232] [--shape 500,100,100] [--chunks 250,25,25]
Standard library only.
"""
import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--hslambda", default="target/release/hslambda")
ap.add_argument("--memory", type=int, default=128)
ap.add_argument("--port", type=int, default=5231)
ap.add_argument("--s3-port", type=int, default=5232)
ap.add_argument("--shape", default="500,100,100")
ap.add_argument("--chunks", default="250,25,25")
ap.add_argument("--keep", action="store_true", help="keep the data directory")
a = ap.parse_args()
shape = [int(x) for x in a.shape.split(",")]
chunks = [int(x) for x in a.chunks.split(",")]
endpoint = f"http://127.0.0.1:{a.port}"
domain = "/home/alice/peak.h5"
auth = "Basic " + base64.b64encode(b"alice:secret").decode()
admin = "Basic " + base64.b64encode(b"admin:admin").decode()


def request(method, path, params=None, body=None, user=auth, binary=False):
    """One HTTP request to the front door: (status, body bytes)."""
    query = "&".join(f"{k}={urllib.request.quote(str(v))}" for k, v in (params or {}).items())
    headers = {"Authorization": user}
    if binary:
        headers["Content-Type" if body is not None else "Accept"] = "application/octet-stream"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    req = urllib.request.Request(f"{endpoint}{path}?{query}", data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as rsp:
            return rsp.status, rsp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def ok(status_body, what):
    status, body = status_body
    if status >= 300:
        sys.exit(f"{what}: HTTP {status}: {body[:300]!r}")
    return json.loads(body) if body[:1] in (b"{", b"[") else body


class Stack:
    """`hslambda up` as a child process; its stdout (REPORT lines) goes to a log file."""

    def __init__(self, data_dir, users):
        self.log_path = os.path.join(data_dir, "up.log")
        self.log = open(self.log_path, "ab")
        cmd = [a.hslambda, "up", "--port", str(a.port), "--s3-port", str(a.s3_port), "--data-dir", data_dir,
               "--memory", str(a.memory), "--users", users]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", a.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit(f"hslambda up exited: {open(self.log_path).read()[-2000:]}")
                time.sleep(0.2)
        sys.exit("hslambda up did not start listening within 60 s")

    def reports(self):
        text = open(self.log_path, errors="replace").read()
        return [dict(re.findall(r"([A-Za-z ]+): ([^\t]+)", line)) for line in text.splitlines() if "REPORT" in line]

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.log.close()


def slab(t0, t1, plane, state):
    """Time steps t0..t1 of a random walk per (y, x) cell, float32 little-endian."""
    out = bytearray()
    for _ in range(t0, t1):
        for i in range(plane):
            state[i] += random.gauss(0.0, 1.0)
        out += struct.pack(f"<{plane}f", *state)
    return bytes(out)


data_dir = tempfile.mkdtemp(prefix="peak-rss-")
users = os.path.join(data_dir, "passwd.txt")
with open(users, "w") as f:
    f.write("admin:admin\nalice:secret\n")
sel = None
try:
    stack = Stack(data_dir, users)
    ok(request("PUT", "/", {"domain": "/home"}, {"folder": True}, user=admin), "create /home")
    ok(request("PUT", "/", {"domain": "/home/alice"}, {"folder": True, "owner": "alice"}, user=admin), "folder")
    root = ok(request("PUT", "/", {"domain": domain}), "create domain")["root"]
    body = {"type": "H5T_IEEE_F32LE", "shape": shape, "link": {"id": root, "name": "cube"},
            "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": chunks},
                                   "filters": [{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]}}
    dset = ok(request("POST", "/datasets", {"domain": domain}, body), "create dataset")["id"]
    plane = shape[1] * shape[2]
    random.seed(1)
    state = [0.0] * plane
    step = max(1, (2 << 20) // (plane * 4))  # ~2 MB per PUT
    t_write = time.time()
    for t0 in range(0, shape[0], step):
        t1 = min(shape[0], t0 + step)
        select = f"[{t0}:{t1},0:{shape[1]},0:{shape[2]}]"
        ok(request("PUT", f"/datasets/{dset}/value", {"domain": domain, "select": select},
                   slab(t0, t1, plane, state), binary=True), f"write {select}")
    t_write = time.time() - t_write
    # The largest [0:n, :, :] that fits in one response: bisect on n (on this stack; the measured read is cold).
    lo, hi = 1, shape[0]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        status, _ = request("GET", f"/datasets/{dset}/value",
                            {"domain": domain, "select": f"[0:{mid},0:{shape[1]},0:{shape[2]}]"}, binary=True)
        if status == 200:
            lo = mid
        elif status == 413:
            hi = mid - 1
        else:
            sys.exit(f"read of [0:{mid}] answered HTTP {status}")
    sel = f"[0:{lo},0:{shape[1]},0:{shape[2]}]"
    stack.stop()

    stack = Stack(data_dir, users)
    before = len(stack.reports())
    for run in ("cold", "warm", "warm"):
        t0 = time.time()
        status, got = request("GET", f"/datasets/{dset}/value", {"domain": domain, "select": sel}, binary=True)
        wall = time.time() - t0
        if status != 200 or len(got) != lo * plane * 4:
            sys.exit(f"read {sel}: HTTP {status}, {len(got)} bytes")
        time.sleep(0.5)  # the REPORT line is written after the response
        rep = stack.reports()[-1]
        print(json.dumps({"run": run, "select": sel, "bytes": len(got), "memory_mb": a.memory,
                          "max_memory_used": rep.get("Max Memory Used"), "duration": rep.get("Duration"),
                          "wall_ms": round(wall * 1000, 1), "write_s": round(t_write, 1)}), flush=True)
    if len(stack.reports()) - before < 3:
        sys.exit("missing REPORT lines")
    stack.stop()
finally:
    if not a.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    else:
        print(f"data kept in {data_dir}", file=sys.stderr)
