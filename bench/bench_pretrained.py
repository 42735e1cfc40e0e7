"""Throughput of the ``pretrained`` networks next to this machine's arithmetic floor.

    .venv/bin/python bench/bench_pretrained.py --quick      # about 1-2 minutes
    .venv/bin/python bench/bench_pretrained.py              # more batch sizes/rounds
    .venv/bin/python bench/bench_pretrained.py --threads 1 --json out.json

What it measures (all float32, CPU):

1. the machine: a float32 4096 x 4096 matrix multiply (torch): GFLOP/s =
   2 n^3 / time, and GFLOP per CPU-second;
2. each network's FLOPs per item: torch's FlopCounterMode for the image
   networks, an onnxruntime profile of the un-optimised graph (Conv shapes)
   for EfficientWord-Net;
3. network-only throughput (inputs: decoded, normalised images already in a
   tensor) for graph variants and batch sizes, in interleaved rounds: eager
   NCHW, eager channels-last, TorchScript-frozen (the library's default),
   frozen + optimize_for_inference, and the latter without flushing
   denormals; for audio: one onnxruntime call at a time with 1 or all
   intra-op threads, and concurrent calls of 1 thread each (the library's way);
4. end to end ``embed_files`` on JPEG 640x480 files and 1 s WAV clips the
   script writes, on both of its schedules for the image networks: each
   worker decoding and embedding its own files (the default), and a decoding
   pool overlapped with the network;
5. the table. The machine is shared, so every timed unit (one batch) records
   wall time *and* this process's CPU time:

   - ``best/s``: items/s of the least-disturbed unit (timeit-style), against
     the wall floor = best matmul GFLOP/s / FLOPs per item;
   - ``median/s``: what contention left;
   - ``per CPU-s``: items per CPU-second of this process (median), against
     the CPU floor = matmul GFLOP per CPU-second / FLOPs per item. This
     ratio ("CPU eff.") barely moves with other load.

Without local MobileNetV2 ImageNet weights a random-init network is timed
(batch-norm statistics set from one training pass so activations have
realistic magnitudes; speed does not depend on the weight values otherwise).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fiftyone_plugin.models import audio as A  # noqa: E402
from fiftyone_plugin.models import get_embedder  # noqa: E402
from fiftyone_plugin.models import pretrained as P  # noqa: E402
from fiftyone_plugin.models.images import freeze_module  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


def log(msg: str) -> None:
    print(msg, flush=True)


@dataclasses.dataclass
class Samples:
    """Timed units: items done, wall seconds and process CPU seconds of each."""

    items: list = dataclasses.field(default_factory=list)
    wall: list = dataclasses.field(default_factory=list)
    cpu: list = dataclasses.field(default_factory=list)

    def time(self, fn, items: int):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        self.wall.append(time.perf_counter() - w)
        self.cpu.append(time.process_time() - c)
        self.items.append(items)
        return out

    def rates(self):
        return [n / w for n, w in zip(self.items, self.wall, strict=True)]

    def summary(self) -> dict:
        r = self.rates()
        per_cpu = [n / max(c, 1e-9) for n, c in zip(self.items, self.cpu,
                                                     strict=True)]
        return {"median": statistics.median(r), "best": max(r),
                "per_cpu_s": statistics.median(per_cpu), "units": len(r)}


# -- machine -----------------------------------------------------------------


def matmul(n: int, reps: int) -> dict:
    """GFLOP/s (best, median) and GFLOP per CPU-second of an n x n matmul."""
    import torch

    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    s = Samples()
    for _ in range(reps):
        s.time(lambda: a @ b, 1)
    out = s.summary()
    g = 2 * n ** 3 / 1e9
    return {"best": g * out["best"], "median": g * out["median"],
            "per_cpu_s": g * out["per_cpu_s"]}


# -- networks ----------------------------------------------------------------


def mobilenet_module():
    """(module, note): real weights if found locally, else calibrated random."""
    import torch

    from fiftyone_plugin.models import weights as W
    from fiftyone_plugin.models.mobilenet_v2 import build_mobilenet_v2

    net = build_mobilenet_v2()
    found = W.find_mobilenet_v2().found
    if found:
        P.load_strict(net, P.load_checkpoint(found, "mobilenet_v2"), found,
                      "mobilenet_v2")
        note = f"ImageNet weights {found}"
    else:
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
        net.train()
        with torch.no_grad():
            net(torch.rand(4, 3, 224, 224) * 4 - 2)
        note = "random init (no local ImageNet weights)"
    return P._feature_wrapper()(net.eval(), "embed").eval(), note


def lite0_module():
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    path, _ = P._lite0_weights(None)
    P.load_strict(net, P.load_checkpoint(path, "efficientnet_lite0"), path,
                  "efficientnet_lite0")
    return P._lite0_class()(net).eval(), "ImageNet weights (pip package)"


def torch_flops(module) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.rand(1, 3, 224, 224))
    return float(counter.get_total_flops())


def onnx_flops(path: str) -> float:
    """FLOPs of one clip: 2 x MACs of every Conv, from an onnxruntime profile."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ewn")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, sess_options=opts,
                                providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    sess.run(None, {name: np.ones((1, 1, A.N_FRAMES, A.NFILT), np.float32)})
    with open(sess.end_profiling()) as f:
        events = json.load(f)
    total = 0.0
    for e in events:
        args = e.get("args", {})
        if e.get("cat") != "Node" or args.get("op_name") not in ("Conv", "Gemm"):
            continue
        shapes = [next(iter(d.values())) for d in args["input_type_shape"]]
        out = next(iter(args["output_type_shape"][0].values()))
        k = np.prod(shapes[1][1:]) if args["op_name"] == "Conv" else shapes[0][-1]
        total += 2.0 * float(np.prod(out)) * float(k)
    return total


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def torch_variants(module, variants):
    """name -> (callable, channels_last input?, flush denormals?)"""
    import copy

    import torch

    x = torch.rand(2, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    cl = copy.deepcopy(module).to(memory_format=torch.channels_last)
    out = {"eager_nchw": (module, False, True), "eager_cl": (cl, True, True)}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        out["frozen"] = (torch.jit.freeze(torch.jit.trace(cl, x, check_trace=False)),
                         True, True)
        ofi = torch.jit.optimize_for_inference(
            torch.jit.freeze(torch.jit.trace(cl, x, check_trace=False)))
    out["frozen_ofi"] = (ofi, True, True)
    out["frozen_ofi, denormals kept"] = (ofi, True, False)
    threads = torch.get_num_threads()
    out[f"frozen, split x{threads} (default)"] = (
        _split_runner(out["frozen"][0], threads), True, True)
    bf16 = freeze_module(cl, 224, precision="bfloat16")
    if bf16 is not None:
        out[f"frozen bfloat16, split x{threads}"] = (
            _split_runner(bf16, threads), True, True)
    return {k: v for k, v in out.items() if k in variants}


def cosines(a, b) -> tuple[float, float]:
    """(smallest, median) cosine similarity between the rows of a and b."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return float(cos.min()), float(np.median(cos))


def photo_paths() -> list[str]:
    """The real photos and pictures scikit-image ships (cosines are measured on
    them, not on the synthetic JPEGs)."""
    try:
        import skimage
    except ImportError:
        return []
    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.endswith((".png", ".jpg")))


def _split_runner(fn, threads):
    """The library's default: one batch slice per thread, 1 torch thread each."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from fiftyone_plugin.models.images import flush_denormals, torch_threads

    pool = ThreadPoolExecutor(threads)

    def one(x):
        torch.set_num_threads(1)
        with flush_denormals(), torch.inference_mode():
            return fn(x)

    def run(x):
        with torch_threads(1):
            return torch.cat(list(pool.map(one, torch.tensor_split(x, threads))))

    return run


def image_batch(images, bs, mean, std):
    """(bs, 3, 224, 224) channels-last float input made from decoded images."""
    import torch

    idx = np.arange(bs) % len(images)
    x = torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2)
    m = torch.tensor(mean).view(1, 3, 1, 1) * 255
    s = torch.tensor(std).view(1, 3, 1, 1) * 255
    return (x.float() - m) / s


