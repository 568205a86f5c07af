"""Real-browser tests, Chromium driven through Playwright: notebook 03 in JupyterLab, a page of
the static site, and JupyterLab started as `make lab` starts it.

What nbval cannot see: that the notebook runs from JupyterLab's "Run all" without an
exception, that the gradient-norm explorer renders in the browser, and that moving its
depth slider round-trips to the kernel and redraws the figure.

JupyterLab runs from this environment on a temporary copy of the notebook, with its own
config, runtime, data, settings and workspace folders (autosave off), so nothing is written
to the repository except the screenshot under ``build/browser/``. The browser is Debian's
``chromium`` (``apt-get install chromium``); Playwright's own browser download is not used.
Without chromium or playwright the test is skipped, except under CI (``CI`` set), where
``.ci/run`` installs chromium and a missing browser is a failure.

Run it alone with ``python -m pytest -m browser -s``; leave it out with ``-m "not browser"``.
"""

import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import NOTEBOOK_DIR, ROOT

NOTEBOOK = "03_vanishing_gradients.ipynb"
EXPLORER_SOURCE = "explorer = gradient_norm_widget()"  # the cell that displays the explorer
SCREENSHOT = ROOT / "build" / "browser" / "03_vanishing_gradients_explorer.png"

SERVER_START_TIMEOUT = 60  # s
RUN_ALL_TIMEOUT = 120  # s, for "Run all" on the whole notebook (~10 s here)
UI_TIMEOUT = 30  # s, for the UI, the kernel start and one redraw
SLIDER_STEPS = 3  # ArrowRight presses; one step each

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--no-default-browser-check",
]

# The Lab front end is reached through window.jupyterapp (--LabApp.expose_app_in_browser).
JS_KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return Boolean(panel && panel.context.isReady && kernel && kernel.status === 'idle');
}"""

# Done: kernel idle, no [*] prompt, and every non-empty code cell has run (or one failed,
# after which "Run all" stops).
JS_ALL_CELLS_DONE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (!kernel || kernel.status !== 'idle') return false;
    for (const prompt of panel.node.querySelectorAll('.jp-InputPrompt')) {
        if (prompt.textContent.includes('*')) return false;
    }
    const cells = panel.content.widgets.filter(cell => cell.model.type === 'code'
        && cell.model.sharedModel.getSource().trim() !== '');
    let failed = false;
    for (const cell of cells) {
        for (let i = 0; i < cell.model.outputs.length; i++) {
            if (cell.model.outputs.get(i).type === 'error') failed = true;
        }
    }
    return failed || cells.every(cell => cell.model.executionCount !== null);
}"""


def _require(module_or_program, found):
    """Skip when something the browser test needs is missing; under CI, fail instead."""
    if found:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{module_or_program} is missing but CI is set: the browser test must run "
                    "in CI, so .ci/run must install chromium (apt-get install chromium) and the "
                    "test extra must provide playwright.", pytrace=False)
    pytest.skip(f"{module_or_program} is missing: install Debian's chromium "
                "(apt-get install chromium) and playwright (pip install -e '.[test]') "
                "to run the browser test")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_json(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def _api(base, token, path, method="GET"):
    request = urllib.request.Request(f"{base}{path}", method=method,
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def _log_tail(log_path, lines=40):
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _start_lab(tmp, port, token, log_file):
    """JupyterLab from this environment, serving tmp/notebooks, isolated in tmp/."""
    notebooks = tmp / "notebooks"
    config, settings = tmp / "config", tmp / "settings"
    # The news toast would cover part of the page (news_url=None alone does not hide it).
    _write_json(config / "labconfig" / "page_config.json",
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    # Never save the copy behind our back; render every cell (no windowing) so that the
    # whole notebook is in the DOM.
    _write_json(settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings",
                {"autosave": False})
    _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                {"windowingMode": "none"})
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"), JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), IPYTHONDIR=str(tmp / "ipython"),
    )
    env.pop("MPLBACKEND", None)  # the kernel must use the inline backend
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebooks}", "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return subprocess.Popen(command, cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_server(server, base, token, log_path):
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{_log_tail(log_path)}")
        try:
            _api(base, token, "/api/status")
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_TIMEOUT} s:\n"
                f"{_log_tail(log_path)}")


