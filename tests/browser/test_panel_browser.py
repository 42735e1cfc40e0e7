"""The Data Explorer panel in the real App, in headless Chromium.

One App for the whole module, on three datasets made here: 24 images with a
data explorer run (two groups, a few labeled), 6 audio clips and 5 sensor
recordings with plain brain visualizations. Every check of the dataset is
made from Python, against the database the App writes to.

Pins, in the browser: the panel opens with every point; a click shows that
sample's image, audio preview and player, or sensor axes, and asks only the
``sample_card`` operator (no panel render); ``l`` with a typed label queues,
and Save writes it; assisted labeling queues and saves exactly the library's
proposal; ``d`` then Save deletes and Restore brings the sample back; a page
reload keeps an unsaved queue and the clicked sample; Discard leaves the
database untouched; a box selection on the map selects the samples in the
App's grid.
"""

import uuid

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N_IMAGES = 24


def _images(tmp, rng):
    """Two groups of 12 similar images; every 4th one labeled."""
    import fiftyone as fo
    from PIL import Image

    from fiftyone_plugin.explorer import compute_data_explorer

    dataset = fo.Dataset(f"browser-images-{uuid.uuid4().hex[:8]}", persistent=True)
    samples = []
    for k in range(N_IMAGES):
        pixels = rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
        pixels[1::2, 1::2] = 20 + k if k < 12 else 230 - k
        path = tmp / f"g{k:02d}.png"
        Image.fromarray(pixels).save(path)
        sample = fo.Sample(filepath=str(path))
        if k % 4 == 0:
            label = "dark" if k < 12 else "light"
            sample["ground_truth"] = fo.Classification(label=label)
        samples.append(sample)
    dataset.add_samples(samples)
    compute_data_explorer(
        dataset, brain_key="explorer", method="pca",
        block_params={"width": 8, "height": 8},
    )
    return dataset


def _audio(tmp):
    import fiftyone as fo
    import soundfile as sf

    from fiftyone_plugin.importing import import_samples

    folder = tmp / "tones"
    folder.mkdir()
    t = np.arange(16000) / 16000
    for k in range(6):
        wave = 0.3 * np.sin(2 * np.pi * (300 + 60 * k) * t)
        sf.write(folder / f"tone{k}.wav", wave, 16000)
    dataset = fo.Dataset(f"browser-audio-{uuid.uuid4().hex[:8]}", persistent=True)
    import_samples(dataset, str(folder), labels="none")
    _plain_map(dataset)
    return dataset


def _sensor(tmp):
    import fiftyone as fo

    from fiftyone_plugin.importing import import_samples

    folder = tmp / "walks"
    folder.mkdir()
    for k in range(5):
        rows = ["timestamp,accX,accY,accZ"] + [
            f"{10 * i},{np.sin(i / 5 + k):.4f},{np.cos(i / 7):.4f},{i % 3}"
            for i in range(100)
        ]
        (folder / f"walk{k}.csv").write_text("\n".join(rows) + "\n")
    dataset = fo.Dataset(f"browser-sensor-{uuid.uuid4().hex[:8]}", persistent=True)
    import_samples(dataset, str(folder), labels="none")
    _plain_map(dataset)
    return dataset


def _plain_map(dataset):
    import fiftyone.brain as fob

    points = np.random.default_rng(1).normal(size=(len(dataset), 2))
    fob.compute_visualization(dataset, points=points, brain_key="viz")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    rng = np.random.default_rng(0)
    tmp = tmp_path_factory.mktemp("browser-data")
    datasets = {
        "images": _images(tmp, rng), "audio": _audio(tmp), "sensor": _sensor(tmp),
    }
    yield datasets
    for dataset in datasets.values():
        _delete_with_companion(dataset)


def _delete_with_companion(dataset):
    from fiftyone_plugin.labels import deleted_dataset

    companion = deleted_dataset(dataset)
    if companion is not None:
        companion.delete()
    dataset.delete()


@pytest.fixture(scope="module")
def served_datasets(made):
    return [made["images"].name, made["audio"].name, made["sensor"].name]


@pytest.fixture
def images(made):
    """The image dataset, with an empty edit queue."""
    from fiftyone_plugin.edits import EditQueue

    dataset = made["images"]
    EditQueue.for_run(dataset, "explorer").discard()
    return dataset


def _name(dataset, sample_id):
    """What the panel shows first about a clicked sample: its file and kind."""
    path = dataset.select([sample_id]).values("filepath")[0]
    return path.rsplit("/", 1)[-1] + " ("


def _label(dataset, sample_id):
    labels = dataset.select([sample_id]).values("ground_truth.label")
    return labels[0] if labels else None


def _labels(dataset):
    return dict(zip(*dataset.values(["id", "ground_truth.label"])))


