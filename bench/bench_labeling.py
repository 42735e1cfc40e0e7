"""Benchmark: neighbour index, assisted labeling and scores at 10k to 100k.

Data: a 64-d Gaussian mixture of 10 classes (unit-variance clusters, centres
drawn with standard deviation ``--spread``), 1 % of the samples labeled.
Compared side by side with scikit-learn's LabelSpreading (knn kernel) and a
plain brute-force kNN graph (scikit-learn NearestNeighbors, algorithm="brute").

Usage::

    .venv/bin/python bench/bench_labeling.py [--quick] [--threads 2]
"""

import argparse
import os
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="N = 2,000 and 10,000, 10 clicks")
    p.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads")
    p.add_argument("--spread", type=float, default=1.0, help="std of the centres")
    p.add_argument("--labeled", type=float, default=0.01, help="labeled fraction")
    p.add_argument("--sizes", type=int, nargs="*", default=None)
    return p.parse_args()


ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from fiftyone_plugin import labeling as lab  # noqa: E402
from fiftyone_plugin.neighbors import NeighborIndex  # noqa: E402

LABEL_SPREADING_MAX_N = 20_000


def mixture(n, rng, d=64, n_classes=10, spread=1.0):
    centers = rng.normal(size=(n_classes, d)) * spread
    y = rng.integers(0, n_classes, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def machine_facts():
    pools = threadpool_info()
    blas = [f"{i['internal_api']} {i['num_threads']} threads" for i in pools]
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return [
        f"cores: {os.cpu_count()}   threads: {ARGS.threads}   "
        f"pools: {', '.join(blas) or 'none'}",
        f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"python {sys.version.split()[0]}   numpy {np.__version__}",
    ]


def bench_index(x):
    index, t_build = timed(NeighborIndex, x, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.npz")
        index.save(path)
        _, t_load = timed(NeighborIndex.load, path)
    return index, {"build": t_build, "load": t_load, "recall": index.recall,
                   "exact": index.exact}


def bench_clicks(index, codes, y, rng, n_clicks):
    seeds = rng.choice(np.flatnonzero(codes < 0), n_clicks, replace=False)
    times, sizes, right, total = [], [], 0, 0
    for s in seeds:
        prop, t = timed(lab.propose_labels, index, codes, int(s), int(y[s]))
        times.append(t)
        sizes.append(len(prop))
        right += int(np.sum(y[prop.indices] == y[s]))
        total += len(prop)
    return {"click_ms": 1e3 * float(np.median(times)),
            "click_max_ms": 1e3 * float(np.max(times)),
            "click_size": float(np.median(sizes)),
            "click_precision": right / max(total, 1)}


def bench_propagation(index, codes, y):
    report, t = timed(lab.propagate_all, index, codes, threshold=0.9)
    unl = codes < 0
    done = unl & (report.codes >= 0)
    reached = unl & (report.best >= 0)
    right = report.codes[done] == y[done]
    return {"prop_s": t, "coverage": done.sum() / unl.sum(),
            "accuracy": float(np.mean(right)) if done.any() else 0.0,
            "best_acc_all": float(np.sum(report.best[reached] == y[reached]))
            / unl.sum()}


def bench_scores(index, codes):
    _, t = timed(lab.label_scores, index, codes, k=10)
    return {"scores_s": t}


def bench_brute(x):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=16, algorithm="brute")
    _, t = timed(lambda: nn.fit(x).kneighbors(x))
    return {"brute_s": t}


def bench_label_spreading(x, codes, y):
    from sklearn.semi_supervised import LabelSpreading

    model = LabelSpreading(kernel="knn", n_neighbors=15, max_iter=30)
    _, t = timed(model.fit, x, codes)
    unl = codes < 0
    return {"ls_s": t, "ls_acc": float(np.mean(model.transduction_[unl] == y[unl]))}


def run_size(n, n_clicks):
    rng = np.random.default_rng(n)
    x, y = mixture(n, rng, spread=ARGS.spread)
    codes = np.where(rng.random(n) < ARGS.labeled, y, -1)
    index, row = bench_index(x)
    row.update(bench_clicks(index, codes, y, rng, n_clicks))
    row.update(bench_propagation(index, codes, y))
    row.update(bench_scores(index, codes))
    row.update(bench_brute(x))
    if n <= LABEL_SPREADING_MAX_N:
        row.update(bench_label_spreading(x, codes, y))
    return row


TABLE = [
    ("N", lambda r: r["n"]),
    ("index build s", lambda r: r["build"]),
    ("index", lambda r: ("exact" if r["exact"] else "ivf")
     + f", recall {r['recall']:.3f}"),
    ("brute kNN graph s", lambda r: r["brute_s"]),
    ("ratio", lambda r: C.ratio(r["brute_s"], r["build"])),
    ("click median ms", lambda r: r["click_ms"]),
    ("click max ms", lambda r: r["click_max_ms"]),
    ("proposal size", lambda r: r["click_size"]),
    ("precision", lambda r: r["click_precision"]),
    ("propagate_all s", lambda r: r["prop_s"]),
    ("cov", lambda r: r["coverage"]),
    ("acc", lambda r: r["accuracy"]),
    ("LabelSpreading s", lambda r: r.get("ls_s", "skipped")),
    ("ratio ", lambda r: C.ratio(r.get("ls_s"), r["prop_s"])),
    ("LabelSpreading acc", lambda r: r.get("ls_acc")),
    ("label_scores s", lambda r: r["scores_s"]),
]
GROWTH = (("index build", "build"), ("click (median)", "click_ms"),
          ("propagate_all", "prop_s"), ("label_scores", "scores_s"))


def main():
    sizes = ARGS.sizes or ([2_000, 10_000] if ARGS.quick
                           else [10_000, 30_000, 100_000])
    n_clicks = 10 if ARGS.quick else 20
    with threadpool_limits(ARGS.threads):
        for line in machine_facts():
            print(line)
        print(f"data: 64-d mixture, 10 classes, centre spread {ARGS.spread}, "
              f"{ARGS.labeled:.0%} labeled; clicks: {n_clicks} random unlabeled seeds, "
              f"true label set")
        run_size(1_000, 2)  # warm-up: first calls pay for imports and caches
        rows = []
        for n in sizes:
            rows.append({"n": n, **run_size(n, n_clicks)})
            print(f"  done N={n:,d}", flush=True)
        C.print_table([h for h, _ in TABLE], [[f(r) for _, f in TABLE] for r in rows],
                      title="Assisted labeling: ours vs a brute-force kNN graph and "
                      "scikit-learn's LabelSpreading (ratio = alternative / ours)")
        print()
        print("click: one proposal (propose_labels) for a clicked unlabeled point; "
              "precision: share of proposed samples whose true class is the one set. "
              "cov/acc: share of unlabeled samples propagate_all labels at confidence "
              ">= 0.9, and their accuracy; LabelSpreading labels all (acc over all "
              "unlabeled).")
        print(f"LabelSpreading skipped above N={LABEL_SPREADING_MAX_N:,d} "
              "(its own kNN graph and iterations take minutes there).")
        for r in rows:
            print(f"N={r['n']:,d}: best label of every reached sample is right for "
                  f"{r['best_acc_all']:.3f} of all unlabeled")
        print("\n### Assisted labeling: growth with N (t = a N^b fitted to the "
              "measured sizes)\n")
        ns = [r["n"] for r in rows]
        for name, key in GROWTH:
            unit = "ms" if key.endswith("_ms") else "s"
            print("- " + C.growth_line(name, ns, [r[key] for r in rows], unit=unit))
        alt = [(r["n"], r["brute_s"]) for r in rows]
        print("- " + C.growth_line("brute kNN graph (alternative)", *zip(*alt)))


if __name__ == "__main__":
    main()
