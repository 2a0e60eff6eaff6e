#!/usr/bin/env python3
"""Runs an HSDS 1.0.2 in Unix-socket mode on a data directory and forwards a loopback TCP port to it.

HSDS's TCP mode puts its data nodes on fixed ports (6101+), so a second HSDS on the same machine cannot start
in that mode; in socket mode it can. `hslambda bench selection --hsds-cold-endpoint` uses this for HSDS's
cold figures: a second HSDS on the storage of the first, with a chunk cache smaller than one chunk (its data
nodes then keep no chunk, so every read decodes). Runs until interrupted.

Usage: .venv/interop/bin/python benches/hsds_unix.py DATA_DIR PORT [--cache-bytes N] [--passwd FILE]
  e.g. benches/hsds_unix.py /tmp/hsref/data 5252 --cache-bytes 500000   (beside hsds-ref.sh start 5250)
"""
import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("data_dir")
ap.add_argument("port", type=int)
ap.add_argument("--cache-bytes", type=int, default=500000, help="CHUNK_MEM_CACHE_SIZE of the data nodes")
ap.add_argument("--passwd", default="/tmp/hsref/cfg/passwd.txt", help="users file (hsds-ref.sh writes this one)")
ap.add_argument("--bucket", default="hsdstest")
a = ap.parse_args()

sock_dir = Path(tempfile.mkdtemp(prefix="hsds-unix-"))
# HSDS's `hsds` command through tests/interop/hsds_patient.py: 60 s instead of 10 for its nodes to start.
patient = Path(__file__).resolve().parent.parent / "tests" / "interop" / "hsds_patient.py"
env = dict(os.environ, CHUNK_MEM_CACHE_SIZE=str(a.cache_bytes))
proc = subprocess.Popen(
    [sys.executable, str(patient), "--root_dir", a.data_dir, "--bucket_name", a.bucket, "--password_file", a.passwd,
     "--socket_dir", str(sock_dir), "--loglevel", "ERROR"],
    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
sn = sock_dir / "sn_1.sock"
for _ in range(600):
    if sn.exists():
        break
    if proc.poll() is not None:
        sys.exit(f"hsds exited with {proc.returncode}")
    time.sleep(0.1)
else:
    sys.exit("hsds did not create its service-node socket in 60 s")


async def pipe(reader, writer):
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_r, client_w):
    try:
        server_r, server_w = await asyncio.open_unix_connection(str(sn))
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", a.port)
    print(f"HSDS (chunk cache {a.cache_bytes} bytes) on {a.data_dir}: http://127.0.0.1:{a.port}", flush=True)
    async with server:
        await server.serve_forever()


try:
    asyncio.run(main())
except KeyboardInterrupt:
    pass
finally:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)
