"""One vector per file, in each of the three modes.

An :class:`Extractor` fixes, for a whole run, the data kind, the block, the
sampling frequency, the window length and the sensor axes, so every sample
gives a vector of the same size. Per file it returns a :class:`Vector` or a
:class:`Failure` with the reason: one bad file never stops the run.

- ``dsp``: :class:`Extractor`, the block's features;
- ``pretrained``: :class:`NetworkExtractor`, a pre-trained network's
  penultimate layer (images, keyword audio);
- ``impulse``: :class:`ImpulseExtractor`, the block the user's model was
  trained on, then the model up to its last layer.

Signals are brought to the run's window as the studio's time-series input
does: resampled to the run's frequency, then zero-padded at the end when
shorter or cut to the first window when longer. Each such change is a note
on that sample.
"""

import collections
import concurrent.futures
import dataclasses
import logging

import numpy as np

from . import media
from .blocks import BlockError, block_info, get_block, list_blocks

logger = logging.getLogger(__name__)

DEFAULT_BLOCKS = {
    "timeseries": "spectral_analysis",
    "audio": "mfe",
    "image": "image",
}
DEFAULT_AUDIO_FS = 16000
DEFAULT_AUDIO_WINDOW_MS = 1000
# The kinds each mode serves; the refusal message names the others.
MODE_KINDS = {
    "dsp": ("image", "audio", "timeseries"),
    "pretrained": ("image", "audio"),
    "impulse": ("image", "audio", "timeseries"),
}


class FeatureError(ValueError):
    """The run's settings do not fit the data; the message says why."""


@dataclasses.dataclass
class Vector:
    vector: np.ndarray
    notes: list


@dataclasses.dataclass
class Failure:
    reason: str


def make_extractor(
    samples,
    mode="dsp",
    block=None,
    block_params=None,
    fs=None,
    window_ms=None,
    axes=None,
    network=None,
    weights=None,
    model_path=None,
    layer=None,
    precision=None,
):
    """Builds the extractor that fits a collection and a mode.

    ``precision`` ("float32" or "bfloat16") is for the image networks of
    ``pretrained`` mode; None means float32.

    Raises:
        FeatureError: mixed or unknown data kinds, a mode or block that does
            not serve this kind of data, a model or network that cannot be
            loaded or does not fit the block, or no readable sample to size
            the window
    """
    kind = data_kind(samples)
    if kind not in MODE_KINDS[mode]:
        serving = [m for m, kinds in MODE_KINDS.items() if kind in kinds]
        raise FeatureError(
            f"mode={mode!r} does not serve {kind} data; modes for {kind} "
            f"data: {serving}"
        )
    check_precision(mode, precision)
    if mode == "pretrained":
        precision = "float32" if precision is None else precision
        return _network_extractor(kind, network, weights, precision)
    if mode == "impulse":
        return _impulse_extractor(
            samples,
            kind,
            model_path,
            layer,
            block,
            block_params,
            fs,
            window_ms,
            axes,
        )
    return _block_extractor(samples, kind, block, block_params, fs, window_ms, axes)


def _block_extractor(samples, kind, block, block_params, fs, window_ms, axes):
    name = block or DEFAULT_BLOCKS[kind]
    try:
        blk = get_block(name, **(block_params or {}))
    except ValueError as e:
        raise FeatureError(str(e)) from e
    if kind not in blk.kinds:
        fits = [b for b in list_blocks() if kind in block_info(b)["kinds"]]
        raise FeatureError(
            f"block {blk.name!r} does not take {kind} data; blocks for {kind} "
            f"data: {fits}"
        )

    if kind == "image":
        return Extractor(kind, blk)
    if kind == "audio":
        fs = fs or DEFAULT_AUDIO_FS
        window_ms = window_ms or DEFAULT_AUDIO_WINDOW_MS
        return Extractor(kind, blk, fs=fs, frames=_frames(window_ms, fs))
    return _timeseries_extractor(samples, blk, fs, window_ms, axes)


def data_kind(samples):
    """The one kind of data in a collection: "image", "audio" or "timeseries".

    Uses the ``data_kind`` field written at import, else file extensions.
    """
    if samples.has_field("data_kind"):
        kinds = collections.Counter(samples.values("data_kind"))
    else:
        kinds = collections.Counter(map(media.media_kind, samples.values("filepath")))
    known = {k: n for k, n in kinds.items() if k is not None}
    if not known:
        raise FeatureError(
            f"none of the {len(samples)} samples is an image, audio file or "
            "sensor recording (by extension); see the README for the formats"
        )
    if len(known) > 1:
        found = ", ".join(f"{n} {k}" for k, n in sorted(known.items()))
        raise FeatureError(
            f"the samples mix data kinds ({found}); map one kind at a time, "
            "e.g. dataset.match(F('data_kind') == 'audio')"
        )
    return next(iter(known))


