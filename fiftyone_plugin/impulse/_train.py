"""Train a small dense classifier on labeled block features (an "impulse"
learning block), so that ``impulse`` mode works on data with no model yet.

The network is the studio's classic one: feature standardisation, dense hidden
layers with ReLU (default 20 and 10 units) and a softmax layer with one unit
per class. Standardisation is part of the saved model, so the model takes raw
block features; its mean and std are also written to block.json.

Default framework: Keras, saved as ``model.keras``. The studio's impulses are
Keras models, a .keras file loads in safe mode without unpickling anything,
and the same model converts to TFLite (float or int8) for devices.
``framework="torch"`` saves a TorchScript ``model.pt`` instead.
"""

from __future__ import annotations

import json
import logging
import pathlib
from dataclasses import dataclass, field

import numpy as np

from ._common import ImpulseError, normalise_block_config, quiet_tensorflow

logger = logging.getLogger(__name__)

#: Fewest labeled samples train_impulse accepts.
MIN_LABELED = 10
#: Fewest labeled samples a class that has any must have (one to train, one
#: to validate).
MIN_PER_CLASS = 2

DEFAULT_EPOCHS = 60
DEFAULT_BATCH = 32
DEFAULT_LEARNING_RATE = 0.005


@dataclass
class TrainResult:
    """What :func:`train_impulse` produced.

    ``val_accuracy`` is the accuracy of the final model on the held-out split
    (``None`` when ``val_fraction`` is 0). ``history`` holds per-epoch lists
    ``loss``, ``accuracy`` and (with a validation split) ``val_accuracy``.
    """

    model_path: str
    val_accuracy: float | None
    n_train: int
    n_val: int
    class_names: list
    history: dict = field(default_factory=dict)
    block_json: str = ""
    framework: str = "keras"


def train_impulse(features, codes, class_names, out_dir, block_config,
                  hidden=(20, 10), epochs=DEFAULT_EPOCHS, seed=0, val_fraction=0.2,
                  framework="keras", learning_rate=DEFAULT_LEARNING_RATE,
                  batch_size=DEFAULT_BATCH) -> TrainResult:
    """Train a dense classifier on labeled block features and save it.

    Args:
        features: ``(n, d)`` float block outputs.
        codes: ``(n,)`` int class codes into ``class_names``; ``-1`` marks an
            unlabeled sample, which is ignored.
        class_names: list of class names (the output has one unit per name).
        out_dir: folder for ``model.keras`` (or ``model.pt``) and ``block.json``.
        block_config: the block that produced the features (dict or Block).
        hidden: hidden layer sizes; the vectors of ``impulse`` mode are the
            last hidden layer's outputs.
        epochs, learning_rate, batch_size: Adam training settings.
        seed: seeds the split, the weights and the batch order.
        val_fraction: share of each class held out for validation (0..0.9).
        framework: ``"keras"`` (default) or ``"torch"``.

    Rules (else :class:`ImpulseError` stating the numbers): at least
    ``MIN_LABELED`` labeled samples, at least two classes with labels, and at
    least ``MIN_PER_CLASS`` samples in every class that has any.
    """
    config = normalise_block_config(block_config)
    if config is None:
        raise ImpulseError(
            "train_impulse needs the block_config the features came from, so the "
            "model can be paired with it in block.json"
        )
    x, y = _labeled(features, codes, class_names)
    hidden = _check_hidden(hidden)
    if framework not in ("keras", "torch"):
        raise ImpulseError(f"framework must be 'keras' or 'torch'; got {framework!r}")
    train_idx, val_idx = _split(y, val_fraction, seed)
    mean, std = _standardisation(x[train_idx])
    out = pathlib.Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(hidden=hidden, epochs=int(epochs), seed=int(seed),
                    learning_rate=float(learning_rate), batch_size=int(batch_size))
    fit = _fit_keras if framework == "keras" else _fit_torch
    model_path, history, val_acc = fit(
        x, y, train_idx, val_idx, len(class_names), mean, std, out, settings)
    block_json = _write_block_json(out, config, class_names, x.shape[1:], mean, std,
                                   model_path, framework, val_acc, settings,
                                   len(train_idx), len(val_idx))
    logger.info("trained %s classifier: %d train, %d validation samples, "
                "validation accuracy %s", framework, len(train_idx), len(val_idx),
                "n/a" if val_acc is None else f"{val_acc:.3f}")
    return TrainResult(str(model_path), val_acc, len(train_idx), len(val_idx),
                       list(class_names), history, str(block_json), framework)


