#!/usr/bin/env python3
"""Warm-invocation overhead of `hslambda up` side by side with `cargo lambda watch`, same handler.

usage: emulator_vs_cargo_lambda.py [--hslambda target/release/hslambda] [--bootstrap target/release/bootstrap]
                                   [--cargo-lambda /tmp/cl-venv/bin/cargo-lambda] [-n 1000] [--port-base 5270]

Both emulators run the very same `bootstrap` binary with the same environment (memory size 1024, the
same S3 endpoint and bucket, served by the hslambda stack). cargo lambda runs with `--only-lambda-apis`
so that it serves its Runtime API and front door but does not `cargo run` the function (which would
compile it); the script starts `bootstrap` against it itself, exactly as cargo lambda would, with the
environment cargo lambda prints. One Python client, one keep-alive connection per emulator, sequential
requests; the two emulators are measured in alternating blocks so that machine load hits both alike.

Two paths:
  front door  GET /about                          (hslambda: API Gateway v2 front door;
                                                   cargo lambda: its Function-URL fallback route)
  invoke      POST /2015-03-31/functions/<fn>/invocations with h5pyd's direct event for GET /about
The handler's own time (the REPORT Duration hslambda prints) is the same work on both; "overhead" is
latency minus that Duration's median. A path an emulator cannot serve (status not 200 or not the /about
document) is reported with its answer instead of timed: cargo lambda 1.9.2's front door answers 500 to any
payload-2.0 response without a `cookies` field, which API Gateway and Function URLs accept.
"""
import argparse, http.client, json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

ABOUT_EVENT = json.dumps({"method": "GET", "path": "/about", "params": {}, "headers": {}})


def wait_port(port, proc, what, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}; see its log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port} within {timeout} s")