def time_torch(samples, fn, x, channels_last, ftz, items):
    import torch

    from fiftyone_plugin.models.images import flush_denormals

    if not channels_last:
        x = x.contiguous()
    with torch.inference_mode(), (flush_denormals() if ftz else _Nothing()):
        fn(x)
        for _ in range(max(2, items // len(x))):
            samples.time(lambda: fn(x), len(x))


def bench_torch_net(name, module, norm, images, photos, batches, rounds, items,
                    variants):
    log(f"  {name}: building graph variants ...")
    import torch

    fns = torch_variants(module, variants)
    inputs = {bs: image_batch(images, bs, *norm) for bs in batches}
    cosine = {}
    if photos:
        x = image_batch(photos, len(photos), *norm)
        with torch.inference_mode():
            ref = module(x)
            cosine = {v: cosines(fn(x).float(), ref) for v, (fn, _, _) in fns.items()}
    got: dict[tuple[str, int], Samples] = {}
    for r in range(rounds):
        for vname, (fn, cl, ftz) in fns.items():
            for bs in batches:
                s = got.setdefault((vname, bs), Samples())
                time_torch(s, fn, inputs[bs], cl, ftz, items)
        log(f"  {name}: round {r + 1}/{rounds} done")
    return [{"network": name, "variant": v, "batch": bs, "cosine": cosine.get(v),
             **s.summary()} for (v, bs), s in got.items()]


def bench_onnx(path, threads, clips, rounds):
    from concurrent.futures import ThreadPoolExecutor

    import onnxruntime as ort

    def session(intra):
        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = intra, 1
        return ort.InferenceSession(path, sess_options=o,
                                    providers=["CPUExecutionProvider"])

    x = np.random.default_rng(0).normal(5, 3, (1, 1, A.N_FRAMES, A.NFILT))
    feed = {"input": x.astype(np.float32)}
    s1, s2 = session(1), session(threads)
    pool = ThreadPoolExecutor(threads)
    unit = 2 * threads
    runs = {
        "1 call, 1 thread": lambda: [s1.run(None, feed) for _ in range(unit)],
        f"1 call, {threads} threads": lambda: [s2.run(None, feed)
                                               for _ in range(unit)],
        f"{threads} concurrent calls x 1 thread": lambda: list(
            pool.map(lambda _: s1.run(None, feed), range(unit))),
    }
    got = {k: Samples() for k in runs}
    for _ in range(rounds):
        for k, fn in runs.items():
            fn()
            for _ in range(max(1, clips // unit)):
                got[k].time(fn, unit)
    pool.shutdown()
    return [{"network": "efficientword_net", "variant": k, "batch": 1,
             **s.summary()} for k, s in got.items()]


# -- end to end --------------------------------------------------------------


def write_jpegs(folder: str, n: int) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        small = rng.integers(0, 256, (15, 20, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC)
        p = os.path.join(folder, f"img_{i:04d}.jpg")
        img.save(p, quality=90)
        paths.append(p)
    return paths


def write_wavs(folder: str, n: int) -> list[str]:
    import soundfile as sf

    rng = np.random.default_rng(0)
    paths = []
    t = np.arange(6400) / 16000
    for i in range(n):
        f0 = rng.uniform(100, 300)
        burst = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        x = np.zeros(16000)
        s = int(rng.integers(0, 9600))
        x[s:s + 6400] = burst * np.hanning(6400) * 0.3 + rng.normal(0, 0.003, 6400)
        p = os.path.join(folder, f"clip_{i:04d}.wav")
        sf.write(p, x, 16000, subtype="PCM_16")
        paths.append(p)
    return paths


def decode_rate(fn, paths, workers: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    s = Samples()
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(2):
            s.time(lambda: list(pool.map(fn, paths)), len(paths))
    return s.summary()


def end_to_end(emb, paths, rounds) -> dict:
    emb.embed_files(paths[: emb.default_batch_size * 2])  # warm-up
    s = Samples()
    for _ in range(rounds):
        res = s.time(lambda: emb.embed_files(paths), len(paths))
        assert res.n_ok == len(paths), res.summary()
    return s.summary()


def overlapped(emb):
    """The same embedder on the overlapped schedule: a decoding pool ahead of
    the network (the library's schedule where there is no one-thread forward)."""
    other = copy.copy(emb)
    other.__class__ = type("Overlapped", (type(emb),), {"worker_batch_size": 0})
    return other


def _random_mnv2_embedder(module, threads, precision="float32"):
    """An embedder around the already-built random MobileNetV2 (bench only)."""
    from fiftyone_plugin.models.images import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        TorchImageEmbedder,
    )

    emb = TorchImageEmbedder(module, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                             weights_source="random", weights_path=None,
                             threads=threads, precision=precision)
    emb.name, emb.dim = "mobilenet_v2", 1280
    return emb


def bench_end_to_end(jpgs, wavs, photos, mnv2, mnv2_note, threads, rounds):
    """embed_files on both schedules and both precisions; cosines on photos."""
    rows = []
    for name in ("mobilenet_v2", "efficientnet_lite0"):
        def build(precision, name=name):
            if name == "mobilenet_v2" and "random" in mnv2_note:
                return _random_mnv2_embedder(mnv2, threads, precision)
            return get_embedder(name, threads=threads, precision=precision)

        emb, bf16 = build("float32"), build("bfloat16")
        ref = emb.embed_files(photos).vectors if photos else None
        for variant, e, bs in (
                (f"embed_files, workers ({emb.graph})", emb, emb.worker_batch_size),
                (f"embed_files, overlapped ({emb.graph})", overlapped(emb),
                 emb.default_batch_size),
                (f"embed_files, workers ({bf16.graph} bfloat16)", bf16,
                 bf16.worker_batch_size)):
            cos = cosines(e.embed_files(photos).vectors, ref) if photos else None
            rows.append({"network": name, "variant": variant, "batch": bs,
                         "cosine": cos, **end_to_end(e, jpgs, rounds)})
    emb = get_embedder("efficientword_net", threads=threads)
    rows.append({"network": "efficientword_net", "variant": "embed_files",
                 "batch": emb.default_batch_size, **end_to_end(emb, wavs, rounds)})
    return rows


def growth_lines(jpgs, wavs, mnv2, mnv2_note, threads) -> list[str]:
    """How embed_files' time grows with the number of files (default paths)."""
    if "random" in mnv2_note:
        image = _random_mnv2_embedder(mnv2, threads)
    else:
        image = get_embedder("mobilenet_v2", threads=threads)
    lines = []
    for name, emb, paths in (("mobilenet_v2 embed_files", image, jpgs),
                             ("efficientword_net embed_files",
                              get_embedder("efficientword_net", threads=threads),
                              wavs)):
        sizes = [len(paths) // 4, len(paths)]
        ts = []
        for n in sizes:
            start = time.perf_counter()
            emb.embed_files(paths[:n])
            ts.append(time.perf_counter() - start)
        lines.append(C.growth_line(name, sizes, ts, noun="files"))
    return lines


# -- main --------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="about 1-2 minutes")
    ap.add_argument("--threads", type=int, default=None,
                    help="compute threads (default: torch's default)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    quick = args.quick
    batches = [8, 16] if quick else [1, 4, 8, 16, 32]
    variants = ["eager_cl", "frozen", "frozen_ofi", "frozen_ofi, denormals kept",
                f"frozen, split x{threads} (default)",
                f"frozen bfloat16, split x{threads}"]
    if not quick:
        variants.insert(0, "eager_nchw")
    rounds, items = (2, 32) if quick else (3, 96)
    load = os.getloadavg()[0]
    log(f"cores {os.cpu_count()}, torch threads {threads}, load average {load:.1f}, "
        f"torch {torch.__version__}")

    n = 4096
    mm = matmul(n, 6 if quick else 10)
    log(f"float32 matmul {n}x{n}: best {mm['best']:.0f} GFLOP/s, median "
        f"{mm['median']:.0f}, {mm['per_cpu_s']:.0f} GFLOP per CPU-second")

    mnv2, mnv2_note = mobilenet_module()
    lite0, _ = lite0_module()
    ewn_path = P.efficientword_model_path()
    flops = {"mobilenet_v2": torch_flops(mnv2),
             "efficientnet_lite0": torch_flops(lite0),
             "efficientword_net": onnx_flops(ewn_path)}
    for k, v in flops.items():
        log(f"{k}: {v / 1e9:.3f} GFLOP per item")
    log(f"mobilenet_v2 timed with {mnv2_note}")

    from fiftyone_plugin.models.images import IMAGENET_MEAN, IMAGENET_STD, load_image

    rows = []
    with tempfile.TemporaryDirectory() as d:
        jpgs = write_jpegs(d, 64 if quick else 192)
        wavs = write_wavs(d, 48 if quick else 144)
        images = [load_image(p) for p in jpgs[:32]]
        norms = {"mobilenet_v2": (IMAGENET_MEAN, IMAGENET_STD),
                 "efficientnet_lite0": (P.LITE_MEAN, P.LITE_STD)}
        photo_files = photo_paths()
        photos = [load_image(p) for p in photo_files]
        for name, module in (("mobilenet_v2", mnv2), ("efficientnet_lite0", lite0)):
            rows += bench_torch_net(name, module, norms[name], images, photos,
                                    batches, rounds, items, variants)
        rows += bench_onnx(ewn_path, threads, 16 if quick else 48, rounds)
        log_decoding(jpgs, wavs, threads, load_image)
        rows += bench_end_to_end(jpgs, wavs, photo_files, mnv2, mnv2_note, threads,
                                 rounds)
        growth = growth_lines(jpgs, wavs, mnv2, mnv2_note, threads)

    print_table(rows, flops, mm, threads)
    log("\n### Pre-trained networks: growth with N (t = a N^b fitted to the "
        "measured sizes)\n")
    for line in growth:
        log(f"- {line}")
    log(f"load average at start {load:.1f}, at end {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} cores)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": threads, "matmul": mm, "flops": flops,
                       "rows": rows, "load": load}, f, indent=1)
    return 0


def log_decoding(jpgs, wavs, threads, load_image):
    img = decode_rate(load_image, jpgs, 2 * threads)
    wav = decode_rate(lambda p: A.fit_window(A.load_audio(p)), wavs, 2 * threads)
    s = Samples()
    x = np.random.default_rng(0).normal(0, 300, (64, A.WINDOW))
    for _ in range(3):
        s.time(lambda: A.log_fbank(x), len(x))
    feat = s.summary()
    log(f"decode only ({2 * threads} threads), best: JPEG 640x480 -> 224x224 "
        f"{img['best']:.0f} images/s ({img['per_cpu_s']:.0f} per CPU-s); WAV 1 s "
        f"-> 1.5 s window {wav['best']:.0f} clips/s; log-mel features "
        f"{feat['best']:.0f} clips/s ({feat['per_cpu_s']:.0f} per CPU-s)")


def print_table(rows, flops, mm, threads):
    log("")
    log(f"threads {threads}. Wall floor = best matmul {mm['best']:.0f} GFLOP/s / "
        f"FLOPs per item; CPU floor = {mm['per_cpu_s']:.0f} GFLOP per CPU-s / FLOPs "
        "per item (float32 floors: bfloat16 can pass them). best/s vs wall floor; "
        "per CPU-s vs CPU floor (CPU eff.); "
        "cos min/med: smallest and median cosine similarity of a variant's "
        "vectors to the float32 network's, on the real photos scikit-image ships.")
    cols = [("network", 18), ("variant", 38), ("batch", 5), ("GFLOP", 6),
            ("best/s", 7), ("median/s", 8), ("floor/s", 7), ("% floor", 7),
            ("per CPU-s", 9), ("CPU eff.", 8), ("cos min/med", 13)]
    log("| " + " | ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}"
                          for i, (c, w) in enumerate(cols)) + " |")
    log("|" + "|".join("-" * (w + 2) for _, w in cols) + "|")
    for r in rows:
        f = flops[r["network"]]
        floor, cpu_floor = mm["best"] * 1e9 / f, mm["per_cpu_s"] * 1e9 / f
        vals = [r["network"], r["variant"], r["batch"], f"{f / 1e9:.3f}",
                f"{r['best']:.1f}", f"{r['median']:.1f}", f"{floor:.0f}",
                f"{100 * r['best'] / floor:.0f}%", f"{r['per_cpu_s']:.1f}",
                f"{100 * r['per_cpu_s'] / cpu_floor:.0f}%",
                "{:.4f}/{:.4f}".format(*r["cosine"]) if r.get("cosine") else "-"]
        log("| " + " | ".join(f"{v:<{w}}" if i < 2 else f"{v:>{w}}"
                              for i, (v, (_, w)) in enumerate(zip(vals, cols,
                                                                  strict=True)))
            + " |")


if __name__ == "__main__":
    sys.exit(main())