# --------------------------------------------------------------------------
# Checks and data preparation
# --------------------------------------------------------------------------


def _labeled(features, codes, class_names):
    """``(x, y)`` of the labeled samples, after every refusal rule."""
    x = np.asarray(features, dtype=np.float32)
    codes = np.asarray(codes)
    if x.ndim != 2:
        raise ImpulseError(f"features must be (n, d); got shape {x.shape}")
    if codes.shape != (x.shape[0],):
        raise ImpulseError(
            f"codes must be (n,) = ({x.shape[0]},) like features; got {codes.shape}"
        )
    if codes.size and not np.all(np.mod(codes, 1) == 0):
        raise ImpulseError("codes must be integers (class indices, -1 = unlabeled)")
    codes = codes.astype(np.int64)
    names = list(class_names)
    bad = codes[(codes < -1) | (codes >= len(names))]
    if bad.size:
        raise ImpulseError(
            f"codes must lie in -1..{len(names) - 1} for {len(names)} class names; "
            f"got {sorted(set(bad.tolist()))[:10]}"
        )
    keep = codes >= 0
    x, y = x[keep], codes[keep]
    if not np.all(np.isfinite(x)):
        rows = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
        raise ImpulseError(
            f"{rows.size} labeled samples have NaN/Inf features (labeled rows "
            f"{rows[:10].tolist()}); fix or drop them before training"
        )
    _check_counts(y, names, int((~keep).sum()))
    return x, y


def _check_counts(y, names, n_unlabeled):
    counts = {names[c]: int(n) for c, n in zip(*np.unique(y, return_counts=True))}
    summary = ", ".join(f"{k!r}: {v}" for k, v in counts.items()) or "none"
    if len(y) < MIN_LABELED:
        raise ImpulseError(
            f"train_impulse needs at least {MIN_LABELED} labeled samples; got "
            f"{len(y)} ({n_unlabeled} unlabeled ignored; per class: {summary}). "
            "Label more samples first"
        )
    if len(counts) < 2:
        raise ImpulseError(
            f"train_impulse needs labeled samples of at least 2 classes; got "
            f"{len(counts)} (per class: {summary}). Label samples of another class"
        )
    small = {k: v for k, v in counts.items() if v < MIN_PER_CLASS}
    if small:
        raise ImpulseError(
            f"every labeled class needs at least {MIN_PER_CLASS} samples (one to "
            f"train, one to validate); too few in {small}. Label more samples of "
            "those classes or remove their labels"
        )


def _check_hidden(hidden):
    hidden = tuple(int(h) for h in hidden)
    if not hidden or min(hidden) < 1:
        raise ImpulseError(
            f"hidden must list at least one hidden layer size >= 1 (the vectors are "
            f"the last hidden layer's outputs); got {hidden}"
        )
    return hidden


def _split(y, val_fraction, seed):
    """Stratified ``(train_idx, val_idx)``: ``round(n_c * val_fraction)`` of
    each class (at least one, leaving at least one to train)."""
    if not 0 <= val_fraction <= 0.9:
        raise ImpulseError(f"val_fraction must lie in 0..0.9; got {val_fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = 0
        if val_fraction > 0:
            n_val = int(np.clip(round(len(idx) * val_fraction), 1, len(idx) - 1))
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return np.sort(np.array(train, int)), np.sort(np.array(val, int))


def _standardisation(x):
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 1e-6 * max(float(np.abs(x).max()), 1e-12), std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def _batches(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _accuracy(probs, y):
    return float(np.mean(np.argmax(probs, axis=1) == y)) if len(y) else None


# --------------------------------------------------------------------------
# Keras
# --------------------------------------------------------------------------


def _keras_model(n_features, n_classes, mean, std, settings):
    quiet_tensorflow()
    try:
        import keras
    except ImportError as exc:
        raise ImpulseError(
            "framework='keras' needs 'pip install tensorflow-cpu'; or use "
            "framework='torch'"
        ) from exc
    seed = settings["seed"]
    inp = keras.Input((n_features,), name="features")
    x = keras.layers.Normalization(mean=mean, variance=std ** 2,
                                   name="normalization")(inp)
    for i, units in enumerate(settings["hidden"], 1):
        x = keras.layers.Dense(
            units, activation="relu", name=f"hidden_{i}",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i))(x)
    out = keras.layers.Dense(
        n_classes, activation="softmax", name="classifier",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(x)
    model = keras.Model(inp, out, name="impulse_classifier")
    model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit_keras(x, y, train_idx, val_idx, n_classes, mean, std, out, settings):
    model = _keras_model(x.shape[1], n_classes, mean, std, settings)
    rng = np.random.default_rng(settings["seed"] + 1)
    history = {"loss": [], "accuracy": [], "val_accuracy": []}
    xt, yt = x[train_idx], y[train_idx]
    for _ in range(settings["epochs"]):
        for batch in _batches(len(xt), settings["batch_size"], rng):
            model.train_on_batch(xt[batch], yt[batch])
        probs = np.asarray(model.predict_on_batch(xt))
        history["loss"].append(_xent(probs, yt))
        history["accuracy"].append(_accuracy(probs, yt))
        if len(val_idx):
            vprobs = np.asarray(model.predict_on_batch(x[val_idx]))
            history["val_accuracy"].append(_accuracy(vprobs, y[val_idx]))
    path = out / "model.keras"
    model.save(path)
    val_acc = history["val_accuracy"][-1] if len(val_idx) else None
    if not len(val_idx):
        del history["val_accuracy"]
    return path, history, val_acc


def _xent(probs, y):
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1))))


