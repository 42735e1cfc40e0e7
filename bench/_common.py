"""Shared helpers of the bench scripts: threads, machine facts, tables, growth fits.

Import this module before numpy in a bench script and call
:func:`set_threads` first, so that OpenMP and BLAS pools start with the
requested size. Everything here prints or returns plain values; nothing
imports FiftyOne.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def set_threads(n: int) -> None:
    """Sets every thread-pool variable to ``n`` (effective before the pools start)."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)


def add_repo_to_path() -> None:
    """Makes ``fiftyone_plugin`` importable when a script runs from bench/."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)


def log(msg: str = "") -> None:
    print(msg, flush=True)


# -- machine facts ------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def blas_info() -> list[str]:
    """One line per thread pool that threadpoolctl sees (BLAS kernel, threads)."""
    import numpy  # noqa: F401  (loads the BLAS so threadpoolctl can see it)
    from threadpoolctl import threadpool_info

    lines = []
    for pool in threadpool_info():
        kernel = pool.get("architecture") or ""
        lines.append(
            f"{pool.get('internal_api')} {pool.get('version') or ''} "
            f"({pool.get('user_api')}{', ' + kernel if kernel else ''}): "
            f"{pool.get('num_threads')} threads"
        )
    return lines


def machine_facts(threads: int) -> list[str]:
    """Lines describing the machine and the thread settings of this run."""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [
        f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"cpu: {cpu_model()}; cores usable: {usable_cores()}; "
        f"load average (1/5/15 min): {load}",
        f"python {platform.python_version()} on {platform.platform()}",
        f"threads used: {threads} ({', '.join(THREAD_VARS[:3])} and "
        "threadpool_limits)",
    ]
    lines += [f"blas/openmp: {line}" for line in blas_info()]
    return lines


def print_machine_facts(threads: int) -> None:
    for line in machine_facts(threads):
        log(line)


# -- memory ---------------------------------------------------------------------


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Resets this process's peak RSS (Linux clear_refs); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager: ``extra_mib`` is the peak RSS above the RSS at entry."""

    def __enter__(self):
        self.ok = reset_peak_rss()
        self.start_kb = _status_kb("VmRSS")
        return self

    def __exit__(self, *exc):
        peak = _status_kb("VmHWM")
        extra = max(0.0, (peak - self.start_kb) / 1024)
        self.extra_mib = round(extra) if self.ok else float("nan")
        return False


def timed(fn, *args, **kwargs):
    """Runs ``fn``; returns (result, seconds, extra peak MiB)."""
    with PeakMemory() as mem:
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - start
    return result, seconds, mem.extra_mib


def median(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


# -- growth ---------------------------------------------------------------------


def fit_power_law(ns, ts):
    """Least-squares fit of log t = log a + b log n; returns (a, b) or None."""
    pairs = [(n, t) for n, t in zip(ns, ts) if n > 0 and t and t > 0]
    if len({n for n, _ in pairs}) < 2:
        return None
    xs = [math.log(n) for n, _ in pairs]
    ys = [math.log(t) for _, t in pairs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum(
        (x - mx) ** 2 for x in xs)
    return math.exp(my - b * mx), b


def predict(fit, n):
    a, b = fit
    return a * n ** b


def growth_line(name, ns, ts, unit="s", noun="points"):
    """'name: t = a N^b (fitted on ...); 10x N costs x10^b' or a note."""
    fit = fit_power_law(ns, ts)
    if fit is None:
        return f"{name}: not enough sizes measured to fit growth"
    a, b = fit
    sizes = ", ".join(f"{n:,}" for n in sorted(set(ns)))
    return (f"{name}: t = {a:.3g} * N^{b:.2f} {unit} (fitted on N = {sizes}); "
            f"10x more {noun} costs {10 ** b:.1f}x")


# -- tables ---------------------------------------------------------------------


def fmt(value, digits=3):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}g}"


def ratio(alt, ours):
    """'12.3x' (alternative / ours; higher means we are faster) or '-'."""
    try:
        if alt and ours and not (math.isnan(alt) or math.isnan(ours)):
            return f"{alt / ours:.1f}x"
    except TypeError:
        pass
    return "-"


def table(headers, rows, title=None) -> str:
    """A GitHub-markdown table (also readable as plain text)."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
            for r in cells]
    out = ([f"\n### {title}\n"] if title else []) + [line, sep] + body
    return "\n".join(out)


def print_table(headers, rows, title=None) -> None:
    log(table(headers, rows, title))
