#!/usr/bin/env python3
"""The floor under any server for selbench.py's client: how long python `requests` takes to receive each
pattern's answer from a server that has it ready in memory.

selbench.py (../shared/tools) times `requests.Session().get(url).content`; no server can answer faster than
that client can read the bytes. This script serves each pattern's body size from memory on loopback (a
threaded keep-alive HTTP/1.1 server writing a prebuilt response with one sendall) and times the client the
way selbench does: medians of `--reps` after 3 unmeasured requests. With `--chunked` the body is sent with
chunked transfer encoding in 64 KB chunks, as a streamed Function URL answer is.

Usage: client_floor.py [--reps N] [--chunked]   (prints one JSON line per pattern)
"""
import argparse, json, socket, statistics, threading, time

import requests

# selbench.py's patterns on its 2000x100x100 float32 cube: bytes of each answer.
PATTERNS = {
    "timeseries_point": 2000 * 4,
    "timeslice_plane": 100 * 100 * 4,
    "block_1chunk": 250 * 25 * 25 * 4,
    "block_64chunks": 1000 * 100 * 100 * 4,
    "strided": 200 * 10 * 10 * 4,
}


def response(size: int, chunked: bool) -> bytes:
    body = bytes(size)
    if not chunked:
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % size + body
    parts = [b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"]
    for i in range(0, size, 65536):
        piece = body[i:i + 65536]
        parts.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def serve(listener: socket.socket, answers: dict) -> None:
    def one(conn: socket.socket) -> None:
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                head, buf = buf.split(b"\r\n\r\n", 1)
                path = head.split(b" ", 2)[1].decode().lstrip("/")
                conn.sendall(answers[path])
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=one, args=(conn,), daemon=True).start()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--chunked", action="store_true")
    a = ap.parse_args()
    answers = {name: response(size, a.chunked) for name, size in PATTERNS.items()}
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    threading.Thread(target=serve, args=(listener, answers), daemon=True).start()
    base = "http://127.0.0.1:%d/" % listener.getsockname()[1]
    s = requests.Session()
    for name, size in PATTERNS.items():
        ts = []
        for i in range(a.reps + 3):
            t = time.perf_counter()
            r = s.get(base + name, headers={"Accept": "application/octet-stream"})
            r.raise_for_status()
            assert len(r.content) == size
            if i >= 3:
                ts.append((time.perf_counter() - t) * 1000)
        print(json.dumps({"pattern": name, "bytes": size, "floor_median_ms": round(statistics.median(ts), 2)}),
              flush=True)


if __name__ == "__main__":
    main()
