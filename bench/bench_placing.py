"""Benchmark: placing new samples into an existing map (place_new_samples).

Data: a 64-d Gaussian mixture of 10 classes (unit-variance clusters, centres
drawn with standard deviation 3), mapped in ``field`` mode; then ``--new``
samples of the same mixture are added and placed, ``--repeats`` times. The
map is made once, untimed. Quality: the share of placed points whose 10
nearest mapped points on the map mostly have their class, beside the same
share for the mapped points themselves (the map's 10-NN accuracy).

It uses its own FiftyOne database (a private ``mongod`` on 127.0.0.1 in a
temporary folder), never yours.

Usage::

    .venv/bin/python bench/bench_placing.py [--mapped 50000] [--new 1000]
        [--method tsne] [--threads 2] [--repeats 3] [--quick]

The alternative a user would otherwise pick, recomputing the whole map with
the new samples (``compute_data_explorer`` again), is timed once at the end
and printed beside the placing, with the ratio.
"""

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mapped", type=int, default=50_000, help="points on the map")
    p.add_argument("--new", type=int, default=1_000, help="samples placed per run")
    p.add_argument("--method", default="tsne", help="map method (untimed)")
    p.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true",
                   help="10,000 mapped points, one placing")
    args = p.parse_args()
    if args.quick:
        args.mapped, args.repeats = min(args.mapped, 10_000), 1
    return args


ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fiftyone_plugin.private_db import PrivateDatabase  # noqa: E402

TMP = tempfile.mkdtemp(prefix="bench-placing-")
os.environ.update(
    FIFTYONE_DEFAULT_DATASET_DIR=os.path.join(TMP, "datasets"),
    FIFTYONE_CONFIG_PATH=os.path.join(TMP, "config.json"),
    FIFTYONE_APP_CONFIG_PATH=os.path.join(TMP, "app_config.json"),
    FIFTYONE_PLUGINS_DIR=os.path.join(TMP, "plugins"),
    FIFTYONE_DO_NOT_TRACK="true",
    FIFTYONE_DATABASE_VALIDATION="false",
)
DATABASE = PrivateDatabase(os.path.join(TMP, "db")).start()
# registered before fiftyone is imported, so they run after its exit handlers
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
atexit.register(DATABASE.stop)

import numpy as np  # noqa: E402


def mixture(n, rng, centres):
    y = rng.integers(0, len(centres), n)
    x = centres[y] + rng.normal(size=(n, centres.shape[1]))
    return x.astype(np.float32), y


def add(dataset, x, y, start):
    import fiftyone as fo

    samples = [
        fo.Sample(filepath=f"/nonexistent/{start + i}.png", cls=int(c))
        for i, c in enumerate(y)
    ]
    ids = [str(i) for i in dataset.add_samples(samples, progress=False)]
    dataset.set_values("emb", dict(zip(ids, x)), key_field="id", progress=False)
    return ids


def agreement(points, classes, queries, k=10):
    """Share of the queries whose k nearest other mapped points mostly share
    their class."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1).fit(points)
    _, idx = nn.kneighbors(points[queries])
    votes = classes[idx[:, 1:]]
    counts = np.apply_along_axis(np.bincount, 1, votes, minlength=classes.max() + 1)
    return float(np.mean(counts.argmax(axis=1) == classes[queries]))


def main():
    import fiftyone as fo

    import fiftyone_plugin.explorer as fde
    import fiftyone_plugin.placing as fdp

    fo.config.show_progress_bars = False
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 64)) * 3.0
    dataset = fo.Dataset()
    x, y = mixture(ARGS.mapped, rng, centres)
    add(dataset, x, y, 0)
    start = time.perf_counter()
    fde.compute_data_explorer(
        dataset, mode="field", vectors_field="emb", brain_key="bench",
        method=ARGS.method, threads=ARGS.threads,
    )
    print(f"map of {ARGS.mapped:,} {x.shape[1]}-d points ({ARGS.method}): "
          f"{time.perf_counter() - start:.1f} s (untimed set-up)")

    print("| run | mapped before | placed | seconds | placed 10-NN agreement |")
    print("|---|---|---|---|---|")
    timings = []
    for r in range(ARGS.repeats):
        x, y = mixture(ARGS.new, rng, centres)
        new_ids = add(dataset, x, y, ARGS.mapped + r * ARGS.new)
        before = ARGS.mapped + r * ARGS.new
        start = time.perf_counter()
        result = fdp.place_new_samples(dataset, brain_key="bench", threads=ARGS.threads)
        seconds = time.perf_counter() - start
        timings.append(seconds)
        assert result.n_placed == ARGS.new, result.summary()

        results = dataset.load_brain_results("bench", cache=False)
        ids = list(results.sample_ids)
        cls_of = dict(zip(dataset.values("id"), dataset.values("cls")))
        classes = np.array([cls_of[i] for i in ids])
        row = {i: n for n, i in enumerate(ids)}
        queries = np.array([row[i] for i in new_ids])
        share = agreement(np.asarray(results.points), classes, queries)
        print(f"| {r + 1} | {before:,} | {result.n_placed:,} | {seconds:.2f} "
              f"| {share:.3f} |")

    results = dataset.load_brain_results("bench", cache=False)
    ids = list(results.sample_ids)
    cls_of = dict(zip(dataset.values("id"), dataset.values("cls")))
    classes = np.array([cls_of[i] for i in ids])
    mapped = np.arange(ARGS.mapped)[:: max(1, ARGS.mapped // 5000)]
    share = agreement(np.asarray(results.points), classes, mapped)
    print(f"the map's own 10-NN agreement ({len(mapped):,} of its first "
          f"{ARGS.mapped:,} points): {share:.3f}")
    placing_s = float(np.median(timings))
    start = time.perf_counter()
    fde.compute_data_explorer(
        dataset, mode="field", vectors_field="emb", brain_key="bench_refit",
        method=ARGS.method, threads=ARGS.threads,
    )
    refit_s = time.perf_counter() - start
    print()
    print("| placing 1 batch of new samples | ours: place_new_samples s "
          "| alternative: recompute the map s | ratio |")
    print("|---|---|---|---|")
    print(f"| {ARGS.new:,} into {ARGS.mapped:,} | {placing_s:.2f} | {refit_s:.1f} "
          f"| {refit_s / placing_s:.0f}x |")
    load = os.getloadavg()
    print(f"threads {ARGS.threads}; load average {load[0]:.1f} {load[1]:.1f}")
    dataset.delete()


if __name__ == "__main__":
    main()
