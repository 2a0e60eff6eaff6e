#!/usr/bin/env python3
"""Warm request latency through a running stack's front door (hslambda) or any HDF REST endpoint.

Creates a domain with a group, then times GET /?domain= and GET /groups/{id} (and /about) --reps times
each over one keep-alive connection. Prints one JSON line per request kind: {"request", "p50_ms", "p90_ms", "reps"}.
Usage: stack_latency.py ENDPOINT [--reps N] [--user U --password P] [--folder /home/test_user1]
"""
import argparse
import json
import statistics
import time
import uuid

import requests_unixsocket

ap = argparse.ArgumentParser()
ap.add_argument("endpoint")
ap.add_argument("--reps", type=int, default=200)
ap.add_argument("--user", default="test_user1")
ap.add_argument("--password", default="test")
ap.add_argument("--folder", default="/home/test_user1")
a = ap.parse_args()

s = requests_unixsocket.Session()
s.auth = (a.user, a.password)
domain = f"{a.folder}/latency-{uuid.uuid4().hex[:8]}.h5"
r = s.put(a.endpoint + "/", params={"domain": domain}, json={})
r.raise_for_status()
root = r.json()["root"]
g = s.post(a.endpoint + "/groups", params={"domain": domain}, json={"link": {"id": root, "name": "g"}})
g.raise_for_status()
gid = g.json()["id"]

for name, path in (("GET /about", "/about"), ("GET /?domain=", "/"), ("GET /groups/{id}", f"/groups/{gid}")):
    for _ in range(10):  # warm-up: instances, connections, caches
        s.get(a.endpoint + path, params={"domain": domain}).raise_for_status()
    ts = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        rsp = s.get(a.endpoint + path, params={"domain": domain})
        _ = rsp.content
        ts.append((time.perf_counter() - t0) * 1000)
        rsp.raise_for_status()
    ts.sort()
    print(json.dumps({"request": name, "p50_ms": round(statistics.median(ts), 3),
                      "p90_ms": round(ts[int(0.9 * (len(ts) - 1))], 3), "reps": a.reps}), flush=True)
s.delete(a.endpoint + "/", params={"domain": domain})
