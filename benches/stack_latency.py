#!/usr/bin/env python3
"""Warm request latency through a running stack's front door (hslambda) or any HDF REST endpoint.

Creates a domain with a group, then times GET /?domain= and GET /groups/{id} (and /about) --reps times
each over one keep-alive connection. Prints one JSON line per request kind: {"request", "p50_ms", "p90_ms", "reps"}.

With --s3 (the stack's S3 endpoint, e.g. http://127.0.0.1:5102) it also times the S3 hop alone: an
unsigned GET of the domain's .domain.json, and the same GET with If-None-Match (answered 304), which is
what a warm metadata read costs the function.
Usage: stack_latency.py ENDPOINT [--reps N] [--user U --password P] [--folder /home/test_user1]
                        [--s3 URL --bucket hsdstest]
"""
import argparse
import json
import statistics
import time
import uuid

import requests
import requests_unixsocket

ap = argparse.ArgumentParser()
ap.add_argument("endpoint")
ap.add_argument("--reps", type=int, default=200)
ap.add_argument("--user", default="test_user1")
ap.add_argument("--password", default="test")
ap.add_argument("--folder", default="/home/test_user1")
ap.add_argument("--s3", help="S3 endpoint of the stack, to time the S3 hop alone")
ap.add_argument("--bucket", default="hsdstest")
a = ap.parse_args()


def timed(name, session, url, params=None, headers=None, ok=(200,)):
    """Times --reps GETs of url after 10 warm-ups; prints p50/p90 in ms."""
    def get():
        rsp = session.get(url, params=params, headers=headers)
        _ = rsp.content
        if rsp.status_code not in ok:
            raise SystemExit(f"{name}: HTTP {rsp.status_code} {rsp.text[:200]}")

    for _ in range(10):  # warm-up: instances, connections, caches
        get()
    ts = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        get()
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    print(json.dumps({"request": name, "p50_ms": round(statistics.median(ts), 3),
                      "p90_ms": round(ts[int(0.9 * (len(ts) - 1))], 3), "reps": a.reps}), flush=True)


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
    timed(name, s, a.endpoint + path, params={"domain": domain})
if a.s3:
    s3 = requests.Session()
    url = f"{a.s3}/{a.bucket}/{domain.lstrip('/')}/.domain.json"
    etag = s3.get(url).headers["ETag"]
    timed("S3 GET .domain.json", s3, url)
    timed("S3 GET .domain.json If-None-Match (304)", s3, url, headers={"If-None-Match": etag}, ok=(304,))
s.delete(a.endpoint + "/", params={"domain": domain})
