"""AWS clients against the emulator, unmodified: boto3 and the aws cli on its Lambda Invoke API and its S3,
and h5pyd 0.24's ``http+lambda://`` transport (boto3 ``invoke`` under the hood)."""
import base64
import json
import os
import subprocess
import textwrap
import uuid

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import VENV_DIR, session

FUNCTION = "hslambda"
# The emulator's S3 checks SigV4 signatures against these (unsigned requests are accepted too).
AWS_ENV = {"AWS_ACCESS_KEY_ID": "hslambda", "AWS_SECRET_ACCESS_KEY": "hslambda-secret", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def lam(stack):
    return boto3.client("lambda", endpoint_url=stack.endpoint, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y",
                        config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def s3(stack):
    return boto3.client("s3", endpoint_url=stack.s3_endpoint, region_name="us-east-1",
                        aws_access_key_id="hslambda", aws_secret_access_key="hslambda-secret")


def direct_event(method, path, params=None, body=None, auth=True):
    headers = {"accept": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(b"test_user1:test").decode()
    return {"method": method, "path": path, "params": params or {}, "headers": headers,
            "body": None if body is None else json.dumps(body)}


def test_boto3_request_response_speaks_the_h5pyd_contract(lam):
    rsp = lam.invoke(FunctionName=FUNCTION, Payload=json.dumps(direct_event("GET", "/about")))
    assert rsp["StatusCode"] == 200
    assert "FunctionError" not in rsp
    out = json.loads(rsp["Payload"].read())
    assert out["statusCode"] == 200
    assert json.loads(out["headers"])["Content-Type"].startswith("application/json")  # headers: a JSON *string*
    assert out["body"]["state"] == "READY"  # body: a JSON object


def test_boto3_event_dryrun_tail_and_unknown_function(lam):
    ev = json.dumps(direct_event("GET", "/about"))
    assert lam.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=ev)["StatusCode"] == 202
    assert lam.invoke(FunctionName=FUNCTION, InvocationType="DryRun", Payload=ev)["StatusCode"] == 204
    rsp = lam.invoke(FunctionName=FUNCTION, LogType="Tail", Payload=ev)
    log = base64.b64decode(rsp["LogResult"]).decode()
    assert "REPORT RequestId:" in log and "Max Memory Used:" in log
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="no-such-function", Payload=ev)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_aws_cli_invoke(stack, tmp_path):
    out = tmp_path / "out.json"
    ev = tmp_path / "ev.json"
    ev.write_text(json.dumps(direct_event("GET", "/about", auth=False)))
    r = subprocess.run([str(VENV_DIR / "interop" / "bin" / "aws"), "lambda", "invoke", "--endpoint-url", stack.endpoint,
                        "--function-name", FUNCTION, "--payload", f"fileb://{ev}", str(out)],
                       capture_output=True, text=True, env={**os.environ, **AWS_ENV}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["StatusCode"] == 200
    assert json.loads(out.read_text())["body"]["username"] == "anonymous"


def test_s3_conditional_writes_and_listing(s3):
    key = f"interop/{uuid.uuid4().hex}"
    s3.put_object(Bucket="hsdstest", Key=key, Body=b"one", IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket="hsdstest", Key=key, Body=b"two", IfNoneMatch="*")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    etag = s3.head_object(Bucket="hsdstest", Key=key)["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket="hsdstest", Key=key, Body=b"three", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412  # the losing If-Match PUT
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    s3.put_object(Bucket="hsdstest", Key=key, Body=b"four", IfMatch=etag)
    assert s3.get_object(Bucket="hsdstest", Key=key)["Body"].read() == b"four"
    listed = s3.list_objects_v2(Bucket="hsdstest", Prefix="interop/")["Contents"]
    entry = [o for o in listed if o["Key"] == key][0]
    assert entry["ETag"] and entry["Size"] == 4
    s3.delete_object(Bucket="hsdstest", Key=key)


def test_aws_cli_s3_sees_hsds_layout(stack, domain):
    assert session().put(stack.url("/"), params={"domain": domain}, json={}).status_code == 201
    r = subprocess.run([str(VENV_DIR / "interop" / "bin" / "aws"), "s3", "ls", "--recursive", "--endpoint-url",
                        stack.s3_endpoint, f"s3://hsdstest{domain}/"],
                       capture_output=True, text=True, env={**os.environ, **AWS_ENV}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert domain.lstrip("/") + "/.domain.json" in r.stdout


def test_h5pyd_024_over_http_lambda(stack, domain):
    """h5pyd 0.24 reads and writes metadata through boto3 invoke (http+lambda://) — its only Lambda transport."""
    s = session()
    assert s.put(stack.url("/"), params={"domain": domain}, json={}).status_code == 201
    script = textwrap.dedent(f"""
        import h5pyd
        with h5pyd.File({domain!r}, "a") as f:
            g = f.create_group("via_lambda")
            g.attrs["answer"] = 42
        with h5pyd.File({domain!r}, "r") as f:
            assert "via_lambda" in f, list(f)
            assert f["via_lambda"].attrs["answer"] == 42
        print("ok")
    """)
    env = {**os.environ, **AWS_ENV, "AWS_ENDPOINT_URL_LAMBDA": stack.endpoint, "HS_ENDPOINT": f"http+lambda://{FUNCTION}",
           "HS_USERNAME": FUNCTION, "HS_PASSWORD": "lambda"}
    r = subprocess.run([str(VENV_DIR / "h5pyd024" / "bin" / "python"), "-c", script], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr
