"""Fixtures for the interop suite: real servers on free ports, real clients.

* ``hsds``   — the reference HSDS 1.0.2 (PyPI) on a POSIX data directory.
* ``stack``  — ``hslambda up``: the emulator (S3 on a directory, Runtime API, front door) running the real
               ``bootstrap`` binary.
* ``moto_s3`` / ``stack_moto`` — moto's S3 server (PyPI ``moto[server]``, an S3 nobody here wrote) and
               ``hslambda up --s3-endpoint`` pointing the unchanged function at it.
Both serve the SAME data directory (``<dir>/hsdstest/...``), so a test can write with one and read with the other.
Users are HSDS's test users: admin:admin, test_user1:test, test_user2:test.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
import requests_unixsocket

# Let plain `requests` calls reach HSDS on its Unix socket (http+unix://...) as well as TCP endpoints.
requests_unixsocket.monkeypatch()

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("HSLAMBDA_BIN_DIR", ROOT / "target" / "release"))
VENV_DIR = Path(os.environ.get("HSLAMBDA_VENV_DIR", ROOT / ".venv"))
PASSWD = "admin:admin\ntest_user1:test\ntest_user2:test\n"
BUCKET = "hsdstest"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process in its own process group, stopped with the whole group."""

    def __init__(self, name, endpoint, proc, log):
        self.name, self.endpoint, self.proc, self.log = name, endpoint, proc, log

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def url(self, path):
        return self.endpoint + path

    def __repr__(self):
        return f"<{self.name} {self.endpoint}>"


