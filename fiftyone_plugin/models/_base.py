"""The embedder base class: array-level ``embed`` and the file pipeline.

An :class:`Embedder` turns decoded items (images or audio clips) into fixed
vectors. Subclasses provide three hooks:

- ``_prepare(item, index, **kw)``: one decoded item -> the network's fixed
  input item (e.g. a (224, 224, 3) uint8 array); raises ``ValueError`` with
  the index, the value and the rule when the item cannot be used;
- ``_load(path)``: a file -> the same fixed input item (decoding + preparing);
- ``_forward(batch)``: a stacked batch of fixed items -> (b, dim) float32;
- optionally ``_forward_in_worker(batch)``: the same with one compute thread,
  called from several threads at once (set ``worker_batch_size`` then).

:meth:`Embedder.embed_files` has two schedules. Where the embedder has a
one-thread forward, each of ``threads`` workers decodes a small batch of files
and runs the network on it, then takes the next: decoding and the network
never compete for the cores, and each worker's activations stay in its
core's cache (MobileNetV2 end to end from JPEG: 169 images/s against 144 for
the overlapped schedule, bench/RESULTS.md). Otherwise files are decoded on a
thread pool while the calling thread runs the network on the previous batch.
Either way a file that cannot be decoded is skipped and listed, never zeros.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import os
import platform
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: progress(fraction in [0, 1], label)
ProgressFn = Callable[[float, str], Any]


class EmbedderUnavailable(RuntimeError):
    """A network cannot be used here: its weights or its package are missing.

    The message names the network, every place that was searched and what to
    do (which file to put where, or which package to install).
    """


class UnusableItem(ValueError):
    """A decoded item the network cannot embed (e.g. a silent clip).

    The message names the item, the value and the rule; :meth:`Embedder.embed`
    lets it propagate, :meth:`Embedder.embed_files` lists the file as skipped.
    """


@dataclasses.dataclass
class EmbedResult:
    """What :meth:`Embedder.embed_files` returns.

    Attributes
    ----------
    vectors : np.ndarray
        (n_ok, dim) float32, one row per file that could be embedded, in the
        order of the input paths.
    ok_indices : np.ndarray
        (n_ok,) int64 indices into the input ``paths`` of the rows of
        ``vectors``.
    errors : list of (int, str, str)
        (index, path, reason) of every file that was skipped.
    """

    vectors: np.ndarray
    ok_indices: np.ndarray
    errors: list[tuple[int, str, str]]

    @property
    def n_ok(self) -> int:
        return int(len(self.ok_indices))

    def summary(self) -> str:
        """One line: how many files were embedded and how many were skipped."""
        n = self.n_ok + len(self.errors)
        text = f"embedded {self.n_ok} of {n} files"
        if self.errors:
            i, path, reason = self.errors[0]
            text += f"; skipped {len(self.errors)} (first: #{i} {path}: {reason})"
        return text


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    """Full hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_threads(threads: int | None) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(
            f"threads={threads!r}: must be a positive integer or None "
            "(None keeps the framework's default)"
        )
    return threads