def _stop_lab(server, base, token):
    """Shut the kernels down, then the server; kill whatever of it is left."""
    import psutil

    try:
        family = [psutil.Process(server.pid), *psutil.Process(server.pid).children(True)]
    except psutil.NoSuchProcess:
        family = []
    if server.poll() is None:
        try:
            for kernel in _api(base, token, "/api/kernels"):
                _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
            _api(base, token, "/api/shutdown", method="POST")
            server.wait(timeout=15)
        except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
    _, alive = psutil.wait_procs(family, timeout=5)
    for process in alive:  # a kernel that outlived its server
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def _output_texts(output):
    """The text of one nbformat output: stream text, error traceback, or data's text/*."""
    if output.get("output_type") == "stream":
        yield output.get("text", "")
    elif output.get("output_type") == "error":
        yield "\n".join(output.get("traceback", []))
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/"):
            yield "".join(value) if isinstance(value, list) else str(value)


def _assert_no_exceptions(notebook_json, page):
    problems = []
    for index, cell in enumerate(notebook_json["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]).strip()
        head = source.splitlines()[0] if source else ""
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index} ({head!r}) raised "
                                f"{output.get('ename')}: {output.get('evalue')}")
            elif any("Traceback" in text for text in _output_texts(output)):
                problems.append(f"cell {index} ({head!r}) printed a traceback")
        if source and cell.get("execution_count") is None:
            problems.append(f"cell {index} ({head!r}) did not run")
    # The same on the rendered page (stderr and error outputs share this MIME type).
    for text in page.locator('.jp-OutputArea-output[data-mime-type='
                             '"application/vnd.jupyter.stderr"]').all_inner_texts():
        if "Traceback" in text or "Error" in text:
            problems.append(f"an error output on the page: {text[:300]!r}")
    for text in page.locator(".jp-OutputArea-output").all_inner_texts():
        if "Traceback" in text:
            problems.append(f"a traceback on the page: {text[:300]!r}")
    assert not problems, "Run all in JupyterLab:\n" + "\n".join(problems)


