"""The single entry point of the benchmarks: ``make bench`` / ``make bench-quick``.

    .venv/bin/python bench/run.py --quick            # a few minutes
    .venv/bin/python bench/run.py                    # the full variant
    .venv/bin/python bench/run.py --only map blocks --out /tmp/bench.md

Prints the machine facts (cores, threads used, BLAS kernel via threadpoolctl),
then runs each bench script that exists, one after the other, each in its own
process (so thread settings and peak-memory figures do not leak between them)
with ``--quick`` and ``--threads`` passed through. A script that is missing is
reported as "not present"; one that fails is reported with its exit status and
the others still run. Each script prints its own tables: our figure, the
alternative's figure measured in the same run, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C

HERE = os.path.dirname(os.path.abspath(__file__))
#: (short name, script, what it measures), in run order.
SCRIPTS = (
    ("map", "bench_map.py", "the map: ours vs FiftyOne Brain t-SNE vs scikit-learn"),
    ("blocks", "bench_blocks.py", "block features per second vs plain numpy/scipy"),
    ("pretrained", "bench_pretrained.py", "images/s and clips/s vs the FLOP floor"),
    ("labeling", "bench_labeling.py", "neighbour index and proposal latency"),
    ("placing", "bench_placing.py", "new samples placed into a map vs recomputing it"),
    ("panel", "bench_panel.py", "panel open and click-to-preview"),
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the few-minute variant")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for every benchmark (default 2)")
    p.add_argument("--only", nargs="*", choices=[s[0] for s in SCRIPTS],
                   help="run only these benchmarks")
    p.add_argument("--out", help="also write everything printed to this file")
    return p.parse_args(argv)


class Tee:
    """Prints lines and, when given a path, appends them to that file."""

    def __init__(self, path):
        self.file = open(path, "w") if path else None

    def __call__(self, line=""):
        print(line, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self):
        if self.file:
            self.file.close()


def run_script(script, args, out):
    """Runs one bench script; returns (exit status, seconds)."""
    cmd = [sys.executable, "-u", os.path.join(HERE, script),
           "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for var in C.THREAD_VARS:
        env[var] = str(args.threads)
    start = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, cwd=C.REPO) as proc:
        for line in proc.stdout:
            out(line.rstrip("\n"))
        status = proc.wait()
    return status, time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    C.set_threads(args.threads)
    out = Tee(args.out)
    variant = "quick" if args.quick else "full"
    flag = " --quick" if args.quick else ""
    out(f"# Benchmarks ({variant} variant: bench/run.py{flag})")
    out()
    for line in C.machine_facts(args.threads):
        out(f"- {line}")
    summary = []
    for name, script, what in SCRIPTS:
        if args.only and name not in args.only:
            continue
        out(f"\n## {name}: {what}\n")
        if not os.path.exists(os.path.join(HERE, script)):
            out(f"bench/{script}: not present")
            summary.append((name, "not present", None))
            continue
        status, seconds = run_script(script, args, out)
        summary.append((name, "ok" if status == 0 else f"failed (exit {status})",
                        seconds))
    out("\n## Summary\n")
    out(C.table(["benchmark", "result", "wall s"], summary))
    out.close()
    return 0 if all(s[1] in ("ok", "not present") for s in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
