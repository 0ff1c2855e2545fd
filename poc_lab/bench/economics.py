"""Economics simulation: the payout rules (poc_lab/economics) played by strategic agents over
many jobs, at the default parameters and a few alternatives; the attacks of issue 11 priced
under v1 and v2; every outcome worked out at the default terms; the sizing bounds for a few
chains. Rewrites the `economics` section of docs/benchmarks.md and the generated tables of
docs/economics.md.

    python -m poc_lab.bench.economics [--jobs 100000] [--seed 11] [--no-write]
    python -m poc_lab.bench.economics --replicas-only [--no-write]   # §6 tables only
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from poc_lab.bench.report import machine, write_section
from poc_lab.economics.agents import Strategies
from poc_lab.economics.attacks import (
    AttackRow,
    f1_self_challenge,
    f2_short_clock,
    f4_hostage,
    p6_withholding,
)
from poc_lab.economics.constants import BILLION_MAC, ETHER, GWEI, MLP
from poc_lab.economics.outcomes import outcome_cases
from poc_lab.economics.replica_outcomes import attack_rows as replica_attack_rows
from poc_lab.economics.replica_outcomes import collusion_break_even, replica_cases
from poc_lab.economics.replica_rules import ReplicaTerms
from poc_lab.economics.simulate import (
    DEFAULT_TERMS,
    NO_LIARS,
    SAMPLER_LABEL,
    TOWER_LABEL,
    Mix,
    Params,
    Result,
    simulate,
)
from poc_lab.economics.sizing import (
    chain_floors,
    safe_minimums,
    stake_against_lying,
    tower_break_even,
    unsafe,
)

ECON_DOC = Path(__file__).resolve().parents[2] / "docs" / "economics.md"
DEFAULT = Params("default (v2)")


def alternatives() -> list[Params]:
    rational = Mix(honest=0.9, liar=0, puppeteer=0.035, liar_no_free=0.035)
    short_clock = replace(DEFAULT_TERMS, clock=60)
    return [
        DEFAULT,
        DEFAULT.with_(name="v1 rules", rules="v1"),
        DEFAULT.with_(name="nobody lies", mix=NO_LIARS),
        DEFAULT.with_(name="only bounty-denying liars", mix=rational),
        DEFAULT.with_(name="L2 chain: 0.01 gwei, 2 s blocks", gas_price_gwei=0.01, block_time=2.0),
        DEFAULT.with_(name="MLP job, compute 0.0005 ETH", dispute=MLP, compute_cost=5 * 10**14),
        DEFAULT.with_(
            name="no full watchtower, sampler q = 0.1", tower_coverage=0.0, sampler_q=0.1
        ),
        # F2: a clock v1's fixed 60 s floor allowed; under v2 `post` reverts (MIN_CLOCK 648 s)
        DEFAULT.with_(name="v1, 60 s clock at 12 s blocks (F2)", rules="v1", terms=short_clock),
    ]


def eth(wei: float, digits: int = 4) -> str:
    return f"{wei / ETHER:+.{digits}f}"


def _stat(r: Result, label: str, digits: int = 4) -> str:
    s = r.stats[label]
    if s.n == 0:
        return "-"
    return f"{s.mean:+.{digits}f} [{s.lo:+.{digits}f}, {s.hi:+.{digits}f}]"


# ---- simulation tables -----------------------------------------------------------------------


def default_table(r: Result) -> list[str]:
    lines = [
        "| agent | jobs averaged | expected profit per job (ETH) | 95 % interval of the mean |",
        "|---|---|---|---|",
    ]
    for label, s in r.stats.items():
        if s.n:
            lines.append(f"| {label} | {s.n:,} | {s.mean:+.5f} | [{s.lo:+.5f}, {s.hi:+.5f}] |")
    lines.append(
        f"\nBurned per job: {r.burned_per_job:.5f} ETH; jobs whose poster got a correct, "
        f"available result: {100 * r.delivered:.1f} %; bounties earned by the honest "
        f"watchtower: {r.tower_bounty_per_job:.5f} ETH per job; lying claims: "
        f"{100 * r.lying_share:.1f} %."
    )
    return lines


def comparison_table(results: list[Result]) -> list[str]:
    labels = list(results[0].stats)
    head = "| agent | " + " | ".join(r.params.name for r in results) + " |"
    lines = [head, "|---" * (len(results) + 1) + "|"]
    for label in labels:
        cells = [_stat(r, label) for r in results]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def sweep(jobs: int, seed: int) -> list[tuple[float, Result]]:
    """The honest watchtower's income against the share of plain (backed) liars."""
    out = []
    for lam in (0.0, 0.005, 0.01, 0.02, 0.04, 0.08):
        mix = Mix(honest=0.97 - lam, liar=lam, puppeteer=0, liar_no_free=0)
        out.append((lam, simulate(DEFAULT.with_(name=f"{lam:.1%}", mix=mix), jobs, seed)))
    return out