def test_the_panel_opens_with_every_point(ui, images):
    seconds = ui.open(images.name, N_IMAGES)

    text = ui.text()
    assert f"{N_IMAGES} points drawn" in text
    assert "Unlabeled (18)" in text and "dark (3)" in text and "light (3)" in text
    assert seconds < 120


def test_a_click_shows_that_samples_image(ui, images):
    sample = images.match({"ground_truth.label": "light"}).first()
    ui.open(images.name, N_IMAGES)

    ui.click_point(sample.id, shows=sample.filepath.rsplit("/", 1)[-1] + " (image)")
    ui.wait_image(sample.filepath.rsplit("/", 1)[-1])
    assert "label: light" in ui.text()


def test_l_then_save_writes_the_label(ui, images):
    sample_id = images.match({"ground_truth.label": "light"}).first().id
    ui.open(images.name, N_IMAGES)

    ui.type_label("bright")
    ui.click_point(sample_id, shows=_name(images, sample_id))
    ui.wait_text("label: light")
    ui.press("l")
    ui.wait_text("Queue: 1 sample with pending changes")
    assert _label(images, sample_id) == "light"

    ui.click("Save labels")
    ui.wait_text("saved: 1 labels, 0 deletions")
    assert _label(images, sample_id) == "bright"
    ui.wait_text("bright (1)")


def test_assisted_labeling_queues_and_saves_the_proposal_only(ui, images):
    from fiftyone_plugin import assist

    clicked = images.exists("ground_truth", False).first().id
    proposal = [i for i, _ in assist.propose(images, "explorer", clicked, "dark")]
    assert len(proposal) > 1, "the test data should give the click neighbours"
    before = _labels(images)
    ui.open(images.name, N_IMAGES)

    ui.type_label("dark")
    ui.click_point(clicked, shows=_name(images, clicked))
    ui.wait_text("label: unlabeled")
    ui.press("l")
    ui.wait_trace_ids("Queued label", proposal)
    ui.wait_text(f"Queue: {len(proposal)} samples with pending changes")
    assert _labels(images) == before

    ui.click("Save labels")
    ui.wait_text(f"saved: {len(proposal)} labels")
    after = _labels(images)
    changed = {i for i in after if after[i] != before[i]}
    assert changed == set(proposal)
    assert all(after[i] == "dark" for i in proposal)


def test_d_then_save_deletes_and_restore_brings_it_back(ui, images):
    sample_id = images.exists("ground_truth", False).last().id
    ui.open(images.name, N_IMAGES)

    ui.click_point(sample_id, shows=_name(images, sample_id))
    ui.wait_text("label: unlabeled")
    ui.press("d")
    ui.wait_text("Queue: 1 sample with pending changes")
    assert sample_id in images.values("id")

    ui.click("Save labels")
    ui.wait_text("saved: 0 labels, 1 deletions")
    ui.wait_points(N_IMAGES - 1)
    assert sample_id not in images.values("id")
    ui.wait_text("The clicked sample is not in the dataset any more")

    ui.click("Restore deleted (1)")
    ui.wait_points(N_IMAGES)
    assert sample_id in images.values("id")


def test_a_reload_and_reopening_the_panel_keep_the_unsaved_queue(ui, images):
    sample_id = images.exists("ground_truth", False).first().id
    ui.open(images.name, N_IMAGES)
    ui.type_label("kept")
    ui.click_point(sample_id, shows=_name(images, sample_id))
    ui.wait_text("label: unlabeled")
    ui.click("Set label")
    ui.wait_text("with pending changes")
    queued = ui.trace_ids("Queued label")
    pending = f"Queue: {len(queued)} sample"

    ui.reload(N_IMAGES)
    ui.wait_text(pending)
    ui.wait_trace_ids("Queued label", queued)
    ui.wait_text(_name(images, sample_id))  # the clicked sample is kept too
    ui.wait_text("queued: label → kept (not saved yet)")

    ui.close_panel()
    ui.open_panel()
    ui.wait_points(N_IMAGES)
    ui.wait_text(pending)
    ui.wait_trace_ids("Queued label", queued)
    assert _label(images, sample_id) is None


def test_a_click_asks_for_the_card_alone_and_never_renders_the_panel(ui, images):
    """A click through the panel would make the App copy and redraw every
    point; the component asks the ``sample_card`` operator instead."""
    import json

    first, second = images.match({"ground_truth.label": "dark"}).values("id")[:2]
    calls = []

    def record(request):
        if "/operators/execute" in request.url and request.post_data:
            body = json.loads(request.post_data)
            calls.append((body.get("operator_uri"),
                          (body.get("params") or {}).get("sample_id")))

    ui.open(images.name, N_IMAGES)
    ui.page.on("request", record)
    try:
        ui.click_point(first, shows=_name(images, first))
        ui.click_point(second, shows=_name(images, second))
        ui.wait_text("label: dark")
    finally:
        ui.page.remove_listener("request", record)
    card = "@data-explorer/data-explorer/sample_card"
    assert calls and all(uri == card for uri, _ in calls), calls
    assert [i for _, i in calls][-1] == second
    assert _name(images, first) not in ui.text()


