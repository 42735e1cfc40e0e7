"""Speed of the Data Explorer panel in the real App, at 10,000 and 100,000 points.

    .venv/bin/python bench/bench_panel.py --quick     # 1,000 and 10,000: ~2 min
    .venv/bin/python bench/bench_panel.py             # 10,000 and 100,000: ~5 min
    .venv/bin/python bench/bench_panel.py --sizes 50000

For each size it makes a dataset of that many image samples (symlinks to a
pool of small PNGs, 10 classes, a third unlabeled) with a plain brain
visualization of Gaussian clusters, then measures:

1. ``on_load (Python)``: the panel's ``on_load`` through ``execute_operator``
   (load the map, build every trace), and the JSON size of the traces;
2. ``open -> plot``: in headless Chromium (``tests/browser/harness.py``),
   from navigating to the dataset to the plot holding every point; this
   includes the App's own page load, which the smallest size shows;
3. ``click -> preview``: from the click on a point (the mouse button going
   down, the point already hovered) to that sample's image loaded in the
   panel, timed inside the page (median of 3 clicks); ``of which App
   answer`` is the ``sample_card`` request, from sending it to its last
   byte;
4. ``l -> queued``: pressing ``l`` with a typed label on the clicked
   (labeled) sample until the panel shows the queued change; this goes
   through the panel, so the App renders the panel and every point again;
5. ``box select``: dragging a box over about half the points until the
   panel says how many samples it selected in the grid.

It uses its own FiftyOne database (a private ``mongod`` on 127.0.0.1), App
and browser, and stops them all when it ends.
"""

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "browser"))
sys.path.insert(0, str(REPO))

import _common as C

from fiftyone_plugin.private_db import PrivateDatabase

PANEL_URI = "@data-explorer/data-explorer/data_explorer"
POOL = 64
STEP_TIMEOUT_S = 300


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1,000 and 10,000 points")
    p.add_argument("--sizes", type=int, nargs="*", help="numbers of points")
    p.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    C.set_threads(args.threads)
    sizes = args.sizes or ([1_000, 10_000] if args.quick else [10_000, 100_000])
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-panel-"))
    database = _isolate(work)
    try:
        _warm_up(work)
        rows = [_measure(n, work) for n in sizes]
    finally:
        database.stop()
        shutil.rmtree(work, ignore_errors=True)
    C.print_table(
        ["points", "on_load (Python) s", "traces MB", "open -> plot s",
         "click -> preview s", "of which App answer s", "l -> queued s",
         "box select s", "points selected", "App RSS MB"],
        rows, title="Data Explorer panel (headless Chromium, this machine)",
    )
    C.log("\n### Panel: growth with N (t = a N^b fitted to the measured sizes)\n")
    ns = [row[0] for row in rows]
    for column, name in ((1, "on_load (Python)"), (3, "open -> plot"),
                         (4, "click -> preview"), (6, "l -> queued"),
                         (7, "box select")):
        C.log("- " + C.growth_line(name, ns, [row[column] for row in rows]))
    return 0


def _isolate(work):
    """Own database (a private mongod), config and plugins folder for this run."""
    (work / "plugins").mkdir()
    (work / "plugins" / "data-explorer").symlink_to(REPO)
    os.environ.update(
        FIFTYONE_DEFAULT_DATASET_DIR=str(work / "datasets"),
        FIFTYONE_PLUGINS_DIR=str(work / "plugins"),
        FIFTYONE_CONFIG_PATH=str(work / "config.json"),
        FIFTYONE_APP_CONFIG_PATH=str(work / "app_config.json"),
        FIFTYONE_DO_NOT_TRACK="true",
        FIFTYONE_DATABASE_VALIDATION="false",
    )
    # a FiftyOne process would otherwise attach to any database service
    # already running on the machine, whatever its database folder
    return PrivateDatabase(work / "db").start()


def _warm_up(work):
    """The panel's first call in a process pays for imports: made on a small
    dataset of its own (the panel caches a map per dataset and run)."""
    (work / "warm-up").mkdir()
    dataset = _make_dataset(100, work / "warm-up")
    try:
        _python_on_load(dataset)
    finally:
        dataset.delete()


def _measure(n, work):
    C.log(f"{n} points: making the dataset")
    dataset = _make_dataset(n, work)
    try:
        on_load_s, megabytes = _python_on_load(dataset)
        C.log(f"{n} points: on_load {on_load_s:.2f} s, {megabytes:.1f} MB of traces")
        browser = _browser_figures(dataset, n, work)
    finally:
        dataset.delete()
    return [n, on_load_s, megabytes, *browser]


def _make_dataset(n, work):
    import fiftyone as fo
    import fiftyone.brain as fob
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    pool = work / f"pool-{n}"
    pool.mkdir()
    sources = []
    for k in range(POOL):
        path = pool / f"src{k:02d}.png"
        Image.fromarray(
            rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)
        ).save(path)
        sources.append(path)
    files = work / f"files-{n}"
    files.mkdir()
    centers = rng.normal(scale=30, size=(10, 2))
    classes = rng.integers(0, 10, size=n)
    points = centers[classes] + rng.normal(scale=3, size=(n, 2))
    samples = []
    for i in range(n):
        path = files / f"item{i:06d}.png"
        path.symlink_to(sources[i % POOL])
        sample = fo.Sample(filepath=str(path))
        if i % 3:
            sample["ground_truth"] = fo.Classification(label=f"class{classes[i]}")
        samples.append(sample)
    dataset = fo.Dataset(f"bench-panel-{n}", persistent=True, overwrite=True)
    dataset.add_samples(samples, progress=False)
    fob.compute_visualization(dataset, points=points, brain_key="viz")
    return dataset


