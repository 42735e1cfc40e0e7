"""Block features per second, next to a straightforward numpy/scipy version.

    .venv/bin/python bench/bench_blocks.py --quick      # about 20 s
    .venv/bin/python bench/bench_blocks.py              # longer rounds

Each block of ``fiftyone_plugin.blocks`` (built once with ``get_block(name)``
and its defaults) is called on realistic inputs: 1 s of 16 kHz audio (int16
scale) for mfcc / mfe / spectrogram, 2 s of 62.5 Hz 3-axis motion for
spectral_analysis / flatten / raw, a 96x96 RGB image for image. The
alternative is what one would write per call with numpy and scipy (librosa
is not installed): framing + Hamming window + rfft power + a mel filterbank
built on every call (+ DCT for MFCC), ``scipy.signal.spectrogram``,
``scipy.signal.welch`` plus statistics, numpy/scipy.stats statistics,
``np.ravel``, Pillow resize. When ``python_speech_features`` is importable its
``mfcc`` / ``logfbank`` are timed too. The outputs differ in detail (the blocks
follow the studio's layouts); the point is the cost of the same kind of work.
Rate = calls per second, median of the rounds, on one thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short rounds")
    p.add_argument("--threads", type=int, default=2,
                   help="accepted for run.py; the blocks are single-threaded")
    return p.parse_args(argv)


# -- inputs ---------------------------------------------------------------------


def inputs():
    import numpy as np

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    audio = (3000 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t)
             + 500 * rng.standard_normal(16000)).astype(np.float32)
    tm = np.arange(125) / 62.5
    motion = np.stack([np.sin(2 * np.pi * f * tm) + 0.1 * rng.standard_normal(125)
                       for f in (1.0, 2.5, 4.0)], axis=1).astype(np.float32)
    image = rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
    return {"audio": (audio[:, None], 16000.0), "motion": (motion, 62.5),
            "image": (image, None)}


BLOCKS = (("mfcc", "audio"), ("mfe", "audio"), ("spectrogram", "audio"),
          ("spectral_analysis", "motion"), ("flatten", "motion"),
          ("raw", "motion"), ("image", "image"))


# -- the straightforward alternatives ---------------------------------------------


def _frames(x, fs, length, stride):
    import numpy as np

    n, step = int(round(length * fs)), int(round(stride * fs))
    count = 1 + (len(x) - n) // step
    idx = np.arange(n)[None, :] + step * np.arange(count)[:, None]
    return x[idx] * np.hamming(n)


def _mel_bank(n_filters, n_fft, fs):
    import numpy as np

    mel = np.linspace(0, 2595 * np.log10(1 + fs / 2 / 700), n_filters + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    bins = np.floor((n_fft + 1) * hz / fs).astype(int)
    bank = np.zeros((n_filters, n_fft // 2 + 1))
    for i in range(n_filters):
        lo, mid, hi = bins[i], bins[i + 1], bins[i + 2]
        bank[i, lo:mid] = (np.arange(lo, mid) - lo) / max(mid - lo, 1)
        bank[i, mid:hi] = (hi - np.arange(mid, hi)) / max(hi - mid, 1)
    return bank


def alt_mfe(x, fs, stride=0.01, n_filters=40):
    import numpy as np

    x = x[:, 0]
    x = np.append(x[0], x[1:] - 0.98 * x[:-1])
    power = np.abs(np.fft.rfft(_frames(x, fs, 0.02, stride), 256)) ** 2 / 256
    return np.log(power @ _mel_bank(n_filters, 256, fs).T + 1e-10)


def alt_mfcc(x, fs):
    from scipy.fft import dct

    return dct(alt_mfe(x, fs, stride=0.02, n_filters=32), type=2, axis=1,
               norm="ortho")[:, :13]


def alt_spectrogram(x, fs):
    import numpy as np
    from scipy.signal import spectrogram

    _, _, s = spectrogram(x[:, 0], fs=fs, nperseg=320, noverlap=160, nfft=512)
    return 10 * np.log10(s + 1e-12)


def alt_spectral(x, fs):
    import numpy as np
    from scipy.signal import welch

    _, p = welch(x, fs=fs, nperseg=16, axis=0)
    return np.concatenate([np.log10(p + 1e-12).ravel(),
                           np.sqrt((x ** 2).mean(0)), x.std(0)])


def alt_flatten(x, fs):
    import numpy as np
    from scipy import stats

    return np.concatenate([x.mean(0), x.min(0), x.max(0),
                           np.sqrt((x ** 2).mean(0)), x.std(0),
                           stats.skew(x, axis=0), stats.kurtosis(x, axis=0)])


def alt_raw(x, fs):
    return x.ravel().copy()


def alt_image(x, fs):
    import numpy as np
    from PIL import Image

    img = Image.fromarray(x).resize((96, 96))
    return (np.asarray(img, dtype=np.float32) / 255.0).ravel()


ALTERNATIVES = {
    "mfcc": ("numpy/scipy per call", alt_mfcc),
    "mfe": ("numpy/scipy per call", alt_mfe),
    "spectrogram": ("scipy.signal.spectrogram", alt_spectrogram),
    "spectral_analysis": ("scipy.signal.welch + stats", alt_spectral),
    "flatten": ("numpy + scipy.stats", alt_flatten),
    "raw": ("np.ravel", alt_raw),
    "image": ("Pillow resize + numpy", alt_image),
}


def psf_alternatives():
    """python_speech_features' mfcc / logfbank when importable, else {}."""
    try:
        import python_speech_features as psf
    except ImportError:
        return {}
    return {
        "mfcc": ("python_speech_features.mfcc",
                 lambda x, fs: psf.mfcc(x[:, 0], fs, winlen=0.02, winstep=0.02,
                                        numcep=13, nfilt=32, nfft=256)),
        "mfe": ("python_speech_features.logfbank",
                lambda x, fs: psf.logfbank(x[:, 0], fs, winlen=0.02,
                                           winstep=0.01, nfilt=40, nfft=256)),
    }


