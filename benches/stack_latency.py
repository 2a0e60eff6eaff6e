#!/usr/bin/env python3
"""Warm request latency through a running stack's front door (hslambda) or any HDF REST endpoint.

Creates a domain with a group, then times GET /?domain= and GET /groups/{id} (and /about) --reps times
each over one keep-alive connection. Prints one JSON line per request kind: {"request", "p50_ms", "p90_ms", "reps"}.

With --s3 (the stack's S3 endpoint, e.g. http://127.0.0.1:5102) it also times the S3 hop alone: an
unsigned GET of the domain's .domain.json, and the same GET with If-None-Match (answered 304), which is
what a warm metadata read costs the function.
--client http.client times the same GETs with Python's bare http.client (one keep-alive connection)
instead of `requests`, whose own per-request overhead (~0.5-1 ms here) is otherwise part of every figure.
Usage: stack_latency.py ENDPOINT [--reps N] [--user U --password P] [--folder /home/test_user1]
                        [--s3 URL --bucket hsdstest] [--client requests|http.client]
"""
import argparse
import base64
import http.client
import json
import statistics
import time
import urllib.parse
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
ap.add_argument("--client", choices=("requests", "http.client"), default="requests")
a = ap.parse_args()


class Bare:
    """The subset of a requests.Session that timed() uses, on http.client (one keep-alive connection)."""

    class Rsp:
        def __init__(self, r):
            self.status_code, self.headers, self.content = r.status, r.headers, r.read()
            self.text = self.content.decode(errors="replace")

    def __init__(self, endpoint, auth=None):
        u = urllib.parse.urlsplit(endpoint)
        self.conn = http.client.HTTPConnection(u.hostname, u.port)
        self.base = {"Authorization": "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()} \
            if auth else {}

    def get(self, url, params=None, headers=None):
        u = urllib.parse.urlsplit(url)
        path = u.path + ("?" + urllib.parse.urlencode(params) if params else "")
        self.conn.request("GET", path, headers={**self.base, **(headers or {})})
        return Bare.Rsp(self.conn.getresponse())


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

timing = s if a.client == "requests" else Bare(a.endpoint, (a.user, a.password))
for name, path in (("GET /about", "/about"), ("GET /?domain=", "/"), ("GET /groups/{id}", f"/groups/{gid}")):
    timed(name, timing, a.endpoint + path, params={"domain": domain})
if a.s3:
    s3 = requests.Session() if a.client == "requests" else Bare(a.s3)
    url = f"{a.s3}/{a.bucket}/{domain.lstrip('/')}/.domain.json"
    etag = s3.get(url).headers["ETag"]
    timed("S3 GET .domain.json", s3, url)
    timed("S3 GET .domain.json If-None-Match (304)", s3, url, headers={"If-None-Match": etag}, ok=(304,))
s.delete(a.endpoint + "/", params={"domain": domain})
