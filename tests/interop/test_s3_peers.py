"""Two S3s: the emulator's own and moto's S3 server (written by others). Both must answer as AWS S3 does
(AWS S3 API reference) where the function depends on it, and both must keep conditional writes atomic,
directly and through the function. The h5pyd metadata and dataset suites also run on moto (conftest.py)."""
import concurrent.futures as cf
import uuid

import boto3
import botocore
import pytest
import requests
from botocore.config import Config

from conftest import BUCKET


@pytest.fixture(params=["emulator", "moto"])
def s3(request):
    """A boto3 client of the emulator's S3 or of moto's, and a fresh key prefix."""
    if request.param == "emulator":
        endpoint, key, secret = request.getfixturevalue("stack").s3_endpoint, "hslambda", "hslambda-secret"
    else:
        endpoint, key, secret = request.getfixturevalue("moto_s3").endpoint, "testing", "testing"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                          region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    return client, f"peers-{uuid.uuid4().hex[:8]}/"


def status(call, **kw):
    """(HTTP status, error code or None, response) of one S3 call."""
    try:
        r = call(**kw)
        return r["ResponseMetadata"]["HTTPStatusCode"], None, r
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Code"), e.response


def test_answers_as_aws_s3_does(s3):
    c, p = s3
    c.put_object(Bucket=BUCKET, Key=p + "a", Body=b"0123456789")
    etag = c.head_object(Bucket=BUCKET, Key=p + "a")["ETag"]
    assert etag == '"781e5e245d69b566979b86e28d23f2c7"'  # quoted MD5 of the bytes
    expected = [  # (call, arguments, status, error code): from the S3 API reference
        (c.put_object, dict(Key=p + "a", Body=b"x", IfNoneMatch="*"), 412, "PreconditionFailed"),
        (c.put_object, dict(Key=p + "a", Body=b"x", IfMatch='"0000"'), 412, "PreconditionFailed"),
        (c.put_object, dict(Key=p + "missing", Body=b"x", IfMatch='"0000"'), 404, "NoSuchKey"),
        (c.get_object, dict(Key=p + "a", IfMatch='"0000"'), 412, "PreconditionFailed"),
        (c.get_object, dict(Key=p + "a", IfNoneMatch=etag), 304, "304"),
        (c.get_object, dict(Key=p + "a", Range="bytes=20-30"), 416, "InvalidRange"),
        (c.get_object, dict(Key=p + "missing"), 404, "NoSuchKey"),
        (c.get_object, dict(Bucket="no-such-bucket-here", Key="x"), 404, "NoSuchBucket"),
        (c.head_object, dict(Key=p + "missing"), 404, "404"),
        (c.delete_object, dict(Key=p + "missing"), 204, None),
    ]
    for call, kw, want_status, want_code in expected:
        got = status(call, **{"Bucket": BUCKET, **kw})
        assert got[:2] == (want_status, want_code), (call.__name__, kw, got)
    _, _, r = status(c.get_object, Bucket=BUCKET, Key=p + "a", Range="bytes=8-20")  # clipped to the object
    assert (r["ContentRange"], r["Body"].read(), r["AcceptRanges"]) == ("bytes 8-9/10", b"89", "bytes")
    _, _, r = status(c.get_object, Bucket=BUCKET, Key=p + "a", Range="bytes=-3")
    assert (r["ContentRange"], r["Body"].read(), r["ContentType"]) == ("bytes 7-9/10", b"789", "binary/octet-stream")
    c.put_object(Bucket=BUCKET, Key=p + "d/b", Body=b"b")
    r = c.list_objects_v2(Bucket=BUCKET, Prefix=p, Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == [p + "a"] and r["CommonPrefixes"] == [{"Prefix": p + "d/"}]
    assert r["Contents"][0]["ETag"] == etag and r["KeyCount"] == 2
    r = c.list_objects_v2(Bucket=BUCKET, Prefix=p, MaxKeys=1)
    assert r["IsTruncated"] and r["KeyCount"] == 1
    r = c.list_objects_v2(Bucket=BUCKET, Prefix=p, ContinuationToken=r["NextContinuationToken"])
    assert [o["Key"] for o in r["Contents"]] == [p + "d/b"] and not r["IsTruncated"]
    assert c.list_objects_v2(Bucket=BUCKET, Delimiter="/", MaxKeys=1)["Prefix"] == ""


def test_if_none_match_creators_exactly_one_wins(s3):
    c, p = s3
    with cf.ThreadPoolExecutor(16) as ex:
        got = list(ex.map(lambda i: status(c.put_object, Bucket=BUCKET, Key=p + "one", Body=str(i).encode(),
                                           IfNoneMatch="*")[:2], range(16)))
    # One winner; the others 412 (or 409 ConditionalRequestConflict, which AWS may answer to a write racing
    # an in-flight one).
    assert got.count((200, None)) == 1, got
    assert all(g in ((200, None), (412, "PreconditionFailed"), (409, "ConditionalRequestConflict")) for g in got), got


def test_if_match_cas_under_contention_loses_nothing(s3):
    c, p = s3
    c.put_object(Bucket=BUCKET, Key=p + "ctr", Body=b"0")

    def increment(_):
        while True:
            r = c.get_object(Bucket=BUCKET, Key=p + "ctr")
            value, etag = int(r["Body"].read()), r["ETag"]
            st, code, _ = status(c.put_object, Bucket=BUCKET, Key=p + "ctr", Body=str(value + 1).encode(), IfMatch=etag)
            if st == 200:
                return
            assert (st, code) in ((412, "PreconditionFailed"), (409, "ConditionalRequestConflict")), (st, code)

    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(increment, range(40)))
    assert c.get_object(Bucket=BUCKET, Key=p + "ctr")["Body"].read() == b"40"


@pytest.mark.parametrize("which", ["stack", "stack_moto"])
def test_function_concurrent_attribute_writers_lose_nothing(request, which):
    """8 writers (within the stack's concurrency of 10) add attributes to one group at once: the function's
    compare-and-swap on the group's JSON keeps every one, on either S3."""
    server = request.getfixturevalue(which)
    auth = ("test_user1", "test")
    domain = f"/home/test_user1/peers-{uuid.uuid4().hex[:8]}.h5"
    r = requests.put(server.url("/"), params={"domain": domain}, auth=auth)
    assert r.status_code == 201, r.text
    root = r.json()["root"]

    def add(i):
        with requests.Session() as s:
            return s.put(server.url(f"/groups/{root}/attributes/a{i}"), params={"domain": domain}, auth=auth,
                         json={"type": "H5T_STD_I32LE", "shape": "H5S_SCALAR", "value": i}).status_code

    with cf.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(add, range(8)))
    assert codes == [201] * 8, codes
    r = requests.get(server.url(f"/groups/{root}/attributes"), params={"domain": domain}, auth=auth)
    assert sorted(a["name"] for a in r.json()["attributes"]) == sorted(f"a{i}" for i in range(8))
