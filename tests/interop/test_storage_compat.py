"""HSDS 1.0.2 and hslambda on the same data directory: what one writes, the other reads identically."""
import uuid

import pytest

from conftest import BUCKET, session
from domain_view import diff, domain_view


def build_metadata_domain(endpoint, domain):
    """Folders, groups, hard/soft/external links, attributes of several types and ACLs, through plain REST."""
    s = session()
    folder = domain.rsplit("/", 1)[0]
    r = s.put(endpoint + "/", params={"domain": folder}, json={"folder": True})
    assert r.status_code in (201, 409), r.text
    r = s.put(endpoint + "/", params={"domain": domain}, json={})
    assert r.status_code == 201, r.text
    root = r.json()["root"]
    p = {"domain": domain}

    def post_group(name, parent):
        r = s.post(endpoint + "/groups", params=p, json={"link": {"id": parent, "name": name}})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    g1 = post_group("g1", root)
    g2 = post_group("g2", g1)
    r = s.post(endpoint + "/datatypes", params=p, json={"type": "H5T_STD_I16BE", "link": {"id": root, "name": "t16"}})
    assert r.status_code == 201, r.text
    for title, body in {
        "hard_to_g2": {"id": g2},
        "soft": {"h5path": "/g1/g2"},
        "external": {"h5path": "/x/y", "h5domain": "/home/test_user1/other.h5"},
    }.items():
        r = s.put(endpoint + f"/groups/{g1}/links/{title}", params=p, json=body)
        assert r.status_code == 201, (title, r.text)
    attrs = {
        "int_scalar": {"type": "H5T_STD_I32LE", "value": 42},
        "float_list": {"type": "H5T_IEEE_F64LE", "shape": [3], "value": [1.5, -2.25, 1e300]},
        "u8_2d": {"type": "H5T_STD_U8LE", "shape": [2, 2], "value": [[1, 2], [3, 255]]},
        "fixed_str": {"type": {"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII", "strPad": "H5T_STR_NULLPAD",
                               "length": 5}, "value": "hello"},
        "vlen_str": {"type": {"class": "H5T_STRING", "charSet": "H5T_CSET_UTF8", "strPad": "H5T_STR_NULLTERM",
                              "length": "H5T_VARIABLE"}, "shape": [2], "value": ["α-beta", ""]},
        "compound": {"type": {"class": "H5T_COMPOUND", "fields": [{"name": "a", "type": "H5T_STD_I8LE"},
                                                                  {"name": "b", "type": "H5T_IEEE_F32LE"}]},
                     "value": [7, 0.5]},
    }
    for name, body in attrs.items():
        r = s.put(endpoint + f"/groups/{g2}/attributes/{name}", params=p, json=body)
        assert r.status_code == 201, (name, r.text)
    r = s.put(endpoint + "/acls/test_user2", params=p,
              json={"read": True, "create": False, "update": False, "delete": False, "readACL": False, "updateACL": False})
    assert r.status_code == 201, r.text
    return root


def flush(server, domain):
    """HSDS writes links and attributes to storage lazily (~1 s later); a flush makes them durable now."""
    r = session().put(server.url("/"), params={"domain": domain, "flush": 1})
    assert r.status_code in (200, 204), r.text


@pytest.mark.parametrize("writer,reader", [("hsds", "stack"), ("stack", "hsds")])
def test_metadata_written_by_one_reads_identically_in_the_other(request, writer, reader):
    w, rd = request.getfixturevalue(writer), request.getfixturevalue(reader)
    domain = f"/home/test_user1/compat-{uuid.uuid4().hex[:8]}/meta.h5"
    build_metadata_domain(w.endpoint, domain)
    flush(w, domain)
    expected = domain_view(w.endpoint, domain)
    got = domain_view(rd.endpoint, domain)
    assert got == expected, "\n".join(diff(expected, got))
    # the ACL written through the API is honoured by the reader: test_user2 may read, not write
    s2 = session("test_user2")
    assert s2.get(rd.url("/"), params={"domain": domain}).status_code == 200
    # both check updateACL on PUT /acls/{user}
    assert s2.put(rd.url("/acls/test_user2"), params={"domain": domain}, json={"update": True}).status_code == 403


def turn_key(key):
    """The turn object hslambda writes beside a contended object (handler/src/store/turn.rs)."""
    if key.startswith("db/"):
        root, rest = key[3:].split("/", 1)
        return f"db/{root}/turn/{rest}.turn"
    return key + ".turn"


def leave_turns_behind(stack, keys):
    """The turn objects of writers killed while they held them (live ones are deleted when done)."""
    import json
    import time

    import boto3

    s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="hslambda", aws_secret_access_key="hslambda-secret")
    for key in keys:
        body = json.dumps({"expires_ms": int(time.time() * 1000) - 1, "token": 7}).encode()
        s3.put_object(Bucket=BUCKET, Key=turn_key(key), Body=body)


