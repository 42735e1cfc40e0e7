"""The map step: our t-SNE (``fiftyone_plugin.mapping.compute_map``) side by side
with FiftyOne Brain's t-SNE and scikit-learn's TSNE, in one process.

    .venv/bin/python bench/bench_map.py --quick     # N = 2,000 and 10,000, 64-d
    .venv/bin/python bench/bench_map.py             # 2k .. 1M, 64-d and 1,280-d
    .venv/bin/python bench/bench_map.py --sizes 50000 --dims 64 --repeats 1

For each data set and N it measures, for each method, wall time (median of
the repeats) and peak memory (peak RSS above the RSS at the call, Linux
``clear_refs``), and the map's quality on the first repeat: leave-one-out
10-NN label accuracy in 2-D (``mapping.knn_accuracy``) and trustworthiness
(10 neighbours) on a fixed 2,000-point subsample.

Methods:

- ours: ``compute_map(x, threads=T)`` (what ``compute_data_explorer`` runs);
- FiftyOne Brain: ``fob.compute_visualization(ds, embeddings=..., method="tsne")``
  on a real temporary dataset (its own database in a temp folder); the time
  is the call only, not building the dataset;
- scikit-learn: PCA to 50 when wider, then ``TSNE(init="pca",
  learning_rate="auto", n_jobs=T)`` (its defaults otherwise).

Data: 10-class Gaussian mixtures (64-d and 1,280-d) and the real demo data
(scikit-learn's 8x8 digits, the images of the image demo, 1,797 x 64).
Above ``--max-alt`` (50,000) the alternatives are not run; the row says how
long they would take from the growth line fitted to the sizes measured.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import logging
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C

ALTS = ("fob", "sklearn")
LABELS = {"ours": "ours", "fob": "FiftyOne Brain t-SNE", "sklearn": "scikit-learn"}
TRUST_SAMPLE = 2000
SEPARATION = 0.9  # centre spread / noise: the clusters touch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="N = 2,000 and 10,000, 64-d, one repeat")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", type=int, nargs="*")
    p.add_argument("--dims", type=int, nargs="*")
    p.add_argument("--repeats", type=int)
    p.add_argument("--max-alt", type=int, default=50_000,
                   help="largest N for which the alternatives run")
    p.add_argument("--max-wide", type=int, default=50_000,
                   help="largest N for the 1,280-d data")
    p.add_argument("--max-sklearn", type=int,
                   help="largest N for scikit-learn (default: --max-alt); above "
                        "it the row is extrapolated like the others")
    p.add_argument("--no-fob", action="store_true", help="skip FiftyOne Brain")
    p.add_argument("--no-real", action="store_true", help="skip the digits data")
    return p.parse_args(argv)


def plan(args):
    """[(dataset name, n, d)] in run order."""
    if args.quick:
        sizes, dims = args.sizes or [2000, 10_000], args.dims or [64]
    else:
        sizes = args.sizes or [2000, 10_000, 50_000, 200_000, 1_000_000]
        dims = args.dims or [64, 1280]
    jobs = [] if (args.no_real or args.quick) else [("digits (real)", 1797, 64)]
    for d in dims:
        jobs += [(f"mixture {d}-d", n, d) for n in sizes
                 if d <= 64 or n <= args.max_wide]
    return jobs


def repeats_for(args, n, d, method):
    """Repeats of one method at one size: 3 up to 50,000 64-d points (the
    headline comparison), 1 for the wide data and above 50,000, and 1 for
    scikit-learn above 10,000 (5-6 minutes a run at 50,000)."""
    if args.repeats:
        return args.repeats
    if args.quick or n > 50_000 or d > 64:
        return 1
    if method == "sklearn" and n > 10_000:
        return 1
    return 3


# -- data ---------------------------------------------------------------------


def mixture(n, d, k=10, seed=0):
    """n points of a k-class Gaussian mixture in d dims (float32) and labels.

    Cluster widths vary (0.6-1.4) and the centres are close enough that the
    clusters touch, so accuracy is not trivially 1.0.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)).astype(np.float32) * SEPARATION
    widths = rng.uniform(0.6, 1.4, size=k).astype(np.float32)
    labels = rng.integers(0, k, size=n)
    x = np.empty((n, d), dtype=np.float32)
    for c in range(k):
        rows = labels == c
        noise = rng.standard_normal(size=(rows.sum(), d), dtype=np.float32)
        x[rows] = centres[c] + noise * widths[c]
    return x, labels


def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype("float32"), data.target


def load(name, n, d):
    if name.startswith("digits"):
        return digits()
    return mixture(n, d)


# -- methods ----------------------------------------------------------------------


def run_ours(x, threads):
    from fiftyone_plugin.mapping import compute_map

    result = compute_map(x, seed=0, threads=threads)
    return result.points, result.implementation


