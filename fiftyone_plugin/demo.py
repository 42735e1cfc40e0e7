"""The demo behind ``make demo``: three real datasets, their maps, a summary.

Builds, from data that ships in packages or that this machine generates:

- ``demo-motion``: BasicMotions accelerometer + gyroscope recordings
  (4 activities, 80 recordings), mapped with the spectral analysis block;
- ``demo-keywords``: 10 words x 8 voices x 3 speeds spoken by espeak-ng,
  mapped with the MFE block;
- ``demo-images``: scikit-learn's digits and crops of the photos that ship
  in scikit-image and scikit-learn, mapped with the image block.

Beside the ``dsp`` maps, the keywords and the photo crops get a
``pretrained`` map, and the motion and keyword data an ``impulse`` map made
with a small model trained on their labeled part.

About a third of each dataset's labels is removed on purpose (the true label
stays in ``true_label``), one PNG per map is written, and a table with the
map's 10-NN label accuracy on the labeled points is printed.

Run with ``python -m fiftyone_plugin.demo --out demo-output``; ``--app-only``
just opens the App on the demo datasets. Both use their own database server
on 127.0.0.1 with its data in ``<out>/fiftyone-db``, never the user's.
"""

import argparse
import atexit
import logging
import pathlib
import sys
import time

import numpy as np

from .private_db import PrivateDatabase

logger = logging.getLogger(__name__)

LABEL_FIELD = "ground_truth"
UNLABELED_FRACTION = 1 / 3

_IMAGE_BLOCK = {"block": "image", "block_params": {"width": 32, "height": 32}}
_PHOTOS = "photos"  # runs on the photo crops only: a view of demo-images

# name: (data writer, [(brain key, view, mode, settings), ...]); the impulse
# runs use a model trained on the labeled part first (``train``).
DATASETS = {
    "demo-motion": (
        "write_motion",
        [
            ("dsp", None, "dsp", {"block": "spectral_analysis"}),
            ("impulse", None, "impulse", {"train": {"block": "spectral_analysis"}}),
        ],
    ),
    "demo-keywords": (
        "write_keywords",
        [
            ("dsp", None, "dsp", {"block": "mfe"}),
            ("pretrained", None, "pretrained", {}),
            ("impulse", None, "impulse", {"train": {"block": "mfe"}}),
        ],
    ),
    "demo-images": (
        "write_images",
        [
            ("dsp", None, "dsp", _IMAGE_BLOCK),
            ("dsp_photos", _PHOTOS, "dsp", _IMAGE_BLOCK),
            ("pretrained_photos", _PHOTOS, "pretrained", {}),
        ],
    ),
}


def main(argv=None):
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _start_database(out / "fiftyone-db")

    if not args.app_only:
        rows = []
        for name in DATASETS:
            rows += build_and_map(name, out, seed=args.seed)
        print()
        print(format_summary(rows))
        print(f"\nMaps written to {out}/*.png")
    print(
        "\nOpen the App on 127.0.0.1 with the plugin loaded:\n"
        f"    make app            (http://127.0.0.1:{args.app_port})"
    )
    if args.app_only:
        _serve_app(args.app_port)


def _start_database(folder):
    """Our own database server on ``folder``, up until this process exits.

    Without it FiftyOne would join any database service of the user's that
    is already running (an open App), whatever FIFTYONE_DATABASE_DIR says.
    It is stopped at exit, also after an error or Ctrl-C, and after FiftyOne's
    own exit handlers (registered later, so run earlier), which still use it.

    Args:
        folder: the database folder, reused between runs

    Returns:
        the running :class:`PrivateDatabase`
    """
    if "fiftyone" in sys.modules:
        raise RuntimeError("the demo's database must start before fiftyone loads")
    database = PrivateDatabase(folder).start()
    atexit.register(database.stop)
    return database


def build_and_map(name, out, seed=0):
    """Creates one demo dataset, runs each of its maps, writes their PNGs.

    Returns:
        a list of dict rows for :func:`format_summary`
    """
    import fiftyone as fo

    writer, runs = DATASETS[name]
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset = _import(name, writer, out / "data" / name.removeprefix("demo-"), seed)
    return [
        _map(dataset, key, view, mode, dict(settings), out, seed)
        for key, view, mode, settings in runs
    ]


