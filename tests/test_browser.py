"""A real browser drives bdlearn's widgets in JupyterLab: a slider moves its picture, and the mask
drawer and the editor fit a 1280 px wide window.

JupyterLab serves, on 127.0.0.1, a small notebook that this test writes into a temporary folder:
it loads the toy world, makes a quick edit with its trajectory and shows the trajectory slider,
then shows a mask drawer and an editor built as notebook 07 builds them. Headless Chromium
(Debian's ``/usr/bin/chromium``, driven by the PyPI ``playwright`` package, never
``playwright install``) opens it in a 1280×800 window, runs it through the menus (Run → Run All
Cells) and waits until every cell has run. Then it presses ArrowRight on the trajectory slider and
checks that the picture changes, and checks that every control of the mask drawer and of the
editor (text boxes, dropdowns, sliders, buttons, progress bar, pictures, the canvas) lies inside
the window's width and the notebook's visible area, with JupyterLab's left side panel as it opens
and again with it toggled; a control that sticks out fails the test by name. Screenshots are kept
in ``$BDLEARN_SCREENSHOT_DIR`` (or pytest's temporary folder); their paths are printed. The test runs
twice: with this environment's ipywidgets 8, and with a kernel holding Colab's ipywidgets 7.7.1 shown
by the JupyterLab widget manager that speaks it (jupyterlab_widgets 1.1; JupyterLab 4's own manager
cannot show ipywidgets 7), both from the package index (skipped, saying so, where it is unreachable).

The course notebooks themselves run once in the suite, in tests/test_course.py. A person checking
the course in a real browser can set ``BDLEARN_BROWSER_NOTEBOOKS`` ("04 05", or "all"): each
named notebook is then copied from notebooks/, run through the menus the same way, and the page
must show at least one output line starting with ``claim:`` and none that says ``does not hold``;
the claim lines found are printed.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import CLAIMS_PER_NOTEBOOK, REAL_WORLD_NOTEBOOKS, REPO_ROOT
from tests.runtimes import IPYWIDGETS_7_FRONT_END, IPYWIDGETS_7_KERNEL, make_runtime, pip_install

NOTEBOOKS = REPO_ROOT / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_S = 60
RUN_ALL_S = 480  # the small notebook takes ~15 s on an idle 2-core CPU; generous for a loaded one
COURSE_RUN_S = 1800  # a course notebook takes 0.5-5 min on an idle 2-core CPU, 10x more under load
WINDOW = {"width": 1280, "height": 800}
#: The environment variable naming the course notebooks to open as well ("04 05", "all").
NOTEBOOKS_VARIABLE = "BDLEARN_BROWSER_NOTEBOOKS"

#: JupyterLab user settings: no news pop-up over the notebook, every cell kept in the page.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

#: The small notebook the widget test writes: cell 1 loads, cell 2 edits and shows the trajectory
#: slider, cell 3 the mask drawer, cell 4 the editor (as notebook 07 builds them).
WIDGET_CELLS = [
    "import bdlearn\n"
    "import ipywidgets\n"
    "from bdlearn import edit\n"
    "from bdlearn.notebook import EditorApp, mask_drawer, preset_masks, trajectory_slider\n"
    "from bdlearn.scenes import make_edit_task\n"
    "from bdlearn.worlds import load_toy_world\n"
    "\n"
    "world = load_toy_world()\n"
    "task = make_edit_task(3)\n"
    "print(f\"bdlearn {bdlearn.__version__}, ipywidgets {ipywidgets.__version__}; task: {task.prompt!r}\")",
    "result = edit(task.image, task.mask, task.prompt, world, respacing=\"10\", skip=3, repetitions=2,\n"
    "              num_augmentations=0, seed=0, return_trajectory=True, progress=False)\n"
    "trajectory_slider(result, value=0)  # starts at the noisiest step",
    "presets = {\"the task's box\": task.mask, **preset_masks(world.image_size)}\n"
    "drawer = mask_drawer(task.image, presets)\n"
    "drawer",
    "app = EditorApp(world, task.image, drawer, prompt=task.prompt)\n"
    "app",
]
SLIDER_CELL, DRAWER_CELL, EDITOR_CELL = 1, 2, 3

#: What counts as a control of a widget: ipywidgets' inputs, sliders, dropdowns, buttons, progress
#: bars and pictures, and ipycanvas' canvas.
CONTROLS = ", ".join([".widget-text", ".widget-textarea", ".widget-dropdown", ".widget-select", ".widget-slider",
                      ".widget-button", ".widget-toggle-button", ".widget-checkbox", ".widget-progress",
                      ".widget-image", "canvas"])

#: Bounding boxes of the controls under the element given, each named by its label or text.
_MEASURE_JS = """
([root, selector]) => {
  const scroller = root.closest('.jp-WindowedPanel-outer') || root.closest('.jp-Notebook');
  const visible = scroller.getBoundingClientRect();
  const shown = (el) => el.getClientRects().length > 0;  // not hidden (display: none)
  const controls = [...root.querySelectorAll(selector)].filter(
      (el) => shown(el) && (!el.parentElement.closest(selector) || el.tagName === 'CANVAS'));
  const output = root.getBoundingClientRect();
  return {
    visible_right: visible.left + scroller.clientWidth, output_right: output.left + root.clientWidth,
    controls: controls.map((el) => {
      const box = el.getBoundingClientRect();
      const label = el.querySelector('.widget-label');
      const kind = el.tagName === 'CANVAS' ? 'canvas'
          : ([...el.classList].find((name) => name.startsWith('widget-') && name !== 'widget-inline-hbox')
             || el.className);
      const text = ((label && label.innerText) || el.innerText || el.getAttribute('title') || '').trim();
      return {kind, text: text.split('\\n')[0].slice(0, 60), x: box.x, width: box.width};
    }),
  };
}
"""

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _start_jupyterlab(root: Path, work: Path, kernel: OtherKernel | None) -> tuple[subprocess.Popen, str, str]:
    """JupyterLab on a free port of 127.0.0.1 serving ``root``, its notebooks' kernel and widget front end
    those of ``kernel`` (this environment's when None); returns (process, base URL, token)."""
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
    if kernel is not None:  # JUPYTER_PATH comes first: its kernel and widget manager stand in for this one's
        spec = work / "kernel-path" / "kernels" / "python3" / "kernel.json"
        spec.parent.mkdir(parents=True)
        spec.write_text(json.dumps({"argv": [str(kernel.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                    "display_name": "Python 3", "language": "python"}))
        env["JUPYTER_PATH"] = os.pathsep.join([str(work / "kernel-path"), str(kernel.jupyter_path)])
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


def _all_kernels_idle(base: str, token: str) -> bool:
    """Whether the server runs at least one kernel and every one is idle.

    A kernel that is still starting can make the server answer 500: jupyter_server (2.x) lists it
    before it has set the kernel's ``last_activity``, and ``kernel_model`` fails on the missing
    attribute. That answer means "not idle yet", so it is polled again, not raised.
    """
    try:
        kernels = _get_json(f"{base}/api/kernels?token={token}")
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            return False
        raise
    return bool(kernels) and all(kernel["execution_state"] == "idle" for kernel in kernels)


def _wait_for_kernel(base: str, token: str) -> None:
    """Until the notebook's kernel has started and is idle."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if _all_kernels_idle(base, token):
            return
        time.sleep(0.5)
    raise AssertionError(f"no idle kernel within {SERVER_START_S} s")


def _wait_for_all_cells(page, base: str, token: str, limit_s: float) -> None:
    """Until no cell is queued or running ("[*]"), every code cell has a number and the kernel is idle."""
    deadline = time.monotonic() + limit_s
    idle_polls = 0
    prompts: list[str] = []
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        finished = bool(prompts) and all(text.strip()[1:-2].strip().isdigit() for text in prompts)
        idle_polls = idle_polls + 1 if finished and _all_kernels_idle(base, token) else 0
        if idle_polls >= 2:
            return
        time.sleep(1.0)
    raise AssertionError(f"the notebook did not finish within {limit_s:.0f} s; prompts: {prompts}")


def _need_a_browser():
    """playwright's sync API; skips where Chromium or playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's Chromium (apt-get install chromium); "
                    "CI's .ci/run does")
    return pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@contextmanager
def _notebook_page(sync_api, root: Path, name: str, work: Path, kernel: OtherKernel | None = None):
    """A 1280×800 Chromium page showing ``root/name`` in a fresh JupyterLab whose kernel is idle.

    Whatever happens inside, the browser, the kernels and the server are stopped afterwards.
    """
    process, base, token = _start_jupyterlab(root, work, kernel)
    browser = None
    try:
        with sync_api.sync_playwright() as playwright:
            home = work / "chromium-home"  # Chromium's profile, caches and dconf stay out of the user's home
            browser_env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
                           "XDG_CACHE_HOME": str(home / "cache")}
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=browser_env)
            page = browser.new_page(viewport=WINDOW)
            page.goto(f"{base}/lab/tree/{name}?token={token}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
            _wait_for_kernel(base, token)
            yield page, base, token
            browser.close()
            browser = None
    finally:
        if browser is not None:
            try:
                browser.close()
            except Exception:  # the browser may already be gone; the server must still stop
                pass
        _stop(process, base, token, work / "runtime")


def _run_all(page, base: str, token: str, limit_s: float) -> None:
    """Run → Run All Cells through the menus; wait for the end; no cell may have failed."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    _wait_for_all_cells(page, base, token, limit_s)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, f"a cell failed: {errors.first.inner_text()[:2000]}"


def _write_widget_notebook(path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in WIDGET_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def _cell_output(page, index: int):
    return page.locator(".jp-Notebook .jp-CodeCell").nth(index).locator(".jp-OutputArea-output").first


def _left_panel_open(page) -> bool:
    return bool(page.evaluate("() => { const s = document.querySelector('#jp-left-stack');"
                              " return !!s && s.getBoundingClientRect().width > 0; }"))


def _toggle_left_panel(page) -> None:
    """Close the left side panel if it is open, else open the file browser (its first tab)."""
    was_open = _left_panel_open(page)
    tabs = ".jp-SideBar.jp-mod-left .lm-TabBar-tab"
    page.locator(f"{tabs}.lm-mod-current" if was_open else tabs).first.click()  # the open tab closes its panel
    deadline = time.monotonic() + 10
    while _left_panel_open(page) == was_open and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _left_panel_open(page) != was_open, "the left side panel did not toggle"
    time.sleep(1.0)  # let the notebook and its widgets lay themselves out again


def _content_width(page) -> float:
    """The width of the notebook's visible area (the window less side panels, tab bars and scroll bar)."""
    return float(page.evaluate("() => { const n = document.querySelector('.jp-NotebookPanel-notebook');"
                               " return n.clientWidth; }"))


def _sticking_out(page, name: str, output) -> tuple[list[str], str]:
    """The controls of the widget shown in ``output`` that do not fit; and a line of their widths."""
    measured = page.evaluate(_MEASURE_JS, [output.element_handle(), CONTROLS])
    controls = measured["controls"]
    assert controls, f"no controls of the {name} found in the page"
    visible, area = measured["visible_right"], measured["output_right"]
    edges = [(WINDOW["width"], f"the window's width ({WINDOW['width']} px)"),
             (visible, f"the notebook's visible area (right edge {visible:.0f} px)"),
             (area, f"the cell's output area (right edge {area:.0f} px)")]
    problems = []
    for control in controls:
        right = control["x"] + control["width"]
        beyond = [words for edge, words in edges if right > edge + 0.5]
        if beyond:
            problems.append(f"the {name}'s {control['kind']} {control['text']!r} spans x = {control['x']:.0f}.."
                            f"{right:.0f} px, beyond {' and '.join(beyond)}")

    def span(boxes: list[dict]) -> str:
        left, right = min(box["x"] for box in boxes), max(box["x"] + box["width"] for box in boxes)
        return f"x = {left:.0f}..{right:.0f} px ({right - left:.0f} px wide)"

    inputs = [control for control in controls if control["kind"] != "widget-image"]  # an empty picture is stretched
    summary = (f"{name}: {len(controls)} controls over {span(controls)}, pictures aside over {span(inputs)}; "
               f"output area ends at x = {area:.0f} px")
    return problems, summary


def _screenshot(page, directory: Path, name: str) -> Path:
    shot = directory / name
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    return shot


@dataclass(frozen=True)
class OtherKernel:
    """A kernel from another environment and the JupyterLab widget manager that speaks its ipywidgets."""
    python: Path
    jupyter_path: Path  # holds share/jupyter/labextensions/@jupyter-widgets/jupyterlab-manager


@pytest.fixture(scope="module")
def ipywidgets_7(tmp_path_factory: pytest.TempPathFactory) -> OtherKernel:
    """A kernel like this environment's but with Colab's ipywidgets 7.7.1, and the widget manager ipywidgets 7
    pairs with in JupyterLab (jupyterlab_widgets 1.1, whose front end also runs in JupyterLab 4), both from
    the package index. JupyterLab 4's own manager (jupyterlab_widgets 3) cannot show ipywidgets 7's widgets."""
    where = tmp_path_factory.mktemp("ipywidgets-7")
    runtime = make_runtime(where, hide=r"ipywidgets.*")
    pip_install(runtime, "--no-deps", *IPYWIDGETS_7_KERNEL)
    pip_install(runtime, "--no-deps", "--target", str(where / "front-end"), IPYWIDGETS_7_FRONT_END)
    return OtherKernel(runtime / "bin" / "python", where / "front-end" / "share" / "jupyter")


@pytest.mark.parametrize("ipywidgets_version", ["8", "7.7.1"], ids=["ipywidgets-8", "ipywidgets-7"])
def test_slider_moves_and_widgets_fit_1280_px_in_jupyterlab(ipywidgets_version, request, tmp_path):
    """The same widgets, the kernel with ipywidgets 8 (this environment's) or with 7.7.1 (what Colab ships);
    JupyterLab's widget manager renders both."""
    sync_api = _need_a_browser()
    kernel = None if ipywidgets_version == "8" else request.getfixturevalue("ipywidgets_7")
    screenshots = Path(os.environ.get("BDLEARN_SCREENSHOT_DIR") or tmp_path)
    screenshots.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "notebooks"
    root.mkdir()
    _write_widget_notebook(root / "widgets.ipynb")

    with _notebook_page(sync_api, root, "widgets.ipynb", tmp_path, kernel) as (page, base, token):
        _run_all(page, base, token, RUN_ALL_S)
        first = _cell_output(page, 0).inner_text()
        assert re.search(rf"ipywidgets {re.escape(ipywidgets_version)}\b", first), f"the kernel says: {first}"
        print(f"\n{first.strip()}")

        # the trajectory slider: ArrowRight on its handle changes the picture
        viewer = _cell_output(page, SLIDER_CELL).locator(".widget-vbox").filter(
            has=page.locator(".widget-slider")).filter(has=page.locator("img")).first
        viewer.wait_for(timeout=30_000)
        viewer.scroll_into_view_if_needed()
        slider, image = viewer.locator(".widget-slider").first, viewer.locator("img").first
        image.wait_for(state="visible", timeout=10_000)
        readout = slider.locator(".widget-readout")
        before_value, before_src = readout.inner_text(), image.get_attribute("src")
        before_pixels = image.screenshot()
        handle = slider.locator(".noUi-handle, .ui-slider-handle").first  # ipywidgets 8 and 7 draw it differently
        handle.focus()
        handle.press("ArrowRight")
        deadline = time.monotonic() + 15
        while image.get_attribute("src") == before_src and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.3)  # let the new picture decode before comparing pixels
        after_value, after_src = readout.inner_text(), image.get_attribute("src")
        after_pixels = image.screenshot()
        _screenshot(page, screenshots, f"browser_slider_ipywidgets_{ipywidgets_version}.png")
        assert after_value != before_value, f"the slider did not move (readout {before_value!r})"
        assert after_src != before_src, "the picture's source did not change when the slider moved"
        assert after_pixels != before_pixels, "the picture on screen did not change when the slider moved"

        # the mask drawer and the editor fit the window, with the left side panel as it opens and toggled
        widgets = {"mask drawer": _cell_output(page, DRAWER_CELL), "editor": _cell_output(page, EDITOR_CELL)}
        for output in widgets.values():
            output.locator(".widget-box").first.wait_for(timeout=30_000)
        _cell_output(page, DRAWER_CELL).locator("canvas").first.wait_for(timeout=30_000)
        problems = []
        for state in ("as it opens", "toggled"):
            if state == "toggled":
                _toggle_left_panel(page)
            panel = f"left side panel {'open' if _left_panel_open(page) else 'closed'}"
            print(f"window {WINDOW['width']}x{WINDOW['height']}, {panel}: notebook area "
                  f"{_content_width(page):.0f} px wide")
            for name, output in widgets.items():
                found, summary = _sticking_out(page, name, output)
                print(f"  {summary}")
                problems += [f"{line} ({panel})" for line in found]
            slug = "open" if "open" in panel else "closed"
            page.evaluate("(el) => el.scrollIntoView({block: 'start'})", widgets["mask drawer"].element_handle())
            _screenshot(page, screenshots, f"browser_mask_drawer_panel_{slug}_ipywidgets_{ipywidgets_version}.png")
            page.evaluate("(el) => el.scrollIntoView({block: 'start'})", widgets["editor"].element_handle())
            _screenshot(page, screenshots, f"browser_editor_panel_{slug}_ipywidgets_{ipywidgets_version}.png")
        assert not problems, "controls stick out of a 1280 px window:\n" + "\n".join(problems)


