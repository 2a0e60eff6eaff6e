"""A browser client: h5web (npm ``@h5web/app``, pinned in viewer/package-lock.json) through ``hslambda view``.

``hslambda view`` builds the page with npm (cached under ``target/hslambda-cache``: the first run builds it)
and starts the stack; h5pyd 1.0 writes a 1-D and a 2-D dataset through the front door; Debian's headless
Chromium, driven by playwright-core (tests/interop/browser/), logs in, browses to each dataset in h5web's
explorer and takes a screenshot. The page is served on its own port and calls the front door directly,
cross-origin, so the function's CORS answers are exercised exactly as a user's browser would. Screenshots
are kept in a temporary directory named in the test's output.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import h5pyd
import numpy as np
import pytest
import requests

from conftest import BIN_DIR, PASSWD, ROOT, Server, admin_setup, free_port

BROWSER_DIR = ROOT / "tests" / "interop" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DOMAIN = "/home/test_user1/h5web.h5"


def need(tool):
    if not (shutil.which(tool) or Path(tool).is_file()):
        pytest.fail(f"{tool} not found: the browser test needs Node.js/npm and Debian's chromium (.ci/install-deps)")


@pytest.fixture(scope="module")
def playwright_dir():
    """tests/interop/browser with its node_modules (npm ci from the lock file, once)."""
    for tool in ("node", "npm", CHROMIUM):
        need(tool)
    installed = BROWSER_DIR / "node_modules" / ".package-lock.json"
    lock = BROWSER_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
    return BROWSER_DIR


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    """``hslambda view DOMAIN`` on free ports: the stack plus the h5web page; yields (server, page URL)."""
    need("npm")
    work = tmp_path_factory.mktemp("view")
    (work / "passwd.txt").write_text(PASSWD)
    port, s3_port, view_port = free_port(), free_port(), free_port()
    log = work / "view.log"
    env = dict(os.environ, HSLAMBDA_CACHE_DIR=str(ROOT / "target" / "hslambda-cache"))
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(BIN_DIR / "hslambda"), "view", DOMAIN, "--port", str(port), "--s3-port", str(s3_port),
         "--view-port", str(view_port), "--data-dir", str(work / "data"), "--users", str(work / "passwd.txt")],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    server = Server("hslambda view", f"http://127.0.0.1:{port}", proc, str(log))
    try:
        url = None
        deadline = time.time() + 900  # a first build runs npm ci (downloads) and vite build
        while url is None:
            if proc.poll() is not None:
                raise RuntimeError(f"hslambda view exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            if time.time() > deadline:
                raise RuntimeError(f"hslambda view printed no URL in 900 s:\n{log.read_text()[-4000:]}")
            m = re.search(r"^h5web: open (\S+)", log.read_text(), re.M)
            url = m and m.group(1)
            time.sleep(0.3)
        server.startup_s = time.monotonic() - t0
        server.built = "building the h5web page" in log.read_text()
        admin_setup(server.endpoint)
        yield server, url
    finally:
        server.stop()


def test_view_serves_the_page_and_its_config(view):
    server, url = view
    assert url.endswith("/?domain=" + DOMAIN), url
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and '<div id="root">' in page.text, page.text[:500]
    config = requests.get(url.split("?")[0] + "config.json", timeout=10).json()
    assert config == {"port": int(server.endpoint.rsplit(":", 1)[1]), "domain": DOMAIN}
    assert requests.get(url.split("?")[0] + "../Cargo.toml", timeout=10).status_code == 404


def test_front_door_answers_a_cors_preflight_as_hsds(view):
    """What the browser asks before its first authenticated request from the page's origin."""
    server, url = view
    origin = url.split("/?")[0]
    r = requests.options(server.url("/"), params={"domain": DOMAIN}, timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers.get("Access-Control-Allow-Origin") in (origin, "*")
    assert "AUTHORIZATION" in r.headers.get("Access-Control-Allow-Headers", "").upper()


def test_h5web_plots_datasets_written_by_h5pyd(view, playwright_dir, capsys):
    server, url = view
    x = np.linspace(0, 20, 500)
    line = np.sin(x) * np.exp(-x / 10)
    yy, xx = np.mgrid[0:120, 0:200]
    image = (np.sin(xx / 12.0) * np.cos(yy / 9.0) + np.exp(-((xx - 140) ** 2 + (yy - 40) ** 2) / 300.0)).astype("f4")
    with h5pyd.File(DOMAIN, "w", endpoint=server.endpoint, username="test_user1", password="test") as f:
        f.create_dataset("line", data=line)
        f.create_dataset("maps/image", data=image, chunks=(40, 50), compression="gzip")
        f["maps/image"].attrs["units"] = "K"

    shots = Path(tempfile.mkdtemp(prefix="hslambda-h5web-shots-"))
    t0 = time.monotonic()
    run = subprocess.run(
        ["node", str(playwright_dir / "h5web-shot.mjs"), url, "test_user1", "test", str(shots),
         "/line=Line", "/maps/image=Heatmap"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, CHROMIUM=CHROMIUM))
    browse_s = time.monotonic() - t0
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"h5web-shot printed no result (exit {run.returncode}):\n{run.stdout}\n{run.stderr[-3000:]}"
    result = json.loads(lines[-1])
    with capsys.disabled():
        print(f"\n  h5web screenshots in {shots}: " + ", ".join(Path(s["file"]).name for s in result["shots"])
              + f" (page {'built' if server.built else 'cached'}, view up in {server.startup_s:.1f} s,"
              f" browsing {browse_s:.1f} s)")
    assert result["error"] is None, f"{result['error']}\n{json.dumps(result, indent=1)[:4000]}"
    assert run.returncode == 0, run.stderr[-3000:]
    assert [(s["path"], s["vis"]) for s in result["shots"]] == [("/line", "Line"), ("/maps/image", "Heatmap")]
    for s in result["shots"]:
        assert s["canvases"] >= 1 and s["svgs"] >= 1 and not s["errors"], s
        assert Path(s["file"]).stat().st_size > 10_000, s["file"]  # a rendered page, not a blank one
    assert not result["failedRequests"] and not result["httpErrors"] and not result["consoleErrors"], result
