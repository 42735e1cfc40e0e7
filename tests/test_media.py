"""Readers and previews on real files written to a temporary folder."""

import json
import time

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from fiftyone_plugin import media
from fiftyone_plugin.media import MediaError, Signal
from fiftyone_plugin.previews import preview_path, render_preview


def _write_csv(path, header, rows):
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- kinds


@pytest.mark.parametrize(
    "name, kind",
    [("a.JPG", "image"), ("a.tiff", "image"), ("a.webp", "image"),
     ("a.wav", "audio"), ("a.MP3", "audio"), ("a.csv", "timeseries"),
     ("a.json", "timeseries"), ("a.npy", "timeseries"), ("a.txt", None),
     ("noext", None)],
)
def test_media_kind_by_extension(name, kind):
    assert media.media_kind(name) == kind


# ---------------------------------------------------------------- time series


def test_csv_with_ms_timestamps(tmp_path):
    rows = [[i * 16, i, 2 * i, -i] for i in range(50)]
    path = _write_csv(tmp_path / "rec.csv", ["timestamp", "accX", "accY", "accZ"],
                      rows)
    sig = media.read_timeseries(path)
    assert sig.fs == pytest.approx(62.5)
    assert sig.axes == ["accX", "accY", "accZ"]
    assert sig.data.dtype == np.float32 and sig.data.shape == (50, 3)
    np.testing.assert_array_equal(sig.data[7], [7, 14, -7])
    assert sig.notes == []
    assert sig.duration_s == pytest.approx(0.8)


def test_csv_with_seconds_time_column(tmp_path):
    rows = [[f"{i * 0.01:.2f}", i] for i in range(20)]
    path = _write_csv(tmp_path / "s.csv", ["Time", "x"], rows)
    assert media.read_timeseries(path).fs == pytest.approx(100.0)


def test_csv_axes_select_and_order(tmp_path):
    rows = [[i * 10, i, 10 + i, 20 + i] for i in range(10)]
    path = _write_csv(tmp_path / "r.csv", ["ms", "a", "b", "c"], rows)
    sig = media.read_timeseries(path, axes=["c", "a"])
    assert sig.axes == ["c", "a"]
    np.testing.assert_array_equal(sig.data[3], [23, 3])


def test_csv_missing_axis_names_it_and_the_available_ones(tmp_path):
    path = _write_csv(tmp_path / "r.csv", ["timestamp", "accX", "accY"],
                      [[0, 1, 2], [10, 3, 4]])
    with pytest.raises(MediaError) as err:
        media.read_timeseries(path, axes=["accX", "gyrZ"])
    text = str(err.value)
    assert "'gyrZ'" in text and "accX" in text and "accY" in text
    assert err.value.path == str(path)


def test_csv_without_time_column_needs_fs(tmp_path):
    path = _write_csv(tmp_path / "r.csv", ["x", "y"], [[1, 2], [3, 4], [5, 6]])
    with pytest.raises(MediaError, match="fs="):
        media.read_timeseries(path)
    sig = media.read_timeseries(path, fs=50)
    assert sig.fs == 50.0 and sig.axes == ["x", "y"] and sig.data.shape == (3, 2)


def test_csv_nan_row_is_interpolated_with_a_note(tmp_path):
    rows = [[i * 10, float(i), 2.0 * i] for i in range(20)]
    rows[5] = [50, "nan", ""]
    path = _write_csv(tmp_path / "r.csv", ["timestamp", "a", "b"], rows)
    sig = media.read_timeseries(path)
    np.testing.assert_allclose(sig.data[5], [5.0, 10.0])
    assert sig.notes == ["filled 1 row with NaN by linear interpolation"]


def test_csv_with_many_nan_rows_is_refused(tmp_path):
    rows = [[i * 10, "nan" if i % 3 == 0 else i] for i in range(30)]
    path = _write_csv(tmp_path / "r.csv", ["timestamp", "a"], rows)
    with pytest.raises(MediaError, match="10 of 30 rows"):
        media.read_timeseries(path)


def test_csv_non_numeric_cell(tmp_path):
    path = _write_csv(tmp_path / "r.csv", ["timestamp", "a"],
                      [[0, 1], [10, "abc"], [20, 3]])
    with pytest.raises(MediaError, match="non-numeric value 'abc' in row 3"):
        media.read_timeseries(path)


def test_empty_csv_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(MediaError) as err:
        media.read_timeseries(empty)
    assert str(empty) in str(err.value) and "0-byte file" in str(err.value)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n")
    with pytest.raises(MediaError, match="empty CSV"):
        media.read_timeseries(blank)
    header = _write_csv(tmp_path / "h.csv", ["timestamp", "a"], [])
    with pytest.raises(MediaError, match="no data rows"):
        media.read_timeseries(header)


