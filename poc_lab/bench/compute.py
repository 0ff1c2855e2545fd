"""Compute-layer benchmarks: commitment overhead, price of exactness, commitment throughput,
S_i and reveal latency, hash choice.

    python -m poc_lab.bench.compute [--reps 20] [--device auto] [--no-write]

Rewrites the section between `<!-- compute:begin -->` and `<!-- compute:end -->` of
docs/benchmarks.md (machine, command, date, figures)."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from node.compute.commit import root_of
from node.compute.config import ComputeConfig
from node.compute.device import resolve
from node.compute.executor import Commit, Executor
from node.program import hashing
from node.program.compiler.config import CompileConfig
from node.program.compiler.examples import digits_cnn, load_digits_split
from node.program.compiler.lower import compile_model
from node.program.constants import DType
from node.program.merkle import tensor_tree
from node.program.spec import JobSpec
from node.trace.lazy import TraceProvider
from poc_lab.bench.report import machine, write_section

BATCH = 256


def timed(fn: Callable[[], object], reps: int) -> float:
    """Minimum seconds of `reps` calls after two warm-up calls (the machine is shared: the
    minimum is the least disturbed run)."""
    return round_robin({"f": fn}, reps)["f"][0]


def round_robin(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, tuple[float, float]]:
    """(min, median) seconds per function, the functions interleaved rep by rep so that load
    from other processes falls on all of them alike."""
    for fn in fns.values():
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


@dataclass
class ModelFigures:
    name: str
    float_s: float
    none_s: float
    none_fp32_s: float  # the fp32-chunk CPU path (what a CPU without VNNI runs)
    output_s: float
    state_s: float
    exactness_median: float  # ratio of medians, for comparison with the ratio of minima
    overhead_output_median: float
    output_root_s: float  # the output root alone, timed on its own
    committed_mb: float  # bytes hashed for S_N (every op output and the data input)
    s_mid_s: float
    reveal_s: float
    n_ops: int

    @property
    def overhead_output(self) -> float:
        return self.output_s / self.none_s

    @property
    def overhead_state(self) -> float:
        return self.state_s / self.none_s

    @property
    def exactness(self) -> float:
        return self.none_s / self.float_s


def mlp_case() -> tuple[str, nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    ).eval()
    return "MLP 784-1024-1024-10", model, torch.rand(BATCH, 784)


def cnn_case() -> tuple[str, nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    x = load_digits_split().x_train[:BATCH]
    return "digits CNN (2 conv + linear)", digits_cnn().eval(), x


def bench_model(
    name: str, model: nn.Module, x: torch.Tensor, device: str, reps: int
) -> ModelFigures:
    spec: JobSpec = compile_model(model, x, CompileConfig(batch=BATCH))
    ex = Executor(spec.program, spec.constants, ComputeConfig(device=device))
    ex_fp32 = Executor(
        spec.program, spec.constants, ComputeConfig(device=device, cpu_int8_gemm="off")
    )
    inputs = spec.input_values(spec.quantize_input(x.numpy()))
    xd = x.to(ex.device)
    model = model.to(ex.device)

    def float_run() -> None:
        with torch.no_grad():
            model(xd)
        if ex.device.type == "cuda":
            torch.cuda.synchronize()

    res = ex.run(inputs, Commit.STATE, keep=True)
    assert res.slots is not None
    out_t = res.slots[spec.program.output_slot]
    root_s = timed(lambda: root_of(out_t), reps)
    committed = sum(
        t.numel() * t.element_size() for s, t in res.slots.items() if s not in spec.constants
    )
    rr = round_robin(
        {
            "float": float_run,
            "none": lambda: ex.run(inputs, Commit.NONE),
            "none_fp32": lambda: ex_fp32.run(inputs, Commit.NONE),
            "output": lambda: ex.run(inputs, Commit.OUTPUT),
            "state": lambda: ex.run(inputs, Commit.STATE),
        },
        reps,
    )
    # Dispute-time latencies, cold (a fresh provider: execution and hashing included).
    all_inputs = dict(enumerate(inputs))
    mid = len(spec.program.ops) // 2

    def s_mid() -> None:
        TraceProvider(spec.program, all_inputs, ComputeConfig(device=device)).state_root(mid)

    def reveal() -> None:
        tp = TraceProvider(spec.program, all_inputs, ComputeConfig(device=device))
        slot = spec.program.n_inputs + mid
        depth = tp.tree(slot).depth
        tp.children(slot, depth, 0, min(4, depth))

    return ModelFigures(
        name,
        rr["float"][0],
        rr["none"][0],
        rr["none_fp32"][0],
        rr["output"][0],
        rr["state"][0],
        rr["none"][1] / rr["float"][1],
        rr["output"][1] / rr["none"][1],
        root_s,
        committed / 1e6,
        timed(s_mid, max(3, reps // 4)),
        timed(reveal, max(3, reps // 4)),
        len(spec.program.ops),
    )


def commitment_throughput(mb: int = 64) -> dict[str, float]:
    data = np.random.default_rng(0).bytes(mb << 20)
    out: dict[str, float] = {}
    saved = os.environ.get("POC_HASH_THREADS")
    try:
        for threads in sorted({1, min(8, os.cpu_count() or 1)}):
            os.environ["POC_HASH_THREADS"] = str(threads)
            for dtype in (DType.INT8, DType.INT32):
                s = timed(lambda d=dtype: tensor_tree(data, d), 8)  # type: ignore[misc]
                out[f"{hashing.backend()} {dtype.label} tree, {threads} thread(s)"] = (
                    len(data) / s / 1e6
                )
    finally:
        if saved is None:
            os.environ.pop("POC_HASH_THREADS", None)
        else:
            os.environ["POC_HASH_THREADS"] = saved
    small = data[: 4 << 20]
    s = timed(lambda: hashing.hash_blocks_hashlib(small, 32), 2)
    out["hashlib per-leaf loop, int8 leaves only"] = len(small) / s / 1e6
    return out


def hash_choice(n: int = 200_000) -> dict[str, float]:
    """Nodes per second hashing 64-byte inner nodes, one Python call per node, and bulk."""
    node = os.urandom(64)
    res: dict[str, float] = {}
    t = time.perf_counter()
    for _ in range(n):
        hashlib.sha256(node).digest()
    res["sha256 (hashlib, per node)"] = n / (time.perf_counter() - t)
    try:
        import sha3  # safe-pysha3: keccak256 in C

        t = time.perf_counter()
        for _ in range(n):
            sha3.keccak_256(node).digest()
        res["keccak256 (pysha3, per node)"] = n / (time.perf_counter() - t)
    except ImportError:
        pass
    level = os.urandom(64 * n)
    t = time.perf_counter()
    hashing.hash_blocks(level, 64)
    res[f"sha256 ({hashing.backend()}, bulk level)"] = n / (time.perf_counter() - t)
    return res


def render(
    models: list[ModelFigures],
    thr: dict[str, float],
    hc: dict[str, float],
    device: str,
    reps: int,
    threads: int | None = None,
) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Compute layer (executor, commitments, trace)",
        "",
        f"Machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"device `{device}`.  ",
        f"Command: `python -m poc_lab.bench.compute --reps {reps}"
        f"{f' --threads {torch.get_num_threads()}' if threads else ''}`; date {when}. Batch {BATCH}. "
        "Times are minima over interleaved repetitions: the machine is shared with other work "
        "(load average ~2 on 2 cores while measuring), which inflates medians erratically; "
        "ratios of medians in brackets for reference.",
        "",
        "| model | ops | float32 torch | int, no commit | int + output root | int + S_N (claim) "
        "| (a) output / none | (a') S_N / none | (b) int / float | (b) with fp32-chunk GEMM "
        "| bytes hashed for S_N | S_mid cold | reveal cold |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in models:
        lines.append(
            f"| {m.name} | {m.n_ops} | {m.float_s * 1e3:.2f} ms | {m.none_s * 1e3:.2f} ms "
            f"| {m.output_s * 1e3:.2f} ms | {m.state_s * 1e3:.2f} ms "
            f"| {(m.none_s + m.output_root_s) / m.none_s:.3f}x [{m.output_root_s * 1e6:.0f} us; "
            f"{m.overhead_output:.3f}x] "
            f"| {m.overhead_state:.2f}x | {m.exactness:.2f}x ({m.exactness_median:.2f}x) "
            f"| {m.none_fp32_s / m.float_s:.2f}x "
            f"| {m.committed_mb:.2f} MB "
            f"| {m.s_mid_s * 1e3:.1f} ms | {m.reveal_s * 1e3:.1f} ms |"
        )
    lines += [
        "",
        "(a) is the honest-path overhead as the brief defines it (execution plus the output "
        "tensor's root, over execution alone), computed from the output root's own time (in "
        "brackets, with the ratio of the two end-to-end minima, which is within noise). (a') is the full claim of protocol.md section 3: "
        "S_N needs the root of every slot, so every intermediate tensor is hashed (each right after "
        "its op; levels split across threads). S_mid and reveal are dispute-time latencies from a "
        "fresh trace provider (execute up to the op, hash, answer); reveal = the 16 nodes four "
        "levels below the root of the middle op's output.",
        "",
        "Commitment throughput (64 MiB tensor, Merkle root over packed leaves):",
        "",
        "| path | MB/s |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.0f} |" for k, v in thr.items()]
    lines += [
        "",
        "Hash choice (64-byte inner nodes):",
        "",
        "| hash | nodes/s |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:,.0f} |" for k, v in hc.items()]
    lines += [
        "",
        "CPU matmul path: oneDNN int8 GEMM where exact (this CPU has VNNI; probed at start), "
        "fp32 GEMM on K-chunks <= 1024 otherwise; see docs/compute.md.",
        "",
        "On-chain, per proof node (64-byte input): keccak256 opcode 30 + 6 x 2 words = 42 gas; "
        "sha256 precompile 60 + 12 x 2 words = 84 gas plus the STATICCALL (100 warm) and its "
        "memory handling, about 200 gas. A 20-level proof costs about 4k gas more with SHA-256, "
        "small against a move of ~100k gas. Off-chain SHA-256 has hardware support (SHA-NI here, "
        "~3.5-4x keccak per node even through Python, far more in bulk) and every tensor byte "
        "is hashed off-chain while only proof paths are hashed on-chain: SHA-256 it is.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's); 1 is steadier on a shared machine",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["POC_HASH_THREADS"] = str(args.threads)
    models = [
        bench_model(*case(), device=args.device, reps=args.reps) for case in (mlp_case, cnn_case)
    ]
    device = str(resolve(args.device))
    body = render(models, commitment_throughput(), hash_choice(), device, args.reps, args.threads)
    print(body)
    if not args.no_write:
        print(f"\nwrote {write_section('compute', body)}")


if __name__ == "__main__":
    main()
