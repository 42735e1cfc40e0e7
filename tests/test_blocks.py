"""Tests of the preprocessing blocks (fiftyone_plugin.blocks).

The reference cases in ``tests/data/reference_dsp`` are the studio's own
outputs (see its README.md); the other tests check known answers.
"""

from __future__ import annotations

import json
import math
import pathlib
import time

import numpy as np
import pytest
import scipy.fft
import scipy.stats

from fiftyone_plugin.blocks import (Block, BlockError, Param, block_params,
                                    get_block, list_blocks)
from fiftyone_plugin.blocks import _dsp

REF = pathlib.Path(__file__).resolve().parent / "data" / "reference_dsp"
CASES = json.loads((REF / "cases.json").read_text())
TOLERANCE = 1e-4
MFE_STEP = 1 / 256


# ------------------------------------------------------------------ helpers
def unpack_image(packed: np.ndarray) -> np.ndarray:
    """``[width, height, 0xRRGGBB, ...]`` -> (H, W, 3) uint8."""
    width, height = int(packed[0]), int(packed[1])
    px = packed[2:].astype(np.int64)
    rgb = np.stack([(px >> 16) & 255, (px >> 8) & 255, px & 255], axis=-1)
    return rgb.astype(np.uint8).reshape(height, width, 3)


def load_case(name: str) -> tuple[Block, np.ndarray, float, dict]:
    """Block, de-interleaved input, fs and the case description."""
    case = CASES[name]
    raw = np.load(REF / "inputs" / f"{case['input']}.npy")
    params = dict(case["params"])
    if case["block"] == "image":
        data = unpack_image(raw)
        params.update(width=0, height=0)  # the reference case is not resized
    else:
        data = raw.reshape(-1, len(case["axes"]))
    block = get_block(case["block"], version=case["implementation_version"],
                      **params)
    return block, data, case["sampling_freq"], case


def audio_clip(seconds: float = 1.0, fs: int = 16000) -> np.ndarray:
    """A chirp plus noise on the int16 scale, shape (n, 1)."""
    t = np.arange(int(seconds * fs)) / fs
    rng = np.random.default_rng(1)
    x = 8000 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 300 * rng.normal(size=t.size)
    return np.round(x)[:, None]


# --------------------------------------------------------- reference cases
@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_case(name):
    block, data, fs, case = load_case(name)
    expected = np.load(REF / f"{name}.npy")
    meta = json.loads((REF / f"{name}.meta.json").read_text())
    n_features = case["result"]["n_features"]

    out = block(data, fs)

    assert out.dtype == np.float32 and out.ndim == 1
    assert out.size == n_features == meta["n_features"] == expected.size
    assert block.output_size(data.shape, fs) == n_features
    shape = meta["output_config"]["shape"]
    if meta["output_config"]["type"] == "spectrogram":
        assert block.output_shape(data.shape, fs) == (int(shape["width"]),
                                                      int(shape["height"]))
    elif meta["output_config"]["type"] == "image":
        assert block.output_shape(data.shape, fs) == (
            shape["height"], shape["width"], shape["channels"])
    names = block.feature_names(data.shape, fs, case["axes"] if data.ndim == 2
                                else None)
    assert len(names) == n_features

    diff = np.abs(out.astype(np.float64) - expected)
    if case["block"] == "mfe":
        # 8-bit quantised: exact, or one step on a few cells
        assert diff.max() <= MFE_STEP + 1e-9, diff.max()
        assert np.count_nonzero(diff > 1e-9) <= 0.01 * diff.size
    else:
        assert diff.max() <= TOLERANCE, diff.max()

    if "labels" in meta:  # studio labels of the first axis
        per_axis = [n.split(" ", 1)[1] for n in names[: len(meta["labels"])]]
        assert per_axis == meta["labels"]


def test_reference_cases_cover_every_block():
    assert {c["block"] for c in CASES.values()} == set(list_blocks())


# ------------------------------------------------------------ registry/API
def test_list_blocks():
    assert list_blocks() == ["flatten", "image", "mfcc", "mfe", "raw",
                             "spectral_analysis", "spectrogram"]