def _requested_notebooks() -> list[str]:
    """The course notebooks ``BDLEARN_BROWSER_NOTEBOOKS`` names ("04 05", "04,05", "all")."""
    words = [word for word in re.split(r"[\s,]+", os.environ.get(NOTEBOOKS_VARIABLE, "")) if word]
    if any(word.lower() == "all" for word in words):
        return [path.name for path in sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))]
    return words


@pytest.mark.parametrize("wanted", _requested_notebooks() or [None])
def test_course_notebook_shows_its_claims_in_jupyterlab(wanted, tmp_path):
    if wanted is None:
        pytest.skip(f"opt-in: set {NOTEBOOKS_VARIABLE} (e.g. '04 05' or 'all') to run course notebooks in a browser")
    matches = sorted(path for path in NOTEBOOKS.glob("*.ipynb")
                     if path.name == wanted or path.stem == wanted or path.name.startswith(f"{wanted}_"))
    assert len(matches) == 1, (f"{NOTEBOOKS_VARIABLE} names {wanted!r}, which matches "
                               f"{[path.name for path in matches] or 'no notebook'} in {NOTEBOOKS}")
    notebook = matches[0]
    sync_api = _need_a_browser()
    root = tmp_path / "notebooks"
    root.mkdir()
    (root / notebook.name).write_bytes(notebook.read_bytes())

    with _notebook_page(sync_api, root, notebook.name, tmp_path) as (page, base, token):
        _run_all(page, base, token, COURSE_RUN_S)
        texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    lines = [line.strip() for text in texts for line in text.splitlines()]
    claims = [line for line in lines if line.startswith("claim:")]
    failing = [line for line in lines if "does not hold" in line]
    print(f"\n{notebook.name}: {len(claims)} claim line(s)")
    for line in claims:
        print(f"  {line}")
    if notebook.name not in REAL_WORLD_NOTEBOOKS:  # 08 claims only on its GPU path, with the real weights
        assert len(claims) == CLAIMS_PER_NOTEBOOK[notebook.name], (
            f"{notebook.name} shows {len(claims)} claim lines, its lesson lists {CLAIMS_PER_NOTEBOOK[notebook.name]}")
    assert not failing, f"{notebook.name} shows claims that do not hold:\n" + "\n".join(failing)
