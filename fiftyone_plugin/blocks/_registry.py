"""The one place where every block declares its parameters and its version.

Each :class:`BlockSpec` names the block, the implementation version(s) it
reproduces, the input kinds it takes, its parameters (names, types, defaults
and help as in the studio) and rules that involve more than one value. The
implementation class is named as ``"module:Class"`` and imported only when a
block is built, so that importing the package stays cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

from ._base import KINDS, Block, Param

#: A rule on the resolved parameters: returns an error message or None.
Rule = Callable[[dict], "str | None"]


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """Declaration of one block.

    Attributes
    ----------
    name : str
        Canonical name.
    title : str
        Human-readable name.
    description : str
        One sentence for user interfaces.
    versions : tuple of int
        Implementation versions this package implements (last = default).
    kinds : frozenset of str
        Input kinds accepted.
    params : tuple of Param
        Parameters, in the studio's order.
    impl : str
        ``"module:Class"`` of the implementation, relative to this package.
    rules : tuple of callables
        Checks across parameters; each returns an error message or ``None``.
    none_means : dict
        Parameters for which ``None`` is accepted and replaced by a value.
    """

    name: str
    title: str
    description: str
    versions: tuple
    kinds: frozenset
    params: tuple
    impl: str
    rules: tuple = ()
    none_means: dict = dataclasses.field(default_factory=dict)

    @property
    def latest(self) -> int:
        """The default implementation version."""
        return self.versions[-1]

    def block_class(self) -> type[Block]:
        """Import and return the implementation class."""
        module_name, cls_name = self.impl.split(":")
        module = importlib.import_module(f"{__package__}.{module_name}")
        return getattr(module, cls_name)

    def resolve(self, overrides: dict) -> dict:
        """Validate ``overrides`` and return all parameters, defaults filled in.

        Raises
        ------
        ValueError
            Naming the parameter, the value and the rule it breaks.
        """
        by_name = {p.name: p for p in self.params}
        unknown = sorted(set(overrides) - set(by_name))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for block "
                f"{self.name!r}; its parameters are: {', '.join(by_name)}"
            )
        values = {}
        for p in self.params:
            value = overrides.get(p.name, p.default)
            if value is None and p.name in self.none_means:
                value = self.none_means[p.name]
            values[p.name] = p.coerce(value)
        for rule in self.rules:
            message = rule(values)
            if message:
                raise ValueError(message)
        return values


# ----------------------------------------------------------------- rules
def _power_of_two(name: str) -> Rule:
    def rule(v: dict) -> str | None:
        n = v[name]
        if n < 1 or n & (n - 1):
            return f"parameter {name!r}={n} must be a power of two (e.g. 128, 256)"
        return None
    return rule


def _positive(name: str) -> Rule:
    def rule(v: dict) -> str | None:
        if not v[name] > 0:
            return f"parameter {name!r}={v[name]} must be greater than 0"
        return None
    return rule


def _odd_or_zero(name: str) -> Rule:
    def rule(v: dict) -> str | None:
        if v[name] != 0 and v[name] % 2 == 0:
            return (f"parameter {name!r}={v[name]} must be odd (a centred window) "
                    "or 0 (no normalisation)")
        return None
    return rule


def _frequency_band(v: dict) -> str | None:
    low, high = v["low_frequency"], v["high_frequency"]
    if high and low >= high:
        return (f"parameter 'low_frequency'={low} must be below "
                f"'high_frequency'={high} (or set high_frequency=0 for fs/2)")
    return None


def _cepstra_within_filters(v: dict) -> str | None:
    if v["num_cepstral"] > v["num_filters"]:
        return (f"parameter 'num_cepstral'={v['num_cepstral']} must not exceed "
                f"'num_filters'={v['num_filters']}")
    return None


def _any_statistic(v: dict) -> str | None:
    if not any(v[k] for k in _FLATTEN_STATS):
        return ("flatten needs at least one of the parameters "
                f"{', '.join(_FLATTEN_STATS)} set to true")
    return None


def _noise_floor(v: dict) -> str | None:
    if v["noise_floor_db"] >= 12:
        return (f"parameter 'noise_floor_db'={v['noise_floor_db']} must be below "
                "12 dB (the top of the mapped range)")
    return None


# ------------------------------------------------------------ parameters
_SCALE = Param("scale_axes", float, 1.0, "Multiplies axes by this number")

_WAVELETS = (
    "bior1.3", "bior1.5", "bior2.2", "bior2.4", "bior2.6", "bior2.8", "bior3.1",
    "bior3.3", "bior3.5", "bior3.7", "bior3.9", "bior4.4", "bior5.5", "bior6.8",
    "coif1", "coif2", "coif3", "db2", "db3", "db4", "db5", "db6", "db7", "db8",
    "db9", "db10", "haar", "rbio1.3", "rbio1.5", "rbio2.2", "rbio2.4", "rbio2.6",
    "rbio2.8", "rbio3.1", "rbio3.3", "rbio3.5", "rbio3.7", "rbio3.9", "rbio4.4",
    "rbio5.5", "rbio6.8", "sym2", "sym3", "sym4", "sym5", "sym6", "sym7", "sym8",
    "sym9", "sym10",
)

_SPECTRAL_PARAMS = (
    _SCALE,
    Param("input_decimation_ratio", int, 1,
          "Decimate the signal by this ratio first (anti-aliased)",
          choices=(1, 3, 10, 30, 100, 1000)),
    Param("filter_type", str, "none",
          "Butterworth filter applied to the raw data (low = low-pass)",
          choices=("low", "high", "none")),
    Param("filter_cutoff", float, 3.0, "Cut-off frequency of the filter in Hz"),
    Param("filter_order", int, 6,
          "Number of poles of the filter; 0 only masks the FFT bins",
          choices=(0, 2, 4, 6, 8)),
    Param("analysis_type", str, "FFT", "Type of spectral analysis",
          choices=("FFT", "Wavelet")),
    Param("fft_length", int, 16, "Number of FFT points (a power of two)",
          min=2, max=65536),
    Param("spectral_peaks_count", int, 3,
          "Number of spectral peaks (implementation version 1 only)", min=0),
    Param("spectral_peaks_threshold", float, 0.1,
          "Minimum normalised peak height (implementation version 1 only)"),
    Param("spectral_power_edges", str, "0.1, 0.5, 1.0, 2.0, 5.0",
          "Spectral power buckets in Hz (implementation version 1 only)"),
    Param("do_log", bool, True, "Apply log base 10 to the spectrum"),
    Param("do_fft_overlap", bool, True,
          "Overlap successive FFT frames by half their length"),
    Param("wavelet_level", int, 1, "Wavelet decomposition level", min=0, max=12),
    Param("wavelet", str, "db4", "Wavelet to use", choices=_WAVELETS),
    Param("extra_low_freq", bool, False,
          "Also analyse the signal decimated by 10 (better low-frequency "
          "resolution)"),
)

_FRAME_LENGTH = Param("frame_length", float, 0.02,
                      "The length of each frame in seconds")
_FFT = Param("fft_length", int, 256, "Number of FFT points (a power of two)",
             min=1, max=65536)
_LOW = Param("low_frequency", int, 0, "Lowest band edge of mel filters (Hz)",
             min=0)
_HIGH = Param("high_frequency", int, 0,
              "Highest band edge of mel filters (Hz); 0 means fs / 2", min=0)
_WIN = Param("win_size", int, 101,
             "The size of the sliding window for local normalisation (odd, "
             "0 = off)", min=0)
_NOISE = Param("noise_floor_db", int, -52,
               "Everything less loud than the noise floor (dB) is dropped")


def _stride(default: float) -> Param:
    return Param("frame_stride", float, default,
                 "The step between successive frames in seconds")


def _filters(default: int) -> Param:
    return Param("num_filters", int, default,
                 "The number of filters in the mel filterbank", min=2)


_MFCC_PARAMS = (
    _FRAME_LENGTH, _stride(0.02), _filters(32), _FFT,
    Param("num_cepstral", int, 13, "Number of cepstral coefficients", min=1),
    _WIN, _LOW, _HIGH,
    Param("pre_cof", float, 0.98,
          "The pre-emphasis coefficient; 0 means no filtering"),
    Param("pre_shift", int, 1, "The pre-emphasis shift in samples", min=1),
)

_MFE_PARAMS = (
    _FRAME_LENGTH, _stride(0.01), _filters(40), _FFT, _LOW, _HIGH,
    dataclasses.replace(_WIN, help="Sliding normalisation window "
                        "(implementation versions 1-2 only; unused in 4)"),
    _NOISE,
)

_SPECTROGRAM_PARAMS = (
    _FRAME_LENGTH, _stride(0.01),
    dataclasses.replace(_FFT, default=128),
    Param("show_axes", bool, True,
          "Show frequency / time axes in graphs (no effect on features)"),
    _NOISE,
)

_FLATTEN_STATS = ("average", "minimum", "maximum", "rms", "stdev", "skewness",
                  "kurtosis")
_FLATTEN_HELP = ("average value", "minimum value", "maximum value",
                 "root-mean-square value", "standard deviation", "skewness",
                 "excess kurtosis")
_FLATTEN_PARAMS = (_SCALE,) + tuple(
    Param(name, bool, True, f"Calculates the {what} of the window")
    for name, what in zip(_FLATTEN_STATS, _FLATTEN_HELP)
)

_IMAGE_PARAMS = (
    Param("channels", str, "RGB", "Colour depth to use",
          choices=("RGB", "Grayscale")),
    Param("width", int, 96, "Resize to this width first (0 = no resizing)",
          min=0, max=8192),
    Param("height", int, 96, "Resize to this height first (0 = no resizing)",
          min=0, max=8192),
    Param("resize_mode", str, "squash",
          "How to resize: squash (stretch), fit-short (scale, centre-crop) or "
          "fit-long (scale, pad)",
          choices=("squash", "fit-short", "fit-long")),
)

_AUDIO = frozenset({"audio", "timeseries"})

SPECS: dict[str, BlockSpec] = {spec.name: spec for spec in (
    BlockSpec(
        "flatten", "Flatten",
        "Per-axis statistics of the window (mean, min, max, RMS, ...).",
        (1,), frozenset({"timeseries"}), _FLATTEN_PARAMS,
        "basic:FlattenBlock", rules=(_any_statistic,)),
    BlockSpec(
        "image", "Image",
        "Resized, normalised pixels (RGB or grayscale).",
        (1,), frozenset({"image"}), _IMAGE_PARAMS, "image:ImageBlock",
        none_means={"width": 0, "height": 0}),
    BlockSpec(
        "mfcc", "Audio (MFCC)",
        "Mel-frequency cepstral coefficients per frame.",
        (4,), _AUDIO, _MFCC_PARAMS, "audio:MFCCBlock",
        rules=(_positive("frame_length"), _positive("frame_stride"),
               _power_of_two("fft_length"), _odd_or_zero("win_size"),
               _frequency_band, _cepstra_within_filters)),
    BlockSpec(
        "mfe", "Audio (MFE)",
        "Mel-filterbank energies per frame, in dB mapped to 0..1.",
        (4,), _AUDIO, _MFE_PARAMS, "audio:MFEBlock",
        rules=(_positive("frame_length"), _positive("frame_stride"),
               _power_of_two("fft_length"), _frequency_band, _noise_floor)),
    BlockSpec(
        "raw", "Raw data",
        "The (scaled) raw samples, axis by axis.",
        (1,), frozenset({"timeseries", "audio"}), (_SCALE,), "basic:RawBlock"),
    BlockSpec(
        "spectral_analysis", "Spectral analysis",
        "Per-axis statistics and FFT power spectrum (or wavelet statistics).",
        (4,), frozenset({"timeseries"}), _SPECTRAL_PARAMS,
        "spectral:SpectralAnalysisBlock",
        rules=(_positive("filter_cutoff"), _power_of_two("fft_length"))),
    BlockSpec(
        "spectrogram", "Spectrogram",
        "Power spectrum per frame, in dB mapped with the noise floor.",
        (4,), _AUDIO, _SPECTROGRAM_PARAMS, "audio:SpectrogramBlock",
        rules=(_positive("frame_length"), _positive("frame_stride"),
               _power_of_two("fft_length"), _noise_floor)),
)}

assert all(spec.kinds <= KINDS for spec in SPECS.values())


def find_spec(name: Any) -> BlockSpec:
    """Return the spec of block ``name`` (hyphens, spaces and case ignored).

    Raises
    ------
    ValueError
        If no such block exists; the message lists the known names.
    """
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in SPECS:
        raise ValueError(
            f"unknown block {name!r}; known blocks: {', '.join(sorted(SPECS))}"
        )
    return SPECS[key]


_ALIASES = {"spectral": "spectral_analysis", "spectral_features": "spectral_analysis",
            "raw_data": "raw"}