def _map(dataset, brain_key, view_name, mode, settings, out, seed):
    import fiftyone_plugin.explorer as fde

    samples = _view(dataset, view_name)
    start = time.perf_counter()
    if "train" in settings:
        settings["model_path"] = _train(
            samples, out, dataset.name, settings.pop("train")
        )
    run = fde.compute_data_explorer(
        samples,
        mode=mode,
        brain_key=brain_key,
        label_field=LABEL_FIELD,
        seed=seed,
        **settings,
    )
    seconds = time.perf_counter() - start

    source = run.record["vectors"]["source"]
    plot_map(
        dataset,
        brain_key,
        out / f"{dataset.name}-{brain_key}.png",
        title=f"{dataset.name} ({view_name or 'all'}): {source}",
    )
    return {
        "dataset": dataset.name + (f" [{view_name}]" if view_name else ""),
        "mode": mode,
        "vectors": source,
        "samples": run.n_samples,
        "mapped": run.n_mapped,
        "size": run.vector_size,
        "seconds": seconds,
        "accuracy": map_accuracy(dataset, brain_key),
    }


def _view(dataset, name):
    if name is None:
        return dataset
    from fiftyone import ViewField as F

    return dataset.match(F("filepath").contains_str(f"/{name}/"))


def _train(samples, out, name, settings):
    from .training import train_collection_impulse

    result = train_collection_impulse(
        samples, out / "impulses" / name, label_field=LABEL_FIELD, **settings
    )
    return result.model_path


def map_accuracy(dataset, brain_key, k=10):
    """10-NN label accuracy of a run's 2-D map on its labeled points."""
    from .mapping import knn_accuracy

    points, labels = _points_and_labels(dataset, brain_key)
    classes = sorted({label for label in labels if label is not None})
    codes = np.array([classes.index(x) if x is not None else -1 for x in labels])
    return knn_accuracy(points, codes, k=k)


def plot_map(dataset, brain_key, path, title=""):
    """Writes the map as a PNG: colored by label, unlabeled points gray."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .colors import UNLABELED, class_colors

    points, labels = _points_and_labels(dataset, brain_key)
    colors = class_colors(sorted({x for x in labels if x is not None}))

    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    none = np.array([x is None for x in labels])
    ax.scatter(*points[none].T, s=10, c=UNLABELED, label="Unlabeled")
    for cls, color in colors.items():
        mask = np.array([x == cls for x in labels])
        ax.scatter(*points[mask].T, s=10, color=color, label=cls)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(
        fontsize=7,
        markerscale=1.5,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_summary(rows):
    """The summary table, as text."""
    header = (
        "dataset",
        "mode",
        "vectors",
        "samples",
        "mapped",
        "size",
        "seconds",
        "10-NN acc",
    )
    lines = [
        [
            r["dataset"],
            r["mode"],
            r["vectors"],
            str(r["samples"]),
            str(r["mapped"]),
            str(r["size"]),
            f"{r['seconds']:.1f}",
            f"{r['accuracy']:.3f}",
        ]
        for r in rows
    ]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    out.append(
        "10-NN acc: leave-one-out 10-nearest-neighbour label accuracy "
        "of the 2-D map, on the labeled points"
    )
    return "\n".join(out)


def _import(name, writer, data_dir, seed):
    from . import demo_data
    from .importing import import_samples

    if not data_dir.exists() or not any(data_dir.iterdir()):
        logger.warning("writing the %s data to %s", name, data_dir)
        getattr(demo_data, writer)(data_dir)
    report = import_samples(name, data_dir, labels="folder", label_field=LABEL_FIELD)
    if report.skipped:
        logger.warning(report.summary())

    import fiftyone as fo

    dataset = fo.load_dataset(name)
    dataset.persistent = True
    _hide_labels(dataset, seed)
    return dataset


def _hide_labels(dataset, seed):
    """Copies every label to ``true_label``, then removes a seeded third."""
    labels = dataset.values(f"{LABEL_FIELD}.label")
    dataset.set_values("true_label", labels)
    rng = np.random.default_rng(seed)
    hide = rng.random(len(labels)) < UNLABELED_FRACTION
    ids = dataset.values("id")
    dataset.set_values(
        LABEL_FIELD,
        {i: None for i, h in zip(ids, hide) if h},
        key_field="id",
    )


def _points_and_labels(dataset, brain_key):
    results = dataset.load_brain_results(brain_key)
    points = np.asarray(results.points)
    view = dataset.select(results.sample_ids, ordered=True)
    labels = view.values(f"{LABEL_FIELD}.label")
    labels = [x if x is not None and x.strip() else None for x in labels]
    return points, labels


def _serve_app(port):
    import fiftyone as fo

    names = [n for n in DATASETS if fo.dataset_exists(n)]
    if not names:
        print("No demo dataset yet: run `make demo` first.", file=sys.stderr)
        sys.exit(1)
    session = fo.launch_app(
        fo.load_dataset(names[0]), address="127.0.0.1", port=port, auto=False
    )
    print(
        f"App at http://127.0.0.1:{port} (datasets: {', '.join(names)}); "
        "Ctrl-C stops it"
    )
    try:
        session.wait(-1)
    finally:
        # the App server stops first, while it still reaches the database
        session.close()


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-output")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--app-port", type=int, default=5151)
    parser.add_argument("--app-only", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
