"""REST behaviours h5pyd and curl users rely on, checked against HSDS 1.0.2 and hslambda alike."""
import requests

from conftest import session


def test_about_has_what_hsinfo_needs(server):
    r = requests.get(server.url("/about"), auth=("test_user1", "test"))
    assert r.status_code == 200
    about = r.json()
    for key in ("name", "state", "username", "hsds_version", "node_count", "start_time"):
        assert key in about, key
    assert about["state"] == "READY"
    assert about["username"] == "test_user1"
    assert requests.get(server.url("/about")).json()["username"] == "anonymous"


def test_create_domain_then_get_it(server, domain):
    s = session()
    r = s.put(server.url("/"), params={"domain": domain}, json={})
    assert r.status_code == 201, r.text
    created = r.json()
    root = created["root"]
    assert root.startswith("g-") and len(root) == 38
    got = s.get(server.url("/"), params={"domain": domain}).json()
    assert got["root"] == root
    assert got["owner"] == "test_user1"
    assert got["class"] == "domain"
    # creating it again is a conflict, nothing else changes
    assert s.put(server.url("/"), params={"domain": domain}, json={}).status_code == 409
    assert s.get(server.url("/"), params={"domain": domain}).json()["root"] == root


def test_wrong_password_is_401_and_missing_domain_404(server, domain):
    assert requests.get(server.url("/"), params={"domain": domain}, auth=("test_user1", "nope")).status_code == 401
    assert session().get(server.url("/"), params={"domain": domain}).status_code == 404