def sweep_table(rows: list[tuple[float, Result]]) -> list[str]:
    lines = [
        "| plain liars (of all claims) | lying provider (plain) | honest watchtower | "
        "sampling watchtower | honest provider |",
        "|---|---|---|---|---|",
    ]
    for lam, r in rows:
        lines.append(
            f"| {lam:.1%} | {_stat(r, 'lying provider (plain)')} | {_stat(r, TOWER_LABEL, 5)} | "
            f"{_stat(r, SAMPLER_LABEL, 5)} | {_stat(r, 'honest provider')} |"
        )
    return lines


# ---- outcomes worked out ---------------------------------------------------------------------


def outcome_examples() -> list[str]:
    t = DEFAULT_TERMS
    lines = [
        f"Worked at the default terms: R = {t.reward:,} wei ({t.reward / ETHER:g} ETH), "
        f"L = {t.stake:,} wei ({t.stake / ETHER:g} ETH), B = {t.bond:,} wei "
        f"({t.bond / ETHER:g} ETH), and a game backed in full, b = L. Each formula is "
        "evaluated and compared with the rule function's settlement every time this is "
        "generated (`poc_lab/economics/outcomes.py`), and the rows account for every wei moved.",
    ]
    for case in outcome_cases(t, backing=t.stake):
        head = f"**{case.title}** ({case.rules}). When: {case.when}." + (
            f" Backing: {case.backing}." if case.backing else ""
        )
        lines += _case_table(head, "wei at the defaults", case.rows)
    return lines


def _case_table(head: str, wei_column: str, rows: Sequence[Any]) -> list[str]:
    """One outcome: its heading, then a row per party (what happens, the formula, the wei)."""
    return [
        "",
        head,
        "",
        f"| party | what happens | formula | {wei_column} |",
        "|---|---|---|---|",
        *(f"| {r.party} | {r.effect} | `{r.formula}` | {r.wei:,} |" for r in rows),
    ]


# ---- replicated jobs (docs/economics.md §6) --------------------------------------------------

REPLICA_TERMS = ReplicaTerms(
    reward=DEFAULT_TERMS.reward,
    stake=DEFAULT_TERMS.stake,
    bond=DEFAULT_TERMS.bond,
    replicas=3,
    window=DEFAULT_TERMS.window,
)
REPLICA_PS = (0.0, 0.001, 0.01, 0.1, 1.0)


def replica_outcome_lines() -> list[str]:
    t = REPLICA_TERMS
    lines = [
        f"Worked at r = {t.replicas}, R = {t.reward:,} wei ({t.reward / ETHER:g} ETH, so "
        f"s = R // r = {t.share:,} wei), L = {t.stake:,} wei ({t.stake / ETHER:g} ETH), B = "
        f"{t.bond:,} wei ({t.bond / ETHER:g} ETH), W = {t.window} s, every seat keeping L of "
        "free stake beyond its lock (so a watch game is backed in full, b = L). Each row is a "
        "party's wealth change over the whole round (stake counted: a lock that comes back is "
        "no loss), played call by call on `poc_lab/economics/replica_ledger.py` and compared "
        "with its formula every time this is generated (`replica_outcomes.replica_cases`); "
        "the rows account for every wei.",
    ]
    for case in replica_cases(t, free=t.stake):
        head = f"**{case.title}.** When: {case.when}." + (
            f" Note: {case.backing}." if case.backing else ""
        )
        lines += _case_table(head, "wei at these terms", case.rows)
    return lines


def replica_attack_lines(compute: int) -> list[str]:
    t = REPLICA_TERMS
    rows = replica_attack_rows(t, 0, REPLICA_PS)
    lines = [
        "| strategy | party's seats (of r) | party's money (ETH) | executions it pays | "
        "expected profit before gas (ETH) | the same seats honest (ETH) | poster (ETH) | "
        "poster gets | burned (ETH) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.strategy} | {r.seats} of {t.replicas} | {eth(r.money)} | {r.executions:g} | "
            f"{eth(r.profit(compute))} | {eth(r.honest_profit(compute))} | {eth(r.poster)} | "
            f"{r.result} | {r.burned / ETHER:.4f} |"
        )
    p_star = collusion_break_even(t, compute, 0)
    lines += [
        "",
        f"Terms: r = {t.replicas}, R = {t.reward / ETHER:g} ETH, L = {t.stake / ETHER:g} ETH, "
        f"B = {t.bond / ETHER:g} ETH; compute C = {compute / ETHER:g} ETH per execution "
        "(the simulation's assumption); the other seats honest; the party keeps no free stake "
        "(its best response: a watch game then pays the watchtower only its bond back). "
        "Profit = money - C x executions; gas (the cost table below) lowers every row, the "
        "liars' and the copier's too. All seats lying alike beat the same seats played "
        f"honestly only when the watch probability p is below C / (s + L + b) = {p_star:.3%} "
        "(`collusion_break_even`); the poster is the one who loses: it pays the full reward for "
        "a wrong result. Generated by `python -m poc_lab.bench.economics --replicas-only`.",
    ]
    return lines