def wait_ready(server, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{Path(server.log).read_text()[-4000:]}")
        try:
            if requests.get(server.url("/about"), timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout}s:\n{Path(server.log).read_text()[-4000:]}")


def admin_setup(endpoint, timeout=90):
    """Create /home and /home/test_user1, /home/test_user2 (owned by their users), as HSDS's test setup does.

    HSDS's service node answers /about before its data nodes are up, and meanwhile answers other requests
    with 503: only a 404 means "create it" and only a 200 means "it exists"; anything else is waited out (a
    setup that took a 503 for "exists" once left every later test without /home/test_user1)."""
    a = ("admin", "admin")
    deadline = time.time() + timeout
    for folder, owner in (("/home", None), ("/home/test_user1", "test_user1"), ("/home/test_user2", "test_user2")):
        while True:
            r = requests.get(endpoint + "/", params={"domain": folder}, auth=a)
            if r.status_code == 404:
                body = {"folder": True}
                if owner:
                    body["owner"] = owner
                r = requests.put(endpoint + "/", params={"domain": folder}, json=body, auth=a)
                if r.status_code == 201:
                    break
            elif r.status_code == 200:
                break
            assert time.time() < deadline, f"could not set up {folder}: {r.status_code} {r.text[:300]}"
            time.sleep(0.5)


@pytest.fixture(scope="session")
def data_dir():
    d = Path(tempfile.mkdtemp(prefix="hslambda-interop-"))
    (d / BUCKET).mkdir()
    yield d
    if not os.environ.get("KEEP_DATA"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def passwd_file(data_dir):
    p = data_dir.parent / (data_dir.name + "-passwd.txt")
    p.write_text(PASSWD)
    yield p
    p.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def hsds(data_dir, passwd_file):
    # Unix-socket mode: HSDS's TCP mode puts its data nodes on fixed ports 6101+, which collide with any
    # other HSDS on the machine; sockets in a private directory cannot.
    sock_dir = Path(tempfile.mkdtemp(prefix="hsds-sock-"))
    log = str(data_dir.parent / (data_dir.name + "-hsds.log"))
    # HSDS's `hsds` command, through a wrapper that gives its nodes 60 s instead of 10 to start (a loaded
    # machine needs it; see hsds_patient.py).
    python = VENV_DIR / "interop" / "bin" / "python"
    proc = subprocess.Popen(
        [str(python), str(Path(__file__).with_name("hsds_patient.py")), "--root_dir", str(data_dir), "--bucket_name", BUCKET, "--password_file", str(passwd_file),
         "--socket_dir", str(sock_dir), "--loglevel", "ERROR"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    endpoint = "http+unix://" + str(sock_dir / "sn_1.sock").replace("/", "%2F")
    server = Server("hsds", endpoint, proc, log)
    try:
        wait_ready(server, 90)
        admin_setup(server.endpoint)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack(data_dir, passwd_file, hsds):
    """hslambda on the same data directory. Depends on ``hsds`` so the shared folders exist exactly once."""
    port, s3_port = free_port(), free_port()
    log = str(data_dir.parent / (data_dir.name + "-stack.log"))
    proc = subprocess.Popen(
        [str(BIN_DIR / "hslambda"), "up", "--port", str(port), "--s3-port", str(s3_port), "--data-dir", str(data_dir),
         "--users", str(passwd_file), "--bucket", BUCKET],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server("hslambda", f"http://127.0.0.1:{port}", proc, log)
    server.s3_endpoint = f"http://127.0.0.1:{s3_port}"
    try:
        wait_ready(server, 60)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_s3():
    """moto's S3 server on a free port, with the bucket created (moto keeps it in memory)."""
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"hslambda-interop-moto-{port}.log"
    proc = subprocess.Popen(
        [str(VENV_DIR / "moto" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server("moto", f"http://127.0.0.1:{port}", proc, str(log))
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                requests.get(server.endpoint + "/", timeout=2)
                break
            except requests.RequestException:
                if time.time() > deadline:
                    raise RuntimeError(f"moto_server not ready after 60s:\n{log.read_text()[-4000:]}")
                time.sleep(0.2)
        r = requests.put(f"{server.endpoint}/{BUCKET}", timeout=10)
        assert r.status_code == 200, (r.status_code, r.text)
        yield server
    finally:
        server.stop()
        log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def stack_moto(moto_s3, passwd_file):
    """hslambda whose function stores everything in moto's S3 (``up --s3-endpoint``), the function unchanged."""
    port, s3_port = free_port(), free_port()
    own = Path(tempfile.mkdtemp(prefix="hslambda-interop-moto-"))
    log = str(own / "stack.log")
    proc = subprocess.Popen(
        [str(BIN_DIR / "hslambda"), "up", "--port", str(port), "--s3-port", str(s3_port), "--data-dir", str(own / "data"),
         "--users", str(passwd_file), "--bucket", BUCKET, "--s3-endpoint", moto_s3.endpoint,
         "--env", "AWS_ACCESS_KEY_ID=testing", "--env", "AWS_SECRET_ACCESS_KEY=testing"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server("hslambda-moto", f"http://127.0.0.1:{port}", proc, log)
    server.s3_endpoint = moto_s3.endpoint
    try:
        wait_ready(server, 60)
        admin_setup(server.endpoint)
        yield server
    finally:
        server.stop()
        shutil.rmtree(own, ignore_errors=True)


# The suites that also run against hslambda on moto's S3 (module names): the h5pyd metadata and dataset
# suites exercise every kind of S3 request the function makes.
MOTO_SUITES = {"test_h5pyd_metadata", "test_h5pyd_datasets"}
SERVER_FIXTURES = {"hsds": "hsds", "hslambda": "stack", "hslambda-moto": "stack_moto"}


def pytest_generate_tests(metafunc):
    """``server`` is the reference HSDS and hslambda (and, in MOTO_SUITES, hslambda on moto's S3)."""
    if "server" in metafunc.fixturenames:
        names = ["hsds", "hslambda"]
        if metafunc.module.__name__.rsplit(".", 1)[-1] in MOTO_SUITES:
            names.append("hslambda-moto")
        metafunc.parametrize("server", names, indirect=True)


@pytest.fixture
def server(request):
    """Run a test against the reference HSDS and against hslambda: the same behaviour is required of both."""
    return request.getfixturevalue(SERVER_FIXTURES[request.param])


@pytest.fixture
def domain():
    """A fresh domain path for one test, under /home/test_user1."""
    return f"/home/test_user1/it-{uuid.uuid4().hex[:10]}.h5"


def session(user="test_user1", password="test"):
    s = requests_unixsocket.Session()  # speaks http:// and http+unix://
    s.auth = (user, password)
    return s
