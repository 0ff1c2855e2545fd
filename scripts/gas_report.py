"""Gas report of the contracts: every function, every move per level, the one step per op, and a
full dispute on a 10^9-MAC program for several arities k. Rewrites only its own section of
docs/benchmarks.md (between `<!-- gas:begin -->` and `<!-- gas:end -->`).

    source tools/env.sh && ape run gas_report            # embedded chain (py-evm, cancun)
    POC_GAS_QUICK=1 ape run gas_report                   # a 2^24-MAC matmul instead (fast check)
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ape import accounts, chain, project

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "contracts"))

from conftest import (  # noqa: E402
    BOND,
    EXECUTE,
    STAKE,
    WINDOW,
    claimed_submitted,
    deploy_system,
    job_params,
    open_game,
    post_job,
    submit,
)
from contracts_trace import (  # noqa: E402
    Trace,
    play_traces,
    program_of,
    sample_program,
    vision_program,
)

from node.game.rules import GameStatus  # noqa: E402
from node.program.constants import DType, Opcode  # noqa: E402
from node.program.ops import Op  # noqa: E402
from poc_lab.bench.report import write_section  # noqa: E402

LEVEL = {
    "revealStates": "execution", "pickState": "execution", "openOp": "opening", "openSpecs": "opening",
    "revealNodes": "tensor", "pickNode": "tensor", "revealLeaf": "reduction",
    "pickElement": "reduction", "revealSums": "reduction", "pickSum": "reduction", "step": "one step",
    "settle": "settlement",
}  # fmt: skip
PROVIDER_MOVES = {"revealStates", "openOp", "openSpecs", "revealNodes", "revealLeaf", "revealSums"}


def _advance(seconds: int) -> None:
    chain.pending_timestamp = chain.pending_timestamp + seconds
    chain.mine()


def functions_table(a) -> list[tuple[str, int]]:  # noqa: ANN001
    deployer, poster, provider, challenger, anyone = a[0], a[1], a[2], a[3], a[4]
    sys_ = deploy_system(project, deployer)
    m, s, g = sys_.market, sys_.stake, sys_.game
    prog, vals = sample_program(np.random.default_rng(1))
    t = Trace(prog, vals)
    rows: list[tuple[str, int]] = []

    def rec(name: str, tx) -> None:  # noqa: ANN001
        rows.append((name, int(tx.gas_used)))

    rec("StakeManager.deposit", s.deposit(value=3 * STAKE, sender=provider))
    rec(
        "JobMarket.post",
        m.post(job_params(t, chain), "ipfs://bafy...spec", value=10**17, sender=poster),
    )
    job = int(m.jobCount())
    rec("JobMarket.claim", m.claim(job, sender=provider))
    rec("JobMarket.submitResult", submit(m, provider, job, t, "ipfs://bafy...out"))
    rec(
        "JobMarket.challenge (opens a game, locks its backing)",
        m.challenge(job, value=BOND, sender=challenger),
    )
    gid = int(g.gameCount())
    rec(
        "JobMarket.challenge (a second game, backed)",
        m.challenge(job, value=BOND, sender=anyone),
    )
    gid2 = int(g.gameCount())
    rec(
        "JobMarket.challenge (a third game, unbacked: no free stake)",
        m.challenge(job, value=BOND, sender=deployer),
    )
    gid3 = int(g.gameCount())
    _advance(3601)
    rec(
        "DisputeGame.timeout (game lost: claim rejected, lock and half the backing burned)",
        g.timeout(gid, sender=anyone),
    )  # provider never moved
    rec("DisputeGame.timeout (a backed game of a rejected claim)", g.timeout(gid2, sender=anyone))
    rec(
        "DisputeGame.timeout (an unbacked game of a rejected claim)", g.timeout(gid3, sender=anyone)
    )
    job2 = post_job(m, poster, t, chain)
    rec("JobMarket.cancel", m.cancel(job2, sender=poster))
    s.deposit(value=3 * STAKE, sender=provider)
    job3 = post_job(m, poster, t, chain)
    m.claim(job3, sender=provider)
    _advance(EXECUTE + 1)
    rec("JobMarket.expire", m.expire(job3, sender=anyone))
    job5 = post_job(m, poster, t, chain)
    m.claim(job5, sender=provider)
    _advance(EXECUTE + 1)
    rec("JobMarket.cancel (of a claim Active past its deadline)", m.cancel(job5, sender=poster))
    job4 = claimed_submitted(sys_, poster, provider, t, chain)
    rec("JobMarket.demandOutput", m.demandOutput(job4, sender=poster))
    leaf = prog.table[prog.output_slot].dtype.leaf_bytes
    out = t.packed[prog.output_slot]
    rec(
        f"JobMarket.publishOutput ({len(out)} B, {len(out) // leaf} leaves)",
        m.publishOutput(job4, leaf, out, sender=provider),
    )
    _advance(WINDOW + 1)
    rec("JobMarket.finalize", m.finalize(job4, sender=anyone))
    job6 = claimed_submitted(sys_, poster, provider, t, chain)
    m.demandOutput(job6, sender=poster)
    _advance(3601)
    rec(
        "JobMarket.outputTimeout (claim rejected, lock burned)",
        m.outputTimeout(job6, sender=anyone),
    )
    rec("JobMarket.withdraw", m.withdraw(sender=provider))
    job8 = post_job(m, poster, t, chain)
    rec("JobMarket.claimAndSubmit", claim_and_submit(m, provider, job8, t))
    _advance(WINDOW + 1)
    rec("JobMarket.finalizeAndWithdraw", m.finalizeAndWithdraw(job8, sender=provider))
    rec("StakeManager.requestUnbond", s.requestUnbond(STAKE, sender=provider))
    _advance(int(s.UNBONDING_DELAY()) + 1)
    rec("StakeManager.withdraw", s.withdraw(sender=provider))
    # the step decides, settle pays (protocol.md §6.3, 6): one game the challenger wins at the step
    # (claim rejected), one the provider wins at the step (its backing unlocked)
    liar = Trace(prog, vals, corrupt=(len(prog.ops) - 1, 1, 1))
    op_name = f"a leaf of the last op, {prog.ops[-1].name}"
    players = (provider, challenger, anyone)
    for trace_p, trace_c, what in (
        (liar, t, "challenger won the step: claim rejected, lock and half the backing burned"),
        (t, t, "provider won the step: backing unlocked, bond to the provider"),
    ):
        s.deposit(value=STAKE, sender=provider)
        job7 = claimed_submitted(sys_, poster, provider, trace_p, chain)
        gid7 = open_game(sys_, job7, challenger)
        r = play_traces(g, gid7, trace_p, trace_c, players, chain, settle=False)
        assert not r.reverts and "step" in r.gas, r
        rec(f"DisputeGame.step (decides, pays nothing; {op_name})", _last(r))
        rec(f"DisputeGame.settle ({what})", g.settle(gid7, sender=anyone))
    return rows


def claim_and_submit(m, provider, job: int, t: Trace):  # noqa: ANN001, ANN201
    p = t.program
    return m.claimAndSubmit(
        job,
        t.states[-1],
        t.slot_root(p.output_slot),
        t.output_proof(p.output_slot),
        "ipfs://bafy...out",
        sender=provider,
    )


def honest_job(a) -> dict[str, list[tuple[str, int]]]:  # noqa: ANN001
    """Every transaction of one honest job (no dispute) on a market already in use (its
    counters and totals non-zero, as on a live market; the provider holds no credit), by each path: fused (post,
    claimAndSubmit, finalizeAndWithdraw), the daemon's default (post, claim, submitResult,
    finalizeAndWithdraw) and plain (post, claim, submitResult, finalize, withdraw)."""
    deployer, poster, provider = a[0], a[1], a[2]
    sys_ = deploy_system(project, deployer)
    m = sys_.market
    prog, vals = sample_program(np.random.default_rng(1))
    t = Trace(prog, vals)
    sys_.stake.deposit(value=4 * STAKE, sender=provider)
    _in_use(sys_, poster, provider, t)
    out: dict[str, list[tuple[str, int]]] = {}
    for path in HONEST_PATHS:
        rows = out[path] = []
        job = int(m.jobCount()) + 1
        post = m.post(job_params(t, chain), "ipfs://bafy...spec", value=10**17, sender=poster)
        rows.append(("post", int(post.gas_used)))
        if path == "fused":
            rows.append(("claimAndSubmit", int(claim_and_submit(m, provider, job, t).gas_used)))
        else:
            rows.append(("claim", int(m.claim(job, sender=provider).gas_used)))
            sub = submit(m, provider, job, t, "ipfs://bafy...out")
            rows.append(("submitResult", int(sub.gas_used)))
        _advance(WINDOW + 1)
        if path == "plain":
            rows.append(("finalize", int(m.finalize(job, sender=provider).gas_used)))
            rows.append(("withdraw", int(m.withdraw(sender=provider).gas_used)))
        else:
            fin = m.finalizeAndWithdraw(job, sender=provider)
            rows.append(("finalizeAndWithdraw", int(fin.gas_used)))
    return out


def _in_use(sys_, poster, provider, t: Trace) -> None:  # noqa: ANN001
    """The market in use: a refund credited and not withdrawn, a claim active (escrow and lock
    held), a job finalized and its reward withdrawn (every counter and total non-zero)."""
    m = sys_.market
    m.cancel(post_job(m, poster, t, chain), sender=poster)
    m.claim(post_job(m, poster, t, chain), sender=provider)
    done = claimed_submitted(sys_, poster, provider, t, chain)
    _advance(WINDOW + 1)
    m.finalize(done, sender=provider)
    m.withdraw(sender=provider)


def batch_jobs(a, n: int = 32) -> list[tuple[str, int]]:  # noqa: ANN001
    """(call, gas) of `n` honest jobs in three batch transactions (postMany,
    claimAndSubmitMany, finalizeAndWithdrawMany) on a market in use."""
    deployer, poster, provider = a[0], a[1], a[2]
    sys_ = deploy_system(project, deployer)
    m = sys_.market
    prog, vals = sample_program(np.random.default_rng(1))
    t = Trace(prog, vals)
    sys_.stake.deposit(value=(n + 2) * STAKE, sender=provider)
    _in_use(sys_, poster, provider, t)
    first = int(m.jobCount()) + 1
    reward = 10**16
    posts = [(job_params(t, chain), "ipfs://bafy...spec", reward) for _ in range(n)]
    rows = [("postMany", int(m.postMany(posts, value=n * reward, sender=poster).gas_used))]
    p = t.program
    out = (t.states[-1], t.slot_root(p.output_slot), t.output_proof(p.output_slot))
    results = [(first + i, *out, "ipfs://bafy...out") for i in range(n)]
    rows.append(
        ("claimAndSubmitMany", int(m.claimAndSubmitMany(results, sender=provider).gas_used))
    )
    _advance(WINDOW + 1)
    jobs = list(range(first, first + n))
    rows.append(
        ("finalizeAndWithdrawMany", int(m.finalizeAndWithdrawMany(jobs, sender=provider).gas_used))
    )
    return rows


BATCH = 32  # jobs in the batch measurement (issue 12's target is per job of a batch of 32)
HONEST_PATHS = {
    "fused": "fused (`--claim-and-submit`)",
    "default": "the daemon's default (claim first)",
    "plain": "plain (five calls)",
}


class _Gas:
    def __init__(self, gas_used: int) -> None:
        self.gas_used = gas_used


def _last(r) -> _Gas:  # noqa: ANN001
    return _Gas(r.sequence[-1][1])


def publish_costs(a, sizes: Sequence[int] = (1024, 16384, 65536)) -> list[tuple[int, int]]:  # noqa: ANN001
    """(bytes, gas) of `publishOutput` for int8 outputs of `sizes` bytes (random data; the claim's
    S_N is a slot tree holding the data's root, which is all the market checks)."""
    from node.program.merkle import slot_tree, tensor_tree

    deployer, poster, provider = a[0], a[1], a[2]
    sys_ = deploy_system(project, deployer)
    m = sys_.market
    prog, vals = sample_program(np.random.default_rng(1))
    t = Trace(prog, vals)
    rows = []
    for size in sizes:
        data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
        root = tensor_tree(data, DType.INT8).root
        slots = [bytes(32)] * prog.n_slots
        slots[prog.output_slot] = root
        tree = slot_tree(slots)
        job = post_job(m, poster, t, chain)
        sys_.stake.deposit(value=STAKE, sender=provider)
        m.claim(job, sender=provider)
        m.submitResult(job, tree.root, root, tree.proof(prog.output_slot), "x", sender=provider)
        rows.append((size, int(m.publishOutput(job, 32, data, sender=provider).gas_used)))
    return rows


def step_per_op(a) -> list[tuple[str, int, int]]:  # noqa: ANN001
    """(op, step tx gas, settle tx gas) for a lie in each op."""
    deployer, poster, provider, challenger, anyone = a[0], a[1], a[2], a[3], a[4]
    sys_ = deploy_system(project, deployer)
    prog, vals = sample_program(np.random.default_rng(2))
    honest = Trace(prog, vals)
    rows = []
    for i, op in enumerate(prog.ops):
        n = honest.tensors[prog.n_inputs + i].size
        liar = Trace(prog, vals, corrupt=(i, n // 2, 1))
        sys_.stake.deposit(value=2 * STAKE, sender=provider)  # free stake: the game is backed
        job = claimed_submitted(sys_, poster, provider, liar, chain)
        gid = open_game(sys_, job, challenger)
        r = play_traces(sys_.game, gid, liar, honest, (provider, challenger, anyone), chain)
        assert r.status == GameStatus.CHALLENGER_WON and not r.reverts, r
        rows.append((op.name, r.gas["step"][0], r.gas["settle"][0]))
    return rows


def step_per_new_op(a) -> list[tuple[str, int, int]]:  # noqa: ANN001
    """(op and size, step tx gas, settle tx gas) for a lie in each qadd / gmax / gsum of the
    vision program (protocol v3; G = MAX_GROUP at N = 32 and N = 128), and in its first im2col
    for comparison."""
    deployer, poster, provider, challenger, anyone = a[0], a[1], a[2], a[3], a[4]
    sys_ = deploy_system(project, deployer)
    prog, vals = vision_program(np.random.default_rng(16))
    honest = Trace(prog, vals)
    new_ops = (Opcode.QADD, Opcode.GMAX, Opcode.GSUM)
    rows = []
    for i, op in enumerate(prog.ops):
        if op.opcode not in new_ops and i != 0:
            continue
        n = honest.tensors[prog.n_inputs + i].size
        liar = Trace(prog, vals, corrupt=(i, n // 2, 1))
        sys_.stake.deposit(value=2 * STAKE, sender=provider)
        job = claimed_submitted(sys_, poster, provider, liar, chain)
        gid = open_game(sys_, job, challenger)
        r = play_traces(sys_.game, gid, liar, honest, (provider, challenger, anyone), chain)
        assert r.status == GameStatus.CHALLENGER_WON and not r.reverts, r
        size = f"G = {op.K}, M = {op.M}, N = {op.N}" if op.K else f"M = {op.M}, N = {op.N}"
        rows.append((f"{op.name} ({size})", r.gas["step"][0], r.gas["settle"][0]))
    return rows


def billion_mac_program(quick: bool) -> tuple:
    n = 256 if quick else 1024  # M = K = N
    ni = 3
    inputs = [(DType.INT8, n, n), (DType.INT8, n, n), (DType.INT8, 1, 32)]
    ops: list[Op] = []
    mm_at = 49
    prev = 2
    for i in range(100):
        slot = ni + i
        if i == mm_at:
            ops.append(Op(Opcode.MATMUL, out=slot, a=0, b=1, M=n, K=n, N=n))
        else:
            ops.append(Op(Opcode.RELU, out=slot, a=prev, M=1, N=32))
            prev = slot
    prog = program_of(inputs, ops)
    rng = np.random.default_rng(9)
    vals = [
        rng.integers(-128, 128, (n, n)),
        rng.integers(-128, 128, (n, n)),
        rng.integers(-128, 128, (1, 32)),
    ]
    return prog, vals, mm_at, n


def full_dispute(a, quick: bool) -> tuple[dict, dict]:  # noqa: ANN001
    deployer, poster, provider, challenger, anyone = a[0], a[1], a[2], a[3], a[4]
    t0 = time.time()
    prog, vals, mm_at, n = billion_mac_program(quick)
    honest = Trace(prog, vals)
    elem = (n * n) // 2 + 7
    liar = Trace(prog, vals, corrupt=(mm_at, elem, 1))
    build_s = time.time() - t0
    out: dict[int, dict] = {}
    for log2k in (1, 2, 3, 4, 5, 6):
        k = 1 << log2k
        sys_ = deploy_system(project, deployer, log2k)
        sys_.stake.deposit(value=2 * STAKE, sender=provider)  # free stake: the game is backed
        job = claimed_submitted(sys_, poster, provider, liar, chain)
        ch = sys_.market.challenge(job, value=BOND, sender=challenger)
        gid = int(sys_.game.gameCount())
        t1 = time.time()
        r = play_traces(
            sys_.game, gid, liar, honest, (provider, challenger, anyone), chain, k,
            prov_kw={"sum_lie_chunk": (n // 32) // 2},
        )  # fmt: skip
        assert r.status == GameStatus.CHALLENGER_WON and not r.reverts, r
        moves = [(name, gas) for name, gl in r.gas.items() for gas in gl if name != "settle"]
        prov = [gas for name, gas in moves if name in PROVIDER_MOVES]
        chal = [gas for name, gas in moves if name not in PROVIDER_MOVES]
        out[k] = {
            "gas": r.gas,
            "sequence": r.sequence,
            "provider_moves": len(prov),
            "challenger_moves": len(chal),
            "total": sum(prov) + sum(chal),
            "settle": r.gas["settle"][0],
            "provider_total": sum(prov),
            "max_provider_move": max(prov),
            "max_move_excl_step": max(g for name, g in moves if name != "step"),
            "step": r.gas["step"][0],
            "challenge": int(ch.gas_used),
            "wall_s": time.time() - t1,
        }
    return out, {"n": n, "macs": n**3, "ops": len(prog.ops), "build_s": build_s}


def table(
    title: str, columns: Sequence[str], rows: list[str], intro: Sequence[str] = ()
) -> list[str]:
    """A `###` subsection of the report: a blank line, the title, `intro` and a markdown table."""
    head = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return ["", f"### {title}", "", *intro, *head, *rows]


def render(funcs, honest, batch, publish, steps, new_steps, disputes, meta, quick: bool) -> str:  # noqa: ANN001
    """The body of the gas section of docs/benchmarks.md (between its markers)."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    k = 16
    d = disputes[k]
    n = meta["n"]
    lines = [
        "## Gas (contracts)",
        "",
        f"Chain: ape's embedded test chain (py-evm, cancun), solc 0.8.28, optimizer 200 runs. "
        f"Command: `source tools/env.sh && ape run gas_report`{' (POC_GAS_QUICK=1)' if quick else ''}; "
        f"date {when}; {platform.processor() or platform.machine()}. Gas is `gasUsed` of each transaction "
        "(21,000 base and calldata included).",
    ]
    lines += table(
        "Every function", ("function", "gas"), [f"| `{name}` | {gas:,} |" for name, gas in funcs]
    )
    lines += [
        "",
        "`challenge` pays for the game's storage (it pre-warms the slots the moves rewrite), so moves stay small, "
        "and since payouts v2 (protocol.md §6.5) for locking the game's backing in StakeManager "
        "(none when the provider has no free stake). A game's settlement (`settle` after the step, "
        "or the `timeout` that decides it) releases or slashes that backing. `step` decides the game "
        "and pays nothing; `settle` (anyone, once) runs the market's callback in its own transaction.",
    ]
    totals = {path: sum(g_ for _, g_ in rows) for path, rows in honest.items()}
    lines += table(
        "One honest job (no dispute), every transaction",
        ("path", "transactions", "total gas"),
        [
            f"| {HONEST_PATHS[path]} | {' + '.join(f'`{n}` {g_:,}' for n, g_ in rows)} | "
            f"{totals[path]:,} |"
            for path, rows in honest.items()
        ],
        intro=(
            "On a market already in use (its counters and totals non-zero; the table above "
            "measures the first job of a fresh deployment, which pays more for them).",
            "",
        ),
    )
    lines += [
        "",
        f"One honest job, all transactions: {totals['fused']:,} gas (fused path; "
        f"{totals['default']:,} by the daemon's default path; target <= 250,000).",
    ]
    n_batch, batch_total = BATCH, sum(g_ for _, g_ in batch)
    lines += table(
        f"A batch of {n_batch} honest jobs (no dispute), every transaction",
        ("transaction", "gas", "per job"),
        [f"| `{n}` | {g_:,} | {g_ // n_batch:,} |" for n, g_ in batch]
        + [f"| all | {batch_total:,} | {batch_total // n_batch:,} |"],
        intro=(f"On a market in use, as above; {n_batch} jobs of the same program.", ""),
    )
    lines += [
        "",
        f"A batch of {n_batch} jobs, all transactions: {batch_total // n_batch:,} gas per job "
        "(target <= 60,000).",
        "",
        "Where the rest goes: fresh storage slots at 22,100 gas each. `post` writes five (the "
        "packed job, protocol.md §6.2), claim and submit five (the packed claim's four and the "
        "stake lock's one): about 221k of every job, batched or not. Reaching the targets "
        "needs fewer fresh slots per job: one hash of the job's parameters in place of the job "
        "(later calls pass them in calldata) and one commitment over a batch's output roots; "
        "not built yet.",
    ]
    (b0, g0), (b1, g1) = publish[0], publish[-1]
    per_kib = (g1 - g0) * 1024 // (b1 - b0)
    lines += table(
        "Output publication (`publishOutput`, int8 leaves of 32 bytes)",
        ("output bytes", "gas"),
        [f"| {b:,} | {g:,} |" for b, g in publish],
        intro=(
            "Calldata (16 gas a non-zero byte) plus one sha256 per leaf and the tree in memory; the "
            "data is emitted in `OutputPublished`.",
            "",
        ),
    )
    lines += [
        "",
        f"About {per_kib:,} gas per KiB: an output must stay under about "
        f"{30_000_000 * 1024 // per_kib // 1024:,} KiB to be publishable in a 30M-gas block "
        "(protocol.md §6.5 R4, limit).",
    ]
    program = (
        f"Program: {meta['ops']} ops; op 49 is a matmul int8 [{n},{n}] x [{n},{n}]^T "
        f"(K/32 = {n // 32} chunks, {n * n // 32:,} output leaves), the others small relus. "
        "The provider lies in one element of the matmul (partial sums wrong from the middle chunk); "
        "the honest challenger wins at the one step. Every move below was measured in that game."
    )
    lines += table(
        f"Full dispute on a {meta['macs']:.2e}-MAC program (k = {k})",
        ("#", "side", "move", "level", "gas"),
        [
            f"| {idx} | {'provider' if name in PROVIDER_MOVES else 'challenger'} | `{name}` | {LEVEL[name]} | {g_:,} |"
            for idx, (name, g_) in enumerate(d["sequence"], 1)
        ],
        intro=(program, ""),
    )
    lines += [
        "",
        f"- provider moves: **{d['provider_moves']}** (target: at most a dozen); challenger moves: {d['challenger_moves']}",
        f"- largest move other than the step: **{d['max_move_excl_step']:,}** gas (target < 100k); "
        f"largest provider move {d['max_provider_move']:,}",
        f"- one step (challenger's `step`: the verifier and the game's checks; it decides, pays nothing): **{d['step']:,}** gas (target < 300k)",
        f"- settlement (`settle`, anyone, its own transaction: the market's slash, rejection, bounty and burn): **{d['settle']:,}** gas",
        f"- whole dispute (all moves, both sides): **{d['total']:,}** gas (target < 2.5M); provider side {d['provider_total']:,}; "
        f"plus `challenge` {d['challenge']:,} and `settle` {d['settle']:,}: "
        f"{d['total'] + d['challenge'] + d['settle']:,} in all",
        f"- wall time of the moves on the embedded chain: {d['wall_s']:.1f} s (trace of the program built once: {meta['build_s']:.1f} s)",
    ]
    lines += table(
        "One step per op (lie in the middle element of each op of a 6-op program)",
        ("op", "`step` gas", "`settle` gas"),
        [f"| {op} | {gas:,} | {st:,} |" for op, gas, st in steps],
    )
    lines += table(
        "One step per new op (protocol v3; lie in the middle element of each op of the vision "
        "program of tests/contracts/contracts_trace.py, its first im2col for comparison)",
        ("op", "`step` gas", "`settle` gas"),
        [f"| {op} | {gas:,} | {st:,} |" for op, gas, st in new_steps],
    )
    lines += table(
        "Choice of k (same dispute, one deployment per k)",
        (
            "k",
            "provider moves",
            "challenger moves",
            "largest move (excl. step)",
            "one step",
            "settle",
            "whole dispute (moves)",
        ),
        [
            f"| {kk} | {v['provider_moves']} | {v['challenger_moves']} | {v['max_move_excl_step']:,} | {v['step']:,} | {v['settle']:,} | {v['total']:,} |"
            for kk, v in sorted(disputes.items())
        ],
    )
    best = min(disputes, key=lambda kk: disputes[kk]["total"])
    ok = [
        kk
        for kk, v in disputes.items()
        if v["provider_moves"] <= 12 and v["max_move_excl_step"] < 100_000
    ]

    def max_reveal(kk: int) -> int:
        return max(
            max(disputes[kk]["gas"].get(n, [0]))
            for n in ("revealNodes", "revealStates", "revealSums")
        )

    d16 = disputes[16]
    lines += [
        "",
        f"Cheapest whole dispute: k = {best} ({disputes[best]['total']:,} gas). Within the targets "
        f"(<= 12 provider moves, every move < 100k): k in {sorted(ok)}. The protocol keeps k = 16 "
        f"({d16['total']:,} gas, {d16['provider_moves']} provider moves): its largest reveal costs "
        f"{max_reveal(16):,} gas, while at k = 32 the largest reveal is {max_reveal(32):,}, "
        "within a few percent of the 100k-per-move target with no room left for larger programs "
        "(deeper state and output trees add calldata and hashing to every move); k <= 8 pays a "
        "21k-base transaction per side for every extra round.",
    ]
    return "\n".join(lines)


def main() -> None:
    quick = os.environ.get("POC_GAS_QUICK") == "1"
    a = accounts.test_accounts
    funcs = functions_table(a)
    honest = honest_job(a)
    batch = batch_jobs(a, BATCH)
    publish = publish_costs(a)
    steps = step_per_op(a)
    new_steps = step_per_new_op(a)
    disputes, meta = full_dispute(a, quick)
    section = render(funcs, honest, batch, publish, steps, new_steps, disputes, meta, quick)
    write_section("gas", section)
    print(section)


if __name__ == "__main__":
    main()
