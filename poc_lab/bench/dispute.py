"""Benchmark of a full dispute on a local anvil: a 784-256-256-10 MLP job (784 and 10 padded
to 800 and 32 columns) whose provider lies in one partial sum of the first matmul, so the game
runs every level (execution, opening, tensor, reduction, one step). Records every move with its
gas and rewrites the `dispute` section of docs/benchmarks.md. With `--training-steps N`, the
job is instead a training job (the digits MLP 64-128-64-10 trained N steps by integer SGD,
issue 15) whose provider lies in the last step's weight update, and the section is
`dispute-training`. With `--generation-layers N`, a generation job of a GPT-2 with N layers
(the tiny GPT's shape, random weights; issue 16) whose provider lies in the softmax of the last
decode step, and the section is `dispute-generation`.

    python -m poc_lab.bench.dispute [--training-steps 100 | --generation-layers 4] [--no-write]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from web3 import Web3

from node.chain.contracts.job_market import ClaimState, JobMarketContract
from node.game.responder import MoveRecord
from node.program.spec import JobSpec
from node.roles.client import JobClient, JobTerms
from poc_lab.adversary import ProviderCheat, cheating_provider
from poc_lab.bench.report import machine, write_section

ETHER = 10**18


def mlp_case() -> tuple[JobSpec, npt.NDArray[np.int8], ProviderCheat, str]:
    from node.roles.jobs_input import mnist_shaped_mlp

    spec, data = mnist_shaped_mlp()
    # lie in element 1000 of the first matmul's output, partial sums wrong from chunk 13
    cheat = ProviderCheat("sum", op_index=0, element=1000, delta=7, chunk=13)
    about = (
        "Job: MLP 784-256-256-10 (padded to 800-256-256-32), 4 rows, "
        f"{len(spec.program.ops)} ops, k = 16. The provider lies in one element of the first "
        "matmul (K = 800, 25 chunks) with partial sums wrong from chunk 13; the watchtower "
        "recomputes, challenges and wins at the one step."
    )
    return spec, data, cheat, about


def training_case(steps: int) -> tuple[JobSpec, npt.NDArray[np.int8], ProviderCheat, str]:
    """The digits MLP trained `steps` steps (`poc compile --train`'s job), the lie in the last
    step's update of the first layer's weights."""
    import tempfile as tf

    from node.compute.training_service import TRAIN_INPUT, TrainRequest, compile_training
    from node.program.constants import Opcode

    with tf.TemporaryDirectory() as tmp:
        compile_training(None, Path(tmp), TrainRequest((128, 64), steps, 32, "0.3"))
        spec = JobSpec.load(Path(tmp))
        data = np.load(Path(tmp) / TRAIN_INPUT)
    ops = spec.program.ops
    op_i = [i for i, op in enumerate(ops) if op.opcode == Opcode.UPDATE][-1]
    cheat = ProviderCheat("op", op_index=op_i, element=1000, delta=1)
    about = (
        f"Job: the digits MLP 64-128-64-10 trained {steps} steps by integer SGD "
        f"(`poc compile --train --steps {steps}`), {len(ops):,} ops, k = 16. The provider "
        f"lies in one weight of the last step's last update (op {op_i}, a master weight one "
        "unit off); the watchtower recomputes, challenges and wins at that update's one step."
    )
    return spec, data, cheat, about


def generation_case(layers: int) -> tuple[JobSpec, npt.NDArray[Any], ProviderCheat, str]:
    """A generation job (prompt 16 tokens, 4 new) of a GPT-2 with `layers` layers, width 128,
    4 heads, vocabulary 256; the lie in the last softmax (rowop) of the last decode step."""
    import torch
    import transformers

    from node.program.compiler.hf_models import from_hf
    from node.program.compiler.llm_lower import calibrate
    from node.program.compiler.llm_program import compile_generation, ids_tensor
    from node.program.constants import Opcode

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        n_layer=layers, n_embd=128, n_head=4, vocab_size=256, n_positions=128
    )
    tw = from_hf(transformers.GPT2LMHeadModel(cfg).eval())
    rng = np.random.default_rng(0)
    amax = calibrate(tw, [rng.integers(0, 256, 64).tolist() for _ in range(4)])
    ids = rng.integers(0, 256, 16).tolist()
    spec = compile_generation(tw, amax, ids, 4).spec
    ops = spec.program.ops
    op_i = [i for i, op in enumerate(ops) if op.opcode == Opcode.ROWOP][-1]
    cheat = ProviderCheat("op", op_index=op_i, element=1, delta=1)
    about = (
        f"Job: greedy generation by a GPT-2 of {layers} layers (width 128, 4 heads, vocabulary "
        f"256, random weights), prompt 16 tokens, 4 new tokens, {len(ops):,} ops, k = 16. The "
        f"provider lies in one probability of the last decode step's last softmax (op {op_i}, "
        "a rowop); the watchtower recomputes, challenges and wins at that op's one step."
    )
    return spec, ids_tensor(ids), cheat, about


def run(
    work: Path, spec: JobSpec, data: npt.NDArray[Any], cheat: ProviderCheat
) -> dict[str, object]:
    from node.roles.localnet import LocalScenario
    from node.roles.watchtower import Watchtower

    with LocalScenario(work) as sc:
        moves: list[MoveRecord] = []
        terms = JobTerms(
            ETHER // 10, ETHER // 2, ETHER // 50, execute_within=3600, challenge_window=600,
            clock=3600,
        )  # fmt: skip
        t0 = time.perf_counter()
        job_id = JobClient(sc.ctx(1, "poster")).post(spec, data, terms)
        from node.roles.provider import ProviderPolicy

        # a 100-step training job has about 4,900 ops: above the default --max-ops 4096
        policy = ProviderPolicy(max_ops=max(4096, len(spec.program.ops)))
        provider = cheating_provider(
            sc.ctx(2, "provider"), cheat, policy=policy, observers=[moves.append]
        )
        provider.stake(ETHER)
        tower = Watchtower(sc.ctx(3, "tower"), observers=[moves.append])
        provider.tick()
        t_submitted = time.perf_counter()
        p = provider.ctx.deployment.market
        claim_id = p.job(job_id).current_claim
        ticks = 0
        while p.claim(claim_id).state != ClaimState.REJECTED:
            tower.tick()
            provider.tick()
            ticks += 1
            if ticks > 100:
                raise RuntimeError("the dispute did not end in 100 ticks")
        t_end = time.perf_counter()
        return {
            "moves": moves,
            "wall_total": t_end - t0,
            "wall_dispute": t_end - t_submitted,
            "challenge_gas": _challenge_gas(sc.w3, p, claim_id),
            "ops": len(spec.program.ops),
        }


def _challenge_gas(w3: Web3, market: JobMarketContract, claim_id: int) -> int:
    logs = market.latest_logs("Challenged", {"claimId": claim_id})
    receipt = w3.eth.get_transaction_receipt(logs[0]["transactionHash"])
    return int(receipt["gasUsed"])


def report(res: dict[str, object], about: str, command: str, title: str) -> str:
    records: list[MoveRecord] = res["moves"]  # type: ignore[assignment]
    moves = [m for m in records if m.move != "settle"]  # the game's moves
    settles = [m for m in records if m.move == "settle"]  # the payouts, a transaction of its own
    prov = [m for m in moves if m.side == "provider"]
    chal = [m for m in moves if m.side == "challenger"]
    step = next((m.gas_used for m in reversed(chal) if m.move == "step"), 0)
    settle = sum(m.gas_used for m in settles)
    total = sum(m.gas_used for m in moves)
    lines = [
        f"## {title}",
        "",
        f"Machine: {machine()}. Command: `{command}`; "
        f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        about,
        "",
        "| # | side | move | level | interval / node | gas |",
        "|---|---|---|---|---|---|",
    ]
    for i, m in enumerate(records, 1):
        if m.level == "tensor":
            where = f"node h{m.height} i{m.index}"
        elif m.level == "settle":
            where = "the payouts (market callback)"
        elif m.phase in (6, 7):  # LeafReveal, ElementPick
            where = f"leaf {m.index}"
        elif m.level == "reduction":
            where = f"chunks [{m.lo}, {m.hi}] of leaf {m.index} elem {m.elem}"
        else:
            where = f"ops [{m.lo}, {m.hi}]" if m.level != "step" else f"chunk {m.lo}"
        lines.append(f"| {i} | {m.side} | `{m.move}` | {m.level} | {where} | {m.gas_used:,} |")
    lines += [
        "",
        f"- moves: {len(moves)} ({len(prov)} provider, {len(chal)} challenger), plus the "
        f"`challenge` that opened the game ({res['challenge_gas']:,} gas) and the `settle` that "
        f"paid it ({settle:,} gas, sent by the challenger's daemon right after its step)",
        f"- gas: moves {total:,}; provider {sum(m.gas_used for m in prov):,} "
        f"(max {max(m.gas_used for m in prov):,} per move); challenger "
        f"{sum(m.gas_used for m in chal):,} (one step {step:,}); the whole dispute "
        f"(challenge, moves, settle) {res['challenge_gas'] + total + settle:,}",  # type: ignore[operator]
        f"- wall time: {res['wall_dispute']:.1f} s from the submitted claim to the rejected "
        f"claim (re-execution, challenge, every move); {res['wall_total']:.1f} s including "
        "post, claim, execution and submission",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training-steps", type=int, default=0, help="a training job instead")
    parser.add_argument("--generation-layers", type=int, default=0, help="a generation job instead")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    command, section = "python -m poc_lab.bench.dispute", "dispute"
    title = "Full dispute on anvil (roles, solver, responder)"
    if args.training_steps:
        spec, data, cheat, about = training_case(args.training_steps)
        command += f" --training-steps {args.training_steps}"
        section, title = "dispute-training", "Full dispute over a training job on anvil (issue 15)"
    elif args.generation_layers:
        spec, data, cheat, about = generation_case(args.generation_layers)
        command += f" --generation-layers {args.generation_layers}"
        section = "dispute-generation"
        title = "Full dispute over a generation job on anvil (issue 16)"
    else:
        spec, data, cheat, about = mlp_case()
    with tempfile.TemporaryDirectory(prefix="poc-bench-dispute-") as tmp:
        res = run(Path(tmp), spec, data, cheat)
    body = report(res, about, command, title)
    print(body)
    if not args.no_write:
        print(f"wrote {write_section(section, body)}")


if __name__ == "__main__":
    main()