def test_a_long_label_wraps_inside_the_panel(ui, images):
    sample_id = images.match({"ground_truth.label": "dark"}).first().id
    ui.open(images.name, N_IMAGES)
    long_label = "x" * 400

    ui.type_label(long_label)
    ui.click_point(sample_id, shows=_name(images, sample_id))
    ui.press("l")
    ui.wait_text("queued: label → xxxx")
    overflow = ui.page.evaluate(
        "(sel) => { const p = document.querySelector(sel);"
        " const c = p.querySelector('[data-testid=data-explorer-controls]');"
        " return c.getBoundingClientRect().right - p.getBoundingClientRect().right; }",
        "[data-cy='panel-content-data_explorer']",
    )
    assert overflow <= 1, f"the card sticks out of the panel by {overflow} px"
    ui.click("Discard")
    ui.wait_text("Queue: empty")


def test_discard_leaves_the_database_untouched(ui, images):
    first, second = images.match({"ground_truth.label": "dark"}).values("id")[:2]
    before = _labels(images)
    ui.open(images.name, N_IMAGES)
    ui.type_label("thrown away")
    ui.click_point(first, shows=_name(images, first))
    ui.wait_text("label: dark")
    ui.press("l")
    ui.wait_text("Queue: 1 sample with pending changes")
    ui.click_point(second, shows=_name(images, second))
    ui.press("d")
    ui.wait_text("Queue: 2 samples with pending changes")

    ui.click("Discard")
    ui.wait_text("Queue: empty")
    assert _labels(images) == before and len(images) == N_IMAGES


def test_requests_carry_a_small_panel_state(ui, images):
    import json

    sample_id = images.match({"ground_truth.label": "dark"}).first().id
    states = []

    def record(request):
        if "/operators/execute" in request.url and request.post_data:
            params = json.loads(request.post_data).get("params") or {}
            if "panel_state" in params:
                states.append(params["panel_state"])

    ui.open(images.name, N_IMAGES)
    ui.page.on("request", record)
    try:
        ui.type_label("small")
        ui.click_point(sample_id, shows=_name(images, sample_id))
        ui.press("l")
        ui.wait_text("Queue: 1 sample with pending changes")
        ui.click("Discard")
        ui.wait_text("Queue: empty")
    finally:
        ui.page.remove_listener("request", record)
    assert len(states) >= 2  # l and Discard (a click is no panel call)
    assert all("map" not in s and len(json.dumps(s)) < 4000 for s in states)


def test_the_menu_prompts_the_plugins_operators(ui, images):
    before = _labels(images)
    ui.open(images.name, N_IMAGES)

    ui.click("Compute map")
    ui.page.get_by_text("Data Explorer: compute map").first.wait_for()
    ui.page.get_by_role("button", name="Cancel").click()
    ui.click("Clear all labels")
    ui.page.get_by_text("Removed labels cannot be restored").first.wait_for()
    ui.page.get_by_role("button", name="Cancel").click()
    assert _labels(images) == before


def test_a_box_selection_selects_the_samples_in_the_grid(ui, images):
    ui.open(images.name, N_IMAGES)

    ui.box_select(2, 2, 1200, 1200)
    ui.wait_text(f"{N_IMAGES} samples selected on the map and in the grid")
    ui.wait_text(f"Label selection ({N_IMAGES})")  # the App's grid selection
    ui.wait_trace_ids("Selected", images.values("id"))

    ui.type_label("herd")
    ui.click(f"Label selection ({N_IMAGES})")
    ui.wait_text(f"Queue: {N_IMAGES} samples with pending changes")
    ui.click("Discard")
    ui.click("Clear selection")
    ui.wait_trace_ids("Selected", [])


def test_an_audio_click_shows_the_preview_and_a_player(ui, made):
    dataset = made["audio"]
    sample = dataset.first()
    ui.open(dataset.name, len(dataset))

    ui.click_point(sample.id, shows="tone0.wav (audio)")
    ui.wait_image(sample.preview.rsplit("/", 1)[-1])
    ui.page.wait_for_function(
        "() => [...document.querySelectorAll('audio')].some(a =>"
        " a.src.includes('tone0.wav') && a.readyState >= 1 && a.duration > 0.9)",
        timeout=30_000,
    )


def test_a_sensor_click_plots_its_axes(ui, made):
    dataset = made["sensor"]
    sample = dataset.first()
    ui.open(dataset.name, len(dataset))

    ui.click_point(sample.id, shows="3 axes, 100 frames at 100 Hz")
    chart = ui.panel.get_by_test_id("data-explorer-sensor")
    assert chart.get_attribute("data-axes") == "accX,accY,accZ"
    lines = chart.locator("polyline")
    assert lines.count() == 3
    assert len(lines.first.get_attribute("points").split()) == 100
    assert "accY" in ui.text()
