"""import_samples on real files into real (temporary) FiftyOne datasets."""

import json
import logging

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from fiftyone_plugin.importing import ImportReport, import_samples


def _wav(path, seconds=0.25, fs=16000, freq=440.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * fs)) / fs
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), fs, subtype="PCM_16")
    return path


def _png(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 10, 3), value, np.uint8)).save(path)
    return path


def _csv(path, n=30):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["timestamp,accX,accY"] + [f"{i * 20},{i},{-i}" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _labels(dataset, field="ground_truth"):
    out = {}
    for sample in dataset.iter_samples():
        label = sample[field].label if sample[field] is not None else None
        out[sample.filepath.rsplit("/", 1)[-1]] = label
    return out


def test_folder_labels_audio_with_previews_and_app_config(dataset, tmp_path):
    src = tmp_path / "kw"
    _wav(src / "yes" / "a.wav")
    _wav(src / "yes" / "b.wav", freq=300)
    _wav(src / "no" / "c.wav", fs=8000)
    _wav(src / "root.wav")
    (src / "README.txt").write_text("not data")
    calls = []
    report = import_samples(dataset, src, preview_dir=tmp_path / "prev",
                            progress=lambda f, label: calls.append((f, label)))

    assert isinstance(report, ImportReport)
    assert len(report.added) == 4 and len(dataset) == 4
    assert _labels(dataset) == {"a.wav": "yes", "b.wav": "yes", "c.wav": "no",
                                "root.wav": None}
    assert report.label_counts == {"yes": 2, "no": 1, None: 1}
    assert report.skipped == [(str(src / "README.txt"),
                               "unrecognised file type '.txt'")]
    c = dataset.match({"filepath": {"$regex": "c.wav$"}}).first()
    assert c.data_kind == "audio" and c.sampling_freq == 8000.0
    assert c.n_frames == 2000 and c.axes == ["audio"]
    assert c.duration_s == pytest.approx(0.25)
    for sample in dataset.iter_samples():
        assert sample.preview.endswith(".png")
        assert sample.preview.startswith(str(tmp_path / "prev"))
        with Image.open(sample.preview) as img:
            assert img.size == (320, 240)
    cfg = dataset.app_config
    assert "filepath" in cfg.media_fields and "preview" in cfg.media_fields
    assert cfg.grid_media_field == "preview" and cfg.modal_media_field == "preview"
    assert calls[-1][0] == 1.0 and all(0.0 <= f <= 1.0 for f, _ in calls)
    assert "Imported 4 sample(s)" in report.summary()


def test_filename_and_none_labels(dataset, tmp_path):
    src = tmp_path / "img"
    _png(src / "x" / "cat.001.png")
    _png(src / "x" / "dog.photo.2.png")
    _png(src / "bird.png")
    report = import_samples(dataset, src, labels="filename",
                            label_field="truth")
    assert _labels(dataset, "truth") == {"cat.001.png": "cat",
                                         "dog.photo.2.png": "dog",
                                         "bird.png": "bird"}
    assert report.label_counts == {"cat": 1, "dog": 1, "bird": 1}
    sample = dataset.first()
    assert sample.data_kind == "image" and sample.preview == sample.filepath
    assert sample.metadata.width == 10 and sample.metadata.height == 8
    cfg = dataset.app_config
    assert "preview" in cfg.media_fields and cfg.grid_media_field == "filepath"

    report = import_samples(dataset, src, labels="none", label_field="truth")
    assert len(report.added) == 3 and report.label_counts == {None: 3}
    assert len(dataset) == 6  # re-import extends; duplicate filepaths allowed
    assert dataset.count("truth") == 3


def test_whitespace_unicode_and_long_labels(dataset, tmp_path, caplog):
    src = tmp_path / "u"
    long_name = "L" * 246 + ".csv"  # a file name has at most 255 bytes
    _csv(src / "   " / "blank.csv")
    _csv(src / "café" / "a.csv")
    _csv(src / "日本" / "b.csv")
    _csv(src / ("L" * 200) / "c.csv")
    _csv(src / "files" / long_name)
    with caplog.at_level(logging.WARNING, logger="fiftyone_plugin.importing"):
        import_samples(dataset, src, preview_dir=tmp_path / "p")
        report = import_samples(dataset, [src / "files" / long_name],
                                labels="filename", preview_dir=tmp_path / "p")
    labels = _labels(dataset)
    assert labels["blank.csv"] is None
    assert labels["a.csv"] == "café" and labels["b.csv"] == "日本"
    assert labels["c.csv"] == "L" * 200
    assert report.label_counts == {"L" * 246: 1}
    assert dataset.count_values("ground_truth.label")["L" * 246] == 1
    assert sum("characters" in r.getMessage() for r in caplog.records) >= 2
    sample = dataset.match({"filepath": {"$regex": "a.csv$"}}).first()
    assert sample.data_kind == "timeseries" and sample.sampling_freq == 50.0
    assert sample.axes == ["accX", "accY"] and sample.n_frames == 30


def test_label_rules_on_500_characters(tmp_path, caplog):
    from fiftyone_plugin.importing import _clean_label

    with caplog.at_level(logging.WARNING, logger="fiftyone_plugin.importing"):
        assert _clean_label("x" * 500, "f") == "x" * 500
    assert "500 characters" in caplog.records[-1].getMessage()
    assert _clean_label(" \t\n ", "f") is None
    assert _clean_label("  café ", "f") == "café"


def test_bad_files_are_skipped_and_listed(dataset, tmp_path):
    src = tmp_path / "mixed"
    good = [_csv(src / "walk" / f"{i}.csv") for i in range(3)]
    empty = src / "walk" / "empty.csv"
    empty.write_bytes(b"")
    text = src / "walk" / "words.csv"
    text.write_text("timestamp,accX\n0,1\n20,oops\n")
    payload = src / "run" / "nopayload.json"
    payload.parent.mkdir(parents=True)
    payload.write_text(json.dumps({"protected": {}, "signature": ""}))
    fine = src / "run" / "ok.json"
    fine.write_text(json.dumps({"payload": {"interval_ms": 10, "sensors": [
        {"name": "accX", "units": "m/s2"}], "values": [[1], [2], [3]]}}))
    report = import_samples(dataset, src, preview_dir=tmp_path / "p")

    assert len(report.added) == 4 and len(dataset) == 4
    reasons = dict(report.skipped)
    assert set(reasons) == {str(empty), str(text), str(payload)}
    assert reasons[str(empty)] == "0-byte file"
    assert "non-numeric value 'oops'" in reasons[str(text)]
    assert "no payload.values" in reasons[str(payload)]
    assert report.label_counts == {"walk": 3, "run": 1}
    assert "skipped 3" in report.summary()
    assert {s.filepath for s in dataset.iter_samples()} >= {
        str(p.resolve()) for p in good}


def test_media_types_kind_filter_and_dataset_by_name(tmp_path):
    import fiftyone as fo

    src = tmp_path / "both"
    _png(src / "a" / "1.png")
    _png(src / "a" / "fake.png").write_text("not an image")
    _wav(src / "b" / "2.wav")
    _wav(src / "b" / "3.wav")
    _wav(src / "b" / "4.wav")
    name = "importing-test-by-name"
    try:
        report = import_samples(name, src, preview_dir=tmp_path / "p")
        ds = fo.load_dataset(name)
        assert ds.persistent and len(ds) == 3 and ds.media_type == "unknown"
        reasons = dict(report.skipped)
        assert "one media type" in reasons[str(src / "a" / "1.png")]
        assert "one media type" in reasons[str(src / "a" / "fake.png")]

        again = import_samples(name, src, kind="audio", preview_dir=tmp_path / "p")
        assert len(fo.load_dataset(name)) == 6
        assert "kind='audio'" in dict(again.skipped)[str(src / "a" / "1.png")]
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)

    images = fo.Dataset()
    try:
        report = import_samples(images, src, kind="image")
        assert len(images) == 1 and images.media_type == "image"
        assert "cannot identify image file" in dict(report.skipped)[
            str(src / "a" / "fake.png")]
    finally:
        images.delete()