def _stable_src(image, timeout=UI_TIMEOUT, quiet=1.0):
    """The image's src once it has not changed for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    src, since = image.get_attribute("src"), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = image.get_attribute("src")
        if now != src:
            src, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return src
    raise AssertionError("the explorer's figure kept changing")


@pytest.mark.browser
def test_notebook_03_runs_in_jupyterlab_and_its_explorer_redraws():
    chromium = shutil.which("chromium")
    _require("chromium (Debian's browser, on PATH)", chromium)
    _require("the Python package playwright", importlib.util.find_spec("playwright"))
    _require("the Python package jupyterlab", importlib.util.find_spec("jupyterlab"))
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="course-browser-"))
    (tmp / "notebooks").mkdir()
    shutil.copy2(NOTEBOOK_DIR / NOTEBOOK, tmp / "notebooks" / NOTEBOOK)
    port, token = _free_port(), secrets.token_hex(24)
    base = f"http://127.0.0.1:{port}"
    log_path = tmp / "jupyterlab.log"
    server = playwright = browser = page = None
    screenshot_taken = False
    try:
        with open(log_path, "wb") as log_file:
            server = _start_lab(tmp, port, token, log_file)
        _wait_for_server(server, base, token, log_path)

        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT * 1000)
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}&reset")
        page.wait_for_function(JS_KERNEL_IDLE, timeout=2 * UI_TIMEOUT * 1000)

        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        page.wait_for_function(JS_ALL_CELLS_DONE, timeout=RUN_ALL_TIMEOUT * 1000, polling=250)
        notebook_json = page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.model.toJSON()")
        _assert_no_exceptions(notebook_json, page)

        # The explorer: the widget in the output of the cell that displays it.
        sources = ["".join(cell["source"]) for cell in notebook_json["cells"]]
        index = next((i for i, source in enumerate(sources) if EXPLORER_SOURCE in source), None)
        assert index is not None, f"no cell with {EXPLORER_SOURCE!r} in {NOTEBOOK}"
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        cell.scroll_into_view_if_needed()
        handle = cell.locator(".widget-slider .noUi-handle").first
        readout = cell.locator(".widget-slider .widget-readout").first
        figure = cell.locator(".widget-output .jp-OutputArea-output img").first
        expect(handle).to_be_visible()
        expect(figure).to_be_visible()
        before_src = _stable_src(figure)
        before_depth = int(readout.inner_text().strip())
        key, change = ("ArrowRight", SLIDER_STEPS) if before_depth + SLIDER_STEPS <= 30 else (
            "ArrowLeft", -SLIDER_STEPS)

        handle.focus()
        for _ in range(SLIDER_STEPS):
            page.keyboard.press(key)
        expect(readout).to_have_text(str(before_depth + change))
        page.wait_for_function(JS_KERNEL_IDLE)
        expect(figure).not_to_have_attribute("src", before_src)
        after_src = _stable_src(figure)
        assert after_src != before_src and after_src.startswith("data:image/png")

        cell.scroll_into_view_if_needed()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        screenshot_taken = True
        print(f"\nscreenshot: {SCREENSHOT} (depth {before_depth} -> {before_depth + change}; "
              f"{time.monotonic() - started:.1f} s)")
    finally:
        if page is not None and not screenshot_taken:
            try:  # what the page looked like when the test failed
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                failure = SCREENSHOT.with_name(SCREENSHOT.stem + "-failure.png")
                page.screenshot(path=str(failure), timeout=5000)
                print(f"\nscreenshot of the failure: {failure}")
            except Exception:  # best effort only: the failure itself is reported
                pass
        if browser is not None:
            browser.close()
        if playwright is not None:
            playwright.stop()
        if server is not None:
            _stop_lab(server, base, token)
        shutil.rmtree(tmp, ignore_errors=True)


# --- the static site: one page of it, as a reader's browser shows it --------------------

SITE_PAGE = "03_vanishing_gradients"
SITE_SCREENSHOT = ROOT / "build" / "browser" / "site_page.png"


def _serve(folder):
    """A local HTTP server for ``folder`` on a free port, in a thread; returns it."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _chromium_or_skip():
    chromium = shutil.which("chromium")
    _require("chromium (Debian's browser, on PATH)", chromium)
    _require("the Python package playwright", importlib.util.find_spec("playwright"))
    return chromium


@pytest.mark.browser
def test_a_site_page_shows_a_figure_a_claim_and_a_collapsed_solution():
    chromium = _chromium_or_skip()
    from playwright.sync_api import expect, sync_playwright

    from course_build import site

    folder, _ = site()
    pages = sorted(path.stem for path in folder.glob("[0-9][0-9]_*.html"))
    stem = SITE_PAGE if SITE_PAGE in pages else pages[-1]
    server = _serve(folder)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.set_default_timeout(UI_TIMEOUT * 1000)
                # Offline like a projector without network: only the local server answers.
                page.route("**/*", lambda route: route.continue_()
                           if route.request.url.startswith(
                               f"http://127.0.0.1:{server.server_port}/") else route.abort())
                page.goto(f"http://127.0.0.1:{server.server_port}/{stem}.html")
                figure = page.locator('.jp-OutputArea-output img[src^="data:image/png"]').first
                figure.scroll_into_view_if_needed()
                expect(figure).to_be_visible()
                assert figure.evaluate("image => image.naturalWidth") > 100
                # The formulas render offline: MathJax ships with the site.
                page.wait_for_function("() => window.MathJax && MathJax.Hub"
                                       " && MathJax.Hub.queue.pending === 0"
                                       " && document.querySelector('.MathJax, .MathJax_Display')")
                assert page.get_by_text("Math Processing Error").count() == 0
                claim_line = page.locator(".jp-OutputArea-output pre",
                                          has_text=re.compile(r"✔ .+ = ")).first
                expect(claim_line).to_be_visible()
                solution = page.locator("details").first
                if solution.count():
                    code = solution.locator("pre").first
                    expect(code).to_be_hidden()  # collapsed until the reader opens it
                    solution.locator("summary").click()
                    expect(code).to_be_visible()
                claim_line.scroll_into_view_if_needed()
                page.evaluate("() => window.scrollBy(0, -250)")
                SITE_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SITE_SCREENSHOT))
                print(f"\nscreenshot of {stem}.html: {SITE_SCREENSHOT}")
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


