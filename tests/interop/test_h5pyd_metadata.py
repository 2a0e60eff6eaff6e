"""h5pyd 1.0 (unmodified, from PyPI) creating, walking and changing metadata — against HSDS 1.0.2 and hslambda."""
import h5pyd
import numpy as np
import pytest

from conftest import session


def open_file(server, domain, mode, user="test_user1", password="test"):
    return h5pyd.File(domain, mode, endpoint=server.endpoint, username=user, password=password)


def test_create_walk_and_reopen(server, domain):
    with open_file(server, domain, "w") as f:
        g1 = f.create_group("g1")
        g1.create_group("sub")
        f.create_group("g2/nested/deeper")
        f["soft"] = h5pyd.SoftLink("/g1/sub")
        f["ext"] = h5pyd.ExternalLink("/home/test_user1/other.h5", "/somewhere")
        g1.attrs["n"] = 5
        g1.attrs["arr"] = np.arange(6, dtype="i2").reshape(2, 3)
        g1.attrs["s"] = "text"
        f.attrs["f"] = 1.5
    with open_file(server, domain, "r") as f:
        names = []
        f.visit(lambda name: names.append(name))
        assert sorted(names) == ["g1", "g1/sub", "g2", "g2/nested", "g2/nested/deeper"]  # visit skips soft/external
        assert sorted(f) == ["ext", "g1", "g2", "soft"]
        assert f["g1"].attrs["n"] == 5
        np.testing.assert_array_equal(f["g1"].attrs["arr"], np.arange(6, dtype="i2").reshape(2, 3))
        assert f["g1"].attrs["arr"].dtype == np.dtype("i2")
        s = f["g1"].attrs["s"]
        assert (s.decode() if isinstance(s, bytes) else s) == "text"
        assert f.attrs["f"] == 1.5
        assert f.get("soft", getlink=True).path == "/g1/sub"
        ext = f.get("ext", getlink=True)
        assert (ext.filename, ext.path) == ("/home/test_user1/other.h5", "/somewhere")
        assert f["soft"].id.id == f["g1/sub"].id.id


def test_append_mode_changes_attributes(server, domain):
    # (h5pyd 1.0.0 does not send link or attribute deletions made in append mode — against HSDS either —
    # so deletions are tested through REST elsewhere)
    with open_file(server, domain, "w") as f:
        f.create_group("keep")
        f.attrs["a"] = 1
    with open_file(server, domain, "a") as f:
        f["keep"].attrs["new"] = np.float32(2.5)
        f.attrs["b"] = [1, 2, 3]
    with open_file(server, domain, "r") as f:
        assert list(f) == ["keep"]
        assert f["keep"].attrs["new"] == np.float32(2.5)
        assert f.attrs["a"] == 1
        np.testing.assert_array_equal(f.attrs["b"], [1, 2, 3])


def test_track_order_keeps_creation_order(server, domain):
    order = ["zeta", "alpha", "mid", "beta"]
    with open_file(server, domain, "w") as f:
        g = f.create_group("ordered", track_order=True)
        for name in order:
            g.create_group(name)
    with open_file(server, domain, "r") as f:
        g = f["ordered"]
        assert list(g) == order  # creation order, not alphabetical
        assert list(g.keys()) == order
        gid = g.id.id
    # The server's side of it: links listed with CreateOrder come in creation order, without it by name.
    s = session()
    for params, want in (({"CreateOrder": 1}, order), ({}, sorted(order))):
        r = s.get(server.url(f"/groups/{gid}/links"), params={"domain": domain, **params})
        assert r.status_code == 200, r.text
        assert [link["title"] for link in r.json()["links"]] == want, (params, r.json())


def test_other_user_cannot_write_without_acl(server, domain):
    with open_file(server, domain, "w") as f:
        f.create_group("g")
    with pytest.raises(OSError) as e:
        with open_file(server, domain, "a", user="test_user2") as f:
            f.create_group("intruder")
    # h5pyd puts the status only in its message: Forbidden, not 401, 404 or a server error.
    assert e.value.errno == 403 or "status code: 403 " in str(e.value), repr(e.value)
    # The same denial through REST, for reading the domain and for writing into it.
    s = session("test_user2")
    assert s.get(server.url("/"), params={"domain": domain}).status_code == 403
    r = s.post(server.url("/groups"), params={"domain": domain}, json={})
    assert r.status_code == 403, (r.status_code, r.text)
    with open_file(server, domain, "r") as f:
        assert list(f) == ["g"]