def request(conn, method, path, body=None, check=True):
    t0 = time.perf_counter()
    conn.request(method, path, body=body, headers={"content-type": "application/json"} if body else {})
    r = conn.getresponse()
    data = r.read()
    ms = (time.perf_counter() - t0) * 1000
    if check and r.status != 200:
        sys.exit(f"{method} {path} answered {r.status}: {data[:300]!r}")
    return ms, data, r.status


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round((len(v) - 1) * p)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hslambda", default="target/release/hslambda")
    ap.add_argument("--bootstrap", default="target/release/bootstrap")
    ap.add_argument("--cargo-lambda", default=shutil.which("cargo-lambda") or "/tmp/cl-venv/bin/cargo-lambda")
    ap.add_argument("-n", type=int, default=1000, help="measured requests per emulator and path")
    ap.add_argument("--block", type=int, default=100, help="requests per alternating block")
    ap.add_argument("--port-base", type=int, default=5270, help="uses this port and the next two")
    a = ap.parse_args()
    for p in (a.hslambda, a.bootstrap, a.cargo_lambda):
        if not os.access(p, os.X_OK):
            sys.exit(f"not an executable: {p}")
    version = subprocess.run([a.cargo_lambda, "lambda", "--version"], capture_output=True, text=True).stdout.strip()
    front, s3, cl = a.port_base, a.port_base + 1, a.port_base + 2
    work = tempfile.mkdtemp(prefix="emu-vs-cl-")
    procs = []
    try:
        # 1. hslambda up (also the S3 both functions use).
        hs_log = open(os.path.join(work, "hslambda.log"), "w+")
        hs = subprocess.Popen(
            [a.hslambda, "up", "--port", str(front), "--s3-port", str(s3), "--data-dir", os.path.join(work, "data"),
             "--memory", "1024"],
            stdout=hs_log, stderr=subprocess.STDOUT, env=dict(os.environ, HSLAMBDA_BOOTSTRAP=a.bootstrap))
        procs.append(hs)
        wait_port(front, hs, "hslambda up")

        # 2. cargo lambda watch, Runtime API + front door only; it needs a Cargo package to read metadata from.
        pkg = os.path.join(work, "cl-fn")
        os.makedirs(os.path.join(pkg, "src"))
        with open(os.path.join(pkg, "Cargo.toml"), "w") as f:
            f.write('[package]\nname = "bench-fn"\nversion = "0.1.0"\nedition = "2021"\n')
        with open(os.path.join(pkg, "src", "main.rs"), "w") as f:
            f.write("fn main() {}\n")
        cl_log = open(os.path.join(work, "cargo-lambda.log"), "w+")
        clp = subprocess.Popen(
            [a.cargo_lambda, "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(cl)],
            cwd=pkg, stdout=cl_log, stderr=subprocess.STDOUT)
        procs.append(clp)
        wait_port(cl, clp, "cargo lambda watch")
        # The environment cargo lambda prints for --only-lambda-apis, plus what hslambda gives the function.
        time.sleep(0.5)
        cl_log.seek(0)
        printed = dict(re.findall(r"(AWS_LAMBDA_[A-Z_]+)=(\S+)", cl_log.read()))
        fn_name = printed.get("AWS_LAMBDA_FUNCTION_NAME", "_")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
        env.update(printed)
        env.update({
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_S3_GATEWAY": f"http://127.0.0.1:{s3}", "BUCKET_NAME": "hsdstest",
            "AWS_ACCESS_KEY_ID": "hslambda", "AWS_SECRET_ACCESS_KEY": "hslambda-secret",
            "AWS_LC_SYS_NO_JITTER_ENTROPY": "1",
        })
        fn_log = open(os.path.join(work, "cl-function.log"), "w+")
        procs.append(subprocess.Popen([a.bootstrap], env=env, stdout=fn_log, stderr=subprocess.STDOUT))

        paths = {
            "front door GET /about": {
                "hslambda": ("GET", "/about", None),
                "cargo lambda": ("GET", "/about", None),
            },
            "invoke API, direct event": {
                "hslambda": ("POST", "/2015-03-31/functions/hslambda/invocations", ABOUT_EVENT),
                "cargo lambda": ("POST", f"/2015-03-31/functions/{fn_name}/invocations", ABOUT_EVENT),
            },
        }
        ports = {"hslambda": front, "cargo lambda": cl}
        conns = {name: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for name, port in ports.items()}
        results, failures = {}, {}
        for path_name, per in paths.items():
            # Same answer from both: the handler's /about. An emulator that cannot serve it is reported, not timed.
            for name, (m, p, b) in list(per.items()):
                _, data, status = request(conns[name], m, p, b, check=False)
                if status != 200 or b"READY" not in data:
                    failures[(path_name, name)] = f"answers {status} {data[:120].decode(errors='replace')}"
                    del per[name]
                    continue
                for _ in range(50):
                    request(conns[name], m, p, b)
            lat = {name: [] for name in per}
            while any(len(v) < a.n for v in lat.values()):
                for name, (m, p, b) in per.items():
                    for _ in range(min(a.block, a.n - len(lat[name]))):
                        lat[name].append(request(conns[name], m, p, b)[0])
            results[path_name] = lat
        load = os.getloadavg()
        hs.terminate()
        hs.wait(10)
        hs_log.seek(0)
        durs = [float(d) for d in re.findall(r"\tDuration: ([\d.]+) ms", hs_log.read())]
        dur = statistics.median(durs) if durs else 0.0

        print(f"hslambda vs {version}; same bootstrap ({a.bootstrap}); n={a.n} per cell, alternating blocks of "
              f"{a.block}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"handler Duration (hslambda REPORT lines) median {dur:.3f} ms over {len(durs)} invocations\n")
        print("| path | emulator | p50 ms | p90 ms | p99 ms | overhead p50 ms (p50 - Duration) |")
        print("|---|---|---:|---:|---:|---:|")
        for path_name, lat in results.items():
            for name in ports:
                if (path_name, name) in failures:
                    print(f"| {path_name} | {name} | fails: {failures[(path_name, name)]} | | | |")
                    continue
                v = lat[name]
                p50 = statistics.median(v)
                print(f"| {path_name} | {name} | {p50:.3f} | {pct(v, 0.9):.3f} | {pct(v, 0.99):.3f} | {p50 - dur:.3f} |")
        print()
        for path_name, lat in results.items():
            if len(lat) < 2:
                continue
            hs50, cl50 = statistics.median(lat["hslambda"]), statistics.median(lat["cargo lambda"])
            oh, oc = hs50 - dur, cl50 - dur
            print(f"{path_name}: latency p50 ratio cargo lambda / hslambda = {cl50 / hs50:.2f}; "
                  f"overhead ratio = {oc / oh if oh > 0 else float('inf'):.2f}")
        if ("invoke API, direct event", "cargo lambda") not in failures and "hslambda" in results.get(
                "front door GET /about", {}):
            # cargo lambda's front door does the invoke path's work plus the event and response mapping.
            fd = statistics.median(results["front door GET /about"]["hslambda"])
            cli = statistics.median(results["invoke API, direct event"]["cargo lambda"])
            print(f"hslambda front door p50 {fd:.3f} ms vs cargo lambda's bare invoke path p50 {cli:.3f} ms "
                  f"(ratio {cli / fd:.2f})")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
