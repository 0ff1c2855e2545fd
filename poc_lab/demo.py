"""`make demo`: the main job end to end on embedded defaults (ape's in-process eth-tester chain
and a local content store), then a cheating provider caught by the watchtower, which is paid
its bond back and a bounty from the game's own backing while the cheater's claim lock burns
(payouts v2, docs/protocol.md 6.5). The LLM act (`make demo-llm`, kept out of `make demo` since
its first run trains the tiny GPT, about a minute): a tiny-gpt generation job compiled from a
prompt, finalized and its text checked, then a provider lying in the softmax of one attention
head of one decode step, caught by the watchtower and slashed.

    python -m poc_lab.demo [digits | llm | all] [--workdir DIR] [--cheat MODE]

Nothing is started outside this process, so nothing is left running when it ends."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from rich.console import Console
from rich.table import Table

ETHER = 10**18
BURN = "0x000000000000000000000000000000000000dEaD"
console = Console(highlight=False, width=120)


@dataclass
class Party:
    name: str
    address: str
    balance0: int


def _eth(wei: int) -> str:
    return f"{wei / ETHER:+.4f}" if wei else "0"


def _move_printer(table_rows: list[list[str]]) -> Callable[[Any], None]:
    def observe(m: Any) -> None:
        if m.level == "execution":
            where = f"ops [{m.lo}, {m.hi}]"
        elif m.level in ("tensor", "opening"):
            where = f"height {m.height} node {m.index}"
        elif m.level == "reduction":
            where = f"elem {m.elem} chunks [{m.lo}, {m.hi}]"
        else:
            where = f"leaf {m.index}" + (f" elem {m.elem}" if m.elem >= 0 else "")
        row = [
            str(len(table_rows) + 1),
            m.side,
            m.move,
            m.level,
            where,
            f"{m.gas_used:,}",
            f"{m.provider_clock}s / {m.challenger_clock}s",
        ]
        table_rows.append(row)
        console.print("  " + "  ".join(f"{c:<{w}}" for c, w in zip(row, _WIDTHS, strict=True)))

    return observe


_HEAD = ["#", "side", "move", "level", "position", "gas", "clocks p/c"]
_WIDTHS = [3, 10, 13, 10, 26, 9, 16]


class _Cast(NamedTuple):
    """Who plays in an act: the poster, an honest provider, a watchtower printing the moves
    it sees, and a provider lying as its cheat says; the terms every job of the act gets."""

    terms: Any
    poster: Any
    honest: Any
    tower: Any
    liar: Any
    moves: list[list[str]]


def _cast(ctx: Callable[[int, str], Any], cheat: Any) -> _Cast:
    from node.roles.client import JobClient, JobTerms
    from node.roles.provider import Provider
    from node.roles.watchtower import Watchtower
    from poc_lab.adversary import cheating_provider

    terms = JobTerms(
        reward=ETHER // 10,
        required_stake=ETHER // 2,
        challenger_bond=ETHER // 50,
        execute_within=3600,
        challenge_window=600,
        clock=600,
    )
    moves: list[list[str]] = []
    printer = _move_printer(moves)
    return _Cast(
        terms,
        JobClient(ctx(1, "poster")),
        Provider(ctx(2, "provider")),
        Watchtower(ctx(3, "watchtower"), observers=[printer]),
        cheating_provider(ctx(4, "mallory"), cheat, observers=[printer]),
        moves,
    )


def run(workdir: Path, cheat_mode: str) -> None:
    t0 = time.monotonic()

    from web3 import Web3

    from node.chain.contracts.job_market import ClaimState, JobState
    from node.embedded import embedded_net
    from node.program.compiler.examples import accuracy, build_example, model_input
    from poc_lab.adversary import ProviderCheat

    console.rule("[bold]poc demo: optimistic Proof of Compute on embedded defaults")
    console.print("1. compile: train a digits classifier (scikit-learn digits), quantize to int8")
    spec, model, digits = build_example("digits-mlp")
    import torch

    with torch.no_grad():
        float_logits = model(torch.as_tensor(digits.x_test, dtype=torch.float32)).numpy()
    labels = np.asarray(digits.y_test)
    float_acc = accuracy(float_logits, labels)
    data = spec.quantize_input(model_input("digits-mlp", torch.as_tensor(digits.x_test)).numpy())
    console.print(
        f"   program: {len(spec.program.ops)} ops over {spec.program.n_inputs} inputs, "
        f"batch {spec.batch}; float accuracy {float_acc:.2%}"
    )

    with embedded_net(workdir) as net:
        w3 = net.w3

        def balance(address: str) -> int:
            return int(w3.eth.get_balance(Web3.to_checksum_address(address)))

        console.print(
            f"2. deploy on ape's embedded chain: JobMarket {net.local.deployment.addresses['job_market']}"
        )
        terms, poster, honest, tower, cheater, moves = _cast(net.ctx, ProviderCheat(cheat_mode))
        parties = [
            Party("job poster", poster.ctx.address, 0),
            Party("provider (honest)", honest.ctx.address, 0),
            Party("watchtower", tower.ctx.address, 0),
            Party("provider (cheat)", cheater.ctx.address, 0),
        ]
        for p in parties:
            p.balance0 = balance(p.address)
        burn0 = balance(BURN)
        honest.stake(ETHER)
        market = honest.ctx.deployment.market
        stakes = honest.ctx.deployment.stake

        # ---- act 1: an honest job -----------------------------------------------------------
        console.rule("act 1: an honest job")
        job1 = poster.post(spec, data, terms)
        console.print(
            f"3. job {job1} posted: reward {terms.reward / ETHER} ETH escrowed, "
            f"stake {terms.required_stake / ETHER} ETH required, window {terms.challenge_window}s"
        )
        t = time.monotonic()
        honest.tick()
        claim1 = market.job(job1).current_claim
        console.print(
            f"4. provider claimed, executed and submitted in {time.monotonic() - t:.2f}s: "
            f"S_N {market.claim(claim1).s_n.hex()[:16]}..."
        )
        tower.tick()
        console.print(
            f"5. watchtower re-executed claim {claim1}: {tower.status()['claims'][claim1]['stage']}"
        )
        net.advance(terms.challenge_window + 1)
        net.drive([honest, tower], lambda: market.job(job1).state == JobState.FINALIZED)
        honest.tick()
        console.print(f"6. window closed, job {job1} finalized; provider withdrew its reward")
        result = poster.result(job1, spec)
        assert result.values is not None
        int_acc = accuracy(result.values, labels)
        console.print(
            f"7. result downloaded and checked against the on-chain output root "
            f"{result.output_root.hex()[:16]}...: accuracy {int_acc:.2%} "
            f"(float {float_acc:.2%}, {len(labels)} test digits)"
        )

        # ---- act 2: a cheating provider -----------------------------------------------------
        console.rule(f"act 2: a provider that cheats ({cheat_mode})")
        cheater.stake(ETHER)
        job2 = poster.post(spec, data, terms)
        cheater.tick()
        claim2 = market.job(job2).current_claim
        free = stakes.free_stake(cheater.ctx.address)
        console.print(
            f"8. job {job2}: the cheating provider submitted claim {claim2} with a corrupted value; "
            f"of its {ETHER / ETHER:.1f} ETH stake, {terms.required_stake / ETHER} is locked by the "
            f"claim and {free / ETHER} is free: the backing of a game opened against it"
        )
        console.print(
            "9. the watchtower re-executes, disagrees, challenges; the game move by move:"
        )
        console.print("  " + "  ".join(f"{c:<{w}}" for c, w in zip(_HEAD, _WIDTHS, strict=True)))
        t = time.monotonic()
        net.drive(
            [cheater, tower],
            lambda: market.claim(claim2).state == ClaimState.REJECTED,
            step_s=1,
        )
        tower.tick()  # withdraws bond and bounty
        provider_moves = sum(1 for m in moves if m[1] == "provider")
        gas = sum(int(m[5].replace(",", "")) for m in moves)
        console.print(
            f"10. provider slashed after {len(moves)} moves ({provider_moves} by the provider), "
            f"{gas:,} gas in all, {time.monotonic() - t:.1f}s"
        )
        (gid,) = market.games_of_claim(claim2)
        settled = market.game_settled(gid)
        rejected = market.claim_rejected(claim2)
        assert settled is not None and rejected is not None
        console.print(
            f"11. payouts: the watchtower got its bond {settled.bond / ETHER:.4f} ETH back and a "
            f"bounty of {settled.bounty / ETHER:.4f} ETH (half the game's backing "
            f"{settled.backing / ETHER:.4f}); burned {(rejected.slashed + settled.burned) / ETHER:.4f}"
            f" ETH (the claim lock {rejected.slashed / ETHER:.4f} + the other half of the backing "
            f"{settled.burned / ETHER:.4f})"
        )
        # the job reopens after the cooldown (the poster's turn to cancel); an honest provider
        # picks it up then
        reopens_at = market.job(job2).reopens_at
        console.print(
            f"12. job {job2} is open again, claimable from t = {reopens_at} "
            f"(a {market.min_clock()} s cooldown in which only its poster may act: cancel)"
        )
        net.advance(market.min_clock())
        net.drive([honest, tower], lambda: market.job(job2).current_claim not in (0, claim2))
        net.advance(terms.challenge_window + 1)
        net.drive([honest, tower], lambda: market.job(job2).state == JobState.FINALIZED)
        honest.tick()
        cheater.tick()
        console.print(f"13. the honest provider re-ran job {job2}; it finalized")

        # ---- closing table ---------------------------------------------------------------------
        table = Table(title="who was paid what (ETH; wallet includes gas, stake stays the owner's)")
        for col in ("party", "wallet", "stake", "net"):
            table.add_column(col, justify="right" if col != "party" else "left")
        for p in parties:
            wallet = balance(p.address) - p.balance0
            stake = stakes.free_stake(p.address) + market.credits(p.address)
            table.add_row(p.name, _eth(wallet), f"{stake / ETHER:.4f}", _eth(wallet + stake))
        burned = balance(BURN) - burn0
        table.add_row("burned (0x..dEaD)", "-", "-", _eth(burned))
        console.print(table)
    console.print(f"demo finished in {time.monotonic() - t0:.1f}s; no process was started")


# the LLM act: a prompt of the project's own words, a few greedy tokens, and a lie in one
# attention head's softmax of one decode step (layer 1, head 2: not the first op of its kind)
LLM_PROMPT = "the challenge wi"
LLM_NEW_TOKENS = 4
LIE_STEP, LIE_LAYER, LIE_HEAD = 2, 1, 2


def run_llm(workdir: Path) -> None:
    """Act 3: a tiny-gpt generation job compiled from a prompt, run by an honest provider,
    finalized, its text read back and checked; then a provider that lies in the softmax of one
    attention head of one decode step, caught by the watchtower and slashed."""
    t0 = time.monotonic()

    from node.chain.contracts.job_market import ClaimState, JobState
    from node.compute.llm_service import compile_llm, decode_output
    from node.embedded import embedded_net
    from node.program.compiler.llm_program import softmax_ops
    from node.roles.jobs_input import load_job
    from poc_lab.adversary import ProviderCheat

    console.rule("[bold]act 3: a language model's generation as a job (tiny-gpt)")
    console.print(
        f"1. compile: the project's byte-level GPT (trained on its docs, cached), prompt "
        f"{LLM_PROMPT!r}, {LLM_NEW_TOKENS} new tokens"
    )
    t = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    rep = compile_llm("tiny-gpt", None, workdir / "gen", LLM_PROMPT, None, LLM_NEW_TOKENS)
    spec, data = load_job(workdir / "gen", None, None)
    prog = spec.program
    console.print(
        f"   program: {rep.prompt_tokens} prompt tokens (prefill) + {LLM_NEW_TOKENS - 1} decode "
        f"steps over KV caches, {rep.ops} ops, {time.monotonic() - t:.1f}s; "
        f"{rep.float_match} of {LLM_NEW_TOKENS} greedy tokens match the float model's"
    )
    heads = int(spec.meta["heads"])
    lie_op = softmax_ops(prog, LIE_STEP)[LIE_LAYER * heads + LIE_HEAD]
    lie_row = prog.spec(prog.n_inputs + lie_op)

    with embedded_net(workdir / "chain") as net:
        # one attention weight (of the row's first position) off by 3; the rest follows from it
        terms, poster, honest, tower, liar, moves = _cast(
            net.ctx, ProviderCheat("op", lie_op, 0, 3)
        )
        honest.stake(ETHER)
        market = honest.ctx.deployment.market

        job1 = poster.post(spec, data, terms)
        console.print(f"2. job {job1} posted with its prompt; reward {terms.reward / ETHER} ETH")
        t = time.monotonic()
        honest.tick()
        claim1 = market.job(job1).current_claim
        console.print(
            f"3. provider claimed, generated and submitted in {time.monotonic() - t:.1f}s: "
            f"S_N {market.claim(claim1).s_n.hex()[:16]}..."
        )
        tower.tick()
        console.print(
            f"4. watchtower re-executed claim {claim1}: {tower.status()['claims'][claim1]['stage']}"
        )
        net.advance(terms.challenge_window + 1)
        net.drive([honest, tower], lambda: market.job(job1).state == JobState.FINALIZED)
        result = poster.result(job1, spec)
        ids = [int(v) for v in result.output[:, 0]]
        text = decode_output(spec.meta, ids)
        if ids != rep.generated_ids:
            raise AssertionError(
                f"the chain's tokens {ids} are not the compiled {rep.generated_ids}"
            )
        console.print(
            f"5. job {job1} finalized; output checked against the on-chain root "
            f"{result.output_root.hex()[:16]}...: {LLM_PROMPT!r} + {text!r} (ids {ids}, the "
            "tokens the program computes)"
        )

        console.rule(
            f"a provider that lies in the softmax of head {LIE_HEAD}, layer {LIE_LAYER}, "
            f"decode step {LIE_STEP}"
        )
        liar.stake(ETHER)
        job2 = poster.post(spec, data, terms)
        liar.tick()
        claim2 = market.job(job2).current_claim
        console.print(
            f"6. job {job2}: the lying provider submitted claim {claim2}; op {lie_op} of "
            f"{len(prog.ops)} (rowop div, a [{lie_row.rows}, {lie_row.cols}] row of attention "
            "weights) holds one weight off by 3, and everything after it follows from the lie"
        )
        console.print(
            "7. the watchtower re-executes, disagrees, challenges; the game move by move:"
        )
        console.print("  " + "  ".join(f"{c:<{w}}" for c, w in zip(_HEAD, _WIDTHS, strict=True)))
        t = time.monotonic()
        net.drive(
            [liar, tower], lambda: market.claim(claim2).state == ClaimState.REJECTED, step_s=1
        )
        tower.tick()
        (gid,) = market.games_of_claim(claim2)
        settled = market.game_settled(gid)
        rejected = market.claim_rejected(claim2)
        assert settled is not None and rejected is not None
        provider_moves = sum(1 for m in moves if m[1] == "provider")
        gas = sum(int(m[5].replace(",", "")) for m in moves)
        last, decided = moves[-1], honest.ctx.deployment.game_view(gid)
        if decided.op_index != lie_op:
            raise AssertionError(f"the game ended at op {decided.op_index}, the lie is in {lie_op}")
        console.print(
            f"8. the honest side won: the game narrowed to op {decided.op_index} (the lying "
            f"softmax) and the {last[1]}'s {last[2]} at {last[4]} ran it on chain"
        )
        console.print(
            f"9. liar slashed after {len(moves)} moves ({provider_moves} by the provider), "
            f"{gas:,} gas in all (largest move {max(int(m[5].replace(',', '')) for m in moves):,}),"
            f" {time.monotonic() - t:.1f}s; burned {(rejected.slashed + settled.burned) / ETHER:.4f}"
            f" ETH, the watchtower's bounty {settled.bounty / ETHER:.4f} ETH"
        )
    console.print(f"LLM act finished in {time.monotonic() - t0:.1f}s; no process was started")


ACTS = ("all", "digits", "llm")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "act",
        nargs="?",
        choices=ACTS,
        default="digits",
        help="digits (default, `make demo`): the classifier job and a cheater; llm (`make "
        "demo-llm`): a generation job and a lie in one attention head; all: both",
    )
    ap.add_argument(
        "--workdir", type=Path, default=None, help="keep state here (default: a temp dir)"
    )
    ap.add_argument("--cheat", default="sum", help="provider cheat: op | leaf | element | sum")
    args = ap.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="poc-demo-"))
    try:
        if args.act in ("all", "digits"):
            run(workdir, args.cheat)
        if args.act in ("all", "llm"):
            run_llm(workdir / "llm")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
