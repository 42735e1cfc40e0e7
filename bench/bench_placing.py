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
the new samples (``compute_data_explorer`` again), is timed once per map
and printed beside the placing, with the ratio; growth lines say how both
grow with the size of the map.
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
    p.add_argument("--mapped", type=int, nargs="*", default=[10_000, 50_000],
                   help="points on the map (one map per size)")
    p.add_argument("--new", type=int, default=1_000, help="samples placed per run")
    p.add_argument("--method", default="tsne", help="map method (untimed)")
    p.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true",
                   help="maps of 2,000 and 10,000 points, one placing each")
    args = p.parse_args()
    if args.quick:
        args.mapped, args.repeats = [m for m in args.mapped if m <= 10_000], 1
        args.mapped = sorted(set(args.mapped) | {2_000})
    return args


ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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

import _common as C  # noqa: E402
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

    fo.config.show_progress_bars = False
    rows = [run_map(mapped) for mapped in ARGS.mapped]
    print()
    print(C.table(
        ["placing 1 batch of new samples", "ours: place_new_samples s",
         "alternative: recompute the map s", "ratio", "placed 10-NN agreement",
         "map's own 10-NN agreement"],
        [[f"{ARGS.new:,} into {r['mapped']:,}", r["placing_s"], r["refit_s"],
          C.ratio(r["refit_s"], r["placing_s"]), r["placed_share"], r["map_share"]]
         for r in rows],
        title="Placing new samples (ratio = alternative / ours)"))
    print(f"\n### Placing: growth with the map's size ({ARGS.new:,} new samples; "
          "t = a N^b fitted to the measured sizes)\n")
    ns = [r["mapped"] for r in rows]
    print("- " + C.growth_line("place_new_samples", ns, [r["placing_s"] for r in rows]))
    print("- " + C.growth_line("recompute the map (alternative)", ns,
                               [r["refit_s"] for r in rows]))
    load = os.getloadavg()
    print(f"threads {ARGS.threads}; load average {load[0]:.1f} {load[1]:.1f}")


def run_map(n_mapped):
    """Makes a map of ``n_mapped`` points, places ``--new`` samples into it
    ``--repeats`` times, then recomputes it; returns the figures."""
    import fiftyone as fo

    import fiftyone_plugin.explorer as fde
    import fiftyone_plugin.placing as fdp

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 64)) * 3.0
    dataset = fo.Dataset()
    x, y = mixture(n_mapped, rng, centres)
    add(dataset, x, y, 0)
    start = time.perf_counter()
    fde.compute_data_explorer(
        dataset, mode="field", vectors_field="emb", brain_key="bench",
        method=ARGS.method, threads=ARGS.threads,
    )
    print(f"\nmap of {n_mapped:,} {x.shape[1]}-d points ({ARGS.method}): "
          f"{time.perf_counter() - start:.1f} s (untimed set-up)")

    print("| run | mapped before | placed | seconds | placed 10-NN agreement |")
    print("|---|---|---|---|---|")
    timings, shares = [], []
    for r in range(ARGS.repeats):
        x, y = mixture(ARGS.new, rng, centres)
        new_ids = add(dataset, x, y, n_mapped + r * ARGS.new)
        before = n_mapped + r * ARGS.new
        start = time.perf_counter()
        result = fdp.place_new_samples(dataset, brain_key="bench", threads=ARGS.threads)
        seconds = time.perf_counter() - start
        timings.append(seconds)
        assert result.n_placed == ARGS.new, result.summary()
        points, classes, row = _map_of(dataset)
        shares.append(agreement(points, classes, np.array([row[i] for i in new_ids])))
        print(f"| {r + 1} | {before:,} | {result.n_placed:,} | {seconds:.2f} "
              f"| {shares[-1]:.3f} |")

    points, classes, _ = _map_of(dataset)
    own = agreement(points, classes, np.arange(n_mapped)[:: max(1, n_mapped // 5000)])
    start = time.perf_counter()
    fde.compute_data_explorer(
        dataset, mode="field", vectors_field="emb", brain_key="bench_refit",
        method=ARGS.method, threads=ARGS.threads,
    )
    refit_s = time.perf_counter() - start
    dataset.delete()
    return {"mapped": n_mapped, "placing_s": float(np.median(timings)),
            "refit_s": refit_s, "placed_share": float(np.median(shares)),
            "map_share": own}


def _map_of(dataset):
    """The map's points, their classes, and {sample id: row}."""
    results = dataset.load_brain_results("bench", cache=False)
    ids = list(results.sample_ids)
    cls_of = dict(zip(dataset.values("id"), dataset.values("cls")))
    classes = np.array([cls_of[i] for i in ids])
    return np.asarray(results.points), classes, {i: n for n, i in enumerate(ids)}


if __name__ == "__main__":
    main()