def test_aliases_and_canonical_names():
    assert get_block("spectral-analysis").name == "spectral_analysis"
    assert get_block("Spectral Analysis").name == "spectral_analysis"
    assert get_block("mfcc").version == 4
    assert get_block("flatten").version == 1


def test_unknown_block_lists_known_names():
    with pytest.raises(ValueError, match="known blocks: flatten, image, mfcc"):
        get_block("fft")


@pytest.mark.parametrize("name", ["flatten", "image", "mfcc", "mfe", "raw",
                                  "spectral_analysis", "spectrogram"])
def test_block_params_declared(name):
    params = block_params(name)
    assert params and all(isinstance(p, Param) for p in params)
    for p in params:
        assert p.type in (int, float, bool, str)
        assert isinstance(p.default, p.type) and p.help
        if p.choices is not None:
            assert p.default in p.choices
    block = get_block(name)
    assert block.params == {p.name: p.default for p in params}
    assert block.kinds and block.kinds <= {"timeseries", "audio", "image"}


def test_studio_defaults():
    sa = {p.name: p.default for p in block_params("spectral_analysis")}
    assert sa["fft_length"] == 16 and sa["filter_type"] == "none"
    assert sa["filter_cutoff"] == 3 and sa["filter_order"] == 6
    mfcc = {p.name: p.default for p in block_params("mfcc")}
    assert (mfcc["frame_length"], mfcc["frame_stride"], mfcc["num_filters"],
            mfcc["fft_length"], mfcc["num_cepstral"], mfcc["win_size"]) == (
        0.02, 0.02, 32, 256, 13, 101)
    mfe = {p.name: p.default for p in block_params("mfe")}
    assert (mfe["frame_stride"], mfe["num_filters"], mfe["noise_floor_db"]) == (
        0.01, 40, -52)
    image = {p.name: p.default for p in block_params("image")}
    assert image == {"channels": "RGB", "width": 96, "height": 96,
                     "resize_mode": "squash"}


def test_kinds():
    assert get_block("spectral_analysis").kinds == {"timeseries"}
    assert get_block("raw").kinds == {"timeseries", "audio"}
    assert get_block("mfcc").kinds == {"audio", "timeseries"}
    assert get_block("image").kinds == {"image"}