# ---- attacks ---------------------------------------------------------------------------------


def attack_rows(gas_price: int) -> tuple[list[AttackRow], list[str]]:
    t, d = DEFAULT_TERMS, BILLION_MAC
    rows = f1_self_challenge(t, d, (t.stake, 3 * t.stake))
    rows += f1_self_challenge(t, d, (0,))[:2]
    # F2 as measured in issue 11: 60 s clock (v1's fixed floor), 12 s blocks, 1 wei bond
    f2_terms = replace(t, clock=60, bond=1)
    rows += f2_short_clock(f2_terms, d, honest_free=t.stake, block_time=12.0, clock=60)
    rows += f4_hostage(t, d)
    rows += p6_withholding(t, d)
    lines = [
        "| attack | rules | attacker's strategy | attacker (ETH) | attacker's gas | "
        "honest party | honest party (ETH) | burned (ETH) | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.attack} | {r.rules} | {r.strategy} | {eth(r.attacker_money)} | "
            f"{r.attacker_gas:,} ({r.attacker_gas * gas_price / ETHER:.4f} ETH) | {r.honest} | "
            f"{eth(r.honest_money)} | {r.burned / ETHER:.4f} | {r.note} |"
        )
    floors = chain_floors(12.0, gas_price)
    lines.append(
        f"\nF2 under v2 needs a clock below the deployment floor: at 12 s blocks "
        f"`deploy_floors` gives MIN_CLOCK = {floors.min_clock} s, so `post` with a 60 s clock "
        "reverts `ParamOutOfRange(2, ...)` and the provider node refuses it "
        "(`unsafe_terms`); the v2 F2 row is what the attacker would get if a deployment had a "
        "floor below the formula's. Gas at the default price "
        f"({gas_price / GWEI:g} gwei)."
    )
    return rows, lines


# ---- sizing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    name: str
    block_time: float
    gas_gwei: float


CHAINS = (
    Chain("Ethereum L1", 12.0, 2.0),
    Chain("L1 at a gas spike", 12.0, 50.0),
    Chain("L2", 2.0, 0.01),
    Chain("local anvil", 1.0, 1.0),
)


