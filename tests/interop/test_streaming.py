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
    # Make the chunks of the dataset's last rows unreadable: the first pieces stream, then the read fails.
    meta = next(p for p in (data_dir / BUCKET).rglob(".dataset.json") if json.loads(p.read_text()).get("id") == dsid)
    keys = [p.relative_to(data_dir / BUCKET).as_posix() for p in meta.parent.iterdir() if p.name[0].isdigit()]
    assert keys, "the dataset's chunks are on disk"
    last_row = max(keys, key=lambda k: int(k.rsplit("/", 1)[1].split("_")[0]))
    prefix = last_row.rsplit("_", 1)[0] + "_"
    faults = requests.put(fast_stack.url("/_emulator/s3/faults"),
                          json=[{"prefix": prefix, "error_rate": 1.0, "status": 500}])
    assert faults.status_code == 200, faults.text
    try:
        rsp = lambda_client(fast_stack).invoke_with_response_stream(
            FunctionName=FUNCTION, LogType="Tail",
            Payload=json.dumps(v2_event(f"/datasets/{dsid}/value", {"domain": domain})))
        chunks, complete = read_stream(rsp)
    finally:
        requests.put(fast_stack.url("/_emulator/s3/faults"), json=[])
    assert rsp["StatusCode"] == 200, "errors after the first byte arrive in InvokeComplete, not the status"
    prelude, body = split_prelude(b"".join(chunks))
    assert prelude["statusCode"] == 200 and len(body) > 0
    assert len(body) < ROWS * COLS * 4
    assert complete["ErrorCode"] == "Runtime.StreamError"
    assert complete["ErrorDetails"]
    assert "REPORT RequestId: " in base64.b64decode(complete["LogResult"]).decode()
