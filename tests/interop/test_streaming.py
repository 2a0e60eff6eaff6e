"""Big reads through Lambda response streaming: h5pyd 1.0 through the default front door (a Function URL in
RESPONSE_STREAM mode), boto3's invoke_with_response_stream (eventstream PayloadChunk / InvokeComplete), and the
buffered modes still answering 413.

Each stack here is its own ``hslambda up`` on the suite's data directory, so what one writes the others read.
"""
import base64
import json
import subprocess
import time

import boto3
import h5pyd
import numpy as np
import pytest
import requests
from botocore.config import Config

from conftest import BIN_DIR, BUCKET, Server, free_port, session, wait_ready
from test_h5pyd_metadata import open_file

FUNCTION = "hslambda"
ROWS, COLS = 2500, 4000  # 40 MB of float32
SLAB = 250  # rows per write: 4 MB, under Lambda's 6 MB request limit once base64-encoded


def start_stack(data_dir, passwd_file, *args):
    port, s3_port = free_port(), free_port()
    log = str(data_dir.parent / (data_dir.name + f"-stack-{port}.log"))
    proc = subprocess.Popen(
        [str(BIN_DIR / "hslambda"), "up", "--port", str(port), "--s3-port", str(s3_port), "--data-dir",
         str(data_dir), "--users", str(passwd_file), "--bucket", BUCKET, *args],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server("hslambda", f"http://127.0.0.1:{port}", proc, log)
    wait_ready(server, 60)
    # HSDS writes the test users' folders to disk lazily: wait until this stack sees them.
    deadline = time.time() + 30
    while time.time() < deadline:
        if session().get(server.url("/"), params={"domain": "/home/test_user1"}).status_code == 200:
            break
        time.sleep(0.5)
    return server


@pytest.fixture(scope="module")
def fast_stack(data_dir, passwd_file, hsds):
    """The default front door (Function URL, RESPONSE_STREAM) with the bandwidth model off."""
    server = start_stack(data_dir, passwd_file, "--stream-bandwidth", "unlimited")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def buffered_stack(data_dir, passwd_file, hsds):
    """An API Gateway HTTP API front door: buffered, 6 MB."""
    server = start_stack(data_dir, passwd_file, "--front-door", "api-gateway")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def big(fast_stack):
    """A 40 MB float32 dataset written in 4 MB slabs; returns (domain, dataset id, data)."""
    domain = f"/home/test_user1/stream-{int(time.time() * 1000)}.h5"
    data = np.arange(ROWS * COLS, dtype="f4").reshape(ROWS, COLS) / 7
    with open_file(fast_stack, domain, "w") as f:
        d = f.create_dataset("x", shape=data.shape, dtype="f4")
        for r in range(0, ROWS, SLAB):
            d[r:r + SLAB] = data[r:r + SLAB]
        dsid = d.id.id
    return domain, dsid, data


def test_h5pyd_reads_40mb_in_one_request_through_the_default_front_door(fast_stack, big):
    domain, _, data = big
    with open_file(fast_stack, domain, "r") as f:
        got = f["x"][:]
    np.testing.assert_array_equal(got, data)


def test_streamed_json_read_is_one_valid_document(fast_stack, big):
    domain, dsid, data = big
    rsp = session().get(fast_stack.url(f"/datasets/{dsid}/value"), params={"domain": domain, "select": "[10:900,5:9]"})
    assert rsp.status_code == 200, rsp.text[:300]
    np.testing.assert_array_equal(np.array(rsp.json()["value"], dtype="f4"), data[10:900, 5:9])


def test_buffered_front_door_still_answers_413_with_paging_advice(buffered_stack, big):
    domain, dsid, _ = big
    rsp = session().get(buffered_stack.url(f"/datasets/{dsid}/value"), params={"domain": domain},
                        headers={"Accept": "application/octet-stream"})
    assert rsp.status_code == 413
    assert "rows along the first dimension" in rsp.json()["error"]["message"]


def test_request_over_6mb_is_413_with_the_limit(fast_stack, big):
    domain, dsid, _ = big
    body = np.zeros((500, COLS), dtype="f4").tobytes()  # 8 MB
    rsp = session().put(fast_stack.url(f"/datasets/{dsid}/value"), params={"domain": domain, "select": "[0:500,:]"},
                        data=body, headers={"Content-Type": "application/octet-stream"})
    assert rsp.status_code == 413
    assert "6291456" in rsp.text


def v2_event(path, params, binary=True):
    auth = "Basic " + base64.b64encode(b"test_user1:test").decode()
    headers = {"authorization": auth, "accept": "application/octet-stream" if binary else "application/json"}
    query = "&".join(f"{k}={requests.utils.quote(str(v), safe='')}" for k, v in params.items())
    return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query, "headers": headers,
            "requestContext": {"http": {"method": "GET", "path": path}}, "isBase64Encoded": False}


def lambda_client(stack):
    return boto3.client("lambda", endpoint_url=stack.endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="y", config=Config(retries={"max_attempts": 1}, read_timeout=120))


