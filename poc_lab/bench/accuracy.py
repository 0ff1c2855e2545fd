"""Accuracy of the compiled models: each built-in digits example trained (seeded), compiled to
an int8 program and run on the held-out test digits, against the float model.

    python -m poc_lab.bench.accuracy [--no-write]

Rewrites the `accuracy` section of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from node.compute.service import CompileReport, compile_example
from node.program.compiler.examples import EXAMPLES
from poc_lab.bench.report import machine, write_section


def measure() -> list[tuple[str, CompileReport, float]]:
    out = []
    for name in EXAMPLES:
        with tempfile.TemporaryDirectory(prefix="poc-acc-") as tmp:
            t = time.perf_counter()
            rep = compile_example(name, Path(tmp) / name)
            out.append((name, rep, time.perf_counter() - t))
    return out


def render(rows: list[tuple[str, CompileReport, float]]) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Accuracy of compiled models",
        "",
        f"Machine: {machine()}. Command: `python -m poc_lab.bench.accuracy`; date {when}.",
        "Data: scikit-learn's bundled digits (8x8 images, 10 classes), a seeded 80/20 split; "
        "post-training static quantization with per-channel int8 weights.",
        "",
        "| model | ops | float accuracy | int8 program accuracy | difference | top-1 agreement "
        "| train + compile + run |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rep, secs in rows:
        assert rep.float_accuracy is not None and rep.int_accuracy is not None
        assert rep.top1_agreement is not None
        diff = 100 * (rep.int_accuracy - rep.float_accuracy)
        lines.append(
            f"| {name} | {rep.ops} | {rep.float_accuracy:.2%} | {rep.int_accuracy:.2%} | "
            f"{diff:+.2f} pp | {rep.top1_agreement:.2%} | {secs:.1f} s |"
        )
    lines.append("")
    lines.append(f"Test set: {rows[0][1].batch} digits.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    body = render(measure())
    print(body)
    if not args.no_write:
        write_section("accuracy", body)


if __name__ == "__main__":
    main()
