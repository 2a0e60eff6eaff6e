#!/usr/bin/env python3
"""Times HSDS 1.0.2 serving requests the way its AWS Lambda handler does.

HSDS's Lambda handler (``lambda_function.py`` in the HSDS repository, not shipped in the wheel) starts a
fresh HSDS service node + data node(s) on Unix sockets for EVERY invocation (``hsds.hsds_app.HsdsApp``; 1.0.2 dropped its ``islambda`` flag, the cycle is the same),
forwards the one request, then stops them. This script drives ``HsdsApp`` from the installed ``hsds``
package through that same cycle, so the per-request cost can be measured side by side with hslambda on
the same machine and data.

Usage: hsds_lambda_flow.py DATA_DIR PATH [--param k=v ...] [--reps N] [--bucket hsdstest]
Prints one JSON line: {"median_ms", "p90_ms", "reps", "status"}.
"""
import argparse
import contextlib
import sys
import json
import os
import statistics
import tempfile
import time
import uuid

ap = argparse.ArgumentParser()
ap.add_argument("data_dir")
ap.add_argument("path")
ap.add_argument("--param", action="append", default=[])
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--bucket", default="hsdstest")
ap.add_argument("--function-name", default="hslambda")
a = ap.parse_args()

# HSDS reads its configuration from upper-cased environment variables.
os.environ.setdefault("ROOT_DIR", os.path.abspath(a.data_dir))
os.environ.setdefault("BUCKET_NAME", a.bucket)
os.environ.setdefault("LOG_LEVEL", "ERROR")

import requests_unixsocket  # noqa: E402
from hsds.hsds_app import HsdsApp  # noqa: E402

params = dict(p.split("=", 1) for p in a.param)
times, status = [], None
quiet = contextlib.redirect_stdout(sys.stderr)  # HsdsApp echoes its nodes' logs; keep stdout for the result
quiet.__enter__()
for _ in range(a.reps):
    t0 = time.perf_counter()
    socket_dir = os.path.join(tempfile.gettempdir(), f"hs{uuid.uuid4().hex[:8]}") + "/"
    app = HsdsApp(username=a.function_name, password="lambda", dn_count=1, readonly=True,
                  socket_dir=socket_dir, root_dir=os.environ["ROOT_DIR"])
    app.run()
    while not app.ready:
        time.sleep(0.1)
        app.check_processes()
    with requests_unixsocket.Session() as s:
        rsp = s.get(app.endpoint + a.path, params=params, auth=(a.function_name, "lambda"))
        status = rsp.status_code
        _ = rsp.content
    app.stop()
    times.append((time.perf_counter() - t0) * 1000)
quiet.__exit__(None, None, None)
times.sort()
print(json.dumps({"median_ms": round(statistics.median(times), 1), "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
                  "reps": a.reps, "status": status}))