def test_hsds_reads_a_domain_holding_hslambdas_tombstones(hsds, stack):
    """hslambda's deletes leave tombstones in the bucket (for its 410 Gone answers), and writers killed while
    they held an object's turn leave turn objects; HSDS, reading the same bucket, still sees the domain exactly
    as hslambda does, and can scan and delete it."""
    from h5json.objid import getS3Key

    domain = f"/home/test_user1/compat-{uuid.uuid4().hex[:8]}/gone.h5"
    build_metadata_domain(stack.endpoint, domain)
    s, p = session(), {"domain": domain}

    def id_at(path):
        r = s.get(stack.url("/"), params={**p, "h5path": path})
        assert r.status_code == 200, r.text
        return r.json()["id"]

    g1, g2, t16 = id_at("/g1"), id_at("/g1/g2"), id_at("/t16")
    assert s.delete(stack.url(f"/groups/{g2}/attributes/int_scalar"), params=p).status_code == 200
    assert s.delete(stack.url(f"/groups/{g1}/links/soft"), params=p).status_code == 200
    root = s.get(stack.url("/"), params=p).json()["root"]
    assert s.delete(stack.url(f"/groups/{root}/links/t16"), params=p).status_code == 200
    assert s.delete(stack.url(f"/datatypes/{t16}"), params=p).status_code == 200
    for path in (f"/datatypes/{t16}", f"/groups/{g1}/links/soft", f"/groups/{g2}/attributes/int_scalar"):
        assert s.get(stack.url(path), params=p).status_code == 410, path
    d1 = s.post(stack.url("/datasets"), params=p, json={"type": "H5T_STD_I32LE", "shape": [4], "layout": {
        "class": "H5D_CHUNKED", "dims": [2]}, "link": {"id": g1, "name": "d1"}}).json()["id"]
    assert s.put(stack.url(f"/datasets/{d1}/value"), params=p, json={"value": [1, 2, 3, 4]}).status_code == 200
    leave_turns_behind(stack, [getS3Key(root), getS3Key(g1), getS3Key(d1), getS3Key("c" + d1[1:] + "_1"),
                               domain[1:] + "/.domain.json"])
    expected = domain_view(stack.endpoint, domain)
    assert domain_view(hsds.endpoint, domain) == expected
    assert s.get(hsds.url("/"), params={**p, "verbose": 1}).status_code == 200
    assert s.delete(hsds.url("/"), params=p).status_code == 200


def write_datasets(endpoint, domain):
    """Datasets of many types and filters, vlen, fill values and a resized one, written with h5pyd 1.0."""
    import h5pyd
    import numpy as np

    rng = np.random.default_rng(3)
    data = {
        "i2_be": np.arange(600, dtype=">i2").reshape(20, 30),
        "u8": np.arange(100, dtype="<u8") * 2**40,
        "f4_gzip": rng.standard_normal((64, 48)).astype("<f4").cumsum(axis=0),
        "f8_lz4": rng.standard_normal((50, 20)),
        "f4_shuffle_gzip": rng.standard_normal((40, 40)).astype("<f4"),
        "fixed_str": np.array([b"a", b"bb", b"ccc"], dtype="S3"),
        "compound": np.array([(i, i * 0.5) for i in range(30)], dtype=[("n", "<i4"), ("x", "<f8")]),
    }
    filters = {"f4_gzip": {"compression": "gzip", "chunks": (16, 16)},
               "f8_lz4": {"compression": "lz4", "chunks": (10, 10)},
               "f4_shuffle_gzip": {"compression": "gzip", "shuffle": True, "chunks": (20, 20)}}
    with h5pyd.File(domain, "w", endpoint=endpoint, username="test_user1", password="test") as f:
        for name, arr in data.items():
            f.create_dataset(name, data=arr, **filters.get(name, {}))
        f.create_dataset("vlen_str", data=np.array(["α", "", "longer text"], dtype=object), dtype=h5pyd.string_dtype())
        d = f.create_dataset("filled", (30, 30), dtype="<i4", chunks=(10, 10), fillvalue=-3)
        d[5:12, 5:12] = 9
        r = f.create_dataset("resized", (10,), maxshape=(None,), dtype="<f4", chunks=(4,))
        r[:] = np.arange(10, dtype="<f4")
    with h5pyd.File(domain, "a", endpoint=endpoint, username="test_user1", password="test") as f:
        f["resized"].resize((25,))
        f["resized"][10:25] = -1


def read_datasets(endpoint, domain):
    import h5pyd
    import numpy as np

    out = {}
    with h5pyd.File(domain, "r", endpoint=endpoint, username="test_user1", password="test") as f:
        for name in f:
            d = f[name]
            out[name] = (d.dtype.str if d.dtype.names is None else str(d.dtype), d.shape, d.chunks, d[...],
                         d.fillvalue if d.dtype.names is None else None)
    return {k: (v[0], v[1], v[2], np.asarray(v[3]).tolist(), None if v[4] is None else np.asarray(v[4]).tolist())
            for k, v in out.items()}


@pytest.mark.parametrize("writer,reader", [("hsds", "stack"), ("stack", "hsds")])
def test_datasets_written_by_one_read_identically_by_the_other(request, writer, reader):
    w, rd = request.getfixturevalue(writer), request.getfixturevalue(reader)
    folder = f"/home/test_user1/compat-{uuid.uuid4().hex[:8]}"
    assert session().put(w.url("/"), params={"domain": folder}, json={"folder": True}).status_code == 201
    domain = folder + "/data.h5"
    write_datasets(w.endpoint, domain)
    flush(w, domain)
    expected = read_datasets(w.endpoint, domain)
    got = read_datasets(rd.endpoint, domain)
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], name
