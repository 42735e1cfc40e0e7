"""compute_data_explorer on real FiftyOne datasets, from the SDK and the operator.

Pins: a run stores vectors, registers a brain run and a record of the same
key; a bad file among good ones is skipped, counted, logged and recorded
while the rest is mapped; modes not available yet are refused before work
starts; clear_data_explorer removes everything the run added.
"""

import logging

import fiftyone as fo
import fiftyone.operators as foo
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import fiftyone_plugin.explorer as fde

OPERATOR = "@data-explorer/data-explorer/compute_data_explorer"


def _tone_clips(folder, rng, n_per=12):
    """Two classes of 1 s, 16 kHz clips: low tones and high tones, in noise."""
    t = np.arange(16000) / 16000
    paths, labels = [], []
    for label, base in (("low", 300.0), ("high", 2500.0)):
        for i in range(n_per):
            f = base * (1 + 0.05 * rng.standard_normal())
            wave = 0.4 * np.sin(2 * np.pi * f * t) + 0.02 * rng.standard_normal(len(t))
            path = folder / f"{label}.{i}.wav"
            sf.write(path, wave.astype(np.float32), 16000, subtype="PCM_16")
            paths.append(str(path))
            labels.append(label)
    return paths, labels


def _add(dataset, paths, labels=None):
    labels = labels or [None] * len(paths)
    dataset.add_samples(
        [
            fo.Sample(
                filepath=p,
                ground_truth=fo.Classification(label=y) if y else None,
            )
            for p, y in zip(paths, labels)
        ]
    )


@pytest.fixture
def tones(dataset, tmp_path, rng):
    paths, labels = _tone_clips(tmp_path, rng)
    _add(dataset, paths, labels)
    return dataset


def test_run_stores_vectors_and_registers_brain_run(tones):
    run = fde.compute_data_explorer(tones, brain_key="tones")

    assert "tones" in tones.list_brain_runs()
    assert fde.list_explorer_runs(tones) == ["tones"]
    results = tones.load_brain_results("tones")
    assert np.asarray(results.points).shape == (24, 2)

    vectors = tones.values("tones_vector")
    assert all(v is not None and v.shape == (3960,) for v in vectors)
    assert run.vector_size == 3960 and run.n_mapped == 24

    record = fde.get_run_record(tones, "tones")
    assert record["mode"] == "dsp"
    assert record["vectors"]["block"]["block"] == "mfe"
    assert record["vectors"]["fs"] == 16000
    assert record["map"]["method"] == "tsne"
    assert record["skipped"] == []


def test_map_separates_the_two_tone_classes(tones):
    fde.compute_data_explorer(tones, brain_key="tones")
    from fiftyone_plugin.demo import map_accuracy

    assert map_accuracy(tones, "tones", k=5) == 1.0


