"""Demo data writers: real files, read back with the library's readers."""

import collections
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from fiftyone_plugin import demo_data, media

needs_tts = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are needed (apt-get install espeak-ng sox)",
)


@needs_tts
def test_keywords_small_run(tmp_path):
    out = demo_data.write_keywords(tmp_path, words=["yes", "no"],
                                   voices=["en", "en+f3"], speeds=[160])
    files = sorted(p.relative_to(tmp_path).as_posix() for p in out.rglob("*.wav"))
    assert files == ["no/no.en+f3.160.wav", "no/no.en.160.wav",
                     "yes/yes.en+f3.160.wav", "yes/yes.en.160.wav"]
    for path in out.rglob("*.wav"):
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)
        assert info.subtype == "PCM_16"
        sig = media.read_audio(path)
        x = np.abs(sig.data[:, 0])
        assert x[:800].max() > 1000  # leading silence trimmed: speech at once
        assert x.max() > 5000 and (x[-800:] == 0).all()  # padded with silence
    a = sf.read(out / "yes" / "yes.en.160.wav", dtype="int16")[0]
    b = sf.read(out / "yes" / "yes.en+f3.160.wav", dtype="int16")[0]
    assert not np.array_equal(a, b)
    again = demo_data.write_keywords(tmp_path / "again", words=["yes"],
                                     voices=["en"], speeds=[160])
    same = sf.read(again / "yes" / "yes.en.160.wav", dtype="int16")[0]
    np.testing.assert_array_equal(a, same)


@needs_tts
def test_keywords_unknown_voice_is_refused(tmp_path):
    with pytest.raises(demo_data.DemoDataError, match="no voice 'en\\+nosuch'"):
        demo_data.write_keywords(tmp_path, words=["yes"], voices=["en+nosuch"])
    with pytest.raises(demo_data.DemoDataError, match="no voice 'xx-nosuch'"):
        demo_data.write_keywords(tmp_path, words=["yes"], voices=["xx-nosuch"])


def test_missing_tool_names_the_apt_package(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_data.shutil, "which", lambda tool: None)
    with pytest.raises(demo_data.DemoDataError, match="apt-get install espeak-ng"):
        demo_data.write_keywords(tmp_path, words=["yes"], voices=["en"])


def test_default_voices_exist():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    demo_data._check_voices(demo_data.DEFAULT_VOICES)
    assert len(demo_data.DEFAULT_VOICES) == 8 and len(demo_data.DEFAULT_WORDS) == 10


def test_motion_80_recordings_in_4_folders(tmp_path):
    out = demo_data.write_motion(tmp_path / "motion")
    files = sorted(out.rglob("*.*"))
    assert len(files) == 80
    folders = collections.Counter(p.parent.name for p in files)
    assert folders == {"standing": 20, "walking": 20, "running": 20,
                       "badminton": 20}
    kinds = collections.Counter(p.suffix for p in files)
    assert kinds == {".json": 40, ".csv": 40}
    for path in files:
        sig = media.read_timeseries(path)
        assert sig.fs == pytest.approx(10.0)
        assert sig.axes == list(demo_data.MOTION_AXES)
        assert sig.data.shape == (100, 6) and np.isfinite(sig.data).all()
        assert sig.notes == []
        assert path.name.startswith(path.parent.name + ".")
    doc = json.loads(next(out.rglob("*.json")).read_text())
    assert doc["payload"]["interval_ms"] == 100
    assert [s["name"] for s in doc["payload"]["sensors"]][:3] == ["accX", "accY",
                                                                  "accZ"]

    again = demo_data.write_motion(tmp_path / "again")
    for path in files:
        twin = again / path.relative_to(out)
        assert twin.read_bytes() == path.read_bytes()


def test_images_digits_and_photo_crops(tmp_path):
    out = demo_data.write_images(tmp_path, seed=1, digits_per_class=3,
                                 crops_per_photo=2)
    digits = sorted((out / "digits").rglob("*.png"))
    assert len(digits) == 30
    assert sorted({p.parent.name for p in digits}) == [str(d) for d in range(10)]
    arr = media.read_image(digits[0])
    assert arr.shape == (32, 32, 3) and arr.max() > 128

    photos = sorted((out / "photos").rglob("*.jpg"))
    names = {p.parent.name for p in photos}
    assert len(names) == 8 and {"astronaut", "china", "flower"} <= names
    assert len(photos) == 16
    for path in photos:
        img = media.read_image(path)
        assert img.shape == (96, 96, 3) and img.std() > 1
        assert path.name.startswith(path.parent.name + ".")

    same = demo_data.write_images(tmp_path / "b", seed=1, digits_per_class=3,
                                  crops_per_photo=2)
    for path in digits + photos:
        assert (same / path.relative_to(out)).read_bytes() == path.read_bytes()


def test_demo_data_imports(dataset, tmp_path):
    from fiftyone_plugin.importing import import_samples

    out = demo_data.write_motion(tmp_path / "m")
    report = import_samples(dataset, out, preview_dir=tmp_path / "p")
    assert len(report.added) == 80 and report.skipped == []
    assert report.label_counts == {"standing": 20, "walking": 20, "running": 20,
                                   "badminton": 20}
    assert set(dataset.distinct("sampling_freq")) == {10.0}
