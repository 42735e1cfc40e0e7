"""Real-browser harness: the FiftyOne App in a helper process, headless Chromium.

- :class:`AppServer` runs ``app_server.py`` (``fo.launch_app`` on 127.0.0.1
  and a free port) with the current FiftyOne environment and stops it, and
  every process it started, by PID.
- :func:`launch_browser` starts Debian's Chromium through Playwright
  (no browser download) with a fresh profile; requests to anything but the
  App's own address are aborted.
- :class:`PanelUI` drives the Data Explorer panel on a page: open a
  dataset, find and click plot points (Plotly needs a hover first), type,
  press keys, click buttons, read the panel's text.

Used by ``tests/browser`` and by ``bench/bench_panel.py``.
"""

import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
PANEL_CONTENT = "[data-cy='panel-content-data_explorer']"
OVERLAY_PREFIXES = ("Queued label", "Queued delete", "Selected (")
HERE = pathlib.Path(__file__).resolve().parent
INSTALL_HINT = (
    "the browser tests need Debian's chromium and the playwright package: "
    "apt-get install -y chromium chromium-driver && "
    ".venv/bin/pip install playwright"
)

_PLOT = f'document.querySelector("{PANEL_CONTENT} .js-plotly-plot")'
_POINTS_JS = """(prefixes) => {
  const gd = PLOT;
  if (!gd || !gd._fullData) return null;
  const base = gd._fullData.filter(t => !prefixes.some(p => t.name.startsWith(p)));
  return base.reduce((n, t) => n + (t.ids ? t.ids.length : 0), 0);
}""".replace("PLOT", _PLOT)

_POINT_XY_JS = """([id, prefixes]) => {
  const gd = PLOT;
  for (const t of gd._fullData) {
    if (prefixes.some(p => t.name.startsWith(p)) || !t.ids) continue;
    const k = t.ids.indexOf(id);
    if (k < 0) continue;
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const box = gd.getBoundingClientRect();
    return [box.left + xa._offset + xa.l2p(t.x[k]),
            box.top + ya._offset + ya.l2p(t.y[k])];
  }
  return null;
}""".replace("PLOT", _PLOT)

