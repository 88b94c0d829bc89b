"""A real browser runs a course notebook in JupyterLab and moves one of its sliders.

JupyterLab serves a temporary copy of notebook 05 on 127.0.0.1; headless Chromium (Debian's
``/usr/bin/chromium``, driven by the PyPI ``playwright`` package, never ``playwright install``)
opens it, runs it through the menus (Run → Run All Cells), waits until every cell has run, then
presses ArrowRight on the trajectory slider and checks that the picture changes. A screenshot is
kept in ``$BDLEARN_SCREENSHOT_DIR`` (or pytest's temporary folder); its path is printed.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO_ROOT / "notebooks" / "05_blended_diffusion.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_S = 60
RUN_ALL_S = 480  # the notebook takes ~60 s on an idle 2-core CPU; generous for a loaded one

#: JupyterLab user settings: no news pop-up over the notebook, every cell kept in the page.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _start_jupyterlab(root: Path, work: Path) -> tuple[subprocess.Popen, str, str]:
    """JupyterLab on a free port of 127.0.0.1 serving ``root``; returns (process, base URL, token)."""
    settings = work / "user-settings"
    for name, values in USER_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # let the kernel show figures inline, as for a learner
    for name, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                      ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")):
        env[name] = str(work / sub)
    env.setdefault("HF_HUB_OFFLINE", "1")
    log = open(work / "jupyterlab.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
         f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={work / 'workspaces'}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}; see {work / 'jupyterlab.log'}")
        try:
            _get_json(f"{base}/api/status?token={token}")
            return process, base, token
        except OSError:
            time.sleep(0.5)
    _stop(process, None, None, work / "runtime")
    raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_S} s; see {work / 'jupyterlab.log'}")


def _stop(process: subprocess.Popen, base: str | None, token: str | None, runtime: Path) -> None:
    """Stop the kernels and the server, whatever state they are in.

    The kernels are asked to shut down through the server; the server's process group (it was
    started in a new session) gets SIGTERM, then SIGKILL; last, any kernel still running from this
    test's runtime folder (its connection file lives there) is killed by its PID.
    """
    if base is not None and process.poll() is None:
        try:
            for kernel in _get_json(f"{base}/api/kernels?token={token}"):
                request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
                urllib.request.urlopen(request, timeout=10).close()
        except OSError:
            pass
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        except ProcessLookupError:
            pass
    for pid in _pids_mentioning(str(runtime)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pids_mentioning(text: str) -> list[int]:
    """PIDs of processes whose command line contains ``text`` (Linux /proc; empty elsewhere)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if text in entry.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in pids if pid != os.getpid()]


def _wait_for_kernel(base: str, token: str) -> None:
    """Until the notebook's kernel has started and is idle."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        kernels = _get_json(f"{base}/api/kernels?token={token}")
        if kernels and all(kernel["execution_state"] == "idle" for kernel in kernels):
            return
        time.sleep(0.5)
    raise AssertionError(f"no idle kernel within {SERVER_START_S} s")


def _wait_for_all_cells(page, base: str, token: str) -> None:
    """Until no cell is queued or running ("[*]"), every code cell has a number and the kernel is idle."""
    deadline = time.monotonic() + RUN_ALL_S
    idle_polls = 0
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        finished = bool(prompts) and all(text.strip()[1:-2].strip().isdigit() for text in prompts)
        kernels = _get_json(f"{base}/api/kernels?token={token}")
        idle = bool(kernels) and all(kernel["execution_state"] == "idle" for kernel in kernels)
        idle_polls = idle_polls + 1 if finished and idle else 0
        if idle_polls >= 2:
            return
        time.sleep(1.0)
    raise AssertionError(f"the notebook did not finish within {RUN_ALL_S} s; prompts: {prompts}")


def test_slider_changes_the_picture_in_jupyterlab(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's Chromium (apt-get install chromium); "
                    "CI's .ci/run does")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    screenshots = Path(os.environ.get("BDLEARN_SCREENSHOT_DIR") or tmp_path)
    screenshots.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)

    process, base, token = _start_jupyterlab(root, tmp_path)
    browser = None
    try:
        with sync_api.sync_playwright() as playwright:
            home = tmp_path / "chromium-home"  # Chromium's profile, caches and dconf stay out of the user's home
            browser_env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
                           "XDG_CACHE_HOME": str(home / "cache")}
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=browser_env)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
            _wait_for_kernel(base, token)

            # Run → Run All Cells, through the menus
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            _wait_for_all_cells(page, base, token)
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, f"a cell failed: {errors.first.inner_text()[:2000]}"

            viewer = (page.locator(".jp-OutputArea-output .widget-vbox")
                      .filter(has=page.locator(".widget-slider")).filter(has=page.locator("img")).first)
            viewer.wait_for(timeout=30_000)
            viewer.scroll_into_view_if_needed()
            slider, image = viewer.locator(".widget-slider").first, viewer.locator("img").first
            image.wait_for(state="visible", timeout=10_000)
            readout = slider.locator(".widget-readout")
            before_value, before_src = readout.inner_text(), image.get_attribute("src")
            before_pixels = image.screenshot()

            handle = slider.locator(".noUi-handle").first
            handle.focus()
            handle.press("ArrowRight")
            deadline = time.monotonic() + 15
            while image.get_attribute("src") == before_src and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.3)  # let the new picture decode before comparing pixels
            after_value, after_src = readout.inner_text(), image.get_attribute("src")
            after_pixels = image.screenshot()

            shot = screenshots / "browser_05_slider.png"
            page.screenshot(path=str(shot))
            print(f"\nscreenshot: {shot}")
            assert after_value != before_value, f"the slider did not move (readout {before_value!r})"
            assert after_src != before_src, "the picture's source did not change when the slider moved"
            assert after_pixels != before_pixels, "the picture on screen did not change when the slider moved"
            browser.close()
            browser = None
    finally:
        if browser is not None:
            try:
                browser.close()
            except Exception:  # the browser may already be gone; the server must still stop
                pass
        _stop(process, base, token, tmp_path / "runtime")