def sizing_lines() -> list[str]:
    t = DEFAULT_TERMS
    lines = [
        "| chain | block time | gas price | MIN_CLOCK | MIN_BOND (ETH) | clock (job) | "
        "execute-within, window (job) | bond (job, ETH) | default terms refused for |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in CHAINS:
        gp = int(c.gas_gwei * GWEI)
        f = chain_floors(c.block_time, gp)
        m = safe_minimums(BILLION_MAC, c.block_time, gp)
        why = unsafe(t, BILLION_MAC, c.block_time, gp)
        refused = "; ".join(w.split(" ")[0] + " " + w.split(" ")[1] for w in why) or "nothing"
        lines.append(
            f"| {c.name} | {c.block_time:g} s | {c.gas_gwei:g} gwei | {f.min_clock} s | "
            f"{f.min_bond / ETHER:.6f} | >= {m.clock} s | >= {m.execute_within} s | "
            f">= {m.bond / ETHER:.6f} | {refused} |"
        )
    lines += [
        "",
        f"Job: the 1.07e9-MAC program of the gas table ({BILLION_MAC.provider_moves} provider "
        "moves). Default terms: clock "
        f"{t.clock} s, execute-within {t.execute_within} s, window {t.window} s, bond "
        f"{t.bond / ETHER:g} ETH.",
        "",
        "| probability that someone checks a claim (p) | smallest lock against lying, R = "
        f"{t.reward / ETHER:g} ETH |",
        "|---|---|",
    ]
    for p in (1.0, 0.5, 0.2, 0.1, 0.05):
        lines.append(f"| {p:g} | {stake_against_lying(t.reward, p) / ETHER:.4f} ETH |")
    lines += [
        "",
        "| compute cost per check | exposed free stake | share of claims that must be backed "
        "lies for a full watchtower to break even (2 gwei) |",
        "|---|---|---|",
    ]
    for cost in (5 * 10**14, 5 * 10**15, 2 * 10**16):
        for free in (t.stake, t.stake // 2, 0):
            be = tower_break_even(t.stake, free, cost, BILLION_MAC, 2 * GWEI)
            shown = "never (no bounty)" if math.isinf(be) else f"{be:.2%}"
            lines.append(f"| {cost / ETHER:g} ETH | {free / ETHER:g} ETH | {shown} |")
    return lines


# ---- the report ------------------------------------------------------------------------------


def describe(p: Params) -> str:
    s: Strategies = p.strategies
    m = p.mix
    return (
        f"rules {p.rules}; terms: reward {p.terms.reward / ETHER:g} ETH, lock "
        f"{p.terms.stake / ETHER:g} ETH, bond {p.terms.bond / ETHER:g} ETH, clock "
        f"{p.terms.clock} s, window {p.terms.window} s; gas {p.gas_price_gwei:g} gwei mean "
        f"(log-normal per job, sigma {p.gas_sigma:g}), {p.block_time:g} s blocks; gas of a game: "
        f"{p.dispute.name}; compute {p.compute_cost / ETHER:g} ETH per execution (assumed); "
        f"claims: {m.honest:.0%} honest, {m.liar:.0%} plain liars, {m.puppeteer:.0%} "
        f"self-challenging liars ({s.puppets} puppets), {m.liar_no_free:.0%} liars without free "
        f"stake, {m.hostage:.0%} hostage griefers, {m.withholder:.0%} withholders; providers "
        f"keep {s.free_stake / ETHER:g} ETH free beyond the lock; the honest watchtower checks "
        f"{p.tower_coverage:.0%} of claims, the sampler {p.sampler_q:.0%}; the griefer "
        f"challenges {p.grief_rate:.0%} of correct claims"
    )


def run(jobs: int, seed: int) -> dict[str, str]:
    t0 = time.perf_counter()
    results = [simulate(p, jobs, seed) for p in alternatives()]
    sw = sweep(jobs, seed)
    elapsed = time.perf_counter() - t0
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    cmd = f"python -m poc_lab.bench.economics --jobs {jobs} --seed {seed}"
    header = (
        f"Machine: {machine()}. Command: `{cmd}`; date {stamp}. "
        f"{len(results) + len(sw)} runs of {jobs:,} jobs each in {elapsed:.1f} s."
    )
    default = results[0]
    sim = [
        header,
        "",
        f"Defaults: {describe(DEFAULT)}.",
        "",
        *default_table(default),
        "",
        "Expected profit per job in ETH, mean [95 % interval of the mean], under each "
        "alternative (each changes the defaults as its name says; 'only bounty-denying liars': "
        "3.5 % self-challenging, 3.5 % without free stake, no plain liars):",
        "",
        *comparison_table(results),
        "",
        "The honest watchtower against the share of plain liars (they keep 0.5 ETH free; "
        "1 % hostage griefers and 2 % withholders as in the defaults, the rest honest):",
        "",
        *sweep_table(sw),
    ]
    bench = [
        "## Economics simulation (payout rules v1 and v2, strategic agents)",
        "",
        header,
        "Model: `poc_lab/economics` (exact wei ledger of the payout rules, gas from the tables "
        "above); analysis and every table: [economics.md](economics.md).",
        "",
        f"Defaults: {describe(DEFAULT)}.",
        "",
        *default_table(default),
    ]
    _, attacks = attack_rows(int(DEFAULT.gas_price_gwei * GWEI))
    return {
        "bench": "\n".join(bench),
        "econ-simulation": "\n".join(sim),
        "econ-outcomes": "\n".join(outcome_examples()),
        "econ-attacks": "\n".join(attacks),
        "econ-sizing": "\n".join(sizing_lines()),
        **replica_sections(),
    }


def replica_sections() -> dict[str, str]:
    return {
        "econ-replica-outcomes": "\n".join(replica_outcome_lines()),
        "econ-replica-attacks": "\n".join(replica_attack_lines(DEFAULT.compute_cost)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs per simulated market")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--replicas-only",
        action="store_true",
        help="only the replicated mode's tables of docs/economics.md §6 (no simulation)",
    )
    args = parser.parse_args()
    if args.replicas_only:
        for name, body in replica_sections().items():
            print(body, end="\n\n")
            if not args.no_write:
                write_section(name, body, doc=ECON_DOC)
        if not args.no_write:
            print(f"wrote {ECON_DOC}")
        return
    if args.jobs < 100_000 and not args.no_write:
        parser.error("the documented figures need --jobs >= 100000 (or pass --no-write)")
    sections = run(args.jobs, args.seed)
    for body in sections.values():
        print(body, end="\n\n")
    if not args.no_write:
        print(f"wrote {write_section('economics', sections.pop('bench'))}")
        for name, body in sections.items():
            write_section(name, body, doc=ECON_DOC)
        print(f"wrote {ECON_DOC}")


if __name__ == "__main__":
    main()