_TRACE_IDS_JS = """(prefix) => {
  const gd = PLOT;
  const t = gd && gd._fullData.find(t => t.name.startsWith(prefix));
  return t ? Array.from(t.ids || []) : null;
}""".replace("PLOT", _PLOT)


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """The FiftyOne App serving one dataset, in a helper process.

    Args:
        dataset_name: a persistent dataset of the current FiftyOne database
        log_path: where the helper's output goes
    """

    def __init__(self, dataset_name, log_path):
        self.dataset_name = dataset_name
        self.log_path = pathlib.Path(log_path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = None
        self._tree = []

    def start(self, timeout=180):
        """Starts the helper and waits until the App answers."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self._process = subprocess.Popen(
                [sys.executable, str(HERE / "app_server.py"), self.dataset_name,
                 str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the App helper exited ({self._process.returncode}); "
                    f"see {self.log_path}"
                )
            if self._answers():
                self._remember_tree()
                return self
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"the App did not answer within {timeout} s")

    def _answers(self):
        try:
            with urllib.request.urlopen(self.url, timeout=5) as reply:
                return reply.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _remember_tree(self):
        """The helper and the server processes it started (they can outlive it)."""
        import psutil

        root = psutil.Process(self._process.pid)
        self._tree = [root] + root.children(recursive=True)

    def rss_mb(self):
        """Resident memory of the helper and the server processes, in MB."""
        return sum(p.memory_info().rss for p in self._tree if _alive(p)) / 1e6

    def stop(self):
        """Stops the helper and every process it started, by PID."""
        import psutil

        if self._process is None:
            return
        self._remember_tree_if_alive()
        procs = [p for p in self._tree if _alive(p)]
        for p in reversed(procs):  # children first
            _signal(p, "terminate")
        _, left = psutil.wait_procs(procs, timeout=15)
        for p in left:
            _signal(p, "kill")
        psutil.wait_procs(left, timeout=10)
        self._process = None

    def _remember_tree_if_alive(self):
        import psutil

        try:
            known = {p.pid for p in self._tree}
            root = psutil.Process(self._process.pid)
            self._tree += [
                p for p in [root] + root.children(recursive=True)
                if p.pid not in known
            ]
        except psutil.NoSuchProcess:
            pass


def _alive(process):
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal(process, how):
    import psutil

    try:
        getattr(process, how)()
    except psutil.NoSuchProcess:
        pass


def _timeout_error():
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    return PlaywrightTimeout


def launch_browser(playwright, profile_dir, allowed_url, width=1600, height=1400):
    """Headless Chromium with a fresh profile that reaches only ``allowed_url``."""
    context = playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_FLAGS, viewport={"width": width, "height": height},
    )
    context.route(
        lambda url: not url.startswith(allowed_url), lambda route: route.abort()
    )
    return context


class PanelUI:
    """The Data Explorer panel on a page of the App.

    Args:
        page: a Playwright page
        app_url: the App's address
    """

    def __init__(self, page, app_url):
        self.page = page
        self.app_url = app_url
        self.panel = page.locator(PANEL_CONTENT)
        self._popup_seen = False

    def open(self, dataset_name, n_points, timeout=120_000):
        """Loads the dataset's page and waits until the map has all its points.

        Returns:
            seconds from navigation to the plot drawn with ``n_points`` points
        """
        start = time.perf_counter()
        self.page.goto(f"{self.app_url}/datasets/{dataset_name}")
        self._open_panel_if_closed()
        self.wait_points(n_points, timeout)
        seconds = time.perf_counter() - start
        self.dismiss_popup()
        return seconds

    def _open_panel_if_closed(self):
        """Opens the panel with the App's "+" (new panel) menu if it is not open.

        The App opens the panel itself for the dataset it was launched on;
        another dataset opens with the Samples grid only.
        """
        self.page.locator(
            f"[data-cy='panel-content-Samples'], {PANEL_CONTENT}"
        ).first.wait_for(timeout=60_000)
        try:
            self.panel.wait_for(timeout=3_000)
        except _timeout_error():
            self.open_panel()

    def open_panel(self):
        """Opens the panel from the App's "+" (new panel) menu."""
        self.page.locator("[data-cy='new-panel-btn']").first.click()
        self.page.locator("[data-cy='new-panel-option-data_explorer']").click()
        self.panel.wait_for(timeout=30_000)

    def close_panel(self):
        """Closes the panel's tab."""
        tab = self.page.locator("[data-cy='panel-tab-data_explorer']")
        tab.hover()
        tab.get_by_role("button").last.click()
        self.panel.wait_for(state="detached", timeout=30_000)

    def reload(self, n_points, timeout=120_000):
        """Reloads the page and waits for the map again."""
        self.page.reload()
        self.wait_points(n_points, timeout)
        self.dismiss_popup()

    def dismiss_popup(self):
        """Closes the "Explore Enterprise" pop-up a fresh profile shows once.

        It covers the right side of the panel, where clicks would go to it.
        """
        button = self.page.get_by_role("button", name="Dismiss")
        if self._popup_seen:
            if button.is_visible():
                button.click()
            return
        try:
            button.wait_for(timeout=8_000)
        except _timeout_error():
            return
        button.click()
        self._popup_seen = True

    def wait_points(self, n_points, timeout=60_000):
        """Waits until the map draws exactly ``n_points`` points."""
        self.page.wait_for_function(
            f"(p) => ({_POINTS_JS})(p) === {int(n_points)}",
            arg=list(OVERLAY_PREFIXES), timeout=timeout, polling=200,
        )

    def point_count(self):
        return self.page.evaluate(_POINTS_JS, list(OVERLAY_PREFIXES))

    def trace_ids(self, prefix):
        """The sample ids of the first trace whose name starts with ``prefix``."""
        return self.page.evaluate(_TRACE_IDS_JS, prefix)

    def wait_trace_ids(self, prefix, ids, timeout=30_000):
        """Waits until the trace ``prefix`` holds exactly ``ids`` (any order)."""
        self.page.wait_for_function(
            f"([p, want]) => {{ const got = ({_TRACE_IDS_JS})(p);"
            " return got && got.length === want.length"
            " && want.every(i => got.includes(i)); }",
            arg=[prefix, list(ids)], timeout=timeout, polling=200,
        )

    def point_xy(self, sample_id):
        """The sample's point on the page, in pixels."""
        xy = self.page.evaluate(_POINT_XY_JS, [sample_id, list(OVERLAY_PREFIXES)])
        if xy is None:
            raise AssertionError(f"sample {sample_id} is not on the map")
        return xy

    def hover_point(self, sample_id):
        """Moves the mouse onto the sample's point (Plotly then highlights it)."""
        xy = self.point_xy(sample_id)
        self.page.mouse.move(xy[0] - 3, xy[1] - 3)
        self.page.mouse.move(*xy)
        self.page.wait_for_timeout(200)

    def click_point(self, sample_id, shows, tries=3):
        """Hovers over the sample's point, clicks it, waits for ``shows``.

        Plotly takes a click only on a hovered point, and a click that lands
        while the panel re-renders is lost, so it is retried.
        """
        for attempt in range(tries):
            self.hover_point(sample_id)
            self.page.mouse.click(*self.point_xy(sample_id))
            try:
                return self.wait_text(shows, timeout=10_000)
            except _timeout_error():
                if attempt == tries - 1:
                    raise

    def box_select(self, x0, y0, x1, y1):
        """Drags a box (in plot pixels) with Plotly's box-select tool."""
        self.panel.locator("[data-title='Box Select']").click()
        box = self.panel.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        self.page.mouse.move(box["x"] + x0, box["y"] + y0)
        self.page.mouse.down()
        self.page.mouse.move(box["x"] + x1, box["y"] + y1, steps=8)
        self.page.mouse.up()

    def type_label(self, text):
        """Types into the panel's Label box, then leaves it (keys work again)."""
        box = self.panel.get_by_test_id("data-explorer-label")
        box.fill(text)
        box.blur()

    def press(self, key):
        self.page.keyboard.press(key)

    def button(self, name):
        """A button of the panel whose label starts with ``name``."""
        return self.panel.get_by_role("button", name=name).first

    def click(self, name):
        self.button(name).click()

    def text(self):
        return self.panel.inner_text()

    def wait_text(self, text, timeout=30_000, polling=200):
        """Waits until the panel shows ``text``.

        Raises:
            TimeoutError: (Playwright's) naming the text and what the panel
                showed instead, so a failure in CI explains itself
        """
        try:
            self.page.wait_for_function(
                "([sel, t]) => { const e = document.querySelector(sel);"
                " return !!e && e.innerText.includes(t); }",
                arg=[PANEL_CONTENT, text], timeout=timeout, polling=polling,
            )
        except _timeout_error() as e:
            raise _timeout_error()(
                f"the panel did not show {text!r} within {timeout / 1000:g} s;"
                f" it shows:\n{self.describe()}"
            ) from e

    def wait_image(self, src_part, timeout=30_000):
        """Waits until an image whose src contains ``src_part`` has loaded."""
        self.page.wait_for_function(
            "([sel, part]) => [...document.querySelectorAll(sel + ' img')]"
            ".some(i => i.src.includes(part) && i.complete && i.naturalWidth > 0)",
            arg=[PANEL_CONTENT, src_part], timeout=timeout, polling=100,
        )

    def describe(self):
        """What the page shows, for a failure report: traces and panel text."""
        traces = self.page.evaluate(
            "() => [...document.querySelectorAll('.js-plotly-plot')].map(g =>"
            " (g._fullData || []).map(t => [t.name, (t.ids || t.x || []).length]))"
        )
        text = self.page.evaluate(
            f"() => document.querySelector({PANEL_CONTENT!r})?.innerText ?? null"
        )
        return f"traces: {traces}\n\npanel:\n{text}"

    def screenshot(self, path):
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