@pytest.mark.parametrize("kwargs, pattern", [
    ({"nfft": 32}, r"unknown parameter\(s\) 'nfft'"),
    ({"fft_length": "32"}, r"'fft_length'='32' must be of type int"),
    ({"fft_length": 32.5}, r"'fft_length'=32.5 must be of type int"),
    ({"fft_length": 48}, r"'fft_length'=48 must be a power of two"),
    ({"fft_length": 0}, r"'fft_length'=0 is below its minimum"),
    ({"filter_type": "band"}, r"'filter_type'='band' is not one of"),
    ({"filter_order": 5}, r"'filter_order'=5 is not one of"),
    ({"filter_cutoff": 0}, r"'filter_cutoff'=0.0 must be greater than 0"),
    ({"do_log": 1}, r"'do_log'=1 must be of type bool"),
    ({"scale_axes": float("nan")}, r"'scale_axes'=nan must be of type float"),
])
def test_parameter_errors_name_the_parameter(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        get_block("spectral_analysis", **kwargs)


def test_parameter_rules_of_audio_blocks():
    with pytest.raises(ValueError, match="'win_size'=100 must be odd"):
        get_block("mfcc", win_size=100)
    with pytest.raises(ValueError, match="'num_cepstral'=20 must not exceed"):
        get_block("mfcc", num_filters=16, num_cepstral=20)
    with pytest.raises(ValueError, match="'low_frequency'=4000 must be below"):
        get_block("mfe", low_frequency=4000, high_frequency=3000)
    with pytest.raises(ValueError, match="'channels'='RGBA' is not one of"):
        get_block("image", channels="RGBA")
    with pytest.raises(ValueError, match="flatten needs at least one"):
        get_block("flatten", **{k: False for k in ("average", "minimum", "maximum",
                                                    "rms", "stdev", "skewness",
                                                    "kurtosis")})


def test_parameter_coercion():
    block = get_block("spectral_analysis", fft_length=32.0, scale_axes=2,
                      filter_cutoff=np.float32(4))
    assert block.params["fft_length"] == 32 and type(block.params["fft_length"]) is int
    assert type(block.params["scale_axes"]) is float
    assert get_block("image", width=None, height=None).params["width"] == 0


def test_versions():
    assert get_block("mfcc", version=4).version == 4
    with pytest.raises(ValueError, match="version 3 is not implemented; "
                                         "implemented version"):
        get_block("mfcc", version=3)
    with pytest.raises(ValueError, match="implemented version"):
        get_block("image", version=2)


@pytest.mark.parametrize("name", ["flatten", "image", "mfcc", "mfe", "raw",
                                  "spectral_analysis", "spectrogram"])
def test_config_round_trip(name):
    overrides = {"spectral_analysis": {"fft_length": 32, "filter_type": "low"},
                 "mfcc": {"num_cepstral": 10}, "image": {"channels": "Grayscale"}}
    block = get_block(name, **overrides.get(name, {}))
    config = json.loads(json.dumps(block.config()))
    assert config == {"block": name, "version": block.version,
                      "params": block.params}
    assert Block.from_config(config) == block
    assert get_block(**config) == block
    assert get_block(**config).params == block.params


def test_from_config_rejects_bad_keys():
    with pytest.raises(ValueError, match="must have the keys"):
        Block.from_config({"name": "mfcc"})


# ------------------------------------------------------- spectral analysis
def test_sine_peaks_in_its_fft_bin():
    fs, n_fft, k = 100.0, 64, 8  # bin 8 = 12.5 Hz
    t = np.arange(400) / fs
    x = np.stack([np.sin(2 * np.pi * k * fs / n_fft * t),
                  0.5 * np.sin(2 * np.pi * 20 * fs / n_fft * t)], axis=1)
    block = get_block("spectral_analysis", fft_length=n_fft)
    out = block(x, fs).reshape(2, -1)
    bins = out[:, 5:]  # log10 power of bins 1..32
    assert bins.shape == (2, n_fft // 2)
    assert np.argmax(bins[0]) + 1 == k
    assert np.argmax(bins[1]) + 1 == 20
    assert out[0, 0] == pytest.approx(1 / math.sqrt(2), rel=1e-3)  # RMS
    names = block.feature_names(x.shape, fs, ["x", "y"])
    assert names[5 + k - 1] == "x Spectral Power 11.72 - 13.28 Hz"


def test_spectral_filter_cut_bins():
    fs = 62.5
    low = get_block("spectral_analysis", filter_type="low", filter_cutoff=10,
                    fft_length=32)
    # bins of 1.95 Hz: kept while (f - 0.98) <= 10 Hz -> bins 1..5
    assert low.output_shape((125, 1), fs) == (5 + 5,)
    high = get_block("spectral_analysis", filter_type="high", filter_cutoff=25,
                     fft_length=32)
    assert high.output_shape((125, 1), fs) == (5 + 4,)  # bins 13..16
    mask_only = get_block("spectral_analysis", filter_type="low",
                          filter_cutoff=10, filter_order=0, fft_length=32)
    assert mask_only.output_size((125, 2), fs) == 20


def test_spectral_short_signal_is_zero_padded():
    block = get_block("spectral_analysis", fft_length=64)
    x = np.random.default_rng(0).normal(size=(20, 3))
    out = block(x, 50.0)
    assert out.shape == (3 * (5 + 32),) and np.isfinite(out).all()


def test_spectral_constant_signal_has_no_nan():
    out = get_block("spectral_analysis")(np.full((100, 2), 9.81), 50.0)
    assert np.isfinite(out).all()
    assert out[1] == 0 and out[2] == -3  # skewness, kurtosis of constant data


def test_spectral_configuration_errors_at_call():
    x = np.zeros((200, 1))
    with pytest.raises(BlockError, match="above the Nyquist"):
        get_block("spectral_analysis", filter_type="low", filter_cutoff=40)(x, 62.5)
    with pytest.raises(BlockError, match="lower the decimation ratio"):
        get_block("spectral_analysis", filter_type="low", filter_cutoff=3,
                  input_decimation_ratio=10)(x, 62.5)
    with pytest.raises(BlockError, match="wavelet_level=3 needs at least 256"):
        get_block("spectral_analysis", analysis_type="Wavelet",
                  wavelet_level=3)(x, 62.5)


def test_wavelet_feature_layout():
    block = get_block("spectral_analysis", analysis_type="Wavelet", wavelet_level=2)
    x = np.random.default_rng(2).normal(size=(256, 2))
    out = block(x, 100.0)
    assert out.shape == (2 * 3 * 14,) and np.isfinite(out).all()
    names = block.feature_names(x.shape, 100.0, ["a", "b"])
    assert names[0] == "a L0-entropy" and names[-1] == "b L2-kurtosis"


def test_extra_low_frequency_features_follow_all_axes():
    block = get_block("spectral_analysis", extra_low_freq=True, fft_length=16)
    x = np.random.default_rng(3).normal(size=(400, 2))
    out = block(x, 100.0)
    names = block.feature_names(x.shape, 100.0, ["a", "b"])
    assert out.size == len(names) == 2 * (5 + 8) * 2
    assert names[26] == "a RMS LF" and names[-1].endswith(" LF")


# --------------------------------------------------------- flatten and raw
def test_flatten_matches_numpy_and_scipy():
    rng = np.random.default_rng(4)
    x = rng.gamma(2.0, size=(300, 3))
    out = get_block("flatten", scale_axes=2.0)(x, 10.0).reshape(3, 7)
    y = 2.0 * x
    expected = np.stack([y.mean(0), y.min(0), y.max(0),
                         np.sqrt((y**2).mean(0)), y.std(0),
                         scipy.stats.skew(y, axis=0),
                         scipy.stats.kurtosis(y, axis=0)], axis=-1)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_flatten_selected_statistics():
    block = get_block("flatten", average=False, stdev=False, kurtosis=False)
    x = np.arange(12.0).reshape(6, 2)
    assert block.output_shape(x.shape, 1.0) == (8,)
    assert block.feature_names(x.shape, 1.0, ["u", "v"])[:4] == [
        "u Minimum", "u Maximum", "u RMS", "u Skewness"]
    np.testing.assert_allclose(block(x, 1.0)[:2], [0, 10])


def test_raw_returns_scaled_signal_in_studio_order():
    # The studio's raw block returns its input order: frame by frame,
    # axes interleaved (x0, y0, z0, x1, ...) - see the raw_scale1 reference.
    x = np.arange(12.0).reshape(4, 3)
    block = get_block("raw", scale_axes=0.5)
    np.testing.assert_array_equal(block(x, 10.0), 0.5 * x.reshape(-1))
    assert block.output_shape(x.shape, 10.0) == (12,)
    assert block.feature_names(x.shape, 10.0, ["x", "y", "z"])[:4] == [
        "x t0", "y t0", "z t0", "x t1"]


# ------------------------------------------------------------------- audio
def test_dct_matrix_is_orthonormal_dct2():
    x = np.random.default_rng(5).normal(size=(7, 32))
    np.testing.assert_allclose(x @ _dsp.dct_matrix(32, 13),
                               scipy.fft.dct(x, type=2, norm="ortho")[:, :13],
                               atol=1e-12)


def test_filterbank_segmented_sum_equals_matrix_product():
    bank = _dsp.mel_filterbank(40, 512, 16000.0, 0.0, 8000.0)
    assert bank.matrix.shape == (40, 257)
    power = np.random.default_rng(6).random((9, 257))
    np.testing.assert_allclose(bank.apply(power), power @ bank.matrix.T,
                               rtol=1e-12)
    # edges snapped to whole bins: every filter peaks at exactly 1
    np.testing.assert_array_equal(bank.matrix.max(axis=1), 1.0)


def test_filterbank_with_too_many_filters():
    with pytest.raises(BlockError, match="lower num_filters"):
        _dsp.MelFilterbank(128, 64, 16000.0, 0.0, 8000.0)


def test_sliding_cmvn_matches_direct_windows():
    rng = np.random.default_rng(7)
    feats = rng.normal(3, 2, size=(30, 4))
    win = 41  # wider than the clip: mirrored repeatedly
    pad = (win - 1) // 2
    padded = np.pad(feats, ((pad, pad), (0, 0)), "symmetric")
    centred = np.stack([feats[i] - padded[i:i + win].mean(0) for i in range(30)])
    padded_c = np.pad(centred, ((pad, pad), (0, 0)), "symmetric")
    expected = np.stack([centred[i] / (padded_c[i:i + win].std(0) + 1e-10)
                         for i in range(30)])
    np.testing.assert_allclose(_dsp.sliding_cmvn(feats, win), expected,
                               rtol=1e-5, atol=1e-5)


def test_frame_counts():
    assert _dsp.frame_geometry(16000, 0.02, 0.01) == (320, 160)
    assert _dsp.frame_geometry(16000, 0.025, 0.01) == (400, 160)
    assert _dsp.frame_geometry(11025, 0.02, 0.02) == (221, 221)  # rounded up
    block = get_block("mfcc")
    assert block.output_shape((16000, 1), 16000) == (50, 13)
    assert block.output_shape((320, 1), 16000) == (1, 13)
    assert get_block("mfe").output_shape((16000, 1), 16000) == (99, 40)
    assert get_block("spectrogram").output_shape((8000, 1), 8000) == (99, 65)


def test_audio_too_short_is_block_error():
    block = get_block("mfcc")
    with pytest.raises(BlockError, match=r"signal has 120 frames \(7\.5 ms at "
                                         r"16000 Hz\) but frame_length=0\.02 s "
                                         r"needs at least 320"):
        block(np.zeros((120, 1)), 16000)
    with pytest.raises(BlockError, match="needs at least 320"):
        block.output_shape((120, 1), 16000)


def test_audio_too_many_frames_is_block_error():
    with pytest.raises(BlockError, match="more than the studio's limit of 500"):
        get_block("mfe")(audio_clip(6.0), 16000)


def test_audio_needs_one_axis():
    with pytest.raises(BlockError, match="signal has 2 axes but the mfcc block "
                                         "takes exactly 1"):
        get_block("mfcc")(np.zeros((16000, 2)), 16000)


def test_audio_block_accepts_one_axis_timeseries_and_1d():
    clip = audio_clip()
    block = get_block("mfcc")
    np.testing.assert_array_equal(block(clip, 16000), block(clip[:, 0], 16000))


def test_mfcc_coefficient_zero_is_log_energy():
    clip = audio_clip()
    out = get_block("mfcc", win_size=0, pre_cof=0.0)(clip, 16000).reshape(50, 13)
    frames = clip[:320 * 50, 0].reshape(50, 320)[:, :256]
    energy = (np.abs(np.fft.rfft(frames, 256)) ** 2 / 256).sum(axis=1)
    np.testing.assert_allclose(out[:, 0], np.log(energy), rtol=1e-5)


def test_mfe_is_quantised_and_saturates():
    t = np.arange(16000) / 16000
    loud = (32767 * np.sin(2 * np.pi * 6000 * t))[:, None]  # about +20 dB
    out = get_block("mfe", noise_floor_db=0)(loud, 16000)
    np.testing.assert_array_equal(out * 256, np.round(out * 256))
    assert out.max() == 255 / 256 and out.min() >= 0


def test_spectrogram_column_names_are_frequencies():
    block = get_block("spectrogram", fft_length=64)
    names = block.feature_names((16000, 1), 16000)
    assert names[:2] == ["t0 0Hz", "t0 250Hz"] and names[-1] == "t98 8000Hz"


def test_spectrogram_frame_under_four_samples():
    with pytest.raises(BlockError, match="under 4 samples"):
        get_block("spectrogram", frame_length=0.0002)(np.zeros((8000, 1)), 8000)


def test_mfcc_is_fast():
    clip = audio_clip()
    block = get_block("mfcc")
    block(clip, 16000)
    start = time.perf_counter()
    for _ in range(50):
        block(clip, 16000)
    per_clip = (time.perf_counter() - start) / 50
    assert per_clip < 0.02, per_clip  # ~0.2 ms on an idle machine


# -------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_block_error(bad):
    x = np.ones((100, 3))
    x[42, 1] = bad
    with pytest.raises(BlockError, match="first at frame 42, axis 1"):
        get_block("flatten")(x, 10.0)


@pytest.mark.parametrize("fs", [0, -1, None, float("nan"), "fast"])
def test_bad_sampling_frequency(fs):
    with pytest.raises(BlockError, match="sampling frequency"):
        get_block("spectral_analysis")(np.ones((100, 1)), fs)


def test_bad_signal_shapes():
    block = get_block("spectral_analysis")
    with pytest.raises(BlockError, match="empty"):
        block(np.zeros((0, 3)), 10.0)
    with pytest.raises(BlockError, match="not \\(n_frames, n_axes\\)"):
        block(np.zeros((4, 4, 4)), 10.0)
    with pytest.raises(BlockError, match="not numeric"):
        block([["a", "b"]], 10.0)


@pytest.mark.parametrize("image, pattern", [
    (np.zeros((4, 4, 3), dtype=np.float32), "dtype float32 is not uint8"),
    (np.zeros((4, 4), dtype=np.uint8), r"shape \(4, 4\) is not \(H, W, 3\)"),
    (np.zeros((4, 4, 4), dtype=np.uint8), r"shape \(4, 4, 4\) is not"),
    ([[1, 2, 3]], "not a numpy array"),
])
def test_bad_images_are_block_error(image, pattern):
    with pytest.raises(BlockError, match=pattern):
        get_block("image")(image)


# ------------------------------------------------------------------- image
def test_grayscale_weights():
    image = np.zeros((1, 4, 3), dtype=np.uint8)
    image[0, 0] = (255, 0, 0)
    image[0, 1] = (0, 255, 0)
    image[0, 2] = (0, 0, 255)
    image[0, 3] = (10, 20, 30)
    out = get_block("image", channels="Grayscale", width=0, height=0)(image)
    np.testing.assert_allclose(
        out, [0.299, 0.587, 0.114, (0.299 * 10 + 0.587 * 20 + 0.114 * 30) / 255],
        rtol=1e-6)


def test_rgb_layout_is_row_major_interleaved():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    out = get_block("image", width=0, height=0)(image)
    np.testing.assert_allclose(out, image.reshape(-1) / 255.0, rtol=1e-6)


@pytest.mark.parametrize("mode", ["squash", "fit-short", "fit-long"])
@pytest.mark.parametrize("channels, depth", [("RGB", 3), ("Grayscale", 1)])
def test_resize_modes_give_requested_shape(mode, channels, depth):
    image = np.random.default_rng(8).integers(0, 256, (30, 80, 3), dtype=np.uint8)
    block = get_block("image", width=32, height=24, resize_mode=mode,
                      channels=channels)
    assert block.output_shape(image.shape) == (24, 32, depth)
    out = block(image)
    assert out.shape == (24 * 32 * depth,) and 0 <= out.min() <= out.max() <= 1
    assert len(block.feature_names(image.shape)) == out.size


def test_fit_long_pads_and_fit_short_crops():
    image = np.full((10, 40, 3), 200, dtype=np.uint8)  # wide, uniform grey
    padded = get_block("image", width=20, height=20, resize_mode="fit-long")(
        image).reshape(20, 20, 3)
    assert padded[0].max() == 0 and padded[-1].max() == 0  # black bars
    assert padded[10].min() == pytest.approx(200 / 255)
    cropped = get_block("image", width=20, height=20, resize_mode="fit-short")(
        image).reshape(20, 20, 3)
    np.testing.assert_allclose(cropped, 200 / 255, rtol=1e-6)


def test_no_resize_keeps_input_size():
    image = np.zeros((5, 7, 3), dtype=np.uint8)
    assert get_block("image", width=0, height=0).output_shape(image.shape) == (5, 7, 3)
    assert get_block("image", width=7, height=5)(image).size == 105


# ---------------------------------------------------------- feature names
@pytest.mark.parametrize("name, shape, fs", [
    ("flatten", (100, 3), 50.0), ("raw", (10, 2), 50.0),
    ("spectral_analysis", (125, 3), 62.5), ("mfcc", (16000, 1), 16000),
    ("mfe", (16000, 1), 16000), ("spectrogram", (16000, 1), 16000),
    ("image", (96, 96, 3), None),
])
def test_feature_names_match_output_size(name, shape, fs):
    block = get_block(name)
    names = block.feature_names(shape, fs)
    assert len(names) == block.output_size(shape, fs) == len(set(names))