class Embedder:
    """A pre-trained network that maps items to (n, dim) float32 vectors.

    Attributes
    ----------
    name : str
        Registry name (``"mobilenet_v2"``, ...).
    kind : str
        ``"image"`` or ``"audio"``.
    dim : int
        Length of each vector.
    input_desc : str
        What the network is fed, e.g. ``"224x224 RGB, ImageNet mean/std"``.
    weights_source : str
        The file (or package) the weights were loaded from.
    default_batch_size : int
        Batch size of :meth:`embed_files` when none is given.
    """

    name = "embedder"
    kind = "none"
    dim = 0
    input_desc = ""
    default_batch_size = 8
    #: Files per network call of one worker in :meth:`embed_files`; 0 when the
    #: embedder has no ``_forward_in_worker`` (the overlapped schedule runs).
    worker_batch_size = 0
    item_noun = "items"

    def __init__(self, weights_source: str, weights_path: str | None,
                 threads: int | None = None):
        self.weights_source = weights_source
        self._weights_path = weights_path
        self.threads = _check_threads(threads)
        self._sha256: str | None = None

    # -- description -------------------------------------------------------

    def weights_sha256(self) -> str | None:
        """Hex sha256 of the weights file (computed once), None if no file."""
        if self._sha256 is None and self._weights_path:
            self._sha256 = sha256_file(self._weights_path)
        return self._sha256

    def framework_versions(self) -> dict[str, str]:
        """Versions of the libraries the network runs on."""
        return {"numpy": np.__version__, "python": platform.python_version()}

    def effective_threads(self) -> int:
        """Number of compute threads the network runs with."""
        return self.threads or os.cpu_count() or 1

    def extra_description(self) -> dict[str, Any]:
        """Subclass hook: more JSON-serialisable facts for :meth:`describe`."""
        return {}

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable record of this embedder, for a run's provenance."""
        sha = self.weights_sha256()
        record = {
            "name": self.name,
            "kind": self.kind,
            "dim": int(self.dim),
            "input": self.input_desc,
            "weights_source": self.weights_source,
            "weights_sha256": sha[:16] if sha else None,
            "frameworks": self.framework_versions(),
            "threads": int(self.effective_threads()),
            "batch_size": int(self.default_batch_size),
        }
        record.update(self.extra_description())
        return record

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} dim={self.dim} "
            f"weights={self.weights_source!r}>"
        )

    # -- subclass hooks ----------------------------------------------------

    def _prepare(self, item: Any, index: int, **kwargs) -> np.ndarray:
        raise NotImplementedError

    def _load(self, path: str) -> np.ndarray:
        raise NotImplementedError

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward_in_worker(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- public ------------------------------------------------------------

    def embed(self, items: Sequence[Any], batch_size: int | None = None,
              **kwargs) -> np.ndarray:
        """Embed decoded items; returns (n, dim) float32.

        Items are prepared batch by batch (peak memory: one batch of network
        inputs). Raises ``ValueError`` (:class:`UnusableItem`) naming the first
        item that cannot be used: the array API is strict, while
        :meth:`embed_files` skips and lists bad files.
        """
        items = list(items)
        bs = self._batch_size(batch_size)
        out = [np.zeros((0, self.dim), np.float32)]
        for s in range(0, len(items), bs):
            batch = [self._prepare(item, s + i, **kwargs)
                     for i, item in enumerate(items[s:s + bs])]
            out.append(np.asarray(self._forward(np.stack(batch)), np.float32))
        return np.concatenate(out)

    def embed_files(self, paths: Sequence[str], batch_size: int | None = None,
                    progress: ProgressFn | None = None,
                    decode_workers: int | None = None) -> EmbedResult:
        """Decode and embed files; bad files are skipped and listed.

        With a one-thread forward (``worker_batch_size`` > 0) and more than
        one thread, each of ``threads`` workers decodes ``batch_size`` files
        (default ``worker_batch_size``) and runs the network on them.
        Otherwise decoding runs on ``decode_workers`` threads (default: 2 x
        cores, at most 8) ahead of the network, which runs batches of
        ``batch_size`` (default ``default_batch_size``) on the calling
        thread. ``progress(fraction, label)`` is called after every batch.
        """
        paths = [os.fspath(p) for p in paths]
        threads = self.effective_threads()
        if self.worker_batch_size and threads > 1:
            bs = self._batch_size(batch_size, self.worker_batch_size)
            run = _WorkerRun(self, paths, bs, progress)
            with ThreadPoolExecutor(threads, thread_name_prefix="embed") as pool:
                run.go(pool, lookahead=2 * threads)
            return run.result()

        bs = self._batch_size(batch_size)
        workers = decode_workers or min(8, 2 * (os.cpu_count() or 1))
        run = _FileRun(self, paths, bs, progress)
        with ThreadPoolExecutor(workers, thread_name_prefix="embed-decode") as pool:
            run.go(pool, lookahead=2 * bs + workers)
        return run.result()

    def _batch_size(self, batch_size: int | None, default: int | None = None) -> int:
        default = default or self.default_batch_size
        bs = default if batch_size is None else batch_size
        if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
            raise ValueError(
                f"batch_size={batch_size!r}: must be a positive integer or None "
                f"(None uses {default})"
            )
        return bs

    def _safe_load(self, path: str) -> np.ndarray | str:
        """Decode one file; returns the prepared item or the reason it failed."""
        if not os.path.isfile(path):
            return "file not found" if not os.path.exists(path) else "not a file"
        try:
            return self._load(path)
        except UnusableItem as e:
            return str(e)
        # One bad file must never fail the run: decoders (Pillow, libsndfile)
        # raise many unrelated types (OSError, SyntaxError, struct.error, ...).
        except Exception as e:  # noqa: BLE001
            return f"cannot decode: {type(e).__name__}: {e}"


class _FileRun:
    """State of one :meth:`Embedder.embed_files` call."""

    def __init__(self, embedder: Embedder, paths: list[str], batch_size: int,
                 progress: ProgressFn | None):
        self.emb, self.paths, self.bs, self.progress = (
            embedder, paths, batch_size, progress)
        self.vectors: list[np.ndarray] = []
        self.ok: list[int] = []
        self.errors: list[tuple[int, str, str]] = []
        self.items: list[np.ndarray] = []
        self.idx: list[int] = []
        self.done = 0
        self._reported = -1

    def go(self, pool: ThreadPoolExecutor, lookahead: int) -> None:
        pending: collections.deque = collections.deque()
        self._report()
        for i, p in enumerate(self.paths):
            pending.append((i, p, pool.submit(self.emb._safe_load, p)))
            if len(pending) >= lookahead:
                self._take(*pending.popleft())
        while pending:
            self._take(*pending.popleft())
        self._flush()
        self._report(final=True)

    def _take(self, i: int, path: str, future) -> None:
        got = future.result()
        if isinstance(got, str):
            self._skip(i, got)
        else:
            self.items.append(got)
            self.idx.append(i)
        if len(self.items) >= self.bs:
            self._flush()

    def _flush(self) -> None:
        if not self.items:
            return
        self._record(self.emb._forward(np.stack(self.items)), self.idx)
        self.items, self.idx = [], []
        self._report()

    def _skip(self, i: int, reason: str) -> None:
        logger.warning("skipping %s: %s", self.paths[i], reason)
        self.errors.append((i, self.paths[i], reason))
        self.done += 1

    def _record(self, out: np.ndarray, idx: list[int]) -> None:
        """Keeps the finite rows of a network output; lists the others."""
        out = np.asarray(out, np.float32)
        finite = np.isfinite(out).all(axis=1)
        for row, i, good in zip(out, idx, finite, strict=True):
            if good:
                self.vectors.append(row)
                self.ok.append(i)
            else:
                self.errors.append(
                    (i, self.paths[i], "the network produced NaN/Inf for this file")
                )
        self.done += len(idx)

    def _report(self, final: bool = False) -> None:
        if self.progress is None or self._reported == self.done:
            return
        self._reported = self.done
        n = len(self.paths)
        frac = 1.0 if final or not n else self.done / n
        label = f"{self.emb.name}: {self.done}/{n} {self.emb.item_noun}"
        if self.errors:
            label += f" ({len(self.errors)} skipped)"
        self.progress(frac, label)

    def result(self) -> EmbedResult:
        order = np.argsort(np.asarray(self.ok, np.int64), kind="stable")
        ok = np.asarray(self.ok, np.int64)[order]
        if self.vectors:
            vec = np.stack(self.vectors).astype(np.float32, copy=False)[order]
        else:
            vec = np.zeros((0, self.emb.dim), np.float32)
        errors = sorted(self.errors)
        return EmbedResult(vectors=vec, ok_indices=ok, errors=errors)


class _WorkerRun(_FileRun):
    """An :meth:`Embedder.embed_files` call where each worker decodes and embeds.

    The files are cut into batches of ``batch_size``; a worker thread decodes
    one batch and runs the network on it with one compute thread
    (``_forward_in_worker``). Results are taken in file order, at most
    ``lookahead`` batches ahead of the slowest.
    """

    def go(self, pool: ThreadPoolExecutor, lookahead: int) -> None:
        pending: collections.deque = collections.deque()
        self._report()
        for start in range(0, len(self.paths), self.bs):
            pending.append(pool.submit(self._work, start))
            if len(pending) >= lookahead:
                self._take_batch(pending.popleft())
        while pending:
            self._take_batch(pending.popleft())
        self._report(final=True)

    def _work(self, start: int):
        """Worker: decode files ``start..start + batch_size``, embed those that
        decoded; returns (their indices, the output, [(index, reason)])."""
        items, idx, failed = [], [], []
        for i in range(start, min(start + self.bs, len(self.paths))):
            got = self.emb._safe_load(self.paths[i])
            if isinstance(got, str):
                failed.append((i, got))
            else:
                items.append(got)
                idx.append(i)
        out = self.emb._forward_in_worker(np.stack(items)) if items else None
        return idx, out, failed

    def _take_batch(self, future) -> None:
        idx, out, failed = future.result()
        for i, reason in failed:
            self._skip(i, reason)
        if idx:
            self._record(out, idx)
        self._report()