def test_csv_time_must_increase(tmp_path):
    path = _write_csv(tmp_path / "r.csv", ["timestamp", "a"],
                      [[0, 1], [10, 2], [10, 3]])
    with pytest.raises(MediaError, match="not strictly increasing"):
        media.read_timeseries(path)


def test_csv_resampled_to_requested_fs(tmp_path):
    rows = [[i * 10, np.sin(i / 5)] for i in range(100)]  # 100 Hz, 1 s
    path = _write_csv(tmp_path / "r.csv", ["timestamp", "a"], rows)
    sig = media.read_timeseries(path, fs=50)
    assert sig.fs == 50.0 and sig.data.shape == (50, 1)
    assert sig.notes == ["resampled 100 Hz -> 50 Hz"]


def _studio_json(values, interval_ms=16, sensors=("accX", "accY", "accZ")):
    return {
        "protected": {"ver": "v1", "alg": "HS256", "iat": 1564128599},
        "signature": "b0ee0572a1984b93b6bc56e6576e2cbbd6bccd65d0c356e26b31bbc9",
        "payload": {
            "device_type": "DISCO-L475VG-IOT01A",
            "interval_ms": interval_ms,
            "sensors": [{"name": n, "units": "m/s2"} for n in sensors],
            "values": values,
        },
    }


def test_studio_json(tmp_path):
    values = [[i, -i, 9.81] for i in range(40)]
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(_studio_json(values)))
    sig = media.read_timeseries(path)
    assert sig.fs == pytest.approx(62.5)
    assert sig.axes == ["accX", "accY", "accZ"]
    assert sig.data.shape == (40, 3)
    np.testing.assert_allclose(sig.data[3], [3, -3, 9.81], rtol=1e-6)
    assert media.read_timeseries(path, axes=["accZ"]).data.shape == (40, 1)


def test_json_without_payload_values(tmp_path):
    doc = _studio_json([[1, 2, 3]])
    del doc["payload"]["values"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(MediaError, match="no payload.values") as err:
        media.read_timeseries(path)
    assert str(path) in str(err.value)
    broken = tmp_path / "broken.json"
    broken.write_text('{"payload": ')
    with pytest.raises(MediaError, match="not valid JSON"):
        media.read_timeseries(broken)


def test_json_null_becomes_interpolated(tmp_path):
    values = [[float(i)] for i in range(20)]
    values[10] = [None]
    path = tmp_path / "n.json"
    path.write_text(json.dumps(_studio_json(values, 10, ["x"])))
    sig = media.read_timeseries(path)
    assert sig.data[10, 0] == pytest.approx(10.0) and sig.fs == 100.0
    assert len(sig.notes) == 1


def test_npy_needs_fs(tmp_path):
    path = tmp_path / "r.npy"
    arr = np.arange(30, dtype=np.float64).reshape(10, 3)
    np.save(path, arr)
    with pytest.raises(MediaError, match="fs="):
        media.read_timeseries(path)
    sig = media.read_timeseries(path, fs=20)
    assert sig.fs == 20.0 and sig.axes == ["axis0", "axis1", "axis2"]
    np.testing.assert_array_equal(sig.data, arr.astype(np.float32))
    named = media.read_timeseries(path, fs=20, axes=["x", "y", "z"])
    assert named.axes == ["x", "y", "z"]
    one = tmp_path / "one.npy"
    np.save(one, np.arange(5.0))
    assert media.read_timeseries(one, fs=1).data.shape == (5, 1)


def test_npy_object_array_is_refused(tmp_path):
    path = tmp_path / "o.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(MediaError, match="not a readable numeric .npy"):
        media.read_timeseries(path, fs=10)


# ---------------------------------------------------------------- audio


def test_stereo_44k_wav_to_mono_16k(tmp_path):
    t = np.arange(44100) / 44100
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, -0.25 * np.ones_like(t)], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 44100, subtype="PCM_16")
    sig = media.read_audio(path, fs=16000)
    assert sig.fs == 16000.0 and sig.axes == ["audio"]
    assert sig.data.shape == (16000, 1) and sig.data.dtype == np.float32
    assert any("mixed 2 channels to mono" in n for n in sig.notes)
    assert any("resampled 44100 Hz -> 16000 Hz" in n for n in sig.notes)
    # mono mix = (0.5 sin - 0.25) / 2 on the int16 scale
    assert sig.data[2000:14000].mean() == pytest.approx(-0.125 * 32768, rel=0.02)
    assert sig.data.min() == pytest.approx(-0.375 * 32768, rel=0.03)
    assert sig.data.max() == pytest.approx(0.125 * 32768, rel=0.03)