# --- make lab: the welcome notebook, no news pop-up, the file browser in notebooks/ -------

LAB_SCREENSHOT = ROOT / "build" / "browser" / "lab_welcome.png"
NEWS_QUESTION = "official Jupyter news"


def _make_lab_settings():
    """The welcome URL and the project config folder, as the Makefile's `lab` target has them."""
    makefile = (ROOT / "Makefile").read_text()
    welcome = re.search(r"^WELCOME_URL := (\S+)$", makefile, re.MULTILINE).group(1)
    config = re.search(r"^LAB_CONFIG_PATH := \$\(CURDIR\)/([\w-]+)", makefile,
                       re.MULTILINE).group(1)
    assert "JUPYTER_CONFIG_PATH=\"$(LAB_CONFIG_PATH)\"" in makefile
    return welcome, ROOT / config


@pytest.mark.browser
def test_make_lab_opens_the_welcome_notebook_clean():
    chromium = _chromium_or_skip()
    _require("the Python package jupyterlab", importlib.util.find_spec("jupyterlab"))
    from playwright.sync_api import expect, sync_playwright

    welcome, project_config = _make_lab_settings()
    tmp = Path(tempfile.mkdtemp(prefix="course-lab-"))
    (tmp / "notebooks").mkdir()
    shutil.copy2(ROOT / welcome.removeprefix("/lab/tree/"), tmp / welcome.removeprefix(
        "/lab/tree/"))
    port, token = _free_port(), secrets.token_hex(24)
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    # An empty user configuration (as on a fresh machine) and the project's on the path.
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "user-config"), JUPYTER_CONFIG_PATH=str(
        project_config), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"), JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), IPYTHONDIR=str(tmp / "ipython"))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp}",
               f"--LabApp.default_url={welcome}", "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = tmp / "jupyterlab.log"
    server = None
    try:
        with open(log_path, "wb") as log_file:
            server = subprocess.Popen(command, cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                      stdout=log_file, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        _wait_for_server(server, base, token, log_path)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(2 * UI_TIMEOUT * 1000)
                page.goto(f"{base}/?token={token}")  # what the printed address does
                page.wait_for_url(f"**{welcome}*")
                expect(page.locator(".jp-NotebookPanel").first).to_be_visible()
                expect(page.locator(".jp-BreadCrumbs")).to_contain_text("notebooks")
                expect(page.locator(".jp-DirListing-item").first).to_contain_text(
                    "00_welcome")
                time.sleep(3)  # the pop-up would come right after start-up
                assert page.get_by_text(NEWS_QUESTION).count() == 0, "the news pop-up shows"
                config = json.loads(page.locator("#jupyter-config-data").inner_text())
                assert "@jupyterlab/apputils-extension:announcements" in config[
                    "disabledExtensions"]
                LAB_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(LAB_SCREENSHOT))
                print(f"\nscreenshot of make lab: {LAB_SCREENSHOT}")
            finally:
                browser.close()
    finally:
        if server is not None:
            _stop_lab(server, base, token)
        shutil.rmtree(tmp, ignore_errors=True)
