"""Plotted benchmarks: honest-path overhead against model size, and the cost of a full dispute
against program size (measured games on ape's embedded chain, log scale).

    python -m poc_lab.bench.plots [--reps 10] [--no-write]

Writes docs/img/overhead_vs_size.png and docs/img/dispute_vs_size.png and rewrites the
`plots` section of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from poc_lab.bench.report import DOC, machine, write_section  # noqa: E402

IMG = DOC.parent / "img"
ETHER = 10**18
HIDDEN = (128, 256, 512, 1024, 2048)
# (widths, rows) of the disputed random MLPs; widths are already multiples of 32
DISPUTE_SIZES: tuple[tuple[tuple[int, ...], int], ...] = (
    ((64, 32, 32), 2),
    ((256, 128, 32), 8),
    ((800, 256, 256, 32), 32),
    ((800, 1024, 1024, 32), 128),
    ((2048, 2048, 2048, 32), 256),
)


@dataclass
class OverheadPoint:
    macs: int
    overhead_output: float
    overhead_state: float
    exactness: float


@dataclass
class DisputePoint:
    macs: int
    n_ops: int
    moves: int
    provider_moves: int
    gas: int
    max_move_gas: int
    wall_s: float


def mlp_macs(widths: tuple[int, ...], rows: int) -> int:
    return rows * sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=False))


def overhead_points(reps: int) -> list[OverheadPoint]:
    import torch
    from torch import nn

    from poc_lab.bench.compute import BATCH, bench_model

    out = []
    for h in HIDDEN:
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(784, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 10)
        ).eval()
        f = bench_model(f"MLP 784-{h}-{h}-10", model, torch.rand(BATCH, 784), "auto", reps)
        out.append(
            OverheadPoint(
                mlp_macs((784, h, h, 10), BATCH), f.overhead_output, f.overhead_state, f.exactness
            )
        )
    return out


def dispute_points(workdir: Path) -> list[DisputePoint]:
    from node.chain.contracts.job_market import ClaimState
    from node.embedded import embedded_net
    from node.game.responder import MoveRecord
    from node.roles.client import JobClient, JobTerms
    from node.roles.examples import random_mlp
    from node.roles.watchtower import Watchtower
    from poc_lab.adversary import ProviderCheat, cheating_provider

    terms = JobTerms(ETHER // 10, ETHER // 2, ETHER // 50, execute_within=3600)
    points = []
    with embedded_net(workdir) as net:
        poster = JobClient(net.ctx(1, "poster"))
        for i, (widths, rows) in enumerate(DISPUTE_SIZES):
            moves: list[MoveRecord] = []
            # a lie in a late partial sum of the first matmul: every level is played
            cheater = cheating_provider(
                net.ctx(2 + i % 3, f"cheat{i}"),
                ProviderCheat("sum"),
                observers=[moves.append],
            )
            tower = Watchtower(net.ctx(5 + i % 3, f"tower{i}"), observers=[moves.append])
            cheater.stake(ETHER)
            spec, data = random_mlp(widths, rows, seed=i)
            job = poster.post(spec, data, terms)
            cheater.tick()
            p = cheater.ctx.deployment.market
            claim = p.job(job).current_claim
            t = time.perf_counter()

            def rejected(p: Any = p, c: int = claim) -> bool:
                return bool(p.claim(c).state == ClaimState.REJECTED)

            net.drive([cheater, tower], rejected, step_s=1)
            wall = time.perf_counter() - t
            poster.cancel(job)  # back on the market after the slash: take it off again
            points.append(
                DisputePoint(
                    mlp_macs(widths, rows),
                    len(spec.program.ops),
                    len(moves),
                    sum(m.side == "provider" for m in moves),
                    sum(m.gas_used for m in moves),
                    max(m.gas_used for m in moves),
                    wall,
                )
            )
    return points


def plot(over: list[OverheadPoint], disp: list[DisputePoint]) -> tuple[Path, Path]:
    IMG.mkdir(parents=True, exist_ok=True)
    p1, p2 = IMG / "overhead_vs_size.png", IMG / "dispute_vs_size.png"
    fig, ax = plt.subplots(figsize=(6.4, 4))
    x = [o.macs for o in over]
    ax.plot(x, [o.overhead_output for o in over], "o-", label="(a) execute + output root")
    ax.plot(x, [o.overhead_state for o in over], "s--", label="(a') execute + every S_i slot")
    ax.plot(x, [o.exactness for o in over], "^:", label="(b) int program / float32 torch")
    ax.axhline(1.03, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs per job (MLP 784-h-h-10, batch 256)")
    ax.set_ylabel("time ratio")
    ax.set_title("Honest-path cost against model size (CPU)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(p1, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4))
    x = [d.macs for d in disp]
    ax.plot(x, [d.gas for d in disp], "o-", label="total gas of the game")
    ax.plot(x, [d.max_move_gas for d in disp], "s--", label="largest single move")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs of the disputed program")
    ax.set_ylabel("gas")
    ax2 = ax.twinx()
    ax2.plot(x, [d.provider_moves for d in disp], "^:", color="C2", label="provider moves")
    ax2.set_ylabel("provider moves")
    ax2.set_ylim(0, max(12, max(d.provider_moves for d in disp) + 1))
    ax.set_title("Cost of a full dispute against program size")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(p2, dpi=110)
    plt.close(fig)
    return p1, p2


def render(over: list[OverheadPoint], disp: list[DisputePoint], reps: int) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Plots: overhead and dispute cost against size",
        "",
        f"Machine: {machine()}. Command: `python -m poc_lab.bench.plots --reps {reps}`; date {when}.",
        "",
        "![overhead against model size](img/overhead_vs_size.png)",
        "",
        "| MACs | (a) output root | (a') all S_i slots | (b) int / float32 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {o.macs:.2e} | {o.overhead_output:.3f}x | {o.overhead_state:.2f}x | {o.exactness:.2f}x |"
        for o in over
    ]
    lines += [
        "",
        "![dispute cost against program size](img/dispute_vs_size.png)",
        "",
        "Games played on ape's embedded chain (eth-tester) by the real provider and watchtower "
        "daemons; the provider lies in one late partial sum of the first matmul, so every level "
        "is played.",
        "",
        "| MACs | ops | moves (provider) | total gas | largest move | wall time |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {d.macs:.2e} | {d.n_ops} | {d.moves} ({d.provider_moves}) | {d.gas:,} | "
        f"{d.max_move_gas:,} | {d.wall_s:.1f} s |"
        for d in disp
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    over = overhead_points(args.reps)
    with tempfile.TemporaryDirectory(prefix="poc-plots-") as tmp:
        disp = dispute_points(Path(tmp))
    body = render(over, disp, args.reps)
    print(body)
    if not args.no_write:
        plot(over, disp)
        write_section("plots", body)


if __name__ == "__main__":
    main()