def test_bad_files_are_skipped_counted_logged_and_recorded(tones, tmp_path, caplog):
    truncated = tmp_path / "truncated.wav"
    good = (tmp_path / "low.0.wav").read_bytes()
    truncated.write_bytes(good[: len(good) // 3])
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    _add(tones, [str(truncated), str(empty)])

    with caplog.at_level(logging.WARNING, logger="fiftyone_plugin.explorer"):
        run = fde.compute_data_explorer(tones, brain_key="tones")

    skipped = {s["filepath"]: s["reason"] for s in run.skipped}
    assert set(skipped) == {str(truncated), str(empty)}
    assert run.n_mapped == 24 and run.n_samples == 26
    assert str(truncated) in caplog.text and str(empty) in caplog.text
    record = fde.get_run_record(tones, "tones")
    assert {s["filepath"] for s in record["skipped"]} == set(skipped)
    assert "2 of 26 have no vectors" in run.summary()
    assert len(tones.load_brain_results("tones").sample_ids) == 24


def test_image_that_is_not_an_image_is_skipped(dataset, tmp_path, rng):
    paths = []
    for i in range(12):
        path = tmp_path / f"img{i}.png"
        pixels = rng.integers(0, 255, size=(20, 24, 3), dtype=np.uint8)
        pixels[..., i % 3] = 255  # three colour families
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    fake = tmp_path / "fake.png"
    fake.write_text("this is not a picture\n")
    _add(dataset, paths + [str(fake)])

    run = fde.compute_data_explorer(
        dataset, brain_key="img", block_params={"width": 8, "height": 8}
    )
    assert [s["filepath"] for s in run.skipped] == [str(fake)]
    assert run.vector_size == 8 * 8 * 3 and run.n_mapped == 12


def test_empty_csv_among_recordings_is_skipped(dataset, tmp_path, rng):
    paths = []
    for i in range(12):
        path = tmp_path / f"rec{i}.csv"
        t = np.arange(64) * 20  # ms, 50 Hz
        x = np.sin(2 * np.pi * (1 + i % 3) * t / 1000) + 0.1 * rng.standard_normal(64)
        y = rng.standard_normal(64)
        rows = "\n".join(f"{a},{b:.5f},{c:.5f}" for a, b, c in zip(t, x, y))
        path.write_text("timestamp,accX,accY\n" + rows + "\n")
        paths.append(str(path))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _add(dataset, paths + [str(empty)])

    run = fde.compute_data_explorer(dataset, brain_key="rec")
    assert [s["filepath"] for s in run.skipped] == [str(empty)]
    record = fde.get_run_record(dataset, "rec")
    assert record["vectors"]["fs"] == pytest.approx(50.0)
    assert record["vectors"]["axes"] == ["accX", "accY"]
    assert record["vectors"]["block"]["block"] == "spectral_analysis"


def test_operator_from_python_produces_the_brain_run(tones):
    result = foo.execute_operator(
        OPERATOR,
        ctx=dict(view=tones.view(), params=dict(mode="dsp", brain_key="viaop")),
    )
    assert result.error is None, result.error
    assert "viaop" in tones.list_brain_runs()
    assert fde.get_run_record(tones, "viaop")["n_mapped"] == 24


def test_pretrained_mode_for_sensor_data_is_refused_before_work(dataset, tmp_path):
    paths = []
    for i in range(6):
        path = tmp_path / f"rec{i}.csv"
        rows = "\n".join(f"{t * 20},{np.sin(t / (i + 1)):.4f}" for t in range(50))
        path.write_text("timestamp,accX\n" + rows + "\n")
        paths.append(str(path))
    _add(dataset, paths)
    with pytest.raises(
        fde.ExplorerError, match=r"modes for timeseries data: \['dsp', 'impulse'\]"
    ):
        fde.compute_data_explorer(dataset, mode="pretrained", brain_key="x")
    assert not dataset.has_sample_field("x_vector")
    assert dataset.list_brain_runs() == []


def test_impulse_mode_without_a_model_is_refused_before_work(tones):
    with pytest.raises(fde.ExplorerError, match="needs model_path"):
        fde.compute_data_explorer(tones, mode="impulse", brain_key="x")
    assert not tones.has_sample_field("x_vector")


def test_block_that_does_not_fit_the_data_names_the_ones_that_do(tones):
    with pytest.raises(ValueError, match="does not take audio data.*mfcc"):
        fde.compute_data_explorer(tones, block="spectral_analysis")


def test_clear_removes_run_record_and_vectors(tones):
    fde.compute_data_explorer(tones, brain_key="tones")
    fde.clear_data_explorer(tones, "tones")
    assert tones.list_brain_runs() == [] and tones.list_runs() == []
    assert not tones.has_sample_field("tones_vector")
    with pytest.raises(fde.ExplorerError, match="has no data explorer run"):
        fde.clear_data_explorer(tones, "tones")


def test_foreign_brain_run_is_not_overwritten(tones):
    import fiftyone.brain as fob

    fob.compute_visualization(tones, points=np.zeros((24, 2)), brain_key="theirs")
    with pytest.raises(fde.ExplorerError, match="did not create"):
        fde.compute_data_explorer(tones, brain_key="theirs")
    assert "theirs" in tones.list_brain_runs()


def test_rerun_reuses_stored_vectors(tones, caplog):
    fde.compute_data_explorer(tones, brain_key="tones")
    with caplog.at_level(logging.INFO, logger="fiftyone_plugin.explorer"):
        fde.compute_data_explorer(tones, brain_key="tones", seed=1)
    assert "reusing 24 vectors" in caplog.text


def test_reuse_never_mixes_vectors_made_with_other_settings(tones, caplog):
    # From a break test: a run of the same key on part of the dataset with
    # other settings left the old vectors on the rest, and a later run with
    # those settings reused them as its own.
    fde.compute_data_explorer(tones, brain_key="k")  # mfe defaults, all 24
    old = {s.id: s["k_vector"] for s in tones}
    other = {"frame_length": 0.05, "frame_stride": 0.025}
    part = tones.limit(6)
    fde.compute_data_explorer(part, brain_key="k", block="mfe", block_params=other)
    assert len(tones.exists("k_vector")) == 6  # the others' vectors are gone

    with caplog.at_level(logging.INFO, logger="fiftyone_plugin.explorer"):
        fde.compute_data_explorer(tones, brain_key="k", block="mfe",
                                  block_params=other)
    assert "reusing 6 vectors" in caplog.text
    fresh = {s.id: s["k_vector"] for s in tones}
    assert all(fresh[i].shape != old[i].shape or not np.array_equal(fresh[i], old[i])
               for i in old)
    widths = {v.shape for v in fresh.values()}
    assert len(widths) == 1


def test_an_interrupted_run_with_other_settings_leaves_no_old_vectors(
    tones, monkeypatch
):
    fde.compute_data_explorer(tones, brain_key="k")
    monkeypatch.setattr(fde, "_CHUNK", 5)
    other = {"frame_length": 0.05, "frame_stride": 0.025}
    events = fde.iter_compute_data_explorer(
        tones, brain_key="k", block="mfe", block_params=other
    )
    for fraction, label in events:
        if label.startswith("vectors: 5 of"):
            break  # interrupted after the first chunk
    events.close()
    assert len(tones.exists("k_vector")) == 5
    run = fde.compute_data_explorer(tones, brain_key="k", block="mfe",
                                    block_params=other)
    assert run.n_mapped == 24
    assert len({v.shape for v in tones.values("k_vector")}) == 1


def test_delegated_run_produces_the_brain_run(tones):
    from fiftyone.operators.delegated import DelegatedOperationService

    result = foo.execute_operator(
        OPERATOR,
        ctx=dict(view=tones.view(), params=dict(brain_key="queued")),
        request_delegation=True,
    )
    assert result.error is None, result.error
    assert "queued" not in tones.list_brain_runs()

    DelegatedOperationService().execute_queued_operations(dataset_name=tones.name)
    tones.reload()
    assert "queued" in tones.list_brain_runs()
    assert fde.get_run_record(tones, "queued")["n_mapped"] == 24


def test_a_field_of_uneven_nested_lists_is_refused_by_name(dataset):
    dataset.add_samples([fo.Sample(filepath=f"/data/{i}.png") for i in range(12)])
    dataset.set_values("nested", [[[1.0, 2.0], [3.0]]] * 12)
    with pytest.raises(fde.ExplorerError, match="'nested' are not vectors"):
        fde.compute_data_explorer(
            dataset, mode="field", vectors_field="nested", brain_key="n",
            method="pca",
        )


def test_clear_keeps_the_users_own_vector_field(dataset, rng):
    dataset.add_samples([fo.Sample(filepath=f"/data/{i}.png") for i in range(20)])
    dataset.set_values("m_vector", list(rng.normal(size=(20, 4))))
    fde.compute_data_explorer(
        dataset, mode="field", vectors_field="m_vector", brain_key="m", method="pca"
    )
    fde.clear_data_explorer(dataset, "m")
    assert dataset.has_sample_field("m_vector")
    assert dataset.list_brain_runs() == []


def test_clear_keeps_unsaved_edits_unless_told_to_discard_them(tones):
    from fiftyone.operators.executor import ExecutionError

    from fiftyone_plugin.edits import EditQueue

    fde.compute_data_explorer(tones, brain_key="tones")
    queue = EditQueue.for_run(tones, "tones")
    queue.add_labels([tones.first().id], "hum")

    with pytest.raises(fde.ExplorerError, match="1 unsaved edits"):
        fde.clear_data_explorer(tones, "tones")
    assert "tones" in tones.list_brain_runs() and queue.count() == 1

    with pytest.raises(ExecutionError, match="1 unsaved edits"):
        foo.execute_operator(
            "@data-explorer/data-explorer/clear_data_explorer",
            ctx=dict(view=tones.view(), params=dict(brain_key="tones")),
        )
    assert queue.count() == 1

    fde.clear_data_explorer(tones, "tones", discard_edits=True)
    assert tones.list_brain_runs() == [] and queue.count() == 0


def test_clear_counts_and_drops_every_queue_of_the_map(tones):
    """A queue survives a retyped label field: clear still sees and drops it."""
    import fiftyone as fo

    from fiftyone_plugin.edits import EditQueue

    fde.compute_data_explorer(tones, brain_key="tones")
    EditQueue.for_run(tones, "tones").add_labels([tones.first().id], "hum")
    tones.add_sample_field("other", fo.EmbeddedDocumentField,
                           embedded_doc_type=fo.Classification)
    EditQueue.for_run(tones, "tones", "other").add_labels([tones.first().id], "x")
    tones.delete_sample_field("ground_truth")
    tones.add_sample_field("ground_truth", fo.StringField)

    with pytest.raises(fde.ExplorerError, match="2 unsaved edits"):
        fde.clear_data_explorer(tones, "tones")
    fde.clear_data_explorer(tones, "tones", discard_edits=True)

    tones.delete_sample_field("ground_truth")
    fde.compute_data_explorer(tones, brain_key="tones")
    assert fde.pending_edit_count(tones, "tones") == 0