# -- measuring --------------------------------------------------------------------


def rate(fn, x, fs, seconds, rounds=3):
    """Median calls per second over ``rounds`` rounds of about ``seconds``."""
    fn(x, fs)
    rates = []
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        while True:
            fn(x, fs)
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        rates.append(count / elapsed)
    return C.median(rates)


def main(argv=None):
    args = parse_args(argv)
    C.set_threads(1)
    C.add_repo_to_path()
    from threadpoolctl import threadpool_limits

    from fiftyone_plugin.blocks import get_block

    seconds = 0.3 if args.quick else 1.0
    data = inputs()
    extra = psf_alternatives()
    rows = []
    C.log("## Blocks (bench/bench_blocks.py" + (" --quick" if args.quick else "")
          + "), 1 thread")
    with threadpool_limits(1):
        for name, kind in BLOCKS:
            x, fs = data[kind]
            block = get_block(name)
            size = block(x, fs).size
            ours = rate(block, x, fs, seconds)
            for label, fn in [ALTERNATIVES[name]] + ([extra[name]] if name in extra
                                                     else []):
                alt = rate(fn, x, fs, seconds)
                rows.append([name, kind, size, ours, label, alt,
                             C.ratio(1 / alt, 1 / ours)])
    C.print_table(["block", "input", "features", "ours vectors/s", "alternative",
                   "alt vectors/s", "ratio (ours/alt)"], rows,
                  title="Blocks: features per second (ratio > 1: ours faster)")
    if not extra:
        C.log("\npython_speech_features: not installed, not compared")

    C.log("\n### Blocks: growth with N (t = a N^b fitted to N calls on distinct "
          "inputs)\n")
    sizes = (50, 500) if args.quick else (100, 1000, 5000)
    with threadpool_limits(1):
        for name, kind in BLOCKS:
            x, fs = data[kind]
            block = get_block(name)
            ts = [batch_seconds(block, x, fs, n) for n in sizes]
            C.log("- " + C.growth_line(name, sizes, ts, noun="samples"))
    return 0


def batch_seconds(block, x, fs, n):
    """Seconds for ``n`` calls of ``block``, each on its own copy of ``x`` with
    a little noise (distinct inputs, as in a run over a dataset)."""
    import numpy as np

    rng = np.random.default_rng(n)
    if x.dtype == np.uint8:
        noise = rng.integers(0, 2, size=(min(n, 50),) + x.shape, dtype=np.uint8)
    else:
        noise = rng.normal(0, 1e-3, size=(min(n, 50),) + x.shape).astype(x.dtype)
    items = [x + noise[i % len(noise)] for i in range(n)]
    start = time.perf_counter()
    for item in items:
        block(item, fs)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