def test_default_preview_dir_and_argument_errors(dataset, tmp_path):
    import fiftyone as fo

    clip = _wav(tmp_path / "one" / "x.wav")
    import_samples(dataset, clip)
    preview = dataset.first().preview
    assert preview.startswith(str(fo.config.default_dataset_dir))
    assert f"/previews/{dataset.slug}/" in preview
    assert dataset.first().ground_truth.label == "one"

    with pytest.raises(ValueError, match="labels='folders'"):
        import_samples(dataset, clip, labels="folders")
    with pytest.raises(ValueError, match="kind='video'"):
        import_samples(dataset, clip, kind="video")
    with pytest.raises(FileNotFoundError, match="neither a folder nor a file"):
        import_samples(dataset, tmp_path / "missing")
    report = import_samples(dataset, [clip, tmp_path / "gone.wav"])
    assert report.skipped == [(str(tmp_path / "gone.wav"), "file not found")]


def test_resample_and_axes_pass_through(dataset, tmp_path):
    _wav(tmp_path / "a" / "x.wav", seconds=0.5, fs=8000)
    _csv(tmp_path / "b" / "y.csv")
    audio = import_samples(dataset, tmp_path / "a", fs=16000,
                           preview_dir=tmp_path / "p")
    assert dataset.first().sampling_freq == 16000.0
    assert dataset.first().n_frames == 8000
    assert audio.notes == [(str(tmp_path / "a" / "x.wav"),
                            "resampled 8000 Hz -> 16000 Hz")]
    report = import_samples(dataset, tmp_path / "b", axes=["accY"],
                            preview_dir=tmp_path / "p")
    sample = dataset[report.added[0]]
    assert sample.axes == ["accY"] and sample.sampling_freq == 50.0
    missing = import_samples(dataset, tmp_path / "b", axes=["gyrX"],
                             preview_dir=tmp_path / "p")
    assert missing.added == [] and "'gyrX'" in missing.skipped[0][1]