def run_sklearn(x, threads):
    import sklearn
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        if x.shape[1] > 50:
            x = PCA(n_components=50, random_state=0).fit_transform(x)
        tsne = TSNE(n_components=2, init="pca", learning_rate="auto",
                    random_state=0, n_jobs=threads)
        points = tsne.fit_transform(x.astype("float32"))
    return points, f"scikit-learn {sklearn.__version__}"


class FobRunner:
    """FiftyOne Brain's t-SNE on a real dataset in a private temp database."""

    def __init__(self):
        from fiftyone_plugin.private_db import PrivateDatabase

        self.tmp = tempfile.mkdtemp(prefix="bench-map-fo-")
        os.environ.update(
            FIFTYONE_DEFAULT_DATASET_DIR=os.path.join(self.tmp, "datasets"),
            FIFTYONE_CONFIG_PATH=os.path.join(self.tmp, "config.json"),
            FIFTYONE_APP_CONFIG_PATH=os.path.join(self.tmp, "app_config.json"),
            FIFTYONE_PLUGINS_DIR=os.path.join(self.tmp, "plugins"),
            FIFTYONE_DO_NOT_TRACK="true",
            FIFTYONE_DATABASE_VALIDATION="false",
        )
        # our own mongod: FiftyOne would otherwise join any database service
        # already running for this user (an open App), whatever its folder
        self.database = PrivateDatabase(os.path.join(self.tmp, "db")).start()
        # Registered before fiftyone loads, so it runs after fiftyone's own
        # exit handlers, which still use the database.
        atexit.register(self.cleanup)
        self.dataset = None

    def cleanup(self):
        """Stops our own mongod, then removes the temp folder."""
        self.database.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def prepare(self, x):
        """Builds the dataset (untimed): one sample per vector."""
        import fiftyone as fo

        fo.config.show_progress_bars = False
        logging.getLogger("fiftyone").setLevel(logging.WARNING)
        if self.dataset is not None:
            self.dataset.delete()
        ds = fo.Dataset()
        ds.add_samples([fo.Sample(filepath=f"/nonexistent/{i}.png")
                        for i in range(len(x))])
        ds.set_values("embeddings", list(x.astype("float64")))
        self.dataset = ds

    def __call__(self, x, threads):
        import fiftyone.brain as fob
        from threadpoolctl import threadpool_limits

        with threadpool_limits(threads), contextlib.redirect_stdout(io.StringIO()):
            results = fob.compute_visualization(
                self.dataset, embeddings="embeddings", method="tsne",
                brain_key="bench", seed=0, verbose=False, progress=False)
        points = results.points
        self.dataset.delete_brain_run("bench")
        return points, "fiftyone-brain"


# -- measuring --------------------------------------------------------------------


def quality(x, labels, points):
    import numpy as np
    from sklearn.manifold import trustworthiness

    from fiftyone_plugin.mapping import knn_accuracy

    acc = knn_accuracy(points, labels, k=10)
    rng = np.random.default_rng(1)
    sub = rng.choice(len(x), size=min(TRUST_SAMPLE, len(x)), replace=False)
    trust = trustworthiness(x[sub], points[sub], n_neighbors=10)
    return acc, float(trust)


def measure(fn, x, labels, threads, repeats, prepare=None):
    """{'s': median seconds, 'mib': max extra peak, 'acc', 'trust', 'impl'}."""
    times, mems, first = [], [], None
    for r in range(repeats):
        if prepare is not None:
            prepare(x)
        (points, impl), seconds, mib = C.timed(fn, x, threads)
        times.append(seconds)
        mems.append(mib)
        if first is None:
            first = (points, impl)
    acc, trust = quality(x, labels, first[0])
    return {"s": C.median(times), "mib": max(mems), "acc": acc,
            "trust": trust, "impl": first[1], "runs": times}


def extrapolate(results, data, method, n):
    ns = [k[1] for k, v in results.items()
          if k[0] == data and isinstance(v.get(method), dict)]
    ts = [results[(data, m)][method]["s"] for m in ns]
    fit = C.fit_power_law(ns, ts)
    if fit is None:
        return "skipped"
    seconds = C.predict(fit, n)
    if seconds < 120:
        return f"skipped: ~{seconds:.0f} s extrapolated"
    return f"skipped: ~{seconds / 60:.0f} min extrapolated"


def warm_up(fob):
    """Imports every method's modules (and starts the database) untimed."""
    import openTSNE  # noqa: F401
    import sklearn.manifold  # noqa: F401

    import fiftyone_plugin.mapping  # noqa: F401

    try:
        import hnswlib  # noqa: F401
    except ImportError:
        pass
    if fob is not None:
        import fiftyone.brain  # noqa: F401

        fob.prepare(mixture(10, 4)[0])