def read_stream(rsp):
    chunks, complete = [], None
    for event in rsp["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
        if "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    return chunks, complete


def split_prelude(payload):
    end = payload.index(b"\0" * 8)
    return json.loads(payload[:end]), payload[end + 8:]


def test_boto3_invoke_with_response_stream_chunks_and_log_tail(fast_stack, big):
    domain, dsid, data = big
    rsp = lambda_client(fast_stack).invoke_with_response_stream(
        FunctionName=FUNCTION, LogType="Tail",
        Payload=json.dumps(v2_event(f"/datasets/{dsid}/value", {"domain": domain, "select": "[0:1000,:]"})))
    assert rsp["StatusCode"] == 200
    chunks, complete = read_stream(rsp)
    assert len(chunks) > 2, "the body arrives in pieces as the function writes them"
    prelude, body = split_prelude(b"".join(chunks))
    assert prelude["statusCode"] == 200
    np.testing.assert_array_equal(np.frombuffer(body, dtype="f4").reshape(1000, COLS), data[:1000])
    assert complete is not None and "ErrorCode" not in complete
    log = base64.b64decode(complete["LogResult"]).decode()
    assert "REPORT RequestId: " in log and "Max Memory Used" in log


def test_boto3_stream_reports_a_function_error_after_the_first_bytes(fast_stack, big, data_dir):
    domain, dsid, _ = big
    # Make the chunks of the dataset's last rows undecodable: the first pieces stream, then the read fails.
    # They are rewritten on disk rather than faulted in S3: a warm instance revalidates its cached chunks with
    # one LIST of the dataset's directory and serves unchanged ones without a GET.
    meta = next(p for p in (data_dir / BUCKET).rglob(".dataset.json") if json.loads(p.read_text()).get("id") == dsid)
    chunk_files = [p for p in meta.parent.iterdir() if p.name[0].isdigit()]
    assert chunk_files, "the dataset's chunks are on disk"
    last_row = max(int(p.name.split("_")[0]) for p in chunk_files)
    saved = {p: p.read_bytes() for p in chunk_files if int(p.name.split("_")[0]) == last_row}
    try:
        for p in saved:
            p.write_bytes(b"not a chunk")
        rsp = lambda_client(fast_stack).invoke_with_response_stream(
            FunctionName=FUNCTION, LogType="Tail",
            Payload=json.dumps(v2_event(f"/datasets/{dsid}/value", {"domain": domain})))
        chunks, complete = read_stream(rsp)
    finally:
        for p, data in saved.items():
            p.write_bytes(data)
    assert rsp["StatusCode"] == 200, "errors after the first byte arrive in InvokeComplete, not the status"
    prelude, body = split_prelude(b"".join(chunks))
    assert prelude["statusCode"] == 200 and len(body) > 0
    assert len(body) < ROWS * COLS * 4
    assert complete["ErrorCode"] == "Runtime.StreamError"
    assert complete["ErrorDetails"]
    assert "REPORT RequestId: " in base64.b64decode(complete["LogResult"]).decode()


def write_slabs(d, data, max_bytes=4 << 20):
    """Writes `data` into `d` along the first dimension in slabs under Lambda's 6 MB request limit."""
    rows = max(1, max_bytes // max(1, data[:1].nbytes))
    for r in range(0, len(data), rows):
        d[r:r + rows] = data[r:r + rows]


def test_h5pyd_reads_150mb_in_one_request(fast_stack):
    domain = f"/home/test_user1/stream150-{int(time.time() * 1000)}.h5"
    data = (np.arange(9375 * 4000, dtype="f4") / 3).reshape(9375, 4000)  # 150 MB
    with open_file(fast_stack, domain, "w") as f:
        write_slabs(f.create_dataset("x", shape=data.shape, dtype="f4"), data)
    with open_file(fast_stack, domain, "r") as f:
        got = f["x"][:]
    np.testing.assert_array_equal(got, data)


def test_h5pyd_reads_compound_and_vlen_above_6mb(fast_stack):
    domain = f"/home/test_user1/stream-types-{int(time.time() * 1000)}.h5"
    rec = np.dtype([("t", "i8"), ("v", "f4"), ("flag", "u1")])
    table = np.zeros(600_000, dtype=rec)  # 7.8 MB of 13-byte records
    table["t"] = np.arange(len(table)) * 1000
    table["v"] = np.arange(len(table), dtype="f4") / 9
    table["flag"] = np.arange(len(table)) % 251
    words = np.array([f"row {i:06d} " + "x" * (i % 97) for i in range(120_000)], dtype=object)  # ~7.1 MB as text
    with open_file(fast_stack, domain, "w") as f:
        write_slabs(f.create_dataset("table", shape=table.shape, dtype=rec), table)
        d = f.create_dataset("words", shape=words.shape, dtype=h5pyd.string_dtype())
        for r in range(0, len(words), 20_000):
            d[r:r + 20_000] = words[r:r + 20_000]
    assert table.nbytes > 6 << 20 and sum(len(w) for w in words) > 6 << 20
    with open_file(fast_stack, domain, "r") as f:
        got = f["table"][:]
        texts = f["words"][:]
    np.testing.assert_array_equal(got, table)
    assert [t.decode() if isinstance(t, bytes) else t for t in texts] == list(words)


def report_lines(server):
    return [line for line in open(server.log).read().splitlines() if line.startswith("REPORT RequestId:")]


def test_200mb_streams_at_128mb_memory_and_one_more_row_is_413(data_dir, passwd_file, hsds):
    """A streamed read at the 200 MB limit through a function held to 128 MB (cgroup or RSS watch): not
    OOM-killed, every byte right; one row more is refused before any byte with the largest selection that fits.
    Lambda counts the whole stream, prelude included, so a body gets 200 MiB less 16 KiB: 12799 rows of 16 KiB."""
    # 0.07 vCPU at 128 MB and a debug build: the read takes 20-40 s here, so the function gets Lambda's
    # largest timeout rather than the default 30 s (speed is not what this test is about).
    server = start_stack(data_dir, passwd_file, "--memory", "128", "--stream-bandwidth", "unlimited",
                         "--timeout", "900")
    try:
        domain = f"/home/test_user1/stream200-{int(time.time() * 1000)}.h5"
        rows, cols = 12800, 4096  # exactly 200 MiB of float32: one row more than a streamed body may hold
        s = session()
        assert s.put(server.url("/"), params={"domain": domain}).status_code == 201
        body = {"type": "H5T_IEEE_F32LE", "shape": [rows, cols], "creationProperties": {"fillValue": 2.5}}
        rsp = s.post(server.url("/datasets"), params={"domain": domain}, json=body)
        assert rsp.status_code == 201, rsp.text
        dsid = rsp.json()["id"]
        row = np.arange(cols, dtype="f4")
        rsp = s.put(server.url(f"/datasets/{dsid}/value"), params={"domain": domain, "select": "[7000:7001,:]"},
                    data=row.tobytes(), headers={"Content-Type": "application/octet-stream"})
        assert rsp.status_code == 200, rsp.text
        before = len(report_lines(server))
        rsp = s.get(server.url(f"/datasets/{dsid}/value"), params={"domain": domain, "select": "[0:12799,:]"},
                    headers={"Accept": "application/octet-stream"}, stream=True)
        assert rsp.status_code == 200, rsp.text[:300]
        got, rows_seen, tail = 0, 0, b""
        for piece in rsp.iter_content(1 << 20):
            buf = tail + piece
            whole = len(buf) // (cols * 4) * cols * 4
            block = np.frombuffer(buf[:whole], dtype="f4").reshape(-1, cols)
            for i, r in enumerate(block, start=rows_seen):
                np.testing.assert_array_equal(r, row if i == 7000 else np.full(cols, 2.5, dtype="f4"))
            rows_seen += len(block)
            tail = buf[whole:]
            got += len(piece)
        assert got == 12799 * cols * 4 and rows_seen == 12799 and not tail
        time.sleep(0.5)  # the REPORT line follows the last byte
        report = report_lines(server)[before:]
        assert report and "Memory Size: 128 MB" in report[-1], report
        assert "OutOfMemory" not in open(server.log).read()
        rsp = s.get(server.url(f"/datasets/{dsid}/value"), params={"domain": domain},
                    headers={"Accept": "application/octet-stream"})
        assert rsp.status_code == 413, rsp.text[:300]
        assert "read at most 12799 rows" in rsp.json()["error"]["message"], rsp.text
    finally:
        server.stop()


def test_bandwidth_model_six_mb_free_then_two_mb_per_second(data_dir, passwd_file, hsds, fast_stack, big):
    """10 MB through the default bandwidth model: 6 MB unthrottled, then 4 MB at 2 MB/s = 2 s, within 10 %
    (plus what the same read takes with the model off, measured side by side)."""
    domain, dsid, data = big
    modeled = start_stack(data_dir, passwd_file)
    try:
        sel = {"domain": domain, "select": "[0:655,:]"}  # 655 rows x 16000 B = 10.0 MiB
        nbytes = 655 * COLS * 4
        hdr = {"Accept": "application/octet-stream"}

        def timed(server):
            t0 = time.monotonic()
            rsp = session().get(server.url(f"/datasets/{dsid}/value"), params=sel, headers=hdr)
            assert rsp.status_code == 200 and len(rsp.content) == nbytes
            np.testing.assert_array_equal(np.frombuffer(rsp.content, dtype="f4").reshape(655, COLS), data[:655])
            return time.monotonic() - t0

        timed(fast_stack), timed(modeled)  # warm both functions
        free = min(timed(fast_stack) for _ in range(3))
        took = timed(modeled)
        expect = (nbytes - (6 << 20)) / (2 << 20)
        assert 0.9 * expect <= took <= 1.1 * expect + free, (took, expect, free)
    finally:
        modeled.stop()
