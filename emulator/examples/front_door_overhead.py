#!/usr/bin/env python3
"""Cold start and warm front-door overhead of a running `hslambda up` build, from outside.

usage: front_door_overhead.py <hslambda> <bootstrap> [warm-requests]

Cold start: 10 fresh `hslambda up` processes, one /about each; the REPORT line's Init Duration is
process spawn -> first /next. Warm: N sequential keep-alive GET /about; overhead = client-side
latency p50 minus the function's own Duration p50 (from the REPORT lines `up` prints).
"""
import http.client, os, re, socket, statistics, subprocess, sys, tempfile, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(hslambda, bootstrap, data):
    port, s3 = free_port(), free_port()
    env = dict(os.environ, HSLAMBDA_BOOTSTRAP=bootstrap)
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: `up` must never block on its output
    p = subprocess.Popen([hslambda, "up", "--port", str(port), "--s3-port", str(s3), "--data-dir", data],
                         stdout=log, env=env, text=True)
    p.log = log
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close(); break
        except OSError:
            time.sleep(0.02)
    return p, port

def stop(p):
    p.terminate(); p.wait(10); p.log.seek(0); return p.log.read()

def get(conn):
    t0 = time.perf_counter(); conn.request("GET", "/about"); r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
    return (time.perf_counter() - t0) * 1000

hslambda, bootstrap = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
data = tempfile.mkdtemp()
inits, firsts = [], []
for _ in range(10):
    p, port = start(hslambda, bootstrap, data)
    firsts.append(get(http.client.HTTPConnection("127.0.0.1", port)))
    out = stop(p)
    inits.append(float(re.search(r"Init Duration: ([\d.]+) ms", out).group(1)))
print(f"cold start (spawn -> first /next, REPORT Init Duration): p50 {statistics.median(inits):.1f} ms, "
      f"min {min(inits):.1f} ms; first /about end-to-end p50 {statistics.median(firsts):.1f} ms")
p, port = start(hslambda, bootstrap, data)
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(50):
    get(conn)
lat = sorted(get(conn) for _ in range(n))
out = stop(p)
durs = [float(d) for d in re.findall(r"\tDuration: ([\d.]+) ms", out)][-n:]
lp, dp = statistics.median(lat), statistics.median(durs)
print(f"warm GET /about x{n}: front door p50 {lp:.3f} ms (p90 {lat[int(n*0.9)]:.3f}, p99 {lat[int(n*0.99)]:.3f}); "
      f"function Duration p50 {dp:.3f} ms; emulator overhead p50 {lp - dp:.3f} ms")