def run_job(job, args, results, fob):
    try:
        _run_job(job, args, results, fob)
    except Exception as e:  # noqa: BLE001 (a failed row must not lose the rest)
        C.log(f"  FAILED: {type(e).__name__}: {e}")


def _run_job(job, args, results, fob):
    name, n, d = job
    x, labels = load(name, n, d)
    n = len(x)
    C.log(f"\n[{name}, N = {n:,}]")
    row = {}
    row["ours"] = measure(run_ours, x, labels, args.threads,
                          repeats_for(args, n, d, "ours"))
    C.log(f"  ours: {row['ours']['s']:.1f} s ({row['ours']['impl']}), "
          f"acc {row['ours']['acc']:.3f}, trust {row['ours']['trust']:.3f}")
    results[(name, n)] = row
    for alt in ALTS:
        if alt == "fob" and fob is None:
            row[alt] = "not run (--no-fob)"
            continue
        limit = args.max_alt
        if alt == "sklearn" and args.max_sklearn:
            limit = args.max_sklearn
        if n > limit:
            row[alt] = extrapolate(results, name, alt, n)
            C.log(f"  {LABELS[alt]}: {row[alt]}")
            continue
        fn, prep = (fob, fob.prepare) if alt == "fob" else (run_sklearn, None)
        row[alt] = measure(fn, x, labels, args.threads,
                           repeats_for(args, n, d, alt), prepare=prep)
        C.log(f"  {LABELS[alt]}: {row[alt]['s']:.1f} s, acc {row[alt]['acc']:.3f}, "
              f"trust {row[alt]['trust']:.3f}")


# -- report -----------------------------------------------------------------------


def cell(row, method, key):
    v = row.get(method)
    if isinstance(v, dict):
        return v[key]
    return v if key == "s" else "-"


def time_table(results):
    headers = ["data", "N", "ours s", "ours MiB", "FOB t-SNE s", "ratio",
               "FOB MiB", "sklearn s", "ratio", "sklearn MiB", "runs"]
    rows = []
    for (name, n), row in results.items():
        o = row["ours"]["s"]
        runs = "/".join(str(len(row[m]["runs"])) if isinstance(row.get(m), dict)
                        else "-" for m in ("ours", "fob", "sklearn"))
        rows.append([name, n, o, row["ours"]["mib"],
                     cell(row, "fob", "s"), C.ratio(_num(row, "fob"), o),
                     cell(row, "fob", "mib"),
                     cell(row, "sklearn", "s"), C.ratio(_num(row, "sklearn"), o),
                     cell(row, "sklearn", "mib"), runs])
    return headers, rows


def quality_table(results):
    headers = ["data", "N", "ours 10-NN", "FOB 10-NN", "sklearn 10-NN",
               "ours trust", "FOB trust", "sklearn trust", "ours: implementation"]
    rows = []
    for (name, n), row in results.items():
        methods = ("ours", "fob", "sklearn")
        rows.append([name, n] + [cell(row, m, "acc") for m in methods]
                    + [cell(row, m, "trust") for m in methods]
                    + [row["ours"]["impl"]])
    return headers, rows


def _num(row, method):
    v = row.get(method)
    return v["s"] if isinstance(v, dict) else None


def growth_lines(results):
    lines = []
    names = list(dict.fromkeys(k[0] for k in results))
    for name in names:
        if name.startswith("digits"):
            continue
        for method in ("ours", "fob", "sklearn"):
            pts = [(n, results[(nm, n)][method]["s"]) for nm, n in results
                   if nm == name and isinstance(results[(nm, n)].get(method), dict)]
            if pts:
                ns, ts = zip(*pts)
                lines.append(C.growth_line(f"{name}, {LABELS[method]}", ns, ts))
    return lines


def report(results, threads):
    C.print_table(*time_table(results),
                  title=f"Map: wall time (median) and peak memory, {threads} threads"
                        " (ratio = alternative / ours)")
    C.print_table(*quality_table(results),
                  title="Map: quality (10-NN label accuracy in 2-D; "
                        f"trustworthiness, 10 neighbours, {TRUST_SAMPLE:,}-point "
                        "subsample)")
    C.log("\n### Map: growth with N (t = a N^b fitted to the measured sizes)\n")
    for line in growth_lines(results):
        C.log(f"- {line}")


def main(argv=None):
    args = parse_args(argv)
    C.set_threads(args.threads)
    C.add_repo_to_path()
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    fob = None if args.no_fob else FobRunner()
    C.log("## Map step (bench/bench_map.py" + (" --quick" if args.quick else "") + ")")
    C.print_machine_facts(args.threads)
    results = {}
    warm_up(fob)
    try:
        for job in plan(args):
            run_job(job, args, results, fob)
    except KeyboardInterrupt:
        C.log("\ninterrupted: reporting what finished")
        for row in results.values():
            for method in ALTS:
                row.setdefault(method, "not finished (interrupted)")
    report(results, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