class Extractor:
    """Turns files of one kind into vectors of one size."""

    def __init__(self, kind, block, fs=None, frames=None, axes=None):
        self.kind = kind
        self.block = block
        self.fs = fs
        self.frames = frames
        self.axes = axes

    def config(self):
        """JSON-serialisable settings; equal configs give equal vectors."""
        window_ms = None if self.frames is None else 1000 * self.frames / self.fs
        return {
            "kind": self.kind,
            "block": self.block.config(),
            "fs": self.fs,
            "window_ms": window_ms,
            "axes": self.axes,
        }

    def describe(self):
        return f"{self.block.name} block v{self.block.version}"

    def vector(self, path):
        """The vector of one file, or a :class:`Failure` saying why not."""
        try:
            data, notes = self._read(path)
            out = np.asarray(self.block(data, self.fs or 0), dtype=np.float32)
        except (media.MediaError, BlockError, OSError) as e:
            return Failure(str(e))
        if not np.isfinite(out).all():
            return Failure(
                f"block {self.block.name} gave {np.sum(~np.isfinite(out))} "
                "non-finite values for this input"
            )
        return Vector(out.ravel(), notes)

    def map(self, paths, threads=None):
        """Vectors of many files, in order; the work runs on a thread pool."""
        workers = threads or 2
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            yield from pool.map(self.vector, paths)

    def input_shape(self, path):
        """The shape of the block's input for one file (for model checks)."""
        data, _ = self._read(path)
        return data.shape

    def _read(self, path):
        if self.kind == "image":
            return media.read_image(path), []
        if self.kind == "audio":
            signal = media.read_audio(path, fs=self.fs)
        else:
            signal = media.read_timeseries(path, axes=self.axes)
        notes = list(signal.notes)
        data = _resample(signal, self.fs, notes)
        return _fit_window(data, self.frames, self.fs, notes), notes


def _timeseries_extractor(samples, block, fs, window_ms, axes):
    first = _first_readable(samples, axes)
    axes = axes or first.axes
    if fs is None:
        fs = _most_common(samples, "sampling_freq") or first.fs
    if window_ms is None:
        frames = _most_common(samples, "n_frames") or len(first.data)
        native_fs = _most_common(samples, "sampling_freq") or first.fs
        frames = int(round(frames * fs / native_fs))
    else:
        frames = _frames(window_ms, fs)
    return Extractor("timeseries", block, fs=float(fs), frames=frames, axes=axes)


def _first_readable(samples, axes, tries=20):
    reasons = []
    for path in samples.limit(tries).values("filepath"):
        try:
            return media.read_timeseries(path, axes=axes)
        except (media.MediaError, OSError) as e:
            reasons.append(str(e))
    raise FeatureError(
        f"none of the first {tries} recordings could be read, so the window "
        f"cannot be sized; first error: {reasons[0] if reasons else 'none'}"
    )


def _most_common(samples, field):
    if not samples.has_field(field):
        return None
    values = [v for v in samples.values(field) if v]
    return collections.Counter(values).most_common(1)[0][0] if values else None


def _frames(window_ms, fs):
    frames = int(round(window_ms * fs / 1000))
    if frames < 1:
        raise FeatureError(
            f"window_ms={window_ms} at {fs} Hz is less than one sample; "
            "use a longer window"
        )
    return frames


def _resample(signal, fs, notes):
    if fs is None or np.isclose(signal.fs, fs):
        return signal.data
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(float(fs) / float(signal.fs)).limit_denominator(1000)
    notes.append(f"resampled {signal.fs:g} Hz -> {fs:g} Hz")
    out = resample_poly(signal.data, ratio.numerator, ratio.denominator, axis=0)
    return out.astype(np.float32)


def _fit_window(data, frames, fs, notes):
    n = len(data)
    if n == frames:
        return data
    if n < frames:
        notes.append(
            f"zero-padded {n} -> {frames} frames ({1000 * frames / fs:g} ms window)"
        )
        return np.pad(data, ((0, frames - n), (0, 0)))
    notes.append(f"cut to the first {frames} of {n} frames")
    return data[:frames]


class FieldSource:
    """Vectors that are already stored on the samples (``field`` mode)."""

    block = None

    def __init__(self, field):
        self.field = field

    def config(self):
        return {"field": self.field}

    def describe(self):
        return f"field {self.field!r}"


