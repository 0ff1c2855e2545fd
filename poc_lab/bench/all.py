"""`make bench`: every benchmark in turn, each rewriting its own section of docs/benchmarks.md
(machine, command and date inside each section). A failing benchmark is reported and the
others still run; the exit status says whether all of them passed.

    python -m poc_lab.bench.all [--only compute,accuracy,gas,dispute,dispute-training,dispute-generation,plots,economics,training,llm,llm-size,fleet]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHES: dict[str, list[str]] = {
    "compute": [sys.executable, "-m", "poc_lab.bench.compute", "--reps", "40", "--threads", "1"],
    "accuracy": [sys.executable, "-m", "poc_lab.bench.accuracy"],
    "gas": ["ape", "run", "gas_report"],
    "dispute": [sys.executable, "-m", "poc_lab.bench.dispute"],
    "dispute-training": [sys.executable, "-m", "poc_lab.bench.dispute", "--training-steps", "100"],
    "dispute-generation": [
        sys.executable,
        "-m",
        "poc_lab.bench.dispute",
        "--generation-layers",
        "4",
    ],  # fmt: skip
    "plots": [sys.executable, "-m", "poc_lab.bench.plots"],
    "economics": [sys.executable, "-m", "poc_lab.bench.economics"],
    "training": [sys.executable, "-m", "poc_lab.bench.training"],
    "llm": [sys.executable, "-m", "poc_lab.bench.llm"],
    # GPT-2 small's shape, issue 16's size target: 32 new tokens (fits since v7's 32-bit slot ids)
    "llm-size": [
        sys.executable,
        "-m",
        "poc_lab.bench.llm",
        "--size",
        "gpt2-small",
        "--new-tokens",
        "32",
    ],
    "fleet": [sys.executable, "-m", "poc_lab.bench.fleet"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHES)}")
    failed = []
    for name in names:
        t = time.monotonic()
        print(f"== bench {name}: {' '.join(BENCHES[name])}", flush=True)
        rc = subprocess.run(BENCHES[name], cwd=ROOT).returncode
        print(f"== bench {name}: exit {rc} after {time.monotonic() - t:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")
    print("docs/benchmarks.md rewritten")


if __name__ == "__main__":
    main()
