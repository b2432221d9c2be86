"""The course in a real browser: JupyterLab on localhost, notebook 06 run top to bottom in headless
Chromium (Debian's package, driven by Playwright), then a latent slider moved.

Skips, saying why, only when Chromium or Playwright is missing (.ci/run installs both).
The screenshot goes to $CHAPTER11_SCREENSHOTS (default: the test's temporary folder).
"""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "06_conditional_dcgan.ipynb"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)"),
    pytest.mark.skipif(not (ROOT / "notebooks" / NOTEBOOK).is_file(), reason=f"notebooks/{NOTEBOOK} not written yet"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_server(tmp_path):
    """JupyterLab serving a copy of notebooks/ on a free localhost port, in fast mode."""
    work = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", work)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "CHAPTER11_FAST": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--ServerApp.open_browser=False", "--allow-root"]  # CI runs as root
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-2000:])
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_notebook_06_runs_and_its_latent_slider_changes_the_image(lab_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    url, token = lab_server
    shots = Path(os.environ.get("CHAPTER11_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}", timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel", timeout=120_000)
        # "idle" shows before a kernel exists; wait until the status bar names the started kernel, or
        # "Run All" opens a kernel-selection dialog instead of running anything.
        page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=180_000)
        page.get_by_role("menuitem", name="Run").first.click()
        page.get_by_text("Run All Cells", exact=True).click()
        # The explorer is the last widget: its first direction slider appears once all cells ran.
        slider = page.locator(".widget-slider", has_text="dir 1").first
        slider.wait_for(timeout=420_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=420_000)
        assert page.get_by_text("Error displaying widget").count() == 0
        explorer = page.locator(".widget-hbox", has=slider).last
        image = explorer.locator("img").last
        before = image.get_attribute("src")
        handle = slider.locator(".noUi-handle, .ui-slider-handle").first
        handle.click()
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        deadline = time.time() + 30
        while image.get_attribute("src") == before and time.time() < deadline:
            time.sleep(0.25)
        page.screenshot(path=str(shots / "notebook06_latent_explorer.png"), full_page=False)
        after = image.get_attribute("src")
        browser.close()
    assert before and after and after != before, "moving the latent slider did not change the image"
