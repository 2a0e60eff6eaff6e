"""h5pyd's command-line apps (hstouch, hsls, hsinfo, hsstat, hsacl, hsrm, hsload, hsget, hsdiff), unmodified,
against HSDS 1.0.2 and hslambda. hsload/hsget round-trip real HDF5 files made with h5py."""
import os
import subprocess
import uuid

import h5py
import numpy as np
import pytest

from conftest import VENV_DIR

BIN = VENV_DIR / "interop" / "bin"


def app(server, name, *args, user="test_user1", password="test", check=True):
    cmd = [str(BIN / name), "-e", server.endpoint, "-u", user, "-p", password, *map(str, args)]
    # Flags AND environment: some code paths of the apps (hsls on a domain) only read HS_ENDPOINT & co.
    env = dict(os.environ, HS_ENDPOINT=server.endpoint, HS_USERNAME=user, HS_PASSWORD=password)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{name} {args} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


def assert_forbidden(r):
    """hsls refused with 403: it fails with h5pyd's `OSError: [Errno 403] Forbidden` (or, on paths that catch
    it, prints its no-permission line); a 401, 404 or 500 reads differently."""
    out = r.stdout + r.stderr
    assert r.returncode != 0 or "No permission to read domain" in out, f"exit {r.returncode}\n{out}"
    assert "[Errno 403] Forbidden" in out or "No permission to read domain" in out, f"exit {r.returncode}\n{out}"


@pytest.fixture
def folder():
    return f"/home/test_user1/apps-{uuid.uuid4().hex[:8]}/"


def make_h5(path):
    """An HDF5 file with nested groups, several types and filters, and attributes."""
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f.attrs["title"] = "interop file"
        f.attrs["version"] = np.int32(3)
        g = f.create_group("a/b/c")
        g.attrs["scale"] = np.float64(0.25)
        f.create_dataset("ints", data=np.arange(1000, dtype="<i4").reshape(10, 100))
        f.create_dataset("floats_gzip", data=rng.standard_normal((200, 50)).astype("f4"), chunks=(50, 50),
                         compression="gzip", shuffle=True)
        f.create_dataset("u16_be", data=np.arange(64, dtype=">u2"))
        f.create_dataset("fixed_str", data=np.array([b"one", b"two", b"three"], dtype="S5"))
        f.create_dataset("vlen_str", data=np.array(["α", "beta", ""], dtype=h5py.string_dtype()))
        ctype = np.dtype([("id", "<i8"), ("val", "<f4"), ("tag", "S4")])
        f.create_dataset("table", data=np.array([(i, i / 2, b"t%d" % i) for i in range(20)], dtype=ctype))
        f.create_dataset("a/b/c/deep", data=np.ones((3, 4, 5), dtype="f8"), fillvalue=-1)
        f["a/soft"] = h5py.SoftLink("/ints")


def assert_same_h5(path1, path2):
    with h5py.File(path1, "r") as f1, h5py.File(path2, "r") as f2:
        names1, names2 = [], []
        f1.visit(lambda n: names1.append(n))
        f2.visit(lambda n: names2.append(n))
        assert sorted(names1) == sorted(names2)
        for n in names1:
            o1, o2 = f1[n], f2[n]
            assert dict(o1.attrs).keys() == dict(o2.attrs).keys(), n
            for k in o1.attrs:
                np.testing.assert_array_equal(o1.attrs[k], o2.attrs[k], err_msg=f"{n}@{k}")
            if isinstance(o1, h5py.Dataset):
                assert o1.shape == o2.shape and o1.dtype == o2.dtype, n
                np.testing.assert_array_equal(o1[()], o2[()], err_msg=n)


def test_folders_touch_ls_info_stat_rm(server, folder):
    app(server, "hstouch", folder)
    domain = folder + "empty.h5"
    app(server, "hstouch", domain)
    out = app(server, "hsls", folder).stdout
    assert "empty.h5" in out
    info = app(server, "hsinfo").stdout
    assert "test_user1" in info
    stat = app(server, "hsstat", domain).stdout
    assert "domain" in stat.lower()
    app(server, "hsrm", domain)
    assert "empty.h5" not in app(server, "hsls", folder).stdout


def test_hsacl_grants_and_revokes(server, folder):
    app(server, "hstouch", folder)
    domain = folder + "acl.h5"
    app(server, "hstouch", domain)
    assert_forbidden(app(server, "hsls", domain, user="test_user2", check=False))
    app(server, "hsacl", domain, "+r", "test_user2")
    listing = app(server, "hsacl", domain).stdout
    assert "test_user2" in listing
    r = app(server, "hsls", domain, user="test_user2", check=False)
    assert r.returncode == 0, r.stderr
    app(server, "hsacl", domain, "-r", "test_user2")
    assert_forbidden(app(server, "hsls", domain, user="test_user2", check=False))


def test_hsload_hsget_round_trip(server, folder, tmp_path):
    src, back = tmp_path / "src.h5", tmp_path / "back.h5"
    make_h5(src)
    app(server, "hstouch", folder)
    domain = folder + "loaded.h5"
    app(server, "hsload", src, domain)
    app(server, "hsget", domain, back)
    assert_same_h5(src, back)
    r = app(server, "hsdiff", src, domain, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    listing = app(server, "hsls", "-r", domain).stdout
    for name in ("ints", "floats_gzip", "table", "deep"):
        assert name in listing