def test_int16_wav_keeps_exact_values(tmp_path):
    x = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    path = tmp_path / "m.wav"
    sf.write(path, x, 8000, subtype="PCM_16")
    sig = media.read_audio(path)
    np.testing.assert_array_equal(sig.data[:, 0], x.astype(np.float32))
    assert sig.fs == 8000.0 and sig.notes == []


def test_zero_byte_and_truncated_wav(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError) as err:
        media.read_audio(empty)
    assert str(empty) in str(err.value) and "0-byte file" in str(err.value)

    full = tmp_path / "full.wav"
    sf.write(full, np.zeros(8000, dtype=np.int16), 8000, subtype="PCM_16")
    data = full.read_bytes()
    half = tmp_path / "half.wav"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="truncated file"):
        media.read_audio(half)
    header_only = tmp_path / "hdr.wav"
    header_only.write_bytes(data[:30])
    with pytest.raises(MediaError, match="not a readable audio file"):
        media.read_audio(header_only)


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "fake.wav"
    path.write_text("hello, not audio")
    with pytest.raises(MediaError, match="not a readable audio file") as err:
        media.read_audio(path)
    assert str(path) in str(err.value)


# ---------------------------------------------------------------- images


def test_read_image_modes(tmp_path):
    gray = tmp_path / "g.png"
    Image.fromarray(np.full((4, 6), 200, np.uint8), "L").save(gray)
    arr = media.read_image(gray)
    assert arr.shape == (4, 6, 3) and arr.dtype == np.uint8 and (arr == 200).all()

    rgba = tmp_path / "a.png"
    px = np.zeros((2, 2, 4), np.uint8)
    px[..., 0] = 255
    px[0, 0, 3] = 255  # one opaque red pixel, the rest transparent
    Image.fromarray(px, "RGBA").save(rgba)
    out = media.read_image(rgba)
    assert out[0, 0].tolist() == [255, 0, 0] and out[1, 1].tolist() == [255, 255, 255]

    deep = tmp_path / "d.png"
    Image.fromarray(np.full((3, 3), 65535, np.uint16)).save(deep)
    assert (media.read_image(deep) == 255).all()

    pal = tmp_path / "p.gif"
    Image.fromarray(np.full((5, 5, 3), (0, 0, 255), np.uint8)).convert("P").save(pal)
    assert media.read_image(pal)[2, 2].tolist() == [0, 0, 255]


def test_read_image_applies_exif_orientation(tmp_path):
    img = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    assert media.read_image(path).shape == (40, 20, 3)


def test_text_file_named_png(tmp_path):
    path = tmp_path / "fake.png"
    path.write_text("this is not an image")
    with pytest.raises(MediaError) as err:
        media.read_image(path)
    text = str(err.value)
    assert str(path) in text
    assert "not a valid image: cannot identify image file" in text
    assert isinstance(err.value, ValueError)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "t.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError, match="not a valid image"):
        media.read_image(path)


# ---------------------------------------------------------------- previews


def test_previews_are_drawn_fast_and_named_deterministically(tmp_path):
    rng = np.random.default_rng(0)
    audio = Signal(rng.normal(0, 3000, (16000, 1)).astype(np.float32), 16000,
                   ["audio"])
    motion = Signal(rng.normal(size=(100, 6)).cumsum(0).astype(np.float32), 10,
                    ["accX", "accY", "accZ", "gyrX", "gyrY", "gyrZ"])
    source = tmp_path / "clip.wav"
    source.write_bytes(b"x")
    target = preview_path(source, tmp_path / "prev")
    assert target == preview_path(source, tmp_path / "prev")
    assert target.parent == tmp_path / "prev" and target.suffix == ".png"

    for signal, kind in ((audio, "audio"), (motion, "timeseries")):
        start = time.perf_counter()
        out = render_preview(signal, kind, tmp_path / "prev" / f"{kind}.png")
        elapsed = time.perf_counter() - start
        with Image.open(out) as img:
            assert img.size == (320, 240) and img.mode == "RGB"
            pixels = np.asarray(img).reshape(-1, 3)
        colours = len(np.unique(pixels, axis=0))
        assert colours > 5
        assert elapsed < 1.0
    motion_img = np.asarray(Image.open(tmp_path / "prev" / "timeseries.png"))
    # each axis is drawn in its own colour
    for colour in [(31, 119, 180), (255, 127, 14), (44, 160, 44)]:
        assert (motion_img == colour).all(axis=2).sum() > 20
    with pytest.raises(ValueError, match="no preview for kind 'image'"):
        render_preview(audio, "image", tmp_path / "x.png")
