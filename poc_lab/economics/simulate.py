"""Monte Carlo over many jobs: each job draws its provider's kind, whether each watchtower checks
it, whether the griefer challenges it, who challenges first and its gas price; its money comes
from `play_job` on the exact ledger (every distinct circumstance is played once and reused), and
its costs from the measured gas at the job's gas price plus the compute of every execution.

Profit of a role in a job = money (wei) - gas x gas price - executions x compute cost
(+ the result's value for the poster when it gets a correct, available result)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import numpy.typing as npt

from poc_lab.economics.agents import (
    GRIEFER,
    POSTER,
    PROVIDER,
    SAMPLER,
    TOWER,
    Draw,
    JobRun,
    ProviderKind,
    Strategies,
    play_job,
)
from poc_lab.economics.constants import BILLION_MAC, ETHER, GWEI, DisputeGas
from poc_lab.economics.rules import RULES, Terms
from poc_lab.economics.settlement import EconomicsError

KINDS = list(ProviderKind)
ROLES = (POSTER, PROVIDER, TOWER, SAMPLER, GRIEFER)

# The job `poc job post` posts by default (node/cli/job_cmds.py), 24 h to claim.
DEFAULT_TERMS = Terms(
    reward=ETHER // 10,
    stake=ETHER // 2,
    bond=ETHER // 50,
    execute_within=3600,
    window=600,
    clock=600,
    claim_within=86_400,
)


@dataclass(frozen=True)
class Mix:
    """Share of claims made by each provider kind."""

    honest: float = 0.90
    liar: float = 0.04
    puppeteer: float = 0.02
    liar_no_free: float = 0.01
    hostage: float = 0.01
    withholder: float = 0.02

    def shares(self) -> list[float]:
        s = [
            self.honest,
            self.liar,
            self.puppeteer,
            self.liar_no_free,
            self.hostage,
            self.withholder,
        ]
        if any(x < 0 for x in s) or abs(sum(s) - 1) > 1e-9:
            raise EconomicsError(f"provider mix must be shares summing to 1: {self}")
        return s

    @property
    def lying(self) -> float:
        return self.liar + self.puppeteer + self.liar_no_free


NO_LIARS = Mix(honest=0.97, liar=0, puppeteer=0, liar_no_free=0, hostage=0.01, withholder=0.02)


@dataclass(frozen=True)
class Params:
    name: str
    rules: str = "v2"
    terms: Terms = DEFAULT_TERMS
    dispute: DisputeGas = BILLION_MAC
    gas_price_gwei: float = 2.0  # mean; each job draws its own (log-normal, `gas_sigma`)
    gas_sigma: float = 0.5
    block_time: float = 12.0  # an honest provider loses by clock if moves x block time > clock
    compute_cost: int = 5 * 10**15  # wei per execution of the job's program (assumed)
    result_value: int | None = None  # a correct result's worth to the poster (None: the reward)
    mix: Mix = field(default_factory=Mix)
    tower_coverage: float = 1.0  # share of claims the honest watchtower re-executes
    sampler_q: float = 0.2
    grief_rate: float = 0.02  # share of correct claims the griefer challenges
    strategies: Strategies = field(default_factory=lambda: Strategies(free_stake=ETHER // 2))

    def __post_init__(self) -> None:
        if self.rules not in RULES:
            raise EconomicsError(f"rules {self.rules!r}: one of {', '.join(RULES)}")
        for name in ("tower_coverage", "sampler_q", "grief_rate"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise EconomicsError(f"{name} must be a probability, got {v}")
        if self.gas_price_gwei < 0 or self.gas_sigma < 0 or self.compute_cost < 0:
            raise EconomicsError(f"gas price, its spread and compute cost must be >= 0: {self}")
        self.mix.shares()

    def with_(self, **over: object) -> Params:
        return replace(self, **over)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Stat:
    """Profit of one role per job it takes part in: mean and 95 % confidence interval of the
    mean (normal approximation), in ETH."""

    n: int
    mean: float
    lo: float
    hi: float

    @classmethod
    def of(cls, x: npt.NDArray[np.float64]) -> Stat:
        n = int(x.size)
        if n == 0:
            return cls(0, float("nan"), float("nan"), float("nan"))
        mean = float(x.mean())
        half = 1.96 * float(x.std(ddof=1)) / np.sqrt(n) if n > 1 else 0.0
        return cls(n, mean, mean - half, mean + half)


@dataclass
class Result:
    params: Params
    jobs: int
    stats: dict[str, Stat]  # agent label -> profit per job
    burned_per_job: float  # ETH
    delivered: float  # share of jobs whose poster got a correct, available result
    tower_bounty_per_job: float  # ETH of bounties the honest watchtower earned, per job
    lying_share: float


# agent labels of the report, and the jobs each is averaged over
TOWER_LABEL = "honest watchtower (every job)"
SAMPLER_LABEL = "sampling watchtower (every job)"
GRIEFER_LABEL = "griefing challenger (per game)"
POSTER_LABEL = "poster (every job)"


def scenarios(params: Params) -> dict[int, JobRun]:
    """Every distinct circumstance, played once on the exact ledger, by code
    (kind x tower checks x sampler checks x griefed x tower first)."""
    rules = RULES[params.rules]
    out = {}
    for k, t, s, g, f in itertools.product(range(len(KINDS)), *[(0, 1)] * 4):
        draw = Draw(KINDS[k], bool(t), bool(s), bool(g), bool(f))
        out[k * 16 + t * 8 + s * 4 + g * 2 + f] = play_job(
            rules, params.terms, params.dispute, params.strategies, draw, params.block_time
        )
    return out


def _of(what: str, role: str, run: JobRun) -> float:
    table: dict[str, int] = getattr(run, what)
    return table.get(role, 0)


def simulate(params: Params, jobs: int = 100_000, seed: int = 11) -> Result:
    if jobs < 2:
        raise EconomicsError(f"simulate at least 2 jobs, not {jobs}")
    rng = np.random.default_rng(seed)
    kind = rng.choice(len(KINDS), size=jobs, p=params.mix.shares())
    tower = rng.random(jobs) < params.tower_coverage
    sampler = rng.random(jobs) < params.sampler_q
    griefed = rng.random(jobs) < params.grief_rate
    first = rng.random(jobs) < 0.5
    # mean-preserving log-normal gas price per job
    s = params.gas_sigma
    gas_price = params.gas_price_gwei * GWEI * np.exp(s * rng.standard_normal(jobs) - s * s / 2)
    codes = kind * 16 + tower * 8 + sampler * 4 + griefed * 2 + first.astype(np.int64)

    table = scenarios(params)
    size = 16 * len(KINDS)
    value = params.terms.reward if params.result_value is None else params.result_value

    def column(fn: Callable[[JobRun], float]) -> npt.NDArray[np.float64]:
        col = np.zeros(size)
        for c, run in table.items():
            col[c] = fn(run)
        return col[codes]

    profit: dict[str, npt.NDArray[np.float64]] = {}
    for role in ROLES:
        money = column(partial(_of, "money", role))
        gas = column(partial(_of, "gas", role))
        execs = column(partial(_of, "compute", role))
        profit[role] = (money - gas * gas_price - execs * params.compute_cost) / ETHER
    delivered = column(lambda r: float(r.delivered))
    profit[POSTER] = profit[POSTER] + delivered * value / ETHER

    stats: dict[str, Stat] = {}
    for i, k in enumerate(KINDS):
        stats[k.value] = Stat.of(profit[PROVIDER][kind == i])
    # a watchtower that checks nothing is absent from the market, not an agent earning zero
    stats[TOWER_LABEL] = Stat.of(profit[TOWER] if params.tower_coverage else np.zeros(0))
    stats[SAMPLER_LABEL] = Stat.of(profit[SAMPLER] if params.sampler_q else np.zeros(0))
    grief_jobs = column(lambda r: float(GRIEFER in r.gas)) > 0
    stats[GRIEFER_LABEL] = Stat.of(profit[GRIEFER][grief_jobs])
    stats[POSTER_LABEL] = Stat.of(profit[POSTER])
    return Result(
        params=params,
        jobs=jobs,
        stats=stats,
        burned_per_job=float(column(lambda r: r.burned).mean() / ETHER),
        delivered=float(delivered.mean()),
        tower_bounty_per_job=float(column(lambda r: r.bounty.get(TOWER, 0)).mean() / ETHER),
        lying_share=float(np.isin(kind, [KINDS.index(k) for k in KINDS if k.lies]).mean()),
    )