def _python_on_load(dataset):
    """Seconds of the panel's on_load and the size of the traces it sends."""
    import fiftyone.operators as foo

    start = time.perf_counter()
    result = foo.execute_operator(PANEL_URI, ctx={
        "dataset": dataset,
        "params": {"__method__": "on_load", "panel_id": "bench", "panel_state": {}},
    })
    seconds = time.perf_counter() - start
    sizes = [
        len(json.dumps(r.params.get("data", {}).get("map", [])))
        for r in result.executor._requests
        if r.operator_uri == "patch_panel_data"
    ]
    return seconds, max(sizes) / 1e6


def _browser_figures(dataset, n, work):
    """open -> plot, click -> preview, box select, App RSS."""
    import harness
    from playwright.sync_api import sync_playwright

    server = harness.AppServer(dataset.name, work / f"app-{n}.log").start()
    try:
        with sync_playwright() as playwright:
            context = harness.launch_browser(
                playwright, work / f"chromium-{n}", server.url
            )
            page = context.new_page()
            page.set_default_timeout(STEP_TIMEOUT_S * 1000)
            ui = harness.PanelUI(page, server.url)
            open_s = ui.open(dataset.name, n, timeout=STEP_TIMEOUT_S * 1000)
            C.log(f"{n} points: open -> plot {open_s:.1f} s")
            clicks = [_click_to_preview(ui, dataset, i) for i in _outermost(dataset)]
            click_s = C.median([total for total, _ in clicks])
            server_s = C.median([server for _, server in clicks])
            C.log(f"{n} points: click -> preview {click_s:.3f} s "
                  f"(App's answer {server_s:.3f} s)")
            queue_s = _label_key(ui)
            C.log(f"{n} points: l -> queued {queue_s:.2f} s")
            select = _box_select(ui)
            rss = server.rss_mb()
            context.close()
    finally:
        server.stop()
    return [open_s, click_s, server_s, queue_s, *select, rss]


def _outermost(dataset):
    """Three samples at the map's edges: no other point hides them."""
    results = dataset.load_brain_results("viz")
    xy, ids = results.points, results.sample_ids
    return [ids[xy[:, 0].argmax()], ids[xy[:, 0].argmin()], ids[xy[:, 1].argmax()]]


# in the page: the time of the first mouse button press, and of the load of
# the first image whose address holds the file name
_ARM_TIMER_JS = """(name) => {
  const t = window.__benchClick = {t0: null, t1: null};
  t.down = () => { if (t.t0 === null) t.t0 = performance.now(); };
  t.load = (e) => {
    const img = e.target;
    if (t.t0 !== null && t.t1 === null && img.tagName === 'IMG'
        && img.src.includes(name)) t.t1 = performance.now();
  };
  document.addEventListener('mousedown', t.down, true);
  document.addEventListener('load', t.load, true);
}"""
_READ_TIMER_JS = """() => {
  const t = window.__benchClick;
  document.removeEventListener('mousedown', t.down, true);
  document.removeEventListener('load', t.load, true);
  return (t.t1 - t.t0) / 1000;
}"""


def _click_to_preview(ui, dataset, sample_id):
    """Seconds from the click (the point already hovered) to the image shown.

    Returns:
        (total, server): ``server`` is the App's answer (the ``sample_card``
        request); the rest is the browser
    """
    name = os.path.basename(dataset[sample_id].filepath)
    calls = []

    def finished(request):
        if "sample_card" in (request.post_data or ""):
            calls.append(request.timing)

    ui.page.on("requestfinished", finished)
    try:
        # the first hover of a fresh page is slow: hover, then arm the timer
        ui.hover_point(sample_id)
        ui.page.evaluate(_ARM_TIMER_JS, name)
        ui.click_point(sample_id, shows=f"{name} (")
        ui.wait_image(name, timeout=STEP_TIMEOUT_S * 1000)
        total = ui.page.evaluate(_READ_TIMER_JS)
    finally:
        ui.page.remove_listener("requestfinished", finished)
    server = calls[-1]["responseEnd"] / 1000 if calls else float("nan")
    return total, server


def _label_key(ui):
    """Seconds from pressing ``l`` to the queued change shown in the panel."""
    ui.type_label("benchmark")
    start = time.perf_counter()
    ui.press("l")
    ui.wait_text("Queue: 1 sample with pending changes", timeout=STEP_TIMEOUT_S * 1000,
                 polling=20)
    seconds = time.perf_counter() - start
    ui.click("Discard")
    ui.wait_text("Queue: empty", timeout=STEP_TIMEOUT_S * 1000)
    return seconds


def _box_select(ui):
    """Seconds to select the left half of the plot, and how many it took."""
    import harness

    box = ui.panel.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    start = time.perf_counter()
    ui.box_select(2, 2, box["width"] / 2, box["height"] - 2)
    ui.page.wait_for_function(
        "(sel) => /([0-9]+) samples selected on the map/.test("
        "document.querySelector(sel).innerText)",
        arg=harness.PANEL_CONTENT, timeout=STEP_TIMEOUT_S * 1000,
    )
    seconds = time.perf_counter() - start
    text = ui.text()
    count = text.split(" samples selected on the map")[0].rsplit(maxsplit=1)[-1]
    return seconds, int(count.replace(",", ""))


if __name__ == "__main__":
    sys.exit(main())