# --------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------


def _torch_model(n_features, n_classes, mean, std, hidden):
    try:
        import torch
    except ImportError as exc:
        raise ImpulseError(
            "framework='torch' needs 'pip install torch'; or use framework='keras'"
        ) from exc

    class DenseClassifier(torch.nn.Module):
        """Standardise -> dense+ReLU hidden layers -> softmax classifier."""

        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.from_numpy(mean))
            self.register_buffer("std", torch.from_numpy(std))
            sizes = [n_features, *hidden]
            self.hidden = torch.nn.ModuleList(
                torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            self.classifier = torch.nn.Linear(sizes[-1], n_classes)

        def logits(self, x: torch.Tensor) -> torch.Tensor:
            x = (x - self.mean) / self.std
            for layer in self.hidden:
                x = torch.relu(layer(x))
            return self.classifier(x)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.logits(x), dim=-1)

    return DenseClassifier()


def _fit_torch(x, y, train_idx, val_idx, n_classes, mean, std, out, settings):
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(settings["seed"])
        model = _torch_model(x.shape[1], n_classes, mean, std, settings["hidden"])
    opt = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(settings["seed"] + 1)
    xt, yt = torch.from_numpy(x[train_idx]), torch.from_numpy(y[train_idx])
    history = {"loss": [], "accuracy": [], "val_accuracy": []}
    for _ in range(settings["epochs"]):
        model.train()
        for batch in _batches(len(xt), settings["batch_size"], rng):
            opt.zero_grad()
            loss_fn(model.logits(xt[batch]), yt[batch]).backward()
            opt.step()
        _torch_epoch_log(model, x, y, train_idx, val_idx, history)
    path = out / "model.pt"
    model.eval()
    from ._torch import quiet_jit

    with quiet_jit():
        torch.jit.save(torch.jit.script(model), str(path))
    val_acc = history["val_accuracy"][-1] if len(val_idx) else None
    if not len(val_idx):
        del history["val_accuracy"]
    return path, history, val_acc


def _torch_epoch_log(model, x, y, train_idx, val_idx, history):
    import torch

    model.eval()
    with torch.no_grad():
        probs = model(torch.from_numpy(x[train_idx])).numpy()
        history["loss"].append(_xent(probs, y[train_idx]))
        history["accuracy"].append(_accuracy(probs, y[train_idx]))
        if len(val_idx):
            vprobs = model(torch.from_numpy(x[val_idx])).numpy()
            history["val_accuracy"].append(_accuracy(vprobs, y[val_idx]))


# --------------------------------------------------------------------------
# block.json
# --------------------------------------------------------------------------


def _write_block_json(out, config, class_names, input_shape, mean, std, model_path,
                      framework, val_acc, settings, n_train, n_val):
    data = {
        **config,
        "class_names": list(class_names),
        "input_shape": [int(d) for d in input_shape],
        "normalization": {"mean": mean.tolist(), "std": std.tolist(),
                          "applied_in_model": True},
        "model": pathlib.Path(model_path).name,
        "framework": framework,
        "cut_layer": "hidden_%d" % len(settings["hidden"]) if framework == "keras"
        else "classifier:input",
        "training": {**settings, "hidden": list(settings["hidden"]),
                     "val_accuracy": val_acc, "n_train": n_train, "n_val": n_val},
        "created_by": "fiftyone_plugin.impulse.train_impulse",
    }
    path = out / "block.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path