class NetworkExtractor:
    """Vectors from a pre-trained network's penultimate layer."""

    def __init__(self, kind, embedder):
        self.kind = kind
        self.embedder = embedder
        self.block = None

    def config(self):
        info = self.embedder.describe()
        return {"kind": self.kind, "network": info}

    def describe(self):
        return f"{self.embedder.name} network ({self.embedder.dim}-d)"

    def map(self, paths, threads=None):
        result = self.embedder.embed_files(list(paths))
        outcomes = [None] * len(paths)
        for row, index in enumerate(result.ok_indices):
            outcomes[index] = Vector(result.vectors[row], [])
        for index, _, reason in result.errors:
            outcomes[index] = Failure(reason)
        yield from outcomes


class ImpulseExtractor:
    """Vectors from the user's model, cut before its last layer."""

    def __init__(self, blocks, model):
        self.kind = blocks.kind
        self.blocks = blocks
        self.block = blocks.block
        self.model = model

    def config(self):
        return {**self.blocks.config(), "model": self.model.describe()}

    def describe(self):
        return (
            f"{self.model.format} model at {self.model.layer!r} "
            f"({self.model.output_dim}-d) after {self.blocks.describe()}"
        )

    def map(self, paths, threads=None):
        outcomes = list(self.blocks.map(paths, threads=threads))
        rows = [i for i, o in enumerate(outcomes) if isinstance(o, Vector)]
        if rows:
            features = np.stack([outcomes[i].vector for i in rows])
            vectors = self.model.embed(features)
            for row, i in enumerate(rows):
                outcomes[i] = Vector(vectors[row], outcomes[i].notes)
        yield from outcomes


def check_precision(mode, precision):
    """Raises :class:`FeatureError` unless ``precision`` fits ``mode``.

    None and "float32" fit every mode; "bfloat16" only ``pretrained`` (whose
    audio network refuses it in turn).
    """
    from .models.images import PRECISIONS

    if precision is not None and precision not in PRECISIONS:
        raise FeatureError(f"precision={precision!r} is not one of {list(PRECISIONS)}")
    if precision not in (None, "float32") and mode != "pretrained":
        raise FeatureError(
            f"precision={precision!r} applies to mode='pretrained' only; "
            f"mode={mode!r} runs in float32"
        )


def _network_extractor(kind, network, weights, precision):
    from .models import EmbedderUnavailable, get_embedder

    try:
        embedder = get_embedder(
            name=network, kind=kind, weights=weights, precision=precision
        )
    except (EmbedderUnavailable, ValueError) as e:
        raise FeatureError(str(e)) from e
    return NetworkExtractor(kind, embedder)


def _impulse_extractor(
    samples, kind, model_path, layer, block, block_params, fs, window_ms, axes
):
    from .impulse import ImpulseError, load_impulse

    if not model_path:
        raise FeatureError(
            "mode='impulse' needs model_path: the trained model file (Keras, "
            "TFLite, ONNX or PyTorch); train one with train_impulse if you "
            "have none"
        )
    config = None
    if block:
        config = {"block": block, "params": dict(block_params or {})}
    try:
        model = load_impulse(model_path, layer=layer, block_config=config)
    except ImpulseError as e:
        raise FeatureError(str(e)) from e
    if not model.block_config:
        raise FeatureError(
            f"model {model_path} has no block configuration: pass block= and "
            "block_params= (the block it was trained on), or put a block.json "
            "beside the model"
        )

    cfg = model.block_config
    trained = _trained_signal_settings(model)
    blocks = _block_extractor(
        samples,
        kind,
        cfg["block"],
        cfg.get("params"),
        fs or trained.get("fs"),
        window_ms or trained.get("window_ms"),
        axes or trained.get("axes"),
    )
    shape = _block_output_shape(samples, blocks)
    try:
        model.check_input(shape)
    except ImpulseError as e:
        raise FeatureError(str(e)) from e
    return ImpulseExtractor(blocks, model)


def _trained_signal_settings(model):
    """fs, window and axes the model was trained with, from its block.json."""
    import json

    if not model.sidecar:
        return {}
    data = json.loads(open(model.sidecar, encoding="utf-8").read())
    return data.get("input") or {}


def _block_output_shape(samples, blocks):
    for path in samples.limit(20).values("filepath"):
        try:
            shape = blocks.input_shape(path)
        except (media.MediaError, OSError):
            continue
        return (blocks.block.output_size(shape, blocks.fs),)
    raise FeatureError(
        "none of the first 20 samples could be read, so the model's input "
        "cannot be checked against the block"
    )
